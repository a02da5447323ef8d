// Every lock and atomic protocol of relish lives here, so that a ThreadSanitizer or model-
// checking build can swap them. Locks are std:: primitives or built on std::atomic (SpinLock),
// whose acquire/release ThreadSanitizer follows; not absl::Mutex (Debian's Abseil is not built
// with TSan instrumentation). The write lock stays a std::mutex: a futex lock of our own took
// fewer instructions but more time (a write 23 -> 35 ns in bench_query_fetch's write_only).
#pragma once

#include <atomic>
#include <climits>
#include <cstdint>
#include <mutex>
#include <shared_mutex>
#include <thread>

#if defined(__linux__)
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace relish::detail {

using Mutex = std::mutex;
using LockGuard = std::lock_guard<std::mutex>;

// A test-and-test-and-set lock for very short critical sections (one hash probe). Uncontended
// it costs one exchange and one store: cheaper than std::mutex on the intern hot path.
class SpinLock {
 public:
  // The uncontended case inlined (one exchange); waiting out of line.
  [[gnu::always_inline]] void lock() noexcept {
    if (!locked_.exchange(true, std::memory_order_acquire)) [[likely]]
      return;
    lock_contended();
  }
  void unlock() noexcept { locked_.store(false, std::memory_order_release); }

 private:
  [[gnu::noinline]] void lock_contended() noexcept {
    do {
      while (locked_.load(std::memory_order_relaxed)) std::this_thread::yield();
    } while (locked_.exchange(true, std::memory_order_acquire));
  }

  std::atomic<bool> locked_{false};
};

// Asymmetric fences (the pattern of liburcu and folly): readers entering the database pay a
// compiler barrier only; the rare writer pays a process-wide barrier (Linux membarrier), which
// orders every reader's "I am active" store before the writer's "are readers active?" loads.
// Without membarrier both sides use a full fence.
#if defined(__SANITIZE_THREAD__)
inline constexpr bool kThreadSanitizer = true;
#else
inline constexpr bool kThreadSanitizer = false;
#endif

// Under ThreadSanitizer (which does not model fences, and GCC warns about them) both sides of
// the protocol use sequentially consistent loads and stores instead: see `order()`.
class AsymmetricFence {
 public:
  // Memory order for the "I am active" / "a write is pending" flags.
  static constexpr std::memory_order order() noexcept {
    return kThreadSanitizer ? std::memory_order_seq_cst : std::memory_order_relaxed;
  }

  AsymmetricFence() : expedited_(register_expedited()) {}

  void light() const noexcept {
    if constexpr (kThreadSanitizer) return;
    if (expedited_) [[likely]] {
      std::atomic_signal_fence(std::memory_order_seq_cst);
    } else {
      std::atomic_thread_fence(std::memory_order_seq_cst);
    }
  }
  void heavy() const noexcept {
    if constexpr (kThreadSanitizer) return;
#if defined(__linux__)
    if (expedited_ && syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0) return;
#endif
    std::atomic_thread_fence(std::memory_order_seq_cst);
  }

 private:
  static bool register_expedited() noexcept {
#if defined(__linux__) && !defined(__SANITIZE_THREAD__)
    static const bool ok =
        syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
    return ok;
#else
    return false;
#endif
  }
  const bool expedited_;
};

// Sleeps while `word` holds `expected`, and returns on every wake-up (or at once if it differs):
// the caller re-checks what it waits for. On Linux a raw futex: std::atomic::wait goes back to
// sleep by itself when it wakes to the value it started with, and libstdc++ 12's can miss a
// notify (a hang seen in a 4-thread cycle fuzz, gone with the raw futex).
inline void futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected) noexcept {
#if defined(__linux__)
  static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAIT_PRIVATE, expected,
          nullptr, nullptr, 0);
#else
  word.wait(expected, std::memory_order_acquire);
#endif
}
inline void futex_wake_all(std::atomic<std::uint32_t>& word) noexcept {
#if defined(__linux__)
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAKE_PRIVATE, INT_MAX,
          nullptr, nullptr, 0);
#else
  word.notify_all();
#endif
}

// Ownership word of a memo being computed: the owner's id (below 2^24), a bit that waiters set
// before sleeping so that releasing an uncontended memo is one exchange and no wake-up call,
// and a counter another thread bumps to wake the waiters without releasing (poke): each poke
// gives the word a new value, so a waiter about to sleep on the old one does not.
class OwnerWord {
 public:
  static constexpr std::uint32_t kWaiters = 1u << 31;
  static constexpr std::uint32_t kPokeOne = 1u << 24;
  static constexpr std::uint32_t kPokes = 0x7Fu << 24;
  static constexpr std::uint32_t kOwnerMask = kPokeOne - 1;
  static constexpr std::uint32_t kMaxOwner = kOwnerMask;

  // 0 if claimed; otherwise the current owner's id.
  std::uint32_t try_claim(std::uint32_t me) noexcept {
    std::uint32_t expected = 0;
    if (word_.compare_exchange_strong(expected, me, std::memory_order_acquire,
                                      std::memory_order_acquire))
      return 0;
    return expected & kOwnerMask;
  }

  // Sleeps until `owner` no longer owns the word (returns at once if it already let go), or
  // until `stop` is set by a thread that then pokes the word.
  void wait_while_owned_by(std::uint32_t owner, const std::atomic<bool>& stop) noexcept {
    std::uint32_t cur = word_.load(std::memory_order_acquire);
    while ((cur & kOwnerMask) == owner && !stop.load(std::memory_order_acquire)) {
      if (!(cur & kWaiters) &&
          !word_.compare_exchange_weak(cur, cur | kWaiters, std::memory_order_acquire,
                                       std::memory_order_acquire))
        continue;  // cur reloaded; check again
      futex_wait(word_, cur | kWaiters);
      cur = word_.load(std::memory_order_acquire);
    }
  }

  // Wakes the threads waiting for `owner` to let go, to look at their `stop` flag: the word
  // takes a new value (the poke counter), the owner stays.
  void poke(std::uint32_t owner) noexcept {
    std::uint32_t cur = word_.load(std::memory_order_relaxed);
    while ((cur & kOwnerMask) == owner) {
      const std::uint32_t next = (cur & ~kPokes) | ((cur + kPokeOne) & kPokes);
      if (word_.compare_exchange_weak(cur, next, std::memory_order_release,
                                      std::memory_order_relaxed)) {
        futex_wake_all(word_);
        return;
      }
    }
  }

  void release() noexcept {
    if (word_.exchange(0, std::memory_order_release) & kWaiters) futex_wake_all(word_);
  }

  // Acquire: a thread that finds the word let go (a cycle head another thread iterated) goes
  // on to rewrite memos that thread read before letting go.
  std::uint32_t owner() const noexcept {
    return word_.load(std::memory_order_acquire) & kOwnerMask;
  }

 private:
  std::atomic<std::uint32_t> word_{0};
};

}  // namespace relish::detail

// Every lock and atomic protocol of relish lives here, so that a ThreadSanitizer or model-
// checking build can swap them. Locks are std:: primitives (ThreadSanitizer must see them;
// Debian's Abseil is not built with TSan instrumentation).
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <shared_mutex>
#include <thread>

#if defined(__linux__)
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
  void lock() noexcept {
    for (;;) {
      if (!locked_.exchange(true, std::memory_order_acquire)) return;
      while (locked_.load(std::memory_order_relaxed)) std::this_thread::yield();
    }
  }
  void unlock() noexcept { locked_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> locked_{false};
};

// Asymmetric fences (the pattern of liburcu and folly): readers entering the database pay a
// compiler barrier only; the rare writer pays a process-wide barrier (Linux membarrier), which
// orders every reader's "I am active" store before the writer's "are readers active?" loads.
// Without membarrier both sides use a full fence.
class AsymmetricFence {
 public:
  static void light() noexcept {
    if (expedited()) {
      std::atomic_signal_fence(std::memory_order_seq_cst);
    } else {
      std::atomic_thread_fence(std::memory_order_seq_cst);
    }
  }
  static void heavy() noexcept {
#if defined(__linux__)
    if (expedited() && syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0)
      return;
#endif
    std::atomic_thread_fence(std::memory_order_seq_cst);
  }

 private:
  static bool expedited() noexcept {
#if defined(__linux__) && !defined(__SANITIZE_THREAD__)
    static const bool ok =
        syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
    return ok;
#else
    return false;
#endif
  }
};

}  // namespace relish::detail

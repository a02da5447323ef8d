// Helpers for the multi-threaded tests: a watchdog that turns a hang into a loud failure, a
// bounded spin-wait, and a start line so worker threads begin together.
//
// Catch2 v2 assertions are not thread-safe: worker threads only record what they saw (in
// atomics or in their own slots) and the test thread asserts after joining them.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

namespace relish_conc {

using Clock = std::chrono::steady_clock;

// Aborts the process (a deadlock cannot be unwound) when `progress` has not moved for
// `limit`. Progress is whatever the test counts: completed reads, writes, phases.
class Watchdog {
 public:
  explicit Watchdog(std::string what, std::chrono::milliseconds limit = std::chrono::seconds(10))
      : what_(std::move(what)), limit_(limit), thread_([this] { run(); }) {}
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  void tick() noexcept { progress_.fetch_add(1, std::memory_order_relaxed); }
  std::uint64_t progress() const noexcept { return progress_.load(std::memory_order_relaxed); }

 private:
  void run() {
    std::unique_lock<std::mutex> lock(mu_);
    std::uint64_t seen = progress();
    auto last_move = Clock::now();
    while (!stop_) {
      cv_.wait_for(lock, std::chrono::milliseconds(50));
      const std::uint64_t now = progress();
      if (now != seen) {
        seen = now;
        last_move = Clock::now();
      } else if (!stop_ && Clock::now() - last_move > limit_) {
        std::fprintf(stderr,
                     "\nWATCHDOG: no progress for %lld ms in \"%s\" (progress counter %llu): "
                     "deadlock or livelock; aborting\n",
                     static_cast<long long>(limit_.count()), what_.c_str(),
                     static_cast<unsigned long long>(now));
        std::fflush(stderr);
        std::abort();
      }
    }
  }

  std::string what_;
  std::chrono::milliseconds limit_;
  std::atomic<std::uint64_t> progress_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;  // last: starts after the fields above exist
};

// Spins (yielding) until `pred()` holds; false after `limit`.
template <class Pred>
bool spin_until(Pred&& pred, std::chrono::milliseconds limit = std::chrono::seconds(5)) {
  const auto deadline = Clock::now() + limit;
  while (!pred()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

// Used inside query functions: waits for `flag`, throws (a plain std::runtime_error, so the
// query fails and the test reports it) rather than hanging if it never comes.
inline void await_flag(const std::atomic<bool>& flag, const char* what,
                       std::chrono::milliseconds limit = std::chrono::seconds(5)) {
  if (!spin_until([&] { return flag.load(std::memory_order_acquire); }, limit))
    throw std::runtime_error(std::string("timed out waiting for ") + what);
}

// Worker threads call arrive_and_wait(); they all leave together once `n` have arrived.
class StartLine {
 public:
  explicit StartLine(int n) : n_(n) {}
  void arrive_and_wait() {
    arrived_.fetch_add(1, std::memory_order_acq_rel);
    while (arrived_.load(std::memory_order_acquire) < n_) std::this_thread::yield();
  }

 private:
  const int n_;
  std::atomic<int> arrived_{0};
};

}  // namespace relish_conc

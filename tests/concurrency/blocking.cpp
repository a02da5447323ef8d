// A memo being computed by one thread is computed once: another thread asking for it blocks
// until the first is done, then uses its value.
#include <catch2/catch.hpp>
#include <relish/relish.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <thread>

#include "support.hpp"

namespace {

using namespace std::chrono_literals;

struct NumData {
  std::uint64_t value;
};
using Num = relish::Input<NumData>;
struct Db : relish::Database {};

// Test controls for slow(): it announces it started, then spins until released.
std::atomic<bool> slow_started{false};
std::atomic<bool> slow_release{false};
std::atomic<std::uint64_t> slow_runs{0};
std::atomic<std::uint64_t> parent_runs{0};

struct Stamped {
  std::uint64_t value;
  std::uint64_t execution;  // which execution of slow() produced it (1, 2, ...)
  friend bool operator==(const Stamped&, const Stamped&) = default;
};

Stamped slow_fn(Db& db, Num n) {
  const std::uint64_t run = slow_runs.fetch_add(1) + 1;
  const std::uint64_t v = n.get(db, &NumData::value);
  slow_started.store(true, std::memory_order_release);
  relish_conc::await_flag(slow_release, "slow_release");
  return Stamped{v * 10, run};
}
inline constexpr relish::Query<slow_fn> slow;

std::uint64_t parent_fn(Db& db, Num n) {
  ++parent_runs;
  return slow(db, n).value + 1;
}
inline constexpr relish::Query<parent_fn> parent;

void reset_controls() {
  slow_started = false;
  slow_release = false;
  slow_runs = 0;
  parent_runs = 0;
}

}  // namespace

TEST_CASE("a second thread asking for a memo in progress blocks and gets its value",
          "[concurrency]") {
  relish_conc::Watchdog dog("blocking", 10s);
  Db db;
  Num n = Num::create(db, {.value = 4});
  reset_controls();

  Stamped a_result{}, b_result{};
  std::string a_error, b_error;
  std::atomic<bool> b_calling{false}, b_done{false};

  std::thread a([&] {
    try {
      a_result = slow(db, n);
    } catch (const std::exception& e) {
      a_error = e.what();
    }
  });
  REQUIRE(relish_conc::spin_until([] { return slow_started.load(); }));

  std::thread b([&] {
    b_calling = true;
    try {
      b_result = slow(db, n);
    } catch (const std::exception& e) {
      b_error = e.what();
    }
    b_done = true;
  });
  REQUIRE(relish_conc::spin_until([&] { return b_calling.load(); }));
  std::this_thread::sleep_for(100ms);
  // B asked while A was still computing: it must be waiting, not computing a second time.
  CHECK_FALSE(b_done.load());
  CHECK(slow_runs.load() == 1);

  slow_release = true;
  a.join();
  b.join();
  CHECK(a_error == "");
  CHECK(b_error == "");
  CHECK(a_result == Stamped{40, 1});
  CHECK(b_result == Stamped{40, 1});  // A's execution, not one of its own
  CHECK(slow_runs.load() == 1);

  // A hit afterwards, on either thread, executes nothing.
  CHECK(slow(db, n) == Stamped{40, 1});
  CHECK(slow_runs.load() == 1);
}

TEST_CASE("a thread verifying an old memo blocks on a dependency being re-executed",
          "[concurrency]") {
  relish_conc::Watchdog dog("blocking during verification", 10s);
  Db db;
  Num n = Num::create(db, {.value = 1});
  reset_controls();
  slow_release = true;
  REQUIRE(parent(db, n) == 11);
  REQUIRE(slow_runs.load() == 1);

  n.set(db, &NumData::value, 2);
  reset_controls();

  std::uint64_t b_value = 0;
  Stamped a_value{};
  std::string a_error, b_error;
  std::atomic<bool> b_calling{false}, b_done{false};
  // A re-executes slow directly.
  std::thread a([&] {
    try {
      a_value = slow(db, n);
    } catch (const std::exception& e) {
      a_error = e.what();
    }
  });
  REQUIRE(relish_conc::spin_until([] { return slow_started.load(); }));
  // B asks for parent: its memo is old, verifying it needs slow, which A owns.
  std::thread b([&] {
    b_calling = true;
    try {
      b_value = parent(db, n);
    } catch (const std::exception& e) {
      b_error = e.what();
    }
    b_done = true;
  });
  REQUIRE(relish_conc::spin_until([&] { return b_calling.load(); }));
  std::this_thread::sleep_for(100ms);
  CHECK_FALSE(b_done.load());
  CHECK(slow_runs.load() == 1);

  slow_release = true;
  a.join();
  b.join();
  CHECK(a_error == "");
  CHECK(b_error == "");
  CHECK(a_value == Stamped{20, 1});
  CHECK(b_value == 21);
  CHECK(slow_runs.load() == 1);    // once in this revision, by A
  CHECK(parent_runs.load() == 1);  // B re-ran parent, which hit A's memo
}

TEST_CASE("many threads piling onto one memo in progress all get the one value",
          "[concurrency]") {
  relish_conc::Watchdog dog("pile-up", 10s);
  Db db;
  Num n = Num::create(db, {.value = 7});
  reset_controls();

  constexpr int kWaiters = 6;
  std::vector<Stamped> results(kWaiters + 1);
  std::vector<std::string> errors(kWaiters + 1);
  std::atomic<int> calling{0};
  std::vector<std::thread> threads;
  threads.emplace_back([&] {
    try {
      results[0] = parent(db, n) == 71 ? slow(db, n) : Stamped{};
    } catch (const std::exception& e) {
      errors[0] = e.what();
    }
  });
  REQUIRE(relish_conc::spin_until([] { return slow_started.load(); }));
  for (int t = 1; t <= kWaiters; ++t) {
    threads.emplace_back([&, t] {
      ++calling;
      try {
        // Half through parent (blocks inside another query), half directly.
        results[t] = t % 2 ? slow(db, n) : (parent(db, n) == 71 ? slow(db, n) : Stamped{});
      } catch (const std::exception& e) {
        errors[t] = e.what();
      }
    });
  }
  REQUIRE(relish_conc::spin_until([&] { return calling.load() == kWaiters; }));
  std::this_thread::sleep_for(50ms);
  slow_release = true;
  for (auto& th : threads) th.join();
  for (int t = 0; t <= kWaiters; ++t) {
    CAPTURE(t);
    CHECK(errors[t] == "");
    CHECK(results[t] == Stamped{70, 1});
  }
  CHECK(slow_runs.load() == 1);
  CHECK(parent_runs.load() == 1);
}

// A write from another thread cancels a running query: it throws relish::Cancelled at its
// next dependency read (or db.check_cancelled()), leaves no partial memo, and the write
// proceeds once it unwound. The next run executes fully and answers for the new revision.
#include <catch2/catch.hpp>
#include <relish/relish.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "../common/event_log.hpp"
#include "support.hpp"

namespace {

using namespace std::chrono_literals;

struct NumData {
  std::uint64_t value;
  std::uint64_t rounds;
};
using Num = relish::Input<NumData>;
struct Db : relish::Database {};

// Test controls (plain atomics, not inputs: the engine does not see them).
std::atomic<bool> hold{false};       // long_sum keeps looping while set
std::atomic<bool> started{false};    // long_sum / spin_check read their first dependency
std::atomic<std::uint64_t> long_runs{0}, long_finished{0};
std::atomic<std::uint64_t> spin_runs{0};
std::atomic<std::uint64_t> checks{0};

// Reads `value` again and again (each read is a cancellation point) while `hold` is set,
// then `rounds` more times; returns value * (reads made).
std::uint64_t long_sum_fn(Db& db, Num n) {
  ++long_runs;
  std::uint64_t reads = 0, v = 0;
  started = true;
  while (hold.load(std::memory_order_relaxed)) {
    v = n.get(db, &NumData::value);
    ++reads;
  }
  const std::uint64_t rounds = n.get(db, &NumData::rounds);
  for (std::uint64_t i = 0; i < rounds; ++i) v = n.get(db, &NumData::value);
  ++long_finished;
  return v * 1000 + rounds;
}
inline constexpr relish::Query<long_sum_fn> long_sum;

// Reads one dependency, then spins calling db.check_cancelled() while `hold` is set.
std::uint64_t spin_check_fn(Db& db, Num n) {
  ++spin_runs;
  const std::uint64_t v = n.get(db, &NumData::value);
  started = true;
  while (hold.load(std::memory_order_relaxed)) {
    db.check_cancelled();
    ++checks;
  }
  return v + 1;
}
inline constexpr relish::Query<spin_check_fn> spin_check;

std::atomic<bool> outer_started{false};
std::uint64_t outer_fn(Db& db, Num n) {
  outer_started = true;
  return long_sum(db, n) + 1;
}
inline constexpr relish::Query<outer_fn> outer;

void reset_controls() {
  hold = false;
  started = false;
  long_runs = 0;
  long_finished = 0;
  spin_runs = 0;
  checks = 0;
}

struct Attempt {
  std::uint64_t value = 0;
  bool cancelled = false;
  std::string error;
};

template <class F>
std::thread run_into(Attempt& out, F f) {
  return std::thread([&out, f] {
    try {
      out.value = f();
    } catch (const relish::Cancelled&) {
      out.cancelled = true;
    } catch (const std::exception& e) {
      out.error = e.what();
    }
  });
}

}  // namespace

TEST_CASE("a write cancels a query reading dependencies in a loop; no partial memo",
          "[concurrency]") {
  relish_conc::Watchdog dog("cancellation", 10s);
  Db db;
  Num n = Num::create(db, {.value = 2, .rounds = 3});
  reset_controls();
  relish_test::EventLog log(db);  // written only by the query thread, read after join

  for (int round = 0; round < 3; ++round) {
    CAPTURE(round);
    hold = true;
    started = false;
    Attempt a;
    std::thread t = run_into(a, [&] { return long_sum(db, n); });
    REQUIRE(relish_conc::spin_until([] { return started.load(); }));
    std::this_thread::sleep_for(5ms);  // well inside its loop

    // The write waits for the query to unwind, so when it returns the query is gone.
    n.set(db, &NumData::value, 10 + round);
    t.join();
    dog.tick();
    CHECK(a.cancelled);
    CHECK(a.error == "");
    CHECK(long_finished.load() == 0);
    // No partial memo: nothing was stored for the cancelled execution (an Input-keyed
    // query's memo id is the handle's index).
    CHECK_FALSE(long_sum.ingredient(db).has_value(n.index()));
  }

  // The next run (here, on this thread) executes fully, for the new revision.
  hold = false;
  log.clear();
  CHECK(long_sum(db, n) == 12 * 1000 + 3);
  CHECK(long_finished.load() == 1);
  CHECK(log.executed() == relish_test::Log{"long_sum(Num#0)"});
  log.clear();
  CHECK(long_sum(db, n) == 12 * 1000 + 3);  // and is memoized
  CHECK(log.executed().empty());
}

TEST_CASE("db.check_cancelled() in a loop notices the write", "[concurrency]") {
  relish_conc::Watchdog dog("check_cancelled", 10s);
  Db db;
  Num n = Num::create(db, {.value = 5, .rounds = 0});
  reset_controls();

  // No write pending: check_cancelled() is a no-op, in a query and outside one.
  CHECK_NOTHROW(db.check_cancelled());
  CHECK(spin_check(db, n) == 6);

  n.set(db, &NumData::value, 6);  // new revision: spin_check must re-run
  hold = true;
  started = false;
  Attempt a;
  std::thread t = run_into(a, [&] { return spin_check(db, n); });
  REQUIRE(relish_conc::spin_until([] { return started.load(); }));
  REQUIRE(relish_conc::spin_until([] { return checks.load() > 1000; }));
  const relish::Revision before = db.current_revision();
  n.set(db, &NumData::value, 7);
  t.join();
  CHECK(a.cancelled);
  CHECK(a.error == "");
  CHECK(db.current_revision() == before + 1);
  hold = false;
  CHECK(spin_check(db, n) == 8);
  CHECK(spin_runs.load() == 3);  // the first run, the cancelled one, the last one
  CHECK_NOTHROW(db.check_cancelled());
}

TEST_CASE("a thread blocked on a cancelled query's memo is cancelled too", "[concurrency]") {
  relish_conc::Watchdog dog("cancel a waiter", 10s);
  Db db;
  Num n = Num::create(db, {.value = 1, .rounds = 2});
  reset_controls();
  hold = true;

  Attempt owner, waiter;
  std::thread t1 = run_into(owner, [&] { return long_sum(db, n); });
  REQUIRE(relish_conc::spin_until([] { return started.load(); }));
  outer_started = false;
  std::thread t2 = run_into(waiter, [&] {
    return outer(db, n);  // outer -> long_sum, which t1 is computing: blocks
  });
  // Once outer runs, the write cancels it whether or not it is blocked yet (it would notice
  // at its read of long_sum); give it time to block, the case of interest.
  REQUIRE(relish_conc::spin_until([&] { return outer_started.load(); }));
  std::this_thread::sleep_for(10ms);
  CHECK(long_runs.load() == 1);

  n.set(db, &NumData::value, 3);
  t1.join();
  t2.join();
  CHECK(owner.cancelled);
  CHECK(waiter.cancelled);
  CHECK(owner.error == "");
  CHECK(waiter.error == "");

  // Both retry in the new revision, concurrently: one execution, both get its value.
  hold = false;
  long_runs = 0;
  Attempt r1, r2;
  std::thread u1 = run_into(r1, [&] { return long_sum(db, n); });
  std::thread u2 = run_into(r2, [&] { return outer(db, n); });
  u1.join();
  u2.join();
  CHECK(r1.error == "");
  CHECK(r2.error == "");
  CHECK_FALSE(r1.cancelled);
  CHECK_FALSE(r2.cancelled);
  CHECK(r1.value == 3002);
  CHECK(r2.value == 3003);
  CHECK(long_runs.load() == 1);
}

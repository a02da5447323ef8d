// Cycles across threads: thread 1 computes a(k), thread 2 computes b(k), and each then needs
// the other's memo. Waiting would deadlock; the wait-for graph turns it into a CycleError on
// at least one thread, and the database stays usable once the input causing the cycle is
// fixed. Also: waits that are NOT a cycle must not be reported as one.
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
using relish_test::strip_anonymous;

struct FlagData {
  bool cyclic;
  std::uint64_t base;
};
using Flag = relish::Input<FlagData>;
struct Db : relish::Database {};

// a and b meet: each announces it is running, waits for the other, then calls it.
std::atomic<bool> a_entered{false};
std::atomic<bool> b_entered{false};
std::atomic<int> a_runs{0}, b_runs{0};

std::uint64_t b_fn(Db& db, Flag f);
inline constexpr relish::Query<b_fn> b;

std::uint64_t a_fn(Db& db, Flag f) {
  ++a_runs;
  if (!f.get(db, &FlagData::cyclic)) return f.get(db, &FlagData::base);
  a_entered.store(true);
  relish_conc::await_flag(b_entered, "b_entered");
  return b(db, f) + 1;
}
inline constexpr relish::Query<a_fn> a;

std::uint64_t b_fn(Db& db, Flag f) {
  ++b_runs;
  const bool cyclic = f.get(db, &FlagData::cyclic);
  if (cyclic) {
    b_entered.store(true);
    relish_conc::await_flag(a_entered, "a_entered");
  }
  return a(db, f) + 100;
}

struct Outcome {
  std::uint64_t value = 0;
  std::string cycle;  // CycleError message, if any
  std::string other;  // any other exception
};

template <class Q>
std::thread run_into(Outcome& out, const Q& q, Db& db, Flag f) {
  return std::thread([&out, &q, &db, f] {
    try {
      out.value = q(db, f);
    } catch (const relish::CycleError& e) {
      out.cycle = strip_anonymous(e.what());
    } catch (const std::exception& e) {
      out.other = e.what();
    }
  });
}

// A ring of k threads: ring(i) announces itself, waits for all k, then calls ring(i+1 mod k).
constexpr int kRing = 3;
std::atomic<int> ring_entered{0};
std::atomic<bool> ring_all{false};

std::uint64_t ring_fn(Db& db, Flag f, int i);
inline constexpr relish::Query<ring_fn> ring;

std::uint64_t ring_fn(Db& db, Flag f, int i) {
  if (f.get(db, &FlagData::cyclic)) {
    if (++ring_entered == kRing) ring_all = true;
    relish_conc::await_flag(ring_all, "ring_all");
  } else if (i == kRing - 1) {
    return f.get(db, &FlagData::base);  // not cyclic: the ring is a chain ending here
  }
  return ring(db, f, (i + 1) % kRing) + 1;
}

}  // namespace

TEST_CASE("two threads each needing the other's memo get a CycleError, not a deadlock",
          "[concurrency]") {
  relish_conc::Watchdog dog("cross-thread cycle", 10s);
  Db db;
  Flag f = Flag::create(db, {.cyclic = true, .base = 5});

  for (int attempt = 0; attempt < 10; ++attempt) {
    CAPTURE(attempt);
    a_entered = false;
    b_entered = false;
    Outcome oa, ob;
    // Alternate which thread starts first; the latches force the interleaving either way.
    std::thread t1, t2;
    if (attempt % 2 == 0) {
      t1 = run_into(oa, a, db, f);
      t2 = run_into(ob, b, db, f);
    } else {
      t2 = run_into(ob, b, db, f);
      t1 = run_into(oa, a, db, f);
    }
    t1.join();
    t2.join();
    dog.tick();
    CHECK(oa.other == "");
    CHECK(ob.other == "");
    // Neither may succeed: each value would depend on itself.
    const int cycles = !oa.cycle.empty() + !ob.cycle.empty();
    CHECK(cycles == 2);
    for (const std::string& msg : {oa.cycle, ob.cycle}) {
      if (msg.empty()) continue;
      CHECK_THAT(msg, Catch::Contains("a(Flag#0)") && Catch::Contains("b(Flag#0)"));
    }
  }

  // Fix the input: both queries work, on either thread, and agree.
  f.set(db, &FlagData::cyclic, false);
  a_runs = 0;
  b_runs = 0;
  Outcome oa, ob;
  std::thread t1 = run_into(oa, a, db, f);
  std::thread t2 = run_into(ob, b, db, f);
  t1.join();
  t2.join();
  CHECK(oa.cycle == "");
  CHECK(ob.cycle == "");
  CHECK(oa.other == "");
  CHECK(ob.other == "");
  CHECK(oa.value == 5);
  CHECK(ob.value == 105);
  CHECK(a_runs.load() == 1);  // the failed attempts left no memo, and a ran once now
  CHECK(b_runs.load() == 1);
  CHECK(a(db, f) == 5);
  CHECK(b(db, f) == 105);

  // Making it cyclic again fails again, single-threaded too (the cycle through the memos).
  f.set(db, &FlagData::cyclic, true);
  a_entered = true;
  b_entered = true;
  CHECK_THROWS_AS(a(db, f), relish::CycleError);
  f.set(db, &FlagData::cyclic, false);
  f.set(db, &FlagData::base, 6);
  CHECK(b(db, f) == 106);
}

TEST_CASE("a cycle through three threads is detected", "[concurrency]") {
  relish_conc::Watchdog dog("three-thread cycle", 10s);
  Db db;
  Flag f = Flag::create(db, {.cyclic = true, .base = 1});
  for (int attempt = 0; attempt < 5; ++attempt) {
    CAPTURE(attempt);
    ring_entered = 0;
    ring_all = false;
    std::vector<Outcome> out(kRing);
    std::vector<std::thread> threads;
    for (int i = 0; i < kRing; ++i) {
      threads.emplace_back([&, i] {
        try {
          out[i].value = ring(db, f, i);
        } catch (const relish::CycleError& e) {
          out[i].cycle = strip_anonymous(e.what());
        } catch (const std::exception& e) {
          out[i].other = e.what();
        }
      });
    }
    for (auto& t : threads) t.join();
    dog.tick();
    for (int i = 0; i < kRing; ++i) {
      CAPTURE(i);
      CHECK(out[i].other == "");
      CHECK(out[i].cycle != "");
    }
  }
  f.set(db, &FlagData::cyclic, false);
  std::vector<std::uint64_t> got(kRing);
  std::vector<std::thread> threads;
  for (int i = 0; i < kRing; ++i) threads.emplace_back([&, i] { got[i] = ring(db, f, i); });
  for (auto& t : threads) t.join();
  for (int i = 0; i < kRing; ++i) CHECK(got[i] == static_cast<std::uint64_t>(kRing - i));
}

// ---- a wait that is not a cycle ---------------------------------------------------------
//
// Thread L runs top(k): it computes slow_leaf(k) (which spins until released), then needs
// mid(k). Thread O runs mid(k), which needs slow_leaf(k): O blocks on L. When slow_leaf is
// released, L finishes it, wakes O, and asks for mid(k), which O owns: L must simply wait
// for O, which is no longer waiting for anybody. There is no cycle.
namespace {

std::atomic<bool> leaf_started{false};
std::atomic<bool> leaf_release{false};
std::atomic<bool> mid_calling_leaf{false};

std::uint64_t slow_leaf_fn(Db& db, Flag f) {
  const std::uint64_t v = f.get(db, &FlagData::base);
  leaf_started = true;
  relish_conc::await_flag(leaf_release, "leaf_release");
  return v;
}
inline constexpr relish::Query<slow_leaf_fn> slow_leaf;

std::uint64_t mid_fn(Db& db, Flag f) {
  mid_calling_leaf = true;
  return slow_leaf(db, f) * 2;
}
inline constexpr relish::Query<mid_fn> mid;

std::uint64_t top_fn(Db& db, Flag f) { return slow_leaf(db, f) + mid(db, f); }
inline constexpr relish::Query<top_fn> top;

}  // namespace

// Fails at commit 0a7ba07 (5 to 8 false cycles in 20 attempts in Release): the wait-for edge
// "O waits for L" is removed only by O itself once it has woken up (runtime.hpp, Runtime::
// block_on, `l.waiting_on = nullptr` after `owner.wait_while_owned_by`), and releasing a memo
// does not touch the graph. L releases slow_leaf and, before O has been scheduled, blocks on
// mid: its walk O -> (stale) L reaches itself and throws "cycle detected: top_fn(FlagData#0)
// -> mid_fn(FlagData#0) (computing on another thread) -> slow_leaf_fn(FlagData#0) (computing
// on another thread)". The same holds for an owner id read by try_claim that is stale by the
// time block_on takes the lock. The DAG and shared-memo stress tests hit it too. Passes with
// the uncommitted runtime.hpp change that re-checks the owner under the lock and follows only
// edges whose owner word still names the owner (Runtime::blocked_on): once that is committed,
// retag these "[concurrency]".
TEST_CASE("a wait behind a thread that was just woken is not a cycle",
          "[concurrency]") {
  relish_conc::Watchdog dog("false cycle", 10s);
  int false_cycles = 0;
  std::string example;
  constexpr int kAttempts = 20;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    Db db;
    Flag f = Flag::create(db, {.cyclic = false, .base = 3});
    leaf_started = false;
    leaf_release = false;
    mid_calling_leaf = false;
    Outcome ol, oo;
    std::thread l = run_into(ol, top, db, f);
    REQUIRE(relish_conc::spin_until([] { return leaf_started.load(); }));
    std::thread o = run_into(oo, mid, db, f);
    REQUIRE(relish_conc::spin_until([] { return mid_calling_leaf.load(); }));
    std::this_thread::sleep_for(2ms);  // O is now blocked on slow_leaf, owned by L
    leaf_release = true;
    l.join();
    o.join();
    dog.tick();
    CHECK(ol.other == "");
    CHECK(oo.other == "");
    CHECK(oo.cycle == "");
    CHECK(oo.value == 6);
    if (!ol.cycle.empty()) {
      ++false_cycles;
      example = ol.cycle;
    } else {
      CHECK(ol.value == 9);
    }
  }
  INFO("false cycles: " << false_cycles << " of " << kAttempts << "; e.g. " << example);
  CHECK(false_cycles == 0);
}

// Fixpoint cycles entered by several threads at once. Each thread claims a different query of
// the cycle, then needs another thread's: the one that would close the wait-for cycle makes
// way (it unwinds to the memo the others wait for, lets go of it, and waits), so the cycle
// runs on one thread and every thread gets the same converged values, with no deadlock and
// no CycleError.
#include <catch2/catch.hpp>
#include <relish/relish.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "../common/event_log.hpp"
#include "support.hpp"

namespace {

using namespace std::chrono_literals;
using relish_test::EventLog;
using relish_test::Log;

struct Db : relish::Database {};

// ---- two threads, a use/def pair ----------------------------------------------------------
//
// A loop `x = start; while x < limit: x = x + step`: use = {start} | def, def = use + step,
// capped at `limit`. The least fixpoint is {start, start+step, ...} up to the cap; both
// queries have a policy, so either can be the head.

struct LoopData {
  std::int64_t start = 0;
  std::int64_t step = 1;
  std::int64_t limit = 10;
};
using Loop = relish::Input<LoopData>;

using Set = std::vector<std::int64_t>;  // sorted, distinct

Set join(Set a, const Set& b) {
  a.insert(a.end(), b.begin(), b.end());
  std::sort(a.begin(), a.end());
  a.erase(std::unique(a.begin(), a.end()), a.end());
  return a;
}

// Latches forcing the interleaving: while `armed`, the first execution of each query announces
// itself and waits for the other's, so that each thread owns one query of the cycle before
// either asks for the other's.
std::atomic<bool> armed{false};
std::atomic<bool> use_entered{false};
std::atomic<bool> def_entered{false};
std::atomic<int> executions{0};

void meet(std::atomic<bool>& mine, const std::atomic<bool>& other, const char* what) {
  if (!armed.load() || mine.exchange(true)) return;
  relish_conc::await_flag(other, what);
}

Set empty_set(Db&, Loop) { return {}; }
Set use_fn(Db& db, Loop l);
Set def_fn(Db& db, Loop l);
inline constexpr relish::Query<use_fn, relish::Options{}, relish::Fixpoint<empty_set>> use;
inline constexpr relish::Query<def_fn, relish::Options{}, relish::Fixpoint<empty_set>> def;

Set use_fn(Db& db, Loop l) {
  ++executions;
  meet(use_entered, def_entered, "def_entered");
  return join({l.get(db, &LoopData::start)}, def(db, l));
}

Set def_fn(Db& db, Loop l) {
  ++executions;
  meet(def_entered, use_entered, "use_entered");
  const std::int64_t step = l.get(db, &LoopData::step);
  const std::int64_t limit = l.get(db, &LoopData::limit);
  Set out;
  for (std::int64_t v : use(db, l)) out.push_back(std::min(v + step, limit));
  return join(out, {});
}

Set expected_use(const LoopData& d) {
  Set s;
  for (std::int64_t v = d.start;; v = std::min(v + d.step, d.limit)) {
    if (!s.empty() && s.back() == v) break;
    s.push_back(v);
    if (d.step == 0) break;
  }
  return join(s, {});
}

Set expected_def(const LoopData& d) {
  Set out;
  for (std::int64_t v : expected_use(d)) out.push_back(std::min(v + d.step, d.limit));
  return join(out, {});
}

struct Outcome {
  Set value;
  std::string error;
};

template <class Q>
std::thread run_into(Outcome& out, const Q& q, Db& db, Loop l) {
  return std::thread([&out, &q, &db, l] {
    try {
      out.value = q(db, l);
    } catch (const std::exception& e) {
      out.error = e.what();
    }
  });
}

}  // namespace

TEST_CASE("two threads entering one fixpoint cycle from different queries converge",
          "[concurrency][cycles]") {
  relish_conc::Watchdog dog("cross-thread fixpoint", 10s);
  const LoopData data{.start = 1, .step = 3, .limit = 11};
  for (int attempt = 0; attempt < 10; ++attempt) {
    CAPTURE(attempt);
    Db db;
    Loop l = Loop::create(db, data);
    armed = true;
    use_entered = false;
    def_entered = false;
    Outcome ou, od;
    std::thread t1, t2;
    if (attempt % 2 == 0) {
      t1 = run_into(ou, use, db, l);
      t2 = run_into(od, def, db, l);
    } else {
      t2 = run_into(od, def, db, l);
      t1 = run_into(ou, use, db, l);
    }
    t1.join();
    t2.join();
    armed = false;
    dog.tick();
    CHECK(ou.error == "");
    CHECK(od.error == "");
    CHECK(ou.value == expected_use(data));
    CHECK(od.value == expected_def(data));
    // Both memos are final: reading them again runs nothing.
    EventLog log(db);
    CHECK(use(db, l) == expected_use(data));
    CHECK(def(db, l) == expected_def(data));
    CHECK(log.executed() == Log{});
  }
}

TEST_CASE("a fixpoint cycle re-entered by two threads after an edit re-converges",
          "[concurrency][cycles]") {
  relish_conc::Watchdog dog("cross-thread fixpoint after edits", 10s);
  Db db;
  LoopData data{.start = 0, .step = 2, .limit = 9};
  Loop l = Loop::create(db, data);
  std::mt19937 rng(7);
  for (int round = 0; round < 20; ++round) {
    CAPTURE(round);
    Outcome ou, od;
    std::thread t1 = run_into(ou, use, db, l);
    std::thread t2 = run_into(od, def, db, l);
    t1.join();
    t2.join();
    dog.tick();
    CHECK(ou.error == "");
    CHECK(od.error == "");
    CHECK(ou.value == expected_use(data));
    CHECK(od.value == expected_def(data));
    data.start = static_cast<std::int64_t>(rng() % 5);
    data.step = static_cast<std::int64_t>(rng() % 4);
    l.set(db, &LoopData::start, data.start);
    l.set(db, &LoopData::step, data.step);
  }
}

// ---- a ring of three threads -------------------------------------------------------------
//
// ring(i) = min(cap, ring(i+1 mod 3) + 1): each of three threads starts at a different query
// and all wait until all three are inside before going on. Every query converges to `cap`.

namespace {

constexpr int kRing = 3;
std::atomic<int> ring_entered{0};
std::atomic<bool> ring_all{false};
std::atomic<bool> ring_armed{false};
std::array<std::atomic<bool>, kRing> ring_first{};

struct CapData {
  std::uint32_t cap = 5;
};
using Cap = relish::Input<CapData>;

std::uint32_t ring_initial(Db&, Cap, int) { return 0; }
std::uint32_t ring_fn(Db& db, Cap c, int i);
inline constexpr relish::Query<ring_fn, relish::Options{}, relish::Fixpoint<ring_initial>> ring;

std::uint32_t ring_fn(Db& db, Cap c, int i) {
  if (ring_armed.load() && !ring_first[static_cast<std::size_t>(i)].exchange(true)) {
    if (++ring_entered == kRing) ring_all = true;
    relish_conc::await_flag(ring_all, "ring_all");
  }
  return std::min(c.get(db, &CapData::cap), ring(db, c, (i + 1) % kRing) + 1);
}

}  // namespace

TEST_CASE("a fixpoint cycle through three threads converges on every thread",
          "[concurrency][cycles]") {
  relish_conc::Watchdog dog("three-thread fixpoint", 10s);
  for (int attempt = 0; attempt < 5; ++attempt) {
    CAPTURE(attempt);
    Db db;
    Cap c = Cap::create(db, {.cap = 4});
    ring_entered = 0;
    ring_all = false;
    for (auto& f : ring_first) f = false;
    ring_armed = true;
    std::vector<Outcome> out(kRing);
    std::vector<std::uint32_t> got(kRing, 0);
    std::vector<std::thread> threads;
    for (int i = 0; i < kRing; ++i) {
      threads.emplace_back([&, i] {
        try {
          got[static_cast<std::size_t>(i)] = ring(db, c, i);
        } catch (const std::exception& e) {
          out[static_cast<std::size_t>(i)].error = e.what();
        }
      });
    }
    for (auto& t : threads) t.join();
    ring_armed = false;
    dog.tick();
    for (int i = 0; i < kRing; ++i) {
      CAPTURE(i);
      CHECK(out[static_cast<std::size_t>(i)].error == "");
      CHECK(got[static_cast<std::size_t>(i)] == 4);
    }
    c.set(db, &CapData::cap, 7);
    for (int i = 0; i < kRing; ++i) CHECK(ring(db, c, i) == 7);
  }
}

// ---- free-running stress ------------------------------------------------------------------
//
// Six nodes in one strongly connected component (a ring plus chords), each
// node(i) = max(seed_i, max over successors s of node(s) - 1): a monotone system with one least
// fixpoint from 0. Four threads read the nodes in random orders while the main thread edits
// seeds between rounds; every value must equal the fixpoint computed directly.

namespace {

constexpr int kNodes = 6;
struct SeedsData {
  std::array<std::uint32_t, kNodes> seed{};
};
using Seeds = relish::Input<SeedsData>;

const std::array<std::vector<int>, kNodes> kSucc = {{{1, 3}, {2}, {0, 4}, {4}, {5, 1}, {0}}};

std::uint32_t node_initial(Db&, Seeds, int) { return 0; }
std::uint32_t node_fn(Db& db, Seeds s, int i);
inline constexpr relish::Query<node_fn, relish::Options{}, relish::Fixpoint<node_initial>> node;

std::uint32_t node_fn(Db& db, Seeds s, int i) {
  std::uint32_t v = s.get(db, &SeedsData::seed)[static_cast<std::size_t>(i)];
  for (int succ : kSucc[static_cast<std::size_t>(i)]) {
    const std::uint32_t n = node(db, s, succ);
    if (n > 0) v = std::max(v, n - 1);
  }
  return v;
}

std::array<std::uint32_t, kNodes> direct_fixpoint(const SeedsData& d) {
  std::array<std::uint32_t, kNodes> v{};
  for (bool changed = true; changed;) {
    changed = false;
    for (int i = 0; i < kNodes; ++i) {
      std::uint32_t x = d.seed[static_cast<std::size_t>(i)];
      for (int succ : kSucc[static_cast<std::size_t>(i)]) {
        const std::uint32_t n = v[static_cast<std::size_t>(succ)];
        if (n > 0) x = std::max(x, n - 1);
      }
      if (x != v[static_cast<std::size_t>(i)]) {
        v[static_cast<std::size_t>(i)] = x;
        changed = true;
      }
    }
  }
  return v;
}

}  // namespace

TEST_CASE("threads reading one fixpoint SCC in random orders agree with the direct fixpoint",
          "[concurrency][cycles]") {
  relish_conc::Watchdog dog("fixpoint SCC stress", 20s);
  const int kThreads = GENERATE(1, 4);
  CAPTURE(kThreads);
  constexpr int kRounds = 60;
  Db db;
  SeedsData data;
  Seeds s = Seeds::create(db, data);
  std::mt19937 rng(2024);
  int mismatches = 0;
  std::string first_error, first_mismatch;
  for (int round = 0; round < kRounds; ++round) {
    const auto expected = direct_fixpoint(data);
    std::vector<std::array<std::uint32_t, kNodes>> got(kThreads);
    std::vector<std::string> errors(kThreads);
    relish_conc::StartLine start(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        std::array<int, kNodes> order{};
        for (int i = 0; i < kNodes; ++i) order[static_cast<std::size_t>(i)] = i;
        std::mt19937 local(static_cast<unsigned>(round * 31 + t));
        std::shuffle(order.begin(), order.end(), local);
        start.arrive_and_wait();
        try {
          for (int i : order) got[static_cast<std::size_t>(t)][static_cast<std::size_t>(i)] = node(db, s, i);
        } catch (const std::exception& e) {
          errors[static_cast<std::size_t>(t)] = e.what();
        }
      });
    }
    for (auto& t : threads) t.join();
    dog.tick();
    for (int t = 0; t < kThreads; ++t) {
      if (!errors[static_cast<std::size_t>(t)].empty() && first_error.empty())
        first_error = errors[static_cast<std::size_t>(t)];
      if (got[static_cast<std::size_t>(t)] != expected && ++mismatches == 1) {
        first_mismatch = "round " + std::to_string(round) + ", thread " + std::to_string(t) + ":";
        for (int i = 0; i < kNodes; ++i)
          first_mismatch += " node" + std::to_string(i) + "=" +
                            std::to_string(got[static_cast<std::size_t>(t)][static_cast<std::size_t>(i)]) +
                            " (expected " + std::to_string(expected[static_cast<std::size_t>(i)]) + ")";
      }
    }
    // Edit one or two seeds (sometimes to the same value: a no-op revision for the SCC).
    for (int e = 0; e < 1 + static_cast<int>(rng() % 2); ++e) {
      const std::size_t i = rng() % kNodes;
      data.seed[i] = static_cast<std::uint32_t>(rng() % 8);
    }
    s.set(db, &SeedsData::seed, data.seed);
  }
  CHECK(first_error == "");
  INFO(first_mismatch);
  CHECK(mismatches == 0);
}

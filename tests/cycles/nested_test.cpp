// Nested and multi-head fixpoint cycles, after Salsa's tests/cycle*.rs (nested_converge,
// nested_inner_first, nested_double_*, cycle_nested_converge_early, cycle_unchanged_nested,
// cycle_input_different_cycle_head), written for relish:
//   - an inner cycle nested in an outer one (a -> b -> a, b -> c -> b), entered from each
//     query: whichever query becomes the outer head, every value is the least fixpoint;
//   - a query without a cycle policy that closes two nested cycles (Salsa's nested_converge);
//   - two heads in one strongly connected component (a -> b -> a, a -> c -> a, b -> c),
//     converging, and diverging until the recovery function widens it after 4 iterations;
//   - a cycle whose control flow depends on the provisional value, so a query read in early
//     rounds is not read in the last one: it must not keep its provisional value;
//   - a nested cycle whose inner cycle stops depending on the outer one (converge early);
//   - an input read only in the first rounds of a cycle (Salsa's first_iteration_input_only);
//   - incremental behaviour (event log): verified without iterating when nothing it read
//     changed, re-iterated when an input changed, backdating, entered from another head;
//   - a randomized differential test: random graphs of fixpoint queries with max/min values
//     bounded per query, random edits (sources, edges, bounds), every query checked after
//     every edit against the least fixpoint (computed without relish) and a fresh database.
//
// Values are ints ordered by <=, every Fixpoint starts from 0 (bottom) and, except in the
// converge-early and first-rounds sections, every query's function is monotone: a cycle then
// has one least fixpoint, which any correct iteration reaches whichever query is entered
// first. Tests marked "Regression" failed with an earlier engine; the defect is described above
// each.
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "../common/event_log.hpp"
#include "../common/steps.hpp"

namespace {

using relish_test::EventLog;
using relish_test::Log;

std::size_t count_of(const Log& log, const std::string& entry) {
  return static_cast<std::size_t>(std::count(log.begin(), log.end(), entry));
}
bool contains(const Log& log, const std::string& entry) { return count_of(log, entry) > 0; }

// ---- inputs and the database ------------------------------------------------------------

// The nested shape: each query's own contribution, and the order in which b reads a and c.
struct SeedData {
  int a = 0;
  int b = 0;
  int c = 0;
  bool inner_first = false;  // b reads c (the inner cycle) before a (the outer one)
};
using Seeds = relish::Input<SeedData>;

// An input nothing in the cycles reads.
struct OtherData {
  int x = 0;
};
using Other = relish::Input<OtherData>;

// The two-heads shape.
struct WData {
  int sa = 0;
  int sb = 0;
  int sc = 0;
  int cap = 2;  // bound of the increment on the edge b -> a
};
using WIn = relish::Input<WData>;

// The control-flow shape.
struct FData {
  int seed = 0;
  int cap = 5;
  int threshold = 2;  // step reads `low` while h < threshold, `high` from then on
};
using FIn = relish::Input<FData>;

// The randomized graphs: node i reads some sources and some nodes (+ bump), in an order.
struct Edge {
  std::uint32_t to = 0;
  int bump = 0;
  friend bool operator==(const Edge&, const Edge&) = default;
};
struct NodeData {
  std::vector<Edge> deps;
  std::vector<std::uint32_t> srcs;
  int cap = 5;
  bool srcs_first = true;
};
using Node = relish::Input<NodeData>;
struct SrcData {
  int value = 0;
};
using Src = relish::Input<SrcData>;

struct Db : relish::Database {
  std::vector<std::uint32_t> recover_iterations;  // every `iteration` the widening saw
  std::vector<Node> nodes;                        // the randomized graph
  std::vector<Src> srcs;
  std::vector<char> plain;  // per node, fixed: computed by a query without a cycle policy
};

// ---- nested: a -> b -> a (outer), b -> c -> b (inner) -------------------------------------
//
//   a = max(seed.a, b)      b = max(seed.b, a, c)      c = max(seed.c, b)
//
// Least fixpoint: every query is max(seed.a, seed.b, seed.c). All three have a policy, so the
// cycle can be entered anywhere. Entered from a: a heads the outer cycle, b the inner one.
// Entered from c: c heads the outer cycle (c -> b -> c), b the inner one (b -> a -> b).
// Entered from b: b heads both.

int n_zero(Db&, Seeds) { return 0; }
using NPolicy = relish::Fixpoint<n_zero>;
int n_a_fn(Db& db, Seeds s);
int n_b_fn(Db& db, Seeds s);
int n_c_fn(Db& db, Seeds s);
inline constexpr relish::Query<n_a_fn, relish::Options{}, NPolicy> n_a;
inline constexpr relish::Query<n_b_fn, relish::Options{}, NPolicy> n_b;
inline constexpr relish::Query<n_c_fn, relish::Options{}, NPolicy> n_c;

int n_a_fn(Db& db, Seeds s) {
  const int own = s.get(db, &SeedData::a);
  return std::max(own, n_b(db, s));
}
int n_b_fn(Db& db, Seeds s) {
  const int own = s.get(db, &SeedData::b);
  if (s.get(db, &SeedData::inner_first)) {
    const int c = n_c(db, s);
    return std::max({own, c, n_a(db, s)});
  }
  const int a = n_a(db, s);
  return std::max({own, a, n_c(db, s)});
}
int n_c_fn(Db& db, Seeds s) {
  const int own = s.get(db, &SeedData::c);
  return std::max(own, n_b(db, s));
}

// Readers outside the cycle: one of the outer head only, one of every participant.
int n_top_fn(Db& db, Seeds s) { return 10 * n_a(db, s); }
inline constexpr relish::Query<n_top_fn> n_top;
int n_sum_fn(Db& db, Seeds s) {
  const int a = n_a(db, s);
  const int b = n_b(db, s);
  return a + b + n_c(db, s);
}
inline constexpr relish::Query<n_sum_fn> n_sum;

int n_fetch(Db& db, Seeds s, char q) {
  switch (q) {
    case 'a': return n_a(db, s);
    case 'b': return n_b(db, s);
    case 'c': return n_c(db, s);
    default: return n_sum(db, s);
  }
}

// Seed triples: the greatest seed in each query, ties, all zero.
constexpr std::array<std::array<int, 3>, 6> kNestedSeeds{
    {{5, 1, 2}, {1, 5, 2}, {1, 2, 5}, {3, 3, 3}, {0, 0, 0}, {4, 0, 4}}};

// Fresh database, enters at `entry`, then reads every query (in the order given).
void check_nested_entry(char entry, const std::array<int, 3>& seed, bool inner_first,
                        const std::string& then_order) {
  CAPTURE(entry, seed[0], seed[1], seed[2], inner_first, then_order);
  Db db;
  Seeds s = Seeds::create(
      db, {.a = seed[0], .b = seed[1], .c = seed[2], .inner_first = inner_first});
  const int expected = std::max({seed[0], seed[1], seed[2]});
  CHECK(n_fetch(db, s, entry) == (entry == 's' ? 3 * expected : expected));
  for (char q : then_order) {
    CAPTURE(q);
    CHECK(n_fetch(db, s, q) == (q == 's' ? 3 * expected : expected));
  }
}

TEST_CASE("nested cycles entered from the inner head: every query gets the least fixpoint",
          "[cycles][fixpoint]") {
  // b heads both cycles: a and c are plain participants of b.
  for (const auto& seed : kNestedSeeds)
    for (bool inner_first : {false, true}) {
      check_nested_entry('b', seed, inner_first, "abcs");
      check_nested_entry('b', seed, inner_first, "scba");
    }
}

// Regression (failed before 2abc8cf, the "nested-heads" defect). Entered from a with seeds
// (5, 1, 2), a's first round runs b with a's provisional value 0; b heads the inner cycle
// b -> c -> b and converges at 2 in that round. c must not become final then (its value
// depends, through b, on a's provisional value): it must inherit b's outer head a, or it keeps
// 2 while a and b converge to 5.
TEST_CASE("nested cycles entered from the outer head: every query gets the least fixpoint",
          "[cycles][fixpoint]") {
  for (const auto& seed : kNestedSeeds)
    for (bool inner_first : {false, true}) {
      check_nested_entry('a', seed, inner_first, "abcs");
      check_nested_entry('a', seed, inner_first, "cbas");
      check_nested_entry('s', seed, inner_first, "cba");  // through a reader of a, b, c
    }
}

// Regression, the same defect entered from c with seeds (1, 2, 5): c heads c -> b -> c, b heads
// b -> a -> b; b's inner cycle converges at 2 in c's first round, and a, which read b, must
// stay provisional on c.
TEST_CASE("nested cycles entered from the innermost participant: every query gets the least "
          "fixpoint",
          "[cycles][fixpoint]") {
  for (const auto& seed : kNestedSeeds)
    for (bool inner_first : {false, true}) {
      check_nested_entry('c', seed, inner_first, "abcs");
      check_nested_entry('c', seed, inner_first, "sbac");
    }
}

// ---- nested, closed by a query without a policy (Salsa's nested_converge) ----------------
//
//   p_a = max(seed.a, p_b)      p_b = max(seed.b, p_c)      p_c = max(seed.c, p_a, p_b)
//
// a -> b -> c -> a and b -> c -> b; c reads a and b in the order `inner_first` says. a and b
// have a policy, c has none: entered from a or b it converges; entered from c, the cycle
// comes back to c, which would be a CycleError (in Salsa, c panics): relish heads it at the
// first query with a policy on the way (close_cycle), and it converges too.

int p_zero(Db&, Seeds) { return 0; }
int p_a_fn(Db& db, Seeds s);
int p_b_fn(Db& db, Seeds s);
int p_c_fn(Db& db, Seeds s);
inline constexpr relish::Query<p_a_fn, relish::Options{}, relish::Fixpoint<p_zero>> p_a;
inline constexpr relish::Query<p_b_fn, relish::Options{}, relish::Fixpoint<p_zero>> p_b;
inline constexpr relish::Query<p_c_fn> p_c;

int p_a_fn(Db& db, Seeds s) {
  const int own = s.get(db, &SeedData::a);
  return std::max(own, p_b(db, s));
}
int p_b_fn(Db& db, Seeds s) {
  const int own = s.get(db, &SeedData::b);
  return std::max(own, p_c(db, s));
}
int p_c_fn(Db& db, Seeds s) {
  const int own = s.get(db, &SeedData::c);
  if (s.get(db, &SeedData::inner_first)) {
    const int b = p_b(db, s);
    return std::max({own, b, p_a(db, s)});
  }
  const int a = p_a(db, s);
  return std::max({own, a, p_b(db, s)});
}

TEST_CASE("nested cycles closed by a query without a policy", "[cycles][fixpoint]") {
  for (const auto& seed : kNestedSeeds)
    for (bool inner_first : {false, true}) {
      CAPTURE(seed[0], seed[1], seed[2], inner_first);
      const int expected = std::max({seed[0], seed[1], seed[2]});
      const SeedData data{.a = seed[0], .b = seed[1], .c = seed[2], .inner_first = inner_first};
      {
        Db db;
        Seeds s = Seeds::create(db, SeedData(data));
        CHECK(p_a(db, s) == expected);
        CHECK(p_c(db, s) == expected);
        CHECK(p_b(db, s) == expected);
      }
      {
        Db db;
        Seeds s = Seeds::create(db, SeedData(data));
        CHECK(p_b(db, s) == expected);
        CHECK(p_a(db, s) == expected);
        CHECK(p_c(db, s) == expected);
      }
      {
        Db db;
        Seeds s = Seeds::create(db, SeedData(data));
        CHECK(p_c(db, s) == expected);
        CHECK(p_a(db, s) == expected);
        CHECK(p_b(db, s) == expected);
      }
    }
}

// ---- nested, incremental ------------------------------------------------------------------

// The seeds keep the greatest value in c, the innermost query whichever of a and b heads the
// cycle, so these tests do not depend on the nested-heads defect described above.
TEST_CASE("a nested cycle is verified without iterating when nothing it read changed",
          "[cycles][fixpoint][incremental]") {
  Db db;
  Seeds s = Seeds::create(db, {.a = 1, .b = 2, .c = 5});
  Other o = Other::create(db, {.x = 0});
  CHECK(n_top(db, s) == 50);
  CHECK(n_sum(db, s) == 15);

  EventLog log(db);
  o.set(db, &OtherData::x, 1);
  CHECK(n_top(db, s) == 50);
  CHECK(n_sum(db, s) == 15);
  CHECK(log.executed().empty());
  // Outside the edit's cone: accepted without looking inside the cycle.
  CHECK(contains(log.accepted(), "n_top(Seed#0)"));
  CHECK(contains(log.accepted(), "n_sum(Seed#0)"));
  // Each participant, fetched on its own, is still known without running anything.
  CHECK(n_c(db, s) == 5);
  CHECK(n_b(db, s) == 5);
  CHECK(n_a(db, s) == 5);
  CHECK(log.executed().empty());

  // Entered from the inner participant first in a new revision: still nothing runs.
  log.take();
  o.set(db, &OtherData::x, 2);
  CHECK(n_c(db, s) == 5);
  CHECK(n_a(db, s) == 5);
  CHECK(n_b(db, s) == 5);
  CHECK(n_sum(db, s) == 15);
  CHECK(log.executed().empty());
}

TEST_CASE("a nested cycle re-iterates when an input changes, and its head backdates",
          "[cycles][fixpoint][incremental]") {
  Db db;
  Seeds s = Seeds::create(db, {.a = 1, .b = 2, .c = 5});
  CHECK(n_top(db, s) == 50);

  EventLog log(db);
  s.set(db, &SeedData::b, 3);  // read by the inner head; the fixpoint stays 5
  CHECK(n_top(db, s) == 50);
  Log executed = log.executed();
  CHECK(count_of(executed, "n_a(Seed#0)") >= 1);
  CHECK(count_of(executed, "n_b(Seed#0)") >= 1);
  CHECK(count_of(executed, "n_top(Seed#0)") == 0);
  CHECK(contains(log.backdated(), "n_a(Seed#0)"));
  CHECK(n_a(db, s) == 5);
  CHECK(n_b(db, s) == 5);
  CHECK(n_c(db, s) == 5);

  log.take();
  s.set(db, &SeedData::c, 9);  // the innermost seed grows: the fixpoint becomes 9
  CHECK(n_top(db, s) == 90);
  executed = log.executed();
  CHECK(count_of(executed, "n_top(Seed#0)") == 1);
  CHECK(count_of(executed, "n_c(Seed#0)") >= 1);
  CHECK(n_sum(db, s) == 27);
  CHECK(n_c(db, s) == 9);

  log.take();
  s.set(db, &SeedData::inner_first, true);  // b reads in the other order: same fixpoint
  CHECK(n_top(db, s) == 90);
  CHECK(n_sum(db, s) == 27);
  executed = log.executed();
  CHECK(count_of(executed, "n_b(Seed#0)") >= 1);
  CHECK(count_of(executed, "n_top(Seed#0)") == 0);

  log.take();
  s.set(db, &SeedData::c, 4);  // now b's seed 3 and c's 4: the fixpoint drops to 4
  CHECK(n_top(db, s) == 40);
  CHECK(n_c(db, s) == 4);
  CHECK(n_b(db, s) == 4);
  CHECK(n_a(db, s) == 4);
  CHECK(n_sum(db, s) == 12);
  CHECK(count_of(log.executed(), "n_top(Seed#0)") == 1);

  Db fresh;
  Seeds f = Seeds::create(fresh, {.a = 1, .b = 3, .c = 4, .inner_first = true});
  CHECK(n_sum(fresh, f) == n_sum(db, s));
}

// Regression (failed before 2abc8cf). Verifying n_sum -> a -> b finds seed.b changed and
// executes b, which reads a, still being verified further up: the restart (b's run unwound, a
// executed instead) must keep b's old memo, so that b, recomputed with the same value, backdates
// and n_sum, which reads b, does not re-run.
TEST_CASE("participants of a re-iterated nested cycle backdate against their old values",
          "[cycles][fixpoint][incremental]") {
  Db db;
  Seeds s = Seeds::create(db, {.a = 1, .b = 2, .c = 5});
  CHECK(n_sum(db, s) == 15);
  EventLog log(db);
  s.set(db, &SeedData::b, 3);  // the fixpoint stays 5 everywhere
  CHECK(n_sum(db, s) == 15);
  CHECK(count_of(log.executed(), "n_b(Seed#0)") >= 1);
  CHECK(count_of(log.executed(), "n_sum(Seed#0)") == 0);
  const Log backdated = log.backdated();
  CHECK(contains(backdated, "n_a(Seed#0)"));
  CHECK(contains(backdated, "n_b(Seed#0)"));
}

// Salsa's cycle_input_different_cycle_head: computed from one query, then, after an edit,
// entered from another. The edited seed is b's, which is in the inner cycle whichever query
// heads the outer one (see the defect above).
TEST_CASE("after an edit, a nested cycle entered from another query sees the new fixpoint",
          "[cycles][fixpoint][incremental]") {
  for (char first : std::string("abc"))
    for (char then : std::string("abc")) {
      CAPTURE(first, then);
      Db db;
      Seeds s = Seeds::create(db, {.a = 0, .b = 0, .c = 0});
      CHECK(n_fetch(db, s, first) == 0);
      s.set(db, &SeedData::b, 10);
      CHECK(n_fetch(db, s, then) == 10);
      CHECK(n_sum(db, s) == 30);
      CHECK(n_a(db, s) == 10);
      CHECK(n_b(db, s) == 10);
      CHECK(n_c(db, s) == 10);
      s.set(db, &SeedData::b, 4);  // and down again
      CHECK(n_fetch(db, s, first) == 4);
      CHECK(n_sum(db, s) == 12);
    }
}

// Regression, the nested-heads defect incrementally: the outer head's seed grows, the cycle
// re-runs from a, b converges in a's first round with a provisional at 0, and c must not be
// left final at its old seed (n_c == 3 before 2abc8cf, expected 7).
TEST_CASE("after an edit to the outer head's input, every nested participant is updated",
          "[cycles][fixpoint][incremental]") {
  Db db;
  Seeds s = Seeds::create(db, {.a = 1, .b = 2, .c = 3});
  CHECK(n_sum(db, s) == 9);
  s.set(db, &SeedData::a, 7);
  CHECK(n_top(db, s) == 70);
  CHECK(n_c(db, s) == 7);
  CHECK(n_b(db, s) == 7);
  CHECK(n_sum(db, s) == 21);
}

// ---- two heads in one strongly connected component ----------------------------------------
//
//   a = max(sa, b, c)      b = max(sb, bump(a), c)      c = max(sc, a)
//   bump(x) = min(cap, x + 1)   (Top stays Top)
//
// Edges a -> b -> a, a -> c -> a, b -> c. Entered from a, a heads everything; from b, b heads
// b -> a -> b and a heads a -> c -> a; from c, c heads c -> a -> b -> c and a heads a -> b -> a.
// The increment on b -> a makes the values climb by one a round up to cap: with a small cap
// it converges (least fixpoint: max(cap, seeds) everywhere); with a large one, the recovery
// function widens to Top after 4 iterations (Salsa's converge_diverge / nested_double).

constexpr int kTop = 1 << 20;
int w_zero(Db&, WIn) { return 0; }
int w_widen(Db& db, const int& value, std::uint32_t iteration, WIn) {
  db.recover_iterations.push_back(iteration);
  return iteration > 4 ? kTop : value;
}
using WPolicy = relish::Fixpoint<w_zero, w_widen>;
int w_a_fn(Db& db, WIn w);
int w_b_fn(Db& db, WIn w);
int w_c_fn(Db& db, WIn w);
inline constexpr relish::Query<w_a_fn, relish::Options{}, WPolicy> w_a;
inline constexpr relish::Query<w_b_fn, relish::Options{}, WPolicy> w_b;
inline constexpr relish::Query<w_c_fn, relish::Options{}, WPolicy> w_c;

int bump(int v, int cap) { return v == kTop ? kTop : std::min(cap, v + 1); }
int w_a_fn(Db& db, WIn w) {
  const int own = w.get(db, &WData::sa);
  const int b = w_b(db, w);
  return std::max({own, b, w_c(db, w)});
}
int w_b_fn(Db& db, WIn w) {
  const int own = w.get(db, &WData::sb);
  const int a = bump(w_a(db, w), w.get(db, &WData::cap));
  return std::max({own, a, w_c(db, w)});
}
int w_c_fn(Db& db, WIn w) {
  const int own = w.get(db, &WData::sc);
  return std::max(own, w_a(db, w));
}
int w_fetch(Db& db, WIn w, char q) {
  return q == 'a' ? w_a(db, w) : q == 'b' ? w_b(db, w) : w_c(db, w);
}

struct WCase {
  WData data;
  int expected;
};
constexpr WCase kConverging[] = {
    {{.sa = 0, .sb = 0, .sc = 0, .cap = 2}, 2},
    {{.sa = 1, .sb = 0, .sc = 0, .cap = 3}, 3},
    {{.sa = 0, .sb = 0, .sc = 7, .cap = 2}, 7},  // the bound does not matter: c's seed does
    {{.sa = 0, .sb = 2, .sc = 0, .cap = 4}, 4},
};

void check_w_converges(char entry) {
  for (const WCase& c : kConverging) {
    CAPTURE(c.data.sa, c.data.sb, c.data.sc, c.data.cap, entry);
    Db db;
    WIn w = WIn::create(db, WData(c.data));
    CHECK(w_fetch(db, w, entry) == c.expected);
    CHECK(w_a(db, w) == c.expected);
    CHECK(w_b(db, w) == c.expected);
    CHECK(w_c(db, w) == c.expected);
    // Never widened: no head needed more than 4 rounds.
    CHECK(std::all_of(db.recover_iterations.begin(), db.recover_iterations.end(),
                      [](std::uint32_t i) { return i <= 4; }));
  }
}

void check_w_widens(char entry) {
  CAPTURE(entry);
  Db db;
  WIn w = WIn::create(db, {.sa = 0, .sb = 0, .sc = 0, .cap = 1000});
  CHECK(w_fetch(db, w, entry) == kTop);
  CHECK(w_a(db, w) == kTop);
  CHECK(w_b(db, w) == kTop);
  CHECK(w_c(db, w) == kTop);
  // Widened at the first iteration past 4, and converged on Top right after.
  REQUIRE(!db.recover_iterations.empty());
  CHECK(*std::max_element(db.recover_iterations.begin(), db.recover_iterations.end()) == 5);
}

TEST_CASE("two heads in one component converge to the least fixpoint, entered from a or c",
          "[cycles][fixpoint]") {
  check_w_converges('a');
  check_w_converges('c');
}

TEST_CASE("two heads in one component diverging are widened after 4 iterations, entered from "
          "a or c",
          "[cycles][fixpoint]") {
  check_w_widens('a');
  check_w_widens('c');
}

// Regression, the nested-heads defect again (failed before 2abc8cf). Entered from b: b heads
// b -> a -> b, a heads a -> c -> a. In b's first round a's inner cycle converges at once
// (everything is 0); c, which read a, must stay provisional on b, or w_c stays 0 (expected 2,
// 3, 7, 4, and Top when widened) while a and b are right.
TEST_CASE("two heads in one component, entered from b (the outer head, a the inner one)",
          "[cycles][fixpoint]") {
  check_w_converges('b');
  check_w_widens('b');
}

TEST_CASE("two heads in one component, incrementally: widened, converging, widened again",
          "[cycles][fixpoint][incremental]") {
  Db db;
  WIn w = WIn::create(db, {.sa = 0, .sb = 0, .sc = 0, .cap = 1000});
  Other o = Other::create(db, {.x = 0});
  CHECK(w_a(db, w) == kTop);

  EventLog log(db);
  o.set(db, &OtherData::x, 1);  // unrelated: verified, nothing iterates
  CHECK(w_a(db, w) == kTop);
  CHECK(w_b(db, w) == kTop);
  CHECK(w_c(db, w) == kTop);
  CHECK(log.executed().empty());

  const WData states[] = {
      {.sa = 0, .sb = 0, .sc = 0, .cap = 2},     // converges at 2
      {.sa = 0, .sb = 0, .sc = 9, .cap = 2},     // c's seed: 9
      {.sa = 0, .sb = 4, .sc = 9, .cap = 2},     // same fixpoint (head backdates)
      {.sa = 0, .sb = 4, .sc = 0, .cap = 2},     // b's seed: 4
      {.sa = 0, .sb = 4, .sc = 0, .cap = 1000},  // diverges again: Top
      {.sa = 3, .sb = 0, .sc = 0, .cap = 3},     // a's seed and the bound: 3
  };
  const char orders[][4] = {"abc", "cba", "bca", "acb", "cab", "bac"};
  for (std::size_t i = 0; i < std::size(states); ++i) {
    const WData& d = states[i];
    CAPTURE(i);
    w.set(db, &WData::sa, d.sa);
    w.set(db, &WData::sb, d.sb);
    w.set(db, &WData::sc, d.sc);
    w.set(db, &WData::cap, d.cap);
    Db fresh;
    WIn f = WIn::create(fresh, WData(d));
    const int expected = w_a(fresh, f);
    CHECK(w_b(fresh, f) == expected);
    CHECK(w_c(fresh, f) == expected);
    for (char q : std::string(orders[i])) {
      CAPTURE(q);
      CHECK(w_fetch(db, w, q) == expected);
    }
  }
  // The last state, read once more after an unrelated edit: nothing runs.
  log.take();
  o.set(db, &OtherData::x, 2);
  CHECK(w_c(db, w) == 3);
  CHECK(w_a(db, w) == 3);
  CHECK(log.executed().empty());
}

// ---- a cycle whose control flow depends on the provisional value ---------------------------
//
//   h    = min(cap, max(seed, step))
//   step = max(h, h < threshold ? low : high)
//   low  = h + 1          high = h + 1
//
// Only fixpoint: h = cap, step = low = high = cap + 1. Entered from h (cap 5, threshold 2),
// h's rounds give 1, 2, 3, 4, 5, 5: `low` is read in the first two rounds only and then
// `high`. low's provisional value from round 1 (2) must not become its final value: fetched
// afterwards, low is 6, what a fresh database entered from low gives.

int f_zero(Db&, FIn) { return 0; }
using FPolicy = relish::Fixpoint<f_zero>;
int f_h_fn(Db& db, FIn f);
int f_step_fn(Db& db, FIn f);
int f_low_fn(Db& db, FIn f);
int f_high_fn(Db& db, FIn f);
inline constexpr relish::Query<f_h_fn, relish::Options{}, FPolicy> f_h;
inline constexpr relish::Query<f_step_fn, relish::Options{}, FPolicy> f_step;
inline constexpr relish::Query<f_low_fn, relish::Options{}, FPolicy> f_low;
inline constexpr relish::Query<f_high_fn, relish::Options{}, FPolicy> f_high;

int f_h_fn(Db& db, FIn f) {
  const int seed = f.get(db, &FData::seed);
  return std::min(f.get(db, &FData::cap), std::max(seed, f_step(db, f)));
}
int f_step_fn(Db& db, FIn f) {
  const int h = f_h(db, f);
  return std::max(h, h < f.get(db, &FData::threshold) ? f_low(db, f) : f_high(db, f));
}
int f_low_fn(Db& db, FIn f) { return f_h(db, f) + 1; }
int f_high_fn(Db& db, FIn f) { return f_h(db, f) + 1; }

int f_fetch(Db& db, FIn f, char q) {
  switch (q) {
    case 'h': return f_h(db, f);
    case 's': return f_step(db, f);
    case 'l': return f_low(db, f);
    default: return f_high(db, f);
  }
}
int f_expected(const FData& d, char q) {
  const int h = d.cap;  // seeds below cap in these tests
  return q == 'h' ? h : h + 1;
}

// Regression (failed before 2abc8cf, the "early-round" defect). low's last provisional memo is
// from h's round 1 (value 2); when h converges in round 5, that memo must not become final:
// fetched afterwards, low is 6.
TEST_CASE("a query read only in early rounds of a cycle does not keep its provisional value",
          "[cycles][fixpoint]") {
  const FData data{.seed = 0, .cap = 5, .threshold = 2};
  Db fresh;  // from scratch, entered from low
  FIn ff = FIn::create(fresh, FData(data));
  CHECK(f_low(fresh, ff) == 6);

  Db db;
  FIn f = FIn::create(db, FData(data));
  CHECK(f_h(db, f) == 5);
  CHECK(f_low(db, f) == f_low(fresh, ff));
  CHECK(f_low(db, f) == 6);
  CHECK(f_high(db, f) == 6);
  CHECK(f_step(db, f) == 6);
}

// Entered from h, step or high, low is read in early rounds only (before 2abc8cf it kept a
// provisional value, 2 or 4 instead of cap + 1). Entered from low, low is the outer head.
TEST_CASE("a cycle whose control flow depends on its provisional value, from every entry",
          "[cycles][fixpoint]") {
  const FData datas[] = {{.seed = 0, .cap = 5, .threshold = 2},
                         {.seed = 1, .cap = 6, .threshold = 4},
                         {.seed = 0, .cap = 3, .threshold = 9},   // never switches to high
                         {.seed = 2, .cap = 4, .threshold = 0}};  // always reads high
  for (const FData& d : datas)
    for (char entry : std::string("hslg")) {
      for (const char* order : {"hslg", "glsh"}) {
        CAPTURE(d.seed, d.cap, d.threshold, entry, order);
        Db db;
        FIn f = FIn::create(db, FData(d));
        CHECK(f_fetch(db, f, entry) == f_expected(d, entry));
        for (char q : std::string(order)) {
          CAPTURE(q);
          CHECK(f_fetch(db, f, q) == f_expected(d, q));
        }
      }
    }
}

// In states 2 and 3 (threshold 3), h re-iterates and reads low in its first rounds only
// (before 2abc8cf low was left at 3 and 1, expected 8).
TEST_CASE("a cycle whose control flow depends on its provisional value, incrementally",
          "[cycles][fixpoint][incremental]") {
  Db db;
  FIn f = FIn::create(db, {.seed = 0, .cap = 5, .threshold = 2});
  CHECK(f_h(db, f) == 5);
  const FData states[] = {
      {.seed = 0, .cap = 5, .threshold = 9},  // low in every round: high is no longer read
      {.seed = 0, .cap = 7, .threshold = 9},
      {.seed = 0, .cap = 7, .threshold = 3},  // low, then high again
      {.seed = 6, .cap = 7, .threshold = 3},  // starts high at once
      {.seed = 0, .cap = 4, .threshold = 1},
  };
  for (std::size_t i = 0; i < std::size(states); ++i) {
    const FData& d = states[i];
    CAPTURE(i);
    f.set(db, &FData::seed, d.seed);
    f.set(db, &FData::cap, d.cap);
    f.set(db, &FData::threshold, d.threshold);
    for (char q : std::string(i % 2 ? "hslg" : "glsh")) {
      CAPTURE(q);
      CHECK(f_fetch(db, f, q) == f_expected(d, q));
    }
  }
}

// ---- an input read only in the first rounds (Salsa's first_iteration_input_only) ----------
//
//   head = body      body = head < max ? head + value : head
//
// From 0 the head climbs by `value` until it reaches `max`: (value 4, max 5) gives 0, 4, 8, 8.
// The last round reads `max` but not `value`; the cycle still depends on `value` (read in the
// earlier rounds), so setting it must re-run the cycle: (3, 5) gives 0, 3, 6, 6.

struct GData {
  int value = 4;
  int max = 5;
};
using GIn = relish::Input<GData>;
int g_zero(Db&, GIn) { return 0; }
int g_head_fn(Db& db, GIn g);
int g_body_fn(Db& db, GIn g);
inline constexpr relish::Query<g_head_fn, relish::Options{}, relish::Fixpoint<g_zero>> g_head;
inline constexpr relish::Query<g_body_fn> g_body;
int g_head_fn(Db& db, GIn g) { return g_body(db, g); }
int g_body_fn(Db& db, GIn g) {
  const int h = g_head(db, g);
  return h < g.get(db, &GData::max) ? h + g.get(db, &GData::value) : h;
}
int g_reader_fn(Db& db, GIn g) { return 100 + g_head(db, g); }
inline constexpr relish::Query<g_reader_fn> g_reader;

// Regression (failed at 2abc8cf, the "lost-dependencies" defect). A memo that converged kept
// the dependencies of its last execution only. g_body's last round reads g_head and `max`;
// g_head's reads g_body; `value`, read by g_body in rounds 0 and 1 only, was in no dependency
// list, so after `value` was set everything verified unchanged and g_head stayed 8. A memo
// re-run in a later round now keeps what its earlier rounds read (as Salsa carries inputs over
// from the previous iteration's provisional memo), and so does the head.
TEST_CASE("an input read only in the first rounds of a cycle still invalidates it",
          "[cycles][fixpoint][incremental]") {
  Db db;
  GIn g = GIn::create(db, {.value = 4, .max = 5});
  CHECK(g_reader(db, g) == 108);
  CHECK(g_head(db, g) == 8);

  g.set(db, &GData::value, 3);
  Db fresh;
  GIn f = GIn::create(fresh, {.value = 3, .max = 5});
  CHECK(g_head(fresh, f) == 6);
  CHECK(g_reader(db, g) == 106);
  CHECK(g_head(db, g) == 6);
  CHECK(g_body(db, g) == 6);

  g.set(db, &GData::value, 2);  // 0, 2, 4, 6
  CHECK(g_head(db, g) == 6);
  g.set(db, &GData::value, 5);  // 0, 5
  CHECK(g_head(db, g) == 5);
  CHECK(g_reader(db, g) == 105);
}

// ---- the inner cycle stops depending on the outer one (Salsa's cycle_nested_converge_early) ----
//
//   a = min(3, b + d)     b = c == 0 ? a + 1 : c     c = b == 0 ? d : b     d = a == 0 ? c : a
//
// Not monotone (b and c switch what they read), so only these facts hold in every fixpoint:
// a = d = 3 and b = c >= 1. Any final state must satisfy all four equations.

int ce_zero(Db&) { return 0; }
int ce_a_fn(Db& db);
int ce_b_fn(Db& db);
int ce_c_fn(Db& db);
int ce_d_fn(Db& db);
inline constexpr relish::Query<ce_a_fn, relish::Options{}, relish::Fixpoint<ce_zero>> ce_a;
inline constexpr relish::Query<ce_b_fn, relish::Options{}, relish::Fixpoint<ce_zero>> ce_b;
inline constexpr relish::Query<ce_c_fn, relish::Options{}, relish::Fixpoint<ce_zero>> ce_c;
inline constexpr relish::Query<ce_d_fn, relish::Options{}, relish::Fixpoint<ce_zero>> ce_d;

int ce_a_fn(Db& db) {
  const int b = ce_b(db);
  return std::min(3, b + ce_d(db));
}
int ce_b_fn(Db& db) {
  const int c = ce_c(db);
  return c == 0 ? ce_a(db) + 1 : c;
}
int ce_c_fn(Db& db) {
  const int b = ce_b(db);
  return b == 0 ? ce_d(db) : b;
}
int ce_d_fn(Db& db) {
  const int a = ce_a(db);
  return a == 0 ? ce_c(db) : a;
}

// Fresh database, reads the four queries in `order` (the first one is the entry).
void check_converge_early(const std::string& order) {
  CAPTURE(order);
  Db db;
  int v[4] = {-1, -1, -1, -1};
  for (char q : order)
    v[q - 'a'] = q == 'a' ? ce_a(db) : q == 'b' ? ce_b(db) : q == 'c' ? ce_c(db) : ce_d(db);
  const int a = v[0], b = v[1], c = v[2], d = v[3];
  CAPTURE(a, b, c, d);
  CHECK(a == 3);
  CHECK(d == 3);
  CHECK(b == c);
  CHECK(b >= 1);
  // A fixpoint: every equation holds for the final values.
  CHECK(a == std::min(3, b + d));
  CHECK(b == (c == 0 ? a + 1 : c));
  CHECK(c == (b == 0 ? d : b));
  CHECK(d == (a == 0 ? c : a));
}

TEST_CASE("a nested cycle whose inner cycle converges early, entered from a or d",
          "[cycles][fixpoint]") {
  for (const char* order : {"abcd", "adcb", "dcba", "dabc"}) check_converge_early(order);
}

// Regression, the early-round defect (failed before 2abc8cf). Entered from b ("bdac"): b
// heads b -> c -> b; in b's round 0, c reads d (c's provisional b is 0), d reads a, and a and d
// are provisional on b's round 0. In round 1 c reads b (now 1) and no longer d; b converges at
// 1, and a and d, provisional on round 0 only, must not become final at 0 (not a fixpoint:
// a = min(3, b + d) = 1). Entered from c ("cadb"), d the same way.
TEST_CASE("a nested cycle whose inner cycle converges early, entered from b or c",
          "[cycles][fixpoint]") {
  for (const char* order : {"bdac", "bcda", "cadb", "cbad"}) check_converge_early(order);
}

// ---- randomized differential --------------------------------------------------------------
//
// node(i) = min(cap_i, max over what it reads: its sources' values, node(j) + bump for each
// edge), reading sources first or last, and stopping as soon as it reaches cap_i (so what it
// reads depends on provisional values). Monotone with bottom 0: one least fixpoint, computed
// below without relish. Every node has a Fixpoint policy, so any node may be entered first;
// `reader(i)` is a plain query outside the cycles. In the variant with plain nodes, some nodes
// are computed by `r_plain`, the same function without a policy; no cycle is made of plain
// nodes only, so every cycle has a head with a policy on the way (close_cycle), whichever node
// is entered first, and the values are the same least fixpoint.

int r_zero(Db&, std::uint32_t) { return 0; }
int r_node_fn(Db& db, std::uint32_t i);
inline constexpr relish::Query<r_node_fn, relish::Options{}, relish::Fixpoint<r_zero>> r_node;
inline constexpr relish::Query<r_node_fn, relish::Options{.name = "r_plain"}> r_plain;

int node_value(Db& db, std::uint32_t j) {
  return j < db.plain.size() && db.plain[j] ? r_plain(db, j) : r_node(db, j);
}

template <class NodeValue, class SrcValue>
int evaluate_node(const NodeData& n, NodeValue&& node, SrcValue&& src) {
  int v = 0;
  auto add = [&](int x) { v = std::max(v, std::min(n.cap, x)); };
  auto read_srcs = [&] {
    for (std::uint32_t k : n.srcs) {
      if (v >= n.cap) return;
      add(src(k));
    }
  };
  if (n.srcs_first) read_srcs();
  for (const Edge& e : n.deps) {
    if (v >= n.cap) break;
    add(node(e.to) + e.bump);
  }
  if (!n.srcs_first) read_srcs();
  return v;
}

int r_node_fn(Db& db, std::uint32_t i) {
  const Node n = db.nodes[i];
  NodeData data;
  data.srcs_first = n.get(db, &NodeData::srcs_first);
  data.cap = n.get(db, &NodeData::cap);
  data.srcs = n.get(db, &NodeData::srcs);
  data.deps = n.get(db, &NodeData::deps);
  return evaluate_node(
      data, [&](std::uint32_t j) { return node_value(db, j); },
      [&](std::uint32_t k) { return db.srcs[k].get(db, &SrcData::value); });
}

int r_reader_fn(Db& db, std::uint32_t i) {
  const auto n = static_cast<std::uint32_t>(db.nodes.size());
  const int first = node_value(db, i);
  return 100 * first + node_value(db, (i * 5 + 3) % n);
}
inline constexpr relish::Query<r_reader_fn> r_reader;

// The least fixpoint by plain iteration from 0 (monotone: the values only grow).
std::vector<int> least_fixpoint(const std::vector<NodeData>& nodes, const std::vector<int>& srcs) {
  std::vector<int> v(nodes.size(), 0);
  for (bool changed = true; changed;) {
    changed = false;
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      const int x = evaluate_node(
          nodes[i], [&](std::uint32_t j) { return v[j]; },
          [&](std::uint32_t k) { return srcs[k]; });
      if (x != v[i]) {
        v[i] = x;
        changed = true;
      }
    }
  }
  return v;
}

bool g_single_edge_plain = false;  // a plain node reads one node

// `plain`: the plain nodes (empty: none). An edge from plain node i to plain node j <= i goes
// to node 0 instead (never plain): plain nodes alone make no cycle.
std::vector<Edge> random_deps(std::mt19937_64& rng, std::uint32_t n, std::uint32_t from = 0,
                              const std::vector<char>& plain = {}) {
  std::vector<Edge> deps(1 + rng() % 3);
  if (!plain.empty() && plain[from] && g_single_edge_plain) deps.resize(1);
  for (Edge& e : deps) {
    e = Edge{static_cast<std::uint32_t>(rng() % n), rng() % 3 == 0 ? 1 : 0};
    if (!plain.empty() && plain[from] && plain[e.to] && e.to <= from) e.to = 0;
  }
  return deps;
}
std::vector<std::uint32_t> random_srcs(std::mt19937_64& rng, std::uint32_t n_srcs) {
  std::vector<std::uint32_t> srcs(rng() % 3);
  for (auto& k : srcs) k = static_cast<std::uint32_t>(rng() % n_srcs);
  return srcs;
}

std::string describe_graph(const std::vector<NodeData>& nodes, const std::vector<int>& srcs) {
  std::ostringstream out;
  out << "srcs:";
  for (int s : srcs) out << ' ' << s;
  out << '\n';
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    const NodeData& n = nodes[i];
    out << "node " << i << ": cap " << n.cap << (n.srcs_first ? ", srcs first" : ", srcs last")
        << ", srcs [";
    for (auto k : n.srcs) out << ' ' << k;
    out << " ], deps [";
    for (const Edge& e : n.deps) out << ' ' << e.to << (e.bump ? "+1" : "");
    out << " ]\n";
  }
  return out.str();
}

// Reads every node and reader of `db` in a random order; returns those that differ from the
// least fixpoint `expected` ("node 3 = 2, expected 5"), empty if none.
// With plain nodes, a read may also be a CycleError (see close_cycle): counted in `cycles`.
struct ReadCounts {
  int reads = 0;
  int cycles = 0;
};
ReadCounts g_counts;

std::string check_all(Db& db, const std::vector<int>& expected, std::mt19937_64& rng) {
  const auto n = static_cast<std::uint32_t>(expected.size());
  std::vector<std::uint32_t> order(2 * n);
  std::iota(order.begin(), order.end(), 0u);
  std::shuffle(order.begin(), order.end(), rng);
  std::ostringstream wrong;
  for (std::uint32_t q : order) {
    ++g_counts.reads;
    if (!db.plain.empty()) {
      try {
        (void)(q < n ? node_value(db, q) : r_reader(db, q - n));
      } catch (const relish::CycleError&) {
        ++g_counts.cycles;
        continue;
      }
    }
    if (q < n) {
      const int v = node_value(db, q);
      if (v != expected[q])
        wrong << "node " << q << " = " << v << ", expected " << expected[q] << "; ";
    } else {
      const std::uint32_t i = q - n;
      const int v = r_reader(db, i);
      const int e = 100 * expected[i] + expected[(i * 5 + 3) % n];
      if (v != e) wrong << "reader " << i << " = " << v << ", expected " << e << "; ";
    }
  }
  if (wrong.tellp() > 0) {
    std::ostringstream order_text;
    for (std::uint32_t q : order) order_text << (q < n ? "n" : "r") << (q < n ? q : q - n) << ' ';
    wrong << "(read in the order " << order_text.str() << ")";
  }
  return wrong.str();
}

void run_random(std::uint64_t seed, int steps, bool pull_only = false, bool with_plain = false) {
  CAPTURE(seed, pull_only, with_plain);
  std::mt19937_64 rng(seed);
  const auto n = static_cast<std::uint32_t>(8 + rng() % 5);
  const std::uint32_t n_srcs = 3;
  std::vector<char> plain;
  if (with_plain) {
    plain.resize(n);
    for (std::uint32_t i = 1; i < n; ++i) plain[i] = rng() % 2;
  }
  std::vector<NodeData> nodes(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    NodeData& d = nodes[i];
    d.deps = random_deps(rng, n, i, plain);
    d.srcs = random_srcs(rng, n_srcs);
    d.cap = 2 + static_cast<int>(rng() % 6);
    d.srcs_first = rng() % 2;
  }
  std::vector<int> srcs(n_srcs);
  for (int& s : srcs) s = static_cast<int>(rng() % 9);

  Db db;
  db.plain = plain;
  db.runtime().set_pull_only_for_testing(pull_only);
  for (const NodeData& d : nodes) db.nodes.push_back(Node::create(db, NodeData(d)));
  for (int s : srcs) db.srcs.push_back(Src::create(db, {.value = s}));
  Src noise = Src::create(db, {.value = 0});  // read by nothing
  const int cycles_before = g_counts.cycles;

  for (int step = 0; step < steps; ++step) {
    CAPTURE(step);
    // 1 to 3 edits, or (1 in 8) an edit to an input nothing reads.
    const bool only_noise = step > 0 && rng() % 8 == 0;
    if (only_noise) {
      noise.set(db, &SrcData::value, step);
    } else if (step > 0) {
      for (int e = 1 + static_cast<int>(rng() % 3); e > 0; --e) {
        const auto i = static_cast<std::uint32_t>(rng() % n);
        switch (rng() % 5) {
          case 0:
          case 1: {
            const auto k = static_cast<std::uint32_t>(rng() % n_srcs);
            srcs[k] = static_cast<int>(rng() % 9);
            db.srcs[k].set(db, &SrcData::value, srcs[k]);
            break;
          }
          case 2:
            nodes[i].deps = random_deps(rng, n, i, plain);
            db.nodes[i].set(db, &NodeData::deps, nodes[i].deps);
            break;
          case 3:
            nodes[i].cap = 2 + static_cast<int>(rng() % 6);
            db.nodes[i].set(db, &NodeData::cap, nodes[i].cap);
            break;
          default:
            if (rng() % 2) {
              nodes[i].srcs = random_srcs(rng, n_srcs);
              db.nodes[i].set(db, &NodeData::srcs, nodes[i].srcs);
            } else {
              nodes[i].srcs_first = !nodes[i].srcs_first;
              db.nodes[i].set(db, &NodeData::srcs_first, nodes[i].srcs_first);
            }
            break;
        }
      }
    }
    INFO(describe_graph(nodes, srcs));
    const std::vector<int> expected = least_fixpoint(nodes, srcs);

    EventLog log(db);
    const std::string incremental = check_all(db, expected, rng);
    CHECK(incremental == "");
    if (only_noise && g_counts.cycles == cycles_before) {  // a failed read leaves no memo
      INFO("an input nothing reads changed: nothing may run");
      CHECK(log.executed().empty());
    }

    Db fresh;
    fresh.plain = plain;
    for (const NodeData& d : nodes) fresh.nodes.push_back(Node::create(fresh, NodeData(d)));
    for (int s : srcs) fresh.srcs.push_back(Src::create(fresh, {.value = s}));
    const std::string from_scratch = check_all(fresh, expected, rng);
    CHECK(from_scratch == "");
    if (!incremental.empty() || !from_scratch.empty()) return;  // one report per seed
  }
}

// Regression (failed at 2abc8cf for most seeds, incrementally, with values above the least
// fixpoint: the lost-dependencies defect of the first-rounds test above; e.g. node 5 =
// min(4, max(node 3, src 0)) and node 3 = node 5: once node 3's provisional value is 4, node 5
// stops at its cap before reading src 0, so when src 0 drops nothing was invalidated). Before
// 2abc8cf it also failed from scratch, below the least fixpoint (nested-heads and early-round
// defects).
TEST_CASE("random graphs of nested fixpoint cycles, incremental and from scratch, equal the "
          "least fixpoint",
          "[cycles][fixpoint][differential]") {
  const int steps = relish_test::steps_per_seed(200, 96);
  for (std::uint64_t seed = 1; seed <= 96; ++seed) run_random(seed, steps);
}

TEST_CASE("random graphs of nested fixpoint cycles, verified without push-pull marking",
          "[cycles][fixpoint][differential]") {
  const int steps = relish_test::steps_per_seed(200, 32);
  for (std::uint64_t seed = 1; seed <= 32; ++seed) run_random(seed, steps, true);
}

// Cycles that come back to a query without a policy: headed by a node with one on the way
// (close_cycle). Every value read is the least fixpoint. A read may still be a CycleError
// where re-heading cannot untangle a component (a head needed first and nested at once, or one
// that then does not settle in 200 rounds): under 1% of the reads here, where without
// re-heading 11.8% were; under 0.1% when each plain node reads one node.
TEST_CASE("random graphs with nodes without a cycle policy equal the least fixpoint",
          "[cycles][fixpoint][differential]") {
  const int steps = relish_test::steps_per_seed(120, 28);
  g_counts = {};
  for (std::uint64_t seed = 1; seed <= 24; ++seed) run_random(seed, steps, false, true);
  for (std::uint64_t seed = 25; seed <= 28; ++seed) run_random(seed, steps, true, true);
  INFO("reads " << g_counts.reads << ", of which cycle errors " << g_counts.cycles);
  CHECK(g_counts.cycles * 100 < g_counts.reads);
  g_counts = {};
  g_single_edge_plain = true;
  for (std::uint64_t seed = 1; seed <= 24; ++seed) run_random(seed, steps, false, true);
  g_single_edge_plain = false;
  INFO("with one edge per plain node: reads " << g_counts.reads << ", of which cycle errors "
                                              << g_counts.cycles);
  CHECK(g_counts.cycles * 1000 < g_counts.reads);
}

// Regression (failed at 9481c03, incrementally, above the least fixpoint: node 0 = 5,
// expected 4). node 0 = min(5, max(node 5, node 3, ...)) and node 5 = min(5, max(node 5,
// node 0, ...)) iterate with node 5 as the head; node 0, computed in round 0 where it read
// node 3, was not read in the last round (node 5 reached its cap first), so it was dropped as
// stale and re-ran against node 5's final value, reading node 5 only. Nothing recorded that
// the fixpoint rested on node 3; when node 3's cap dropped (step 18), both kept 5. What a
// stale memo read is now a dependency of the head.
TEST_CASE("a cycle's head depends on what its participants read in earlier rounds",
          "[cycles][fixpoint]") {
  run_random(1104, 19);
  run_random(1104, 19, true);
}

}  // namespace

// query_fetch: the cost of fetching memoized queries, in the shape of salsa's
// benches/query_fetch.rs.
//
// 256 inputs, each holding a number. For every input a tree of 7 queries:
//
//   root     = branch_a + branch_b
//   branch_a = leaf1 + leaf2
//   branch_b = leaf3 + leaf4
//   leaf_i   = input.value + i        (i = 1..4; all four leaves read the same input field)
//
// Every query returns size_t and is kept out of line, so the figures are the engine's cost and
// not the compiler's cleverness. Each iteration calls `root` for all 256 inputs.
//
// Dependency edges per tree (what deep verification walks), counted exactly:
//   root     -> branch_a, branch_b                    2
//   branch_a -> leaf1, leaf2                          2
//   branch_b -> leaf3, leaf4                          2
//   leaf_i   -> input.value (one field), i = 1..4     4
//                                                   ---
//                                                    10 edges per tree, 2,560 per iteration
// (an edge to an input field is a real edge: verifying it is a virtual call into the input
// ingredient, like an edge to a query).
//
// The baseline (the same trees as plain function calls) is in from_scratch.cpp.
//
// Workloads and design.md budgets:
//   a_hit                 memo hit, verified in this revision     < 15 ns per root
//   b_cold_execute        first execution in a fresh database     < 150 ns overhead per query
//   c_deep_verify         unchanged after an unrelated low write, every memo verified deeply
//                         (pull-only testing mode: the cost per edge inside a write's
//                         dirty cone)                              < 5 ns per edge
//   c_clean_accept        the same with push-pull on: the roots are outside the write's
//                         cone and accepted in O(1)                 per root
//   d_reexecute           every input changed: verify, re-execute < 150 ns overhead per query
//   e_durability_shortcut high inputs, low write elsewhere        < 30 ns per root (O(1))
//   write_only            one input write (part of c and e)
#include <benchmark/benchmark.h>

#include <cstddef>
#include <memory>
#include <vector>

#include <relish/relish.hpp>

#include "../common/counters.hpp"

namespace {

using relish_bench::per_item;
using relish_bench::count_one_iteration;

struct NumData {
  std::size_t value;
};
using Num = relish::Input<NumData>;
struct Db : relish::Database {};

constexpr std::size_t kTrees = 256;
constexpr std::size_t kQueriesPerTree = 7;
constexpr std::size_t kEdgesPerTree = 10;  // see the count above

[[gnu::noinline]] std::size_t leaf1_fn(Db& db, Num n) { return n.get(db, &NumData::value) + 1; }
[[gnu::noinline]] std::size_t leaf2_fn(Db& db, Num n) { return n.get(db, &NumData::value) + 2; }
[[gnu::noinline]] std::size_t leaf3_fn(Db& db, Num n) { return n.get(db, &NumData::value) + 3; }
[[gnu::noinline]] std::size_t leaf4_fn(Db& db, Num n) { return n.get(db, &NumData::value) + 4; }
inline constexpr relish::Query<leaf1_fn> leaf1;
inline constexpr relish::Query<leaf2_fn> leaf2;
inline constexpr relish::Query<leaf3_fn> leaf3;
inline constexpr relish::Query<leaf4_fn> leaf4;

[[gnu::noinline]] std::size_t branch_a_fn(Db& db, Num n) { return leaf1(db, n) + leaf2(db, n); }
[[gnu::noinline]] std::size_t branch_b_fn(Db& db, Num n) { return leaf3(db, n) + leaf4(db, n); }
inline constexpr relish::Query<branch_a_fn> branch_a;
inline constexpr relish::Query<branch_b_fn> branch_b;

[[gnu::noinline]] std::size_t root_fn(Db& db, Num n) { return branch_a(db, n) + branch_b(db, n); }
inline constexpr relish::Query<root_fn> root;

// A database with the 256 inputs plus `dummy`, an input no query reads (the unrelated edit).
struct Fixture {
  Db db;
  std::vector<Num> inputs;
  Num dummy;

  explicit Fixture(relish::Durability d) {
    inputs.reserve(kTrees);
    for (std::size_t i = 0; i < kTrees; ++i) inputs.push_back(Num::create(db, {.value = i}, d));
    dummy = Num::create(db, {.value = 0}, relish::Durability::low);
  }

  void query_all() {
    for (Num n : inputs) benchmark::DoNotOptimize(root(db, n));
  }
};

// (a) Memo hit in the same revision: only `root` is touched; the fast path in fetch.
void BM_relish_a_hit(benchmark::State& state) {
  Fixture fx(relish::Durability::low);
  fx.query_all();
  for (auto _ : state) fx.query_all();
  state.counters["ns_per_root"] = per_item(kTrees);
}
BENCHMARK(BM_relish_a_hit);

// (b) Cold execution: a fresh database each iteration; constructing it and creating the inputs
// (and destroying it) is not timed. The timed part includes the first-use registration of the
// 7 query ingredients and the growth of their memo tables, amortized over 256 trees.
void BM_relish_b_cold_execute(benchmark::State& state) {
  for (auto _ : state) {
    state.PauseTiming();
    auto fx = std::make_unique<Fixture>(relish::Durability::low);
    state.ResumeTiming();
    fx->query_all();
    state.PauseTiming();
    fx.reset();
    state.ResumeTiming();
  }
  state.counters["ns_per_root"] = per_item(kTrees);
  state.counters["ns_per_query"] = per_item(kTrees * kQueriesPerTree);
}
BENCHMARK(BM_relish_b_cold_execute);

// (c) Deep verification: each iteration writes to `dummy` (low durability, read by nobody),
// then fetches all roots. Every memo is low durability, so each root walks its whole tree:
// 7 memos verified, 10 edges checked, nothing re-executed. The write (one per iteration, see
// BM_relish_write_only) is timed too; it is ~0.1% of the iteration.
void BM_relish_c_deep_verify(benchmark::State& state) {
  Fixture fx(relish::Durability::low);
  fx.db.runtime().set_pull_only_for_testing(true);  // every memo marked, as inside a cone
  fx.query_all();
  std::size_t k = 0;
  auto step = [&] {
    fx.dummy.set(fx.db, &NumData::value, ++k);
    fx.query_all();
  };
  for (auto _ : state) step();
  count_one_iteration(state, fx.db, step);  // validated = 1,792, executed = 0
  state.counters["ns_per_root"] = per_item(kTrees);
  state.counters["ns_per_memo"] = per_item(kTrees * kQueriesPerTree);
  state.counters["ns_per_edge"] = per_item(kTrees * kEdgesPerTree);
}
BENCHMARK(BM_relish_c_deep_verify);

void BM_relish_c_clean_accept(benchmark::State& state) {
  Fixture fx(relish::Durability::low);
  fx.query_all();
  std::size_t k = 0;
  auto step = [&] {
    fx.dummy.set(fx.db, &NumData::value, ++k);
    fx.query_all();
  };
  for (auto _ : state) step();
  count_one_iteration(state, fx.db, step);  // validated = 0: 256 roots accepted clean
  state.counters["ns_per_root"] = per_item(kTrees);
}
BENCHMARK(BM_relish_c_clean_accept);

// (d) Verify then re-execute: each iteration sets all 256 inputs to new values (256 writes,
// 256 revisions; not timed, see BM_relish_write_only for their cost), then fetches all roots.
// Every root first verifies (the walk stops at leaf1, whose input changed), then all 7
// queries of every tree re-execute with changed values (no backdating).
void BM_relish_d_reexecute(benchmark::State& state) {
  Fixture fx(relish::Durability::low);
  fx.query_all();
  std::size_t k = 0;
  for (auto _ : state) {
    state.PauseTiming();
    ++k;
    for (std::size_t i = 0; i < kTrees; ++i)
      fx.inputs[i].set(fx.db, &NumData::value, k * kTrees + i);
    state.ResumeTiming();
    fx.query_all();
  }
  count_one_iteration(state, fx.db, [&] {  // executed = 1,792, validated = 0
    ++k;
    for (std::size_t i = 0; i < kTrees; ++i)
      fx.inputs[i].set(fx.db, &NumData::value, k * kTrees + i);
    fx.query_all();
  });
  state.counters["ns_per_root"] = per_item(kTrees);
  state.counters["ns_per_query"] = per_item(kTrees * kQueriesPerTree);
}
BENCHMARK(BM_relish_d_reexecute);

// (e) Durability shortcut: the 256 inputs are high durability, the write to `dummy` is low.
// Every root memo is high durability and verified after the last high write, so it is
// re-verified in O(1) without touching its dependencies (branches and leaves are not visited).
// The one write per iteration is timed (see BM_relish_write_only).
void BM_relish_e_durability_shortcut(benchmark::State& state) {
  Fixture fx(relish::Durability::high);
  fx.query_all();
  std::size_t k = 0;
  auto step = [&] {
    fx.dummy.set(fx.db, &NumData::value, ++k);
    fx.query_all();
  };
  for (auto _ : state) step();
  count_one_iteration(state, fx.db, step);  // validated = 256 (the roots only), executed = 0
  state.counters["ns_per_root"] = per_item(kTrees);
}
BENCHMARK(BM_relish_e_durability_shortcut);

// One low-durability input write (a new revision), with the 7 query ingredients registered.
void BM_relish_write_only(benchmark::State& state) {
  Fixture fx(relish::Durability::low);
  fx.query_all();
  std::size_t k = 0;
  for (auto _ : state) fx.dummy.set(fx.db, &NumData::value, ++k);
  state.counters["ns_per_write"] = per_item(1);
}
BENCHMARK(BM_relish_write_only);

}  // namespace

// query_fetch baseline: the same 256 trees of 7 functions as relish.cpp, computed from scratch
// with plain out-of-line calls over a std::vector of values, no memoization. This is what
// every relish figure in this scenario is compared with:
//   - a hit (relish a, e) should beat recomputing the tree (7 calls);
//   - cold execution and re-execution (relish b, d) cost the engine's overhead per query on top
//     of these function calls;
//   - deep verification (relish c) is worth it only when it is cheaper than this recomputation,
//     which for trees this small it is not: the tree is 7 additions. The point of the scenario
//     is the engine's per-operation cost, not a realistic win.
#include <benchmark/benchmark.h>

#include <cstddef>
#include <vector>

#include "../common/counters.hpp"

namespace {

using relish_bench::per_item;

constexpr std::size_t kTrees = 256;
constexpr std::size_t kQueriesPerTree = 7;

[[gnu::noinline]] std::size_t leaf1_fn(const std::vector<std::size_t>& v, std::size_t i) {
  return v[i] + 1;
}
[[gnu::noinline]] std::size_t leaf2_fn(const std::vector<std::size_t>& v, std::size_t i) {
  return v[i] + 2;
}
[[gnu::noinline]] std::size_t leaf3_fn(const std::vector<std::size_t>& v, std::size_t i) {
  return v[i] + 3;
}
[[gnu::noinline]] std::size_t leaf4_fn(const std::vector<std::size_t>& v, std::size_t i) {
  return v[i] + 4;
}
[[gnu::noinline]] std::size_t branch_a_fn(const std::vector<std::size_t>& v, std::size_t i) {
  return leaf1_fn(v, i) + leaf2_fn(v, i);
}
[[gnu::noinline]] std::size_t branch_b_fn(const std::vector<std::size_t>& v, std::size_t i) {
  return leaf3_fn(v, i) + leaf4_fn(v, i);
}
[[gnu::noinline]] std::size_t root_fn(const std::vector<std::size_t>& v, std::size_t i) {
  return branch_a_fn(v, i) + branch_b_fn(v, i);
}

// All 256 roots, every one of the 7 functions per tree called each time.
void BM_from_scratch_roots(benchmark::State& state) {
  std::vector<std::size_t> values(kTrees);
  for (std::size_t i = 0; i < kTrees; ++i) values[i] = i;
  for (auto _ : state) {
    benchmark::ClobberMemory();  // the values may have changed: no hoisting across iterations
    for (std::size_t i = 0; i < kTrees; ++i) benchmark::DoNotOptimize(root_fn(values, i));
  }
  state.counters["ns_per_root"] = per_item(kTrees);
  state.counters["ns_per_query"] = per_item(kTrees * kQueriesPerTree);
}
BENCHMARK(BM_from_scratch_roots);

// The same after every value changed (relish's workload d): the 256 writes are not timed.
void BM_from_scratch_after_all_changed(benchmark::State& state) {
  std::vector<std::size_t> values(kTrees);
  std::size_t k = 0;
  for (auto _ : state) {
    state.PauseTiming();
    ++k;
    for (std::size_t i = 0; i < kTrees; ++i) values[i] = k * kTrees + i;
    benchmark::ClobberMemory();
    state.ResumeTiming();
    for (std::size_t i = 0; i < kTrees; ++i) benchmark::DoNotOptimize(root_fn(values, i));
  }
  state.counters["ns_per_root"] = per_item(kTrees);
  state.counters["ns_per_query"] = per_item(kTrees * kQueriesPerTree);
}
BENCHMARK(BM_from_scratch_after_all_changed);

}  // namespace

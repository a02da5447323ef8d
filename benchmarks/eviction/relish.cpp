// eviction: what a per-query LRU costs, in the shape of salsa's benches/eviction.rs.
//
//   fast_path/no_lru      1,024 hits of memos verified in this revision, query without LRU
//   fast_path/lru         the same with `lru = 2048` (never evicts here): the price of
//                         recording recency on the hot path
//   fill_and_evict        each iteration: one unrelated write (a revision boundary, where the
//                         LRU of capacity 256 drops the least recently used values), then 320
//                         distinct keys fetched: 256 verify, 64 are recomputed
//   parallel_hits/*       fast_path on 2 threads at once on one database
//
// Salsa 0.28 on this machine, for reference: 16-24 ns per hit without LRU, 23-35 ns with;
// with LRU the parallel hits are 3-4x slower than without (its LRU list is shared).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <memory>
#include <vector>

#include <relish/relish.hpp>

#include "../common/counters.hpp"

namespace {

using relish_bench::per_item;

struct NumData {
  std::uint64_t value;
};
using Num = relish::Input<NumData>;
struct OtherData {
  std::uint64_t value;
};
using Other = relish::Input<OtherData>;
struct Db : relish::Database {};

constexpr std::size_t kHits = 1024;
constexpr std::size_t kFill = 320;
constexpr std::size_t kCapacity = 256;

[[gnu::noinline]] std::uint64_t plain_fn(Db& db, Num n) { return n.get(db, &NumData::value) + 1; }
[[gnu::noinline]] std::uint64_t lru_fn(Db& db, Num n) { return n.get(db, &NumData::value) + 2; }
[[gnu::noinline]] std::uint64_t bounded_fn(Db& db, Num n) {
  return n.get(db, &NumData::value) + 3;
}
inline constexpr relish::Query<plain_fn> plain;
inline constexpr relish::Query<lru_fn, relish::Options{.lru = 2 * kHits}> with_lru;
inline constexpr relish::Query<bounded_fn, relish::Options{.lru = kCapacity}> bounded;

struct Setup {
  Db db;
  std::vector<Num> nums;
  Other other = Other::create(db, {.value = 0});
  explicit Setup(std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) nums.push_back(Num::create(db, {.value = i}));
  }
};

template <const auto& Q>
void fast_path(benchmark::State& state) {
  Setup s(kHits);
  for (Num n : s.nums) Q(s.db, n);
  for (auto _ : state) {
    for (Num n : s.nums) benchmark::DoNotOptimize(Q(s.db, n));
  }
  state.counters["ns_per_hit"] = per_item(kHits);
}
void BM_fast_path_no_lru(benchmark::State& state) { fast_path<plain>(state); }
void BM_fast_path_lru(benchmark::State& state) { fast_path<with_lru>(state); }
BENCHMARK(BM_fast_path_no_lru);
BENCHMARK(BM_fast_path_lru);

void BM_fill_and_evict(benchmark::State& state) {
  Setup s(kFill);
  for (Num n : s.nums) bounded(s.db, n);
  std::uint64_t evicted = 0, executed = 0;
  s.db.on_event([&](const relish::Event& e) {
    if (e.kind == relish::EventKind::did_evict) ++evicted;
    if (e.kind == relish::EventKind::will_execute) ++executed;
  });
  std::uint64_t rev = 0;
  for (auto _ : state) {
    s.other.set(s.db, &OtherData::value, ++rev);  // revision boundary: eviction
    for (Num n : s.nums) benchmark::DoNotOptimize(bounded(s.db, n));
  }
  s.db.on_event({});
  state.counters["ns_per_key"] = per_item(kFill);
  state.counters["evicted_per_rev"] =
      static_cast<double>(evicted) / static_cast<double>(state.iterations());
  state.counters["executed_per_rev"] =
      static_cast<double>(executed) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_fill_and_evict);

// One database shared by the benchmark's threads; thread 0 sets it up before the timed loop
// (the loop starts with a barrier) and tears it down after it (it ends with one).
std::unique_ptr<Setup> shared;

template <const auto& Q>
void parallel_hits(benchmark::State& state) {
  if (state.thread_index() == 0) {
    shared = std::make_unique<Setup>(kHits);
    for (Num n : shared->nums) Q(shared->db, n);
  }
  for (auto _ : state) {
    for (Num n : shared->nums) benchmark::DoNotOptimize(Q(shared->db, n));
  }
  if (state.thread_index() == 0) shared.reset();
  state.counters["ns_per_hit"] = per_item(kHits);
}
void BM_parallel_hits_no_lru(benchmark::State& state) { parallel_hits<plain>(state); }
void BM_parallel_hits_lru(benchmark::State& state) { parallel_hits<with_lru>(state); }
BENCHMARK(BM_parallel_hits_no_lru)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_parallel_hits_lru)->Threads(1)->Threads(2)->UseRealTime();

}  // namespace

// creation: the cost of creating inputs, interned values and tracked structs, in the shape of
// salsa's benches/creation.rs (same workloads, same sizes, same names).
//
//   input_create_many/N            create N inputs (N = 32 ... 10,240) in a fresh database
//   intern_distinct_many           one query execution interning 256 new values (GC on:
//                                  set_reclaim_after, so each value is also a dependency)
//   intern_immortal_distinct_many  the same without GC (relish's default)
//   intern_same_many               one query execution interning one existing value 256 times
//   intern_immortal_same_many      the same without GC
//   tracked_create_many            one query execution creating 256 tracked structs
//   tracked_reuse_many             an input write, then the creator re-runs and re-creates the
//                                  256 structs with the same identities (tracked field updated)
//   tracked_reuse_few              an input write, then the creator re-runs creating only the
//                                  first 32: 32 reused, 224 deleted
//
// As in salsa's divan benches, each measured run starts from a fresh, warmed-up database (one
// query already executed) set up outside the timed region. To keep PauseTiming's own cost out
// of the figures, each timed iteration runs a batch of such databases (set up, and destroyed,
// untimed). `ns_per_op` is the time per input / per intern / per tracked struct (for the
// reuse_* cases: per struct of the original 256, write and re-execution included);
// `per_run` the time of one run (one query execution, or the write and re-execution), in
// seconds with an SI prefix ("20.1u" is 20.1 us); ns_per_op prints the same way ("76.3n").
//
// salsa 0.28 on this machine (for reference): input creation ~18 ns each, interning an
// existing value 20-31 ns, a new interned value 76-100 ns, tracked create 59-84 ns, tracked
// reuse 35-53 ns (per struct).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstddef>
#include <memory>
#include <vector>

#include <relish/relish.hpp>

#include "../common/counters.hpp"

namespace {

using relish_bench::per_item;

constexpr std::size_t kMany = 256;
constexpr std::size_t kTrackedFew = 32;

struct Db : relish::Database {};

// ---- warm-up: one input and one executed query, like salsa's warm_db ----

struct WarmupData {
  std::size_t value;
};
using WarmupInput = relish::Input<WarmupData>;
[[gnu::noinline]] std::size_t warmup_fn(Db& db, WarmupInput in) {
  return in.get(db, &WarmupData::value);
}
inline constexpr relish::Query<warmup_fn> warmup_query;

void warm_db(Db& db) {
  WarmupInput in = WarmupInput::create(db, {13});
  if (warmup_query(db, in) != 13) std::abort();
}

// ---- inputs ----

struct InputValueData {
  std::size_t value;
};
using InputValue = relish::Input<InputValueData>;

// ---- interned ----

struct CountValueData {
  std::size_t count;
  std::size_t value;
};
using InternInput = relish::Input<CountValueData>;
using TrackedInput = relish::Input<CountValueData>;

struct InternedValueData {
  std::size_t value;
};
using InternedValue = relish::Interned<InternedValueData>;
struct ImmortalValueData {
  std::size_t value;
};
using ImmortalInternedValue = relish::Interned<ImmortalValueData>;

template <class I, class D>
[[gnu::noinline]] std::size_t intern_distinct(Db& db, InternInput input) {
  const std::size_t count = input.get(db, &CountValueData::count);
  const std::size_t value = input.get(db, &CountValueData::value);
  std::size_t sum = 0;
  for (std::size_t offset = 0; offset < count; ++offset) {
    I interned = I::intern(db, D{value + offset});
    benchmark::DoNotOptimize(interned);
    sum += value;
  }
  return sum;
}
template <class I, class D>
[[gnu::noinline]] std::size_t intern_same(Db& db, InternInput input) {
  const std::size_t count = input.get(db, &CountValueData::count);
  const std::size_t value = input.get(db, &CountValueData::value);
  std::size_t sum = 0;
  for (std::size_t i = 0; i < count; ++i) {
    I interned = I::intern(db, D{value});
    benchmark::DoNotOptimize(interned);
    sum += value;
  }
  return sum;
}

std::size_t intern_distinct_values_fn(Db& db, InternInput in) {
  return intern_distinct<InternedValue, InternedValueData>(db, in);
}
std::size_t intern_same_value_fn(Db& db, InternInput in) {
  return intern_same<InternedValue, InternedValueData>(db, in);
}
std::size_t intern_immortal_distinct_values_fn(Db& db, InternInput in) {
  return intern_distinct<ImmortalInternedValue, ImmortalValueData>(db, in);
}
std::size_t intern_immortal_same_value_fn(Db& db, InternInput in) {
  return intern_same<ImmortalInternedValue, ImmortalValueData>(db, in);
}
inline constexpr relish::Query<intern_distinct_values_fn> intern_distinct_values;
inline constexpr relish::Query<intern_same_value_fn> intern_same_value;
inline constexpr relish::Query<intern_immortal_distinct_values_fn> intern_immortal_distinct_values;
inline constexpr relish::Query<intern_immortal_same_value_fn> intern_immortal_same_value;

// salsa's #[salsa::interned] collects garbage by default; relish only when asked. The figure
// for "GC on" is with a reclaim period (the value does not matter within one revision).
void enable_gc(Db& db) { InternedValue::set_reclaim_after(db, 3); }

// ---- tracked ----

struct TrackedValueData {
  std::size_t index;                        // identity
  relish::TrackedField<std::size_t> value;  // tracked
};
using TrackedValue = relish::Tracked<TrackedValueData>;

[[gnu::noinline]] std::size_t create_tracked_fn(Db& db, TrackedInput input) {
  const std::size_t count = input.get(db, &CountValueData::count);
  const std::size_t value = input.get(db, &CountValueData::value);
  std::size_t sum = 0;
  for (std::size_t index = 0; index < count; ++index) {
    TrackedValue tracked = TrackedValue::create(db, {.index = index, .value = value});
    benchmark::DoNotOptimize(tracked);
    sum += value;
  }
  return sum;
}
inline constexpr relish::Query<create_tracked_fn> create_tracked;

// ---- harness ----

// Each timed iteration runs `run` once on each of `batch` fixtures made by `setup`, which (like
// their destruction) is not timed.
template <class Setup, class Run>
void batched(benchmark::State& state, std::size_t batch, Setup setup, Run run) {
  using Fx = decltype(setup());
  std::vector<Fx> fxs;
  fxs.reserve(batch);
  for (auto _ : state) {
    state.PauseTiming();
    fxs.clear();
    for (std::size_t i = 0; i < batch; ++i) fxs.push_back(setup());
    state.ResumeTiming();
    for (auto& fx : fxs) run(*fx);
  }
  fxs.clear();  // after the timed loop
}

struct DbInput {
  Db db;
  relish::Input<CountValueData> input;
};

// ---- benchmarks ----

void BM_relish_input_create_many(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const std::size_t batch = std::max<std::size_t>(1, 8192 / n);
  batched(
      state, batch,
      [] {
        auto db = std::make_unique<Db>();
        warm_db(*db);
        return db;
      },
      [&](Db& db) {
        for (std::size_t value = 0; value < n; ++value) {
          InputValue input = InputValue::create(db, {value});
          benchmark::DoNotOptimize(input);
        }
      });
  state.counters["ns_per_op"] = per_item(static_cast<double>(batch * n));
}
BENCHMARK(BM_relish_input_create_many)
    ->Arg(32)
    ->Arg(64)
    ->Arg(128)
    ->Arg(256)
    ->Arg(512)
    ->Arg(1024)
    ->Arg(10240);

constexpr std::size_t kBatch = 16;  // runs of 256 operations per timed iteration

template <auto& Q>
void intern_distinct_bench(benchmark::State& state, bool gc) {
  batched(
      state, kBatch,
      [&] {
        auto fx = std::make_unique<DbInput>();
        warm_db(fx->db);
        if (gc) enable_gc(fx->db);
        fx->input = InternInput::create(fx->db, {kMany, 1});
        return fx;
      },
      [](DbInput& fx) {
        if (Q(fx.db, fx.input) != kMany) std::abort();
      });
  state.counters["ns_per_op"] = per_item(kBatch * kMany);
  state.counters["per_run"] = per_item(kBatch);
}

template <auto& Q>
void intern_same_bench(benchmark::State& state, bool gc) {
  batched(
      state, kBatch,
      [&] {
        auto fx = std::make_unique<DbInput>();
        warm_db(fx->db);
        if (gc) enable_gc(fx->db);
        InternInput warm = InternInput::create(fx->db, {kMany, 1});
        if (Q(fx->db, warm) != kMany) std::abort();
        // A new input, so that the timed run is a fresh query key.
        fx->input = InternInput::create(fx->db, {kMany, 1});
        return fx;
      },
      [](DbInput& fx) {
        if (Q(fx.db, fx.input) != kMany) std::abort();
      });
  state.counters["ns_per_op"] = per_item(kBatch * kMany);
  state.counters["per_run"] = per_item(kBatch);
}

void BM_relish_intern_distinct_many(benchmark::State& state) {
  intern_distinct_bench<intern_distinct_values>(state, true);
}
void BM_relish_intern_immortal_distinct_many(benchmark::State& state) {
  intern_distinct_bench<intern_immortal_distinct_values>(state, false);
}
void BM_relish_intern_same_many(benchmark::State& state) {
  intern_same_bench<intern_same_value>(state, true);
}
void BM_relish_intern_immortal_same_many(benchmark::State& state) {
  intern_same_bench<intern_immortal_same_value>(state, false);
}
BENCHMARK(BM_relish_intern_distinct_many);
BENCHMARK(BM_relish_intern_immortal_distinct_many);
BENCHMARK(BM_relish_intern_same_many);
BENCHMARK(BM_relish_intern_immortal_same_many);

std::unique_ptr<DbInput> tracked_fixture(bool run_once) {
  auto fx = std::make_unique<DbInput>();
  warm_db(fx->db);
  fx->input = TrackedInput::create(fx->db, {kMany, 1});
  if (run_once && create_tracked(fx->db, fx->input) != kMany) std::abort();
  return fx;
}

void BM_relish_tracked_create_many(benchmark::State& state) {
  batched(
      state, kBatch, [] { return tracked_fixture(false); },
      [](DbInput& fx) {
        if (create_tracked(fx.db, fx.input) != kMany) std::abort();
      });
  state.counters["ns_per_op"] = per_item(kBatch * kMany);
  state.counters["per_run"] = per_item(kBatch);
}
BENCHMARK(BM_relish_tracked_create_many);

void BM_relish_tracked_reuse_many(benchmark::State& state) {
  batched(
      state, kBatch, [] { return tracked_fixture(true); },
      [](DbInput& fx) {
        fx.input.set(fx.db, &CountValueData::value, std::size_t{2});
        if (create_tracked(fx.db, fx.input) != 2 * kMany) std::abort();
      });
  state.counters["ns_per_op"] = per_item(kBatch * kMany);
  state.counters["per_run"] = per_item(kBatch);
}
BENCHMARK(BM_relish_tracked_reuse_many);

void BM_relish_tracked_reuse_few(benchmark::State& state) {
  batched(
      state, kBatch, [] { return tracked_fixture(true); },
      [](DbInput& fx) {
        fx.input.set(fx.db, &CountValueData::count, kTrackedFew);
        if (create_tracked(fx.db, fx.input) != kTrackedFew) std::abort();
      });
  state.counters["ns_per_op"] = per_item(kBatch * kMany);
  state.counters["per_run"] = per_item(kBatch);
}
BENCHMARK(BM_relish_tracked_reuse_few);

}  // namespace

// Not in salsa's file: tracked_reuse_many at other sizes, to show how re-creation scales with
// the number of structs one execution creates (per struct, it should stay flat).
void BM_relish_tracked_reuse_scaling(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const std::size_t batch = std::max<std::size_t>(1, 4096 / n);
  batched(
      state, batch,
      [n] {
        auto fx = std::make_unique<DbInput>();
        warm_db(fx->db);
        fx->input = TrackedInput::create(fx->db, {n, 1});
        if (create_tracked(fx->db, fx->input) != n) std::abort();
        return fx;
      },
      [n](DbInput& fx) {
        fx.input.set(fx.db, &CountValueData::value, std::size_t{2});
        if (create_tracked(fx.db, fx.input) != 2 * n) std::abort();
      });
  state.counters["ns_per_op"] = per_item(static_cast<double>(batch * n));
}
BENCHMARK(BM_relish_tracked_reuse_scaling)->Arg(64)->Arg(256)->Arg(1024)->Arg(4096);

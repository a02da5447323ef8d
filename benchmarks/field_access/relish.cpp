// field_access: reading one field of an input, an interned value and a tracked struct, in the
// shape of salsa's benches/field_access.rs.
//
//   input_field_read_many     256 executions of a query reading one input field
//   interned_field_read_many  256 executions of a query keyed on an interned handle, reading
//                             its field
//   tracked_field_read_many   256 executions of a query keyed on a tracked struct, reading its
//                             tracked field
//
// As in salsa, each measured run starts from a fresh database holding the 256 entities (set up
// untimed), so every query call executes: the figure is one query execution plus one field
// read, per entity. Each timed iteration runs a batch of such databases to keep PauseTiming's
// own cost out. `ns_per_op` is per entity ("45.2n" is 45.2 ns).
//
// Beside salsa's three, the raw cost of `get` alone, on the same 256 entities of one database:
//   *_field_get_top_level   256 reads outside any query (no dependency recorded)
//   *_field_get_in_query    one query reading all 256 fields (each read records a dependency),
//                           executed afresh each iteration; the per-read figure includes
//                           1/256 of a query execution
#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdlib>
#include <memory>
#include <vector>

#include <relish/relish.hpp>

#include "../common/counters.hpp"

namespace {

using relish_bench::per_item;

constexpr std::size_t kMany = 256;
constexpr std::size_t kBatch = 16;
constexpr std::size_t kExpectedSum = kMany * (kMany - 1) / 2;

struct Db : relish::Database {};

struct WarmupData {
  std::size_t value;
};
using WarmupInput = relish::Input<WarmupData>;
[[gnu::noinline]] std::size_t warmup_fn(Db& db, WarmupInput in) {
  return in.get(db, &WarmupData::value);
}
inline constexpr relish::Query<warmup_fn> warmup_query;
void warm_db(Db& db) {
  if (warmup_query(db, WarmupInput::create(db, {13})) != 13) std::abort();
}

struct InputValueData {
  std::size_t value;
};
using InputValue = relish::Input<InputValueData>;
[[gnu::noinline]] std::size_t read_input_field_fn(Db& db, InputValue in) {
  return in.get(db, &InputValueData::value);
}
inline constexpr relish::Query<read_input_field_fn> read_input_field;

struct InternedValueData {
  std::size_t value;
};
using InternedValue = relish::Interned<InternedValueData>;
[[gnu::noinline]] std::size_t read_interned_field_fn(Db& db, InternedValue v) {
  return v.get(db, &InternedValueData::value);
}
inline constexpr relish::Query<read_interned_field_fn> read_interned_field;

struct TrackedInputData {
  std::size_t count;
};
using TrackedInput = relish::Input<TrackedInputData>;
struct TrackedValueData {
  std::size_t index;
  relish::TrackedField<std::size_t> value;
};
using TrackedValue = relish::Tracked<TrackedValueData>;
[[gnu::noinline]] std::vector<TrackedValue> make_tracked_values_fn(Db& db, TrackedInput in) {
  std::vector<TrackedValue> out;
  const std::size_t count = in.get(db, &TrackedInputData::count);
  for (std::size_t v = 0; v < count; ++v)
    out.push_back(TrackedValue::create(db, {.index = v, .value = v}));
  return out;
}
inline constexpr relish::Query<make_tracked_values_fn,
                               relish::Options{.returns = relish::Returns::ref}>
    make_tracked_values;
[[gnu::noinline]] std::size_t read_tracked_field_fn(Db& db, TrackedValue t) {
  return t.get(db, &TrackedValueData::value);
}
inline constexpr relish::Query<read_tracked_field_fn> read_tracked_field;

struct Fixture {
  Db db;
  std::vector<InputValue> inputs;
  std::vector<InternedValue> interned;
  std::vector<TrackedValue> tracked;
  TrackedInput tracked_input;
  InputValue dummy;  // for the in-query benches: a write forces re-execution
};

enum class Kind { input, interned, tracked };

std::unique_ptr<Fixture> make_fixture(Kind kind) {
  auto fx = std::make_unique<Fixture>();
  warm_db(fx->db);
  switch (kind) {
    case Kind::input:
      for (std::size_t v = 0; v < kMany; ++v) fx->inputs.push_back(InputValue::create(fx->db, {v}));
      break;
    case Kind::interned:
      for (std::size_t v = 0; v < kMany; ++v)
        fx->interned.push_back(InternedValue::intern(fx->db, {v}));
      break;
    case Kind::tracked:
      fx->tracked_input = TrackedInput::create(fx->db, {kMany});
      fx->tracked = make_tracked_values(fx->db, fx->tracked_input);
      break;
  }
  fx->dummy = InputValue::create(fx->db, {0});
  return fx;
}

template <class Run>
void batched(benchmark::State& state, Kind kind, Run run) {
  std::vector<std::unique_ptr<Fixture>> fxs;
  for (auto _ : state) {
    state.PauseTiming();
    fxs.clear();
    for (std::size_t i = 0; i < kBatch; ++i) fxs.push_back(make_fixture(kind));
    state.ResumeTiming();
    for (auto& fx : fxs) {
      const std::size_t sum = run(*fx);
      if (sum != kExpectedSum) std::abort();
    }
  }
  fxs.clear();  // after the timed loop
  state.counters["ns_per_op"] = per_item(kBatch * kMany);
}

// ---- salsa's three: a query execution per read ----

void BM_relish_input_field_read_many(benchmark::State& state) {
  batched(state, Kind::input, [](Fixture& fx) {
    std::size_t sum = 0;
    for (InputValue in : fx.inputs) sum += read_input_field(fx.db, in);
    return sum;
  });
}
BENCHMARK(BM_relish_input_field_read_many);

void BM_relish_interned_field_read_many(benchmark::State& state) {
  batched(state, Kind::interned, [](Fixture& fx) {
    std::size_t sum = 0;
    for (InternedValue v : fx.interned) sum += read_interned_field(fx.db, v);
    return sum;
  });
}
BENCHMARK(BM_relish_interned_field_read_many);

void BM_relish_tracked_field_read_many(benchmark::State& state) {
  batched(state, Kind::tracked, [](Fixture& fx) {
    std::size_t sum = 0;
    for (TrackedValue t : fx.tracked) sum += read_tracked_field(fx.db, t);
    return sum;
  });
}
BENCHMARK(BM_relish_tracked_field_read_many);

// ---- get alone ----

template <class Read>
void top_level(benchmark::State& state, Kind kind, Read read) {
  auto fx = make_fixture(kind);
  for (auto _ : state) {
    const std::size_t sum = read(*fx);
    if (sum != kExpectedSum) std::abort();
  }
  state.counters["ns_per_op"] = per_item(kMany);
}

std::size_t sum_inputs(Fixture& fx) {
  std::size_t sum = 0;
  for (InputValue in : fx.inputs) sum += in.get(fx.db, &InputValueData::value);
  return sum;
}
std::size_t sum_interned(Fixture& fx) {
  std::size_t sum = 0;
  for (InternedValue v : fx.interned) sum += v.get(fx.db, &InternedValueData::value);
  return sum;
}
std::size_t sum_tracked(Fixture& fx) {
  std::size_t sum = 0;
  for (TrackedValue t : fx.tracked) sum += t.get(fx.db, &TrackedValueData::value);
  return sum;
}

void BM_relish_input_field_get_top_level(benchmark::State& state) {
  top_level(state, Kind::input, sum_inputs);
}
void BM_relish_interned_field_get_top_level(benchmark::State& state) {
  top_level(state, Kind::interned, sum_interned);
}
void BM_relish_tracked_field_get_top_level(benchmark::State& state) {
  top_level(state, Kind::tracked, sum_tracked);
}
BENCHMARK(BM_relish_input_field_get_top_level);
BENCHMARK(BM_relish_interned_field_get_top_level);
BENCHMARK(BM_relish_tracked_field_get_top_level);

// One query reading all 256 fields; a write to `dummy` (which it also reads) each iteration
// makes it re-execute. The write is timed too (one per 256 reads).
struct InQuery {
  static Fixture*& current() {
    static Fixture* fx = nullptr;
    return fx;
  }
};
[[gnu::noinline]] std::size_t sum_inputs_fn(Db& db, InputValue dummy) {
  (void)dummy.get(db, &InputValueData::value);
  return sum_inputs(*InQuery::current());
}
[[gnu::noinline]] std::size_t sum_interned_fn(Db& db, InputValue dummy) {
  (void)dummy.get(db, &InputValueData::value);
  return sum_interned(*InQuery::current());
}
[[gnu::noinline]] std::size_t sum_tracked_fn(Db& db, InputValue dummy) {
  (void)dummy.get(db, &InputValueData::value);
  return sum_tracked(*InQuery::current());
}
inline constexpr relish::Query<sum_inputs_fn> sum_inputs_q;
inline constexpr relish::Query<sum_interned_fn> sum_interned_q;
inline constexpr relish::Query<sum_tracked_fn> sum_tracked_q;

template <auto& Q>
void in_query(benchmark::State& state, Kind kind) {
  auto fx = make_fixture(kind);
  InQuery::current() = fx.get();
  std::size_t k = 0;
  for (auto _ : state) {
    fx->dummy.set(fx->db, &InputValueData::value, ++k);
    if (Q(fx->db, fx->dummy) != kExpectedSum) std::abort();
  }
  InQuery::current() = nullptr;
  state.counters["ns_per_op"] = per_item(kMany);
}
void BM_relish_input_field_get_in_query(benchmark::State& state) {
  in_query<sum_inputs_q>(state, Kind::input);
}
void BM_relish_interned_field_get_in_query(benchmark::State& state) {
  in_query<sum_interned_q>(state, Kind::interned);
}
void BM_relish_tracked_field_get_in_query(benchmark::State& state) {
  in_query<sum_tracked_q>(state, Kind::tracked);
}
BENCHMARK(BM_relish_input_field_get_in_query);
BENCHMARK(BM_relish_interned_field_get_in_query);
BENCHMARK(BM_relish_tracked_field_get_in_query);

}  // namespace

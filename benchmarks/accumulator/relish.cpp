// accumulator: collecting values pushed by queries, in the shape of salsa's
// benches/accumulator.rs.
//
// 128 inputs, each holding a count of expressions (1,000). For every input:
//
//   root(input)        = [infer_expression(Expression(i)) for i in 0 .. count)]
//   infer_expression(e) = e.number; pushes the diagnostic "Number is n" when n % 10 == 0, and
//                         first infers Expression(n / 2) when n is even and not 0
//
// Expressions are interned by number, so all 128 roots share the same 1,000
// infer_expression memos (n / 2 < 1,000 is always one of them). Each root accumulates 100
// diagnostics. accumulated() walks root's dependency list (its input field and 1,000
// expression memos, whose sub-expressions are already visited), 1,001 memos per call.
//
// Cases (one iteration = accumulated<Diagnostics>(db, root, input) for all 128 inputs):
//   warm    salsa's measured loop: the queries are up to date in this revision (prewarmed by
//           fetching every root), so this is the cost of the walk and of copying the values.
//   cold    a fresh database (inputs created untimed): accumulated() first runs the queries,
//           128 roots + 1,000 expressions, then walks as above.
//   edit    one write per iteration, to input 0 (its count alternates 1,000 and 999; both
//           give 100 diagnostics), then the 128 calls: root 0 re-executes, the other roots are
//           deep-verified (the shared expression memos once, by the first of them).
// Counters: ns_per_input is one accumulated() call; ns_per_memo divides by the 1,001 memos it
// visits; `executed` and `validated` are one iteration's query executions and deep
// verifications, counted in an untimed pass after the timed loop.
#include <benchmark/benchmark.h>

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include <relish/relish.hpp>

#include "../common/counters.hpp"

namespace {

using relish_bench::per_item;
using relish_bench::count_one_iteration;

constexpr std::size_t kInputs = 128;
constexpr std::size_t kExpressions = 1000;
constexpr std::size_t kDiagnostics = kExpressions / 10;  // per root
constexpr std::size_t kMemosPerRoot = kExpressions + 1;  // what one accumulated() visits

struct InputData {
  std::size_t expressions;
};
using Input = relish::Input<InputData>;

struct ExpressionData {
  std::size_t number;
};
using Expression = relish::Interned<ExpressionData>;

struct Diagnostic {
  std::string message;
};
using Diagnostics = relish::Accumulator<Diagnostic>;

struct Db : relish::Database {};

// Out of line, as salsa's #[inline(never)]: the figures are the engine's cost.
[[gnu::noinline]] std::size_t infer_expression_fn(Db& db, Expression e);
inline constexpr relish::Query<infer_expression_fn> infer_expression;

[[gnu::noinline]] std::size_t infer_expression_fn(Db& db, Expression e) {
  const std::size_t n = e.get(db, &ExpressionData::number);
  if (n % 10 == 0) Diagnostics::push(db, {"Number is " + std::to_string(n)});
  if (n != 0 && n % 2 == 0) (void)infer_expression(db, Expression::intern(db, {n / 2}));
  return n;
}

// Returned by reference (salsa: returns(deref)): accumulated() fetches root first, and a copy
// of 1,000 numbers per call would be measured too.
[[gnu::noinline]] std::vector<std::size_t> root_fn(Db& db, Input input) {
  const std::size_t count = input.get(db, &InputData::expressions);
  std::vector<std::size_t> out;
  out.reserve(count);
  for (std::size_t i = 0; i < count; ++i)
    out.push_back(infer_expression(db, Expression::intern(db, {i})));
  return out;
}
inline constexpr relish::Query<root_fn, relish::Options{.returns = relish::Returns::ref}> root;

struct Fixture {
  Db db;
  std::vector<Input> inputs;

  Fixture() {
    inputs.reserve(kInputs);
    for (std::size_t i = 0; i < kInputs; ++i)
      inputs.push_back(Input::create(db, {.expressions = kExpressions}));
  }

  void prewarm() {
    for (Input in : inputs) benchmark::DoNotOptimize(root(db, in).data());
  }

  // All 128 accumulated() calls; false if one does not return the expected 100 diagnostics.
  bool accumulate_all() {
    bool ok = true;
    for (Input in : inputs) {
      std::vector<Diagnostic> d = relish::accumulated<Diagnostics>(db, root, in);
      ok &= d.size() == kDiagnostics;
      benchmark::DoNotOptimize(d.data());
    }
    return ok;
  }
};

void set_counters(benchmark::State& state) {
  state.counters["ns_per_input"] = per_item(kInputs);
  state.counters["ns_per_memo"] = per_item(kInputs * kMemosPerRoot);
}

void BM_relish_accumulated_warm(benchmark::State& state) {
  Fixture fx;
  fx.prewarm();
  for (auto _ : state) {
    if (!fx.accumulate_all()) {
      state.SkipWithError("wrong number of diagnostics");
      return;
    }
  }
  count_one_iteration(state, fx.db, [&] { fx.accumulate_all(); });  // executed = 0
  set_counters(state);
}
BENCHMARK(BM_relish_accumulated_warm);

void BM_relish_accumulated_cold(benchmark::State& state) {
  for (auto _ : state) {
    state.PauseTiming();
    auto fx = std::make_unique<Fixture>();
    state.ResumeTiming();
    const bool ok = fx->accumulate_all();
    state.PauseTiming();
    fx.reset();
    state.ResumeTiming();
    if (!ok) {
      state.SkipWithError("wrong number of diagnostics");
      return;
    }
  }
  Fixture fx;
  count_one_iteration(state, fx.db, [&] { fx.accumulate_all(); });  // executed = 1,128
  set_counters(state);
}
BENCHMARK(BM_relish_accumulated_cold);

void BM_relish_accumulated_edit(benchmark::State& state) {
  Fixture fx;
  fx.prewarm();
  std::size_t k = 0;
  auto step = [&] {
    fx.inputs[0].set(fx.db, &InputData::expressions, ++k % 2 ? kExpressions - 1 : kExpressions);
    return fx.accumulate_all();
  };
  for (auto _ : state) {
    if (!step()) {
      state.SkipWithError("wrong number of diagnostics");
      return;
    }
  }
  count_one_iteration(state, fx.db, step);
  set_counters(state);
}
BENCHMARK(BM_relish_accumulated_edit);

}  // namespace

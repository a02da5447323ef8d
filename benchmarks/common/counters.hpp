// Counters shared by the benchmarks: time per item, and what one iteration made the engine do.
#pragma once

#include <benchmark/benchmark.h>

#include <cstddef>
#include <utility>

#include <relish/relish.hpp>

namespace relish_bench {

// Time per item: the counter is divided by iterations and inverted, so it prints seconds (with
// an SI prefix: "12.3n" is 12.3 ns) per item.
inline benchmark::Counter per_item(double items_per_iteration) {
  return benchmark::Counter(items_per_iteration, benchmark::Counter::kIsIterationInvariantRate |
                                                     benchmark::Counter::kInvert);
}

// Queries executed and memos verified without running (deep or by the durability shortcut) in
// one call of `step`, as counters `executed` and `validated`. Call it after the timed loop:
// the observer is installed only for this pass, so the timed loop emits no events.
template <class Step>
void count_one_iteration(benchmark::State& state, relish::Database& db, Step&& step) {
  std::size_t executed = 0;
  std::size_t validated = 0;
  db.on_event([&](const relish::Event& e) {
    if (e.kind == relish::EventKind::will_execute) ++executed;
    if (e.kind == relish::EventKind::did_validate_memoized_value) ++validated;
  });
  std::forward<Step>(step)();
  db.on_event({});
  state.counters["executed"] = static_cast<double>(executed);
  state.counters["validated"] = static_cast<double>(validated);
}

}  // namespace relish_bench

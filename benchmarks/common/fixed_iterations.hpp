// Force-included by scripts/instructions.sh: every benchmark runs exactly RELISH_ITERATIONS
// iterations, once, so that two builds differing only in that number give the instruction
// count of one iteration (the difference of their totals), set-up and probing runs cancelled.
#pragma once

#include <benchmark/benchmark.h>

#undef BENCHMARK
#define BENCHMARK(n)                                                                  \
  BENCHMARK_PRIVATE_DECLARE(n) = (::benchmark::internal::RegisterBenchmarkInternal(   \
                                      new ::benchmark::internal::FunctionBenchmark(#n, n))) \
                                     ->Iterations(RELISH_ITERATIONS)

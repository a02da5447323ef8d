#!/usr/bin/env bash
# Instructions per iteration of benchmarks, repeatable on a noisy machine (callgrind):
#   bash scripts/instructions.sh SCENARIO FILTER [ITERATIONS]
#   bash scripts/instructions.sh query_fetch 'BM_relish_a_hit$'
# builds benchmarks/SCENARIO twice, with every benchmark fixed at 1 and at 1+ITERATIONS
# (default 20) iterations, runs the ones matching FILTER under callgrind, and prints the
# difference of the totals divided by ITERATIONS: set-up, teardown and counting passes cancel.
# Figures are per iteration; divide by the benchmark's items (roots, inputs...) yourself.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
scenario=$1 filter=$2 n=${3:-20}
out=${TMPDIR:-/tmp}/relish-instructions-$scenario
mkdir -p "$out"
for iters in 1 $((n + 1)); do
  g++ -std=c++20 -O3 -DNDEBUG -DXXH_INLINE_ALL -DRELISH_ITERATIONS=$iters \
    -include "$root/benchmarks/common/fixed_iterations.hpp" -I"$root/include" \
    "$root"/benchmarks/"$scenario"/*.cpp -o "$out/bench_$iters" \
    -lbenchmark -lbenchmark_main -labsl_hash -labsl_city -labsl_low_level_hash \
    -labsl_raw_hash_set -lpthread &
done
wait
mapfile -t names < <("$out/bench_1" --benchmark_list_tests --benchmark_filter="$filter" |
  sed 's|/iterations:1$||')
for name in "${names[@]}"; do
  total() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$out/bench_$1" \
      --benchmark_filter="^${name}/iterations:" 2>&1 | awk '/Collected/ {print $4}'
  }
  a=$(total 1) b=$(total $((n + 1)))
  echo "$name: $(( (b - a) / n )) instructions per iteration"
done

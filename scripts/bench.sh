#!/usr/bin/env bash
# Builds the benchmarks (Release, build/bench) and runs them, or the ones named:
#   bash scripts/bench.sh                      all of benchmarks/*/
#   bash scripts/bench.sh query_fetch chain    some; extra Google Benchmark flags via BENCH_ARGS
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install_deps.sh
cmake -S . -B build/bench -DCMAKE_BUILD_TYPE=Release \
  -DRELISH_BUILD_TESTS=OFF -DRELISH_BUILD_EXAMPLES=OFF -DRELISH_BUILD_BENCHMARKS=ON
names=("$@")
if ((${#names[@]} == 0)); then
  for d in benchmarks/*/; do names+=("$(basename "$d")"); done
fi
targets=()
for n in "${names[@]}"; do targets+=("bench_$n"); done
cmake --build build/bench -j"$(nproc)" --target "${targets[@]}"
for n in "${names[@]}"; do
  echo "=== $n ==="
  # shellcheck disable=SC2086
  "./build/bench/benchmarks/bench_$n" ${BENCH_ARGS:-}
done

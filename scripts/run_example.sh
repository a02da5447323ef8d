#!/usr/bin/env bash
# Builds relish's examples (Release, build/example) and runs the main one: pyscope, a ty-style
# Python analyzer, over the Python standard library on this machine (/usr/lib/python3.11, about
# 670 files; imports also resolve into its dist-packages). It checks every file on all cores,
# replays examples/pyscope/edits.txt on one thread (printing per edit the CPU and wall time,
# how many queries re-ran / were verified / backdated (--events: the observer costs time), and
# the diagnostics that changed), compares every answer with a from-scratch run after the
# timing (--check), and prints the memory report next to mimalloc's own figures. For figures
# without the observer: bash scripts/bench_pyscope.sh.
#
#   bash scripts/run_example.sh                  the above
#   bash scripts/run_example.sh ARGS...          pyscope with your arguments (see its --help)
#   RELISH_EXAMPLE=incdeps bash scripts/run_example.sh [ARGS...]
#                                                the include-graph analyzer over /usr/include
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install_deps.sh

example="${RELISH_EXAMPLE:-pyscope}"
cmake -S . -B build/example \
  -DCMAKE_BUILD_TYPE=Release \
  -DRELISH_BUILD_TESTS=OFF -DRELISH_BUILD_EXAMPLES=ON -DRELISH_BUILD_BENCHMARKS=OFF
cmake --build build/example -j"$(nproc)" --target "$example"

if (($# == 0)); then
  case "$example" in
    pyscope) set -- --script examples/pyscope/edits.txt --events --check --memory-report ;;
    incdeps) set -- /usr/include --script examples/incdeps/edits.txt --check ;;
  esac
fi
exec "./build/example/examples/$example/$example" "$@"

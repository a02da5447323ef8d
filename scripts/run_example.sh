#!/usr/bin/env bash
# Builds relish's examples (Release, build/example) and runs the main one: incdeps, an
# include-graph analyzer, over /usr/include (about 8,000 headers), replaying the edit script
# examples/incdeps/edits.txt. Per edit it prints the time and how many queries re-ran,
# were verified or backdated; --check compares every answer with a from-scratch run.
# Any arguments replace the defaults, e.g.: bash scripts/run_example.sh /usr/include --edits 20
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install_deps.sh

cmake -S . -B build/example \
  -DCMAKE_BUILD_TYPE=Release \
  -DRELISH_BUILD_TESTS=OFF -DRELISH_BUILD_EXAMPLES=ON -DRELISH_BUILD_BENCHMARKS=OFF
cmake --build build/example -j"$(nproc)" --target incdeps quickstart

if (($# == 0)); then
  set -- /usr/include --script examples/incdeps/edits.txt --check
fi
./build/example/examples/incdeps/incdeps "$@"

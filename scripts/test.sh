#!/usr/bin/env bash
# The test command (the one the README gives and .ci/run runs):
#
#   bash scripts/test.sh             Release build of tests, examples and benchmarks in
#                                    build/release, then the whole ctest suite
#   bash scripts/test.sh --sanitize  RelWithDebInfo (assertions on) + AddressSanitizer/UBSan
#                                    build of the tests in build/asan, then ctest without the
#                                    packaging tests
#
# Installs missing apt dependencies first (Debian bookworm).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

mode=release
case "${1:-}" in
  "") ;;
  --sanitize) mode=asan ;;
  *) echo "usage: bash scripts/test.sh [--sanitize]" >&2; exit 2 ;;
esac

bash scripts/install_deps.sh

jobs=$(nproc)

if [[ $mode == release ]]; then
  cmake -S . -B build/release \
    -DCMAKE_BUILD_TYPE=Release \
    -DRELISH_BUILD_TESTS=ON -DRELISH_BUILD_EXAMPLES=ON -DRELISH_BUILD_BENCHMARKS=ON
  cmake --build build/release -j"$jobs"
  ctest --test-dir build/release --output-on-failure -j"$jobs"
else
  # RelWithDebInfo without its -DNDEBUG: assertions stay on, as sanitizer builds are for
  # catching bugs.
  cmake -S . -B build/asan \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g" \
    -DRELISH_SANITIZE=address \
    -DRELISH_BUILD_TESTS=ON -DRELISH_BUILD_EXAMPLES=OFF -DRELISH_BUILD_BENCHMARKS=OFF
  cmake --build build/asan -j"$jobs"
  export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1}"
  export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}"
  # The packaging tests build plain consumers; they say nothing about sanitizers.
  ctest --test-dir build/asan --output-on-failure -j"$jobs" \
    -E '^(package_consumer|subdirectory_consumer)$'
fi

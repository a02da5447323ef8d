#!/usr/bin/env bash
# The test command (the one the README gives and .ci/run runs):
#
#   bash scripts/test.sh            everything below, in order
#   bash scripts/test.sh release    Release build of tests and examples in build/release,
#                                   then the whole ctest suite (benchmarks: scripts/bench.sh);
#                                   `npm ci` in tests/lsp first, for the language-server test
#   bash scripts/test.sh asan       AddressSanitizer + UBSan build of the tests (assertions and
#                                   _GLIBCXX_ASSERTIONS on; line tables only, -g1, to build
#                                   faster) in build/asan, then ctest without the packaging
#                                   tests and the examples' tests
#   bash scripts/test.sh tsan       ThreadSanitizer build of the tests in build/tsan, then the
#                                   multi-threaded tests ([concurrency], [reclaimable])
#
# Installs missing apt dependencies first (Debian bookworm).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

modes=("$@")
if ((${#modes[@]} == 0)); then modes=(release asan tsan); fi
for m in "${modes[@]}"; do
  case "$m" in
    release | asan | tsan) ;;
    --sanitize) ;;  # old spelling of "asan"
    *) echo "usage: bash scripts/test.sh [release] [asan] [tsan]" >&2; exit 2 ;;
  esac
done

bash scripts/install_deps.sh

jobs=$(nproc)

for m in "${modes[@]}"; do
  echo "=== relish tests: $m ==="
  case "$m" in
    release)
      cmake -S . -B build/release \
        -DCMAKE_BUILD_TYPE=Release \
        -DRELISH_BUILD_TESTS=ON -DRELISH_BUILD_EXAMPLES=ON -DRELISH_BUILD_BENCHMARKS=OFF
      cmake --build build/release -j"$jobs"
      # The language-server test's packages (VS Code's vscode-jsonrpc and
      # vscode-languageserver-protocol), exactly as package-lock.json pins them.
      (cd tests/lsp && npm ci --no-audit --no-fund)
      ctest --test-dir build/release --output-on-failure -j"$jobs"
      ;;
    asan | --sanitize)
      # RelWithDebInfo without its -DNDEBUG: assertions stay on in sanitizer builds, and
      # libstdc++'s own (an empty optional read, an index out of range) abort the test.
      cmake -S . -B build/asan \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -D_GLIBCXX_ASSERTIONS" \
        -DRELISH_SANITIZE=address \
        -DRELISH_BUILD_TESTS=ON -DRELISH_BUILD_EXAMPLES=OFF -DRELISH_BUILD_BENCHMARKS=OFF
      cmake --build build/asan -j"$jobs" --target relish_tests
      ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1}" \
      UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}" \
        ctest --test-dir build/asan --output-on-failure -j"$jobs" \
        -E '^(package_consumer|subdirectory_consumer|readme_.*_in_sync|docs_guide_compiles|compile_fail\..*)$'
      ;;
    tsan)
      cmake -S . -B build/tsan \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g" \
        -DRELISH_SANITIZE=thread \
        -DRELISH_BUILD_TESTS=ON -DRELISH_BUILD_EXAMPLES=OFF -DRELISH_BUILD_BENCHMARKS=OFF
      cmake --build build/tsan -j"$jobs" --target relish_tests
      # halt_on_error: a data race fails the run instead of only being printed.
      TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}" \
        ./build/tsan/tests/relish_tests "[concurrency],[reclaimable]"
      ;;
  esac
done
echo "=== relish tests: all passed (${modes[*]}) ==="

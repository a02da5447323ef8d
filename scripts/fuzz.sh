#!/usr/bin/env bash
# Op-replay fuzzing of relish with libFuzzer (tests/fuzz/op_replay.hpp: input bytes -> ops run
# against relish and a from-scratch oracle; any difference, or a sanitizer report, is a crash).
#
#   bash scripts/fuzz.sh [MINUTES]     build build/fuzz/relish_fuzz, fuzz for MINUTES (default 5)
#
# Environment:
#   RELISH_FUZZ_OPS=<mask>|ci|all  op classes to run (bit i = enum Op value i in op_replay.hpp).
#                                  Default: every op but the ones gated for known bugs
#                                  (relish_fuzz::kGatedOps, minus the threads mode, which is
#                                  on), so a crash is news. "all" adds the gated ones back.
#   RELISH_FUZZ_KEEP_GOING=1       don't stop at the first crash (libFuzzer -fork=1
#                                  -ignore_crashes=1): collects several crashes in one run.
#   RELISH_FUZZ_INCLUDE=<dir>      relish headers to test (default: include/ of this tree).
#   RELISH_FUZZ_JOBS / extra args  any further arguments are passed to libFuzzer.
#
# Outputs under build/fuzz/: the binary, corpus/ (a working copy of tests/fuzz/corpus/ that
# libFuzzer grows; kept between runs), crashes/ (crash-<sha1> inputs).
#
# A crash -> a regression test:
#   1. reproduce and read the op sequence it prints:
#        build/fuzz/relish_fuzz build/fuzz/crashes/crash-<sha1>
#   2. minimize it (libFuzzer keeps the same crash while shrinking the input):
#        build/fuzz/relish_fuzz -minimize_crash=1 -runs=20000 \
#          -exact_artifact_path=build/fuzz/min.bin build/fuzz/crashes/crash-<sha1>
#   3. copy the minimized file in with a name that says what it checks:
#        tests/fuzz/crashes-known/<what-goes-wrong>.bin   while the engine bug is open (the
#            [fuzz][!mayfail] test replays it, allowed to fail), and list it in
#            tests/fuzz/crashes-known/README.md;
#        tests/fuzz/corpus/<what-it-checks>               once it passes (the [fuzz] test
#            replays every corpus file with relish_fuzz::kCiOps and must pass).
#      If an op class hits the bug too easily for the CI's random inputs, gate it in
#      relish_fuzz::kGatedOps until the fix lands.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

minutes="${1:-5}"
shift || true
out=build/fuzz
include="${RELISH_FUZZ_INCLUDE:-include}"
cxx="${CXX_FUZZ:-clang++-16}"
command -v "$cxx" >/dev/null || {
  echo "fuzz.sh: $cxx not found (apt-get install clang-16 libclang-rt-16-dev)" >&2
  exit 2
}

# Bits of enum Op (op_replay.hpp): 6 catch-all, 13 threads, 14 late-gc, 15 gc-durable.
case "${RELISH_FUZZ_OPS:-default}" in
  default) ops=$((0xFFFF & ~((1 << 6) | (1 << 14) | (1 << 15)))) ;;
  ci) ops=$((0xFFFF & ~((1 << 6) | (1 << 13) | (1 << 14) | (1 << 15)))) ;;
  all) ops=$((0xFFFF)) ;;
  *) ops="$RELISH_FUZZ_OPS" ;;
esac

mkdir -p "$out/corpus" "$out/crashes"
echo "=== building $out/relish_fuzz ($cxx, headers from $include)"
"$cxx" -std=c++20 -O1 -g -fno-omit-frame-pointer \
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -D_GLIBCXX_ASSERTIONS -DXXH_INLINE_ALL -Wall -Wextra -Wpedantic \
  -I"$include" -Itests/fuzz tests/fuzz/libfuzzer_main.cc -o "$out/relish_fuzz" \
  -labsl_hash -labsl_city -labsl_low_level_hash -labsl_raw_hash_set \
  -labsl_hashtablez_sampler -lpthread

cp -n tests/fuzz/corpus/* "$out/corpus/" 2>/dev/null || true
keep_going=()
if [[ "${RELISH_FUZZ_KEEP_GOING:-0}" == 1 ]]; then keep_going=(-fork=1 -ignore_crashes=1); fi

echo "=== fuzzing for $minutes min, ops mask $ops; crashes go to $out/crashes/"
RELISH_FUZZ_OPS="$ops" \
ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}" \
UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
  "$out/relish_fuzz" "$out/corpus" \
  -max_total_time=$((minutes * 60)) -max_len=512 -timeout=20 -rss_limit_mb=2048 \
  -print_final_stats=1 -artifact_prefix="$out/crashes/" "${keep_going[@]}" "$@"

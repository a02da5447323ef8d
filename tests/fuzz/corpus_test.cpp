// Replays the op-replay fuzzer's fixed corpus (tests/fuzz/corpus/) and a fixed set of
// pseudo-random inputs through tests/fuzz/op_replay.hpp, with the ops that hit known engine
// bugs gated off (relish_fuzz::kCiOps). A mismatch with the oracle fails with the op sequence.
// scripts/fuzz.sh runs the same interpreter under libFuzzer; a crash it finds becomes a
// regression test by copying the input into tests/fuzz/corpus/ (once it passes) or
// tests/fuzz/crashes-known/ (while the bug is open).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "op_replay.hpp"

#ifndef RELISH_FUZZ_CORPUS
#error "tests/CMakeLists.txt defines RELISH_FUZZ_CORPUS (the corpus directory)"
#endif
#ifndef RELISH_FUZZ_CRASHES_KNOWN
#error "tests/CMakeLists.txt defines RELISH_FUZZ_CRASHES_KNOWN"
#endif

namespace {

std::vector<std::uint8_t> read_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The files of a directory, sorted (a stable order makes failures reproducible by name).
std::vector<std::filesystem::path> files_in(const char* dir) {
  std::vector<std::filesystem::path> out;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.is_regular_file() && e.path().filename().string().front() != '.' &&
        e.path().extension() != ".md")
      out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

// An empty string when the input passes, else the fuzzer's report.
std::string replay_report(const std::vector<std::uint8_t>& bytes, std::uint32_t ops) {
  relish_fuzz::Config cfg;
  cfg.ops = ops;
  try {
    relish_fuzz::replay(bytes.data(), bytes.size(), cfg);
  } catch (const relish_fuzz::Failure& f) {
    return f.what();
  }
  return {};
}

}  // namespace

TEST_CASE("fuzz corpus replays without a mismatch", "[fuzz]") {
  const auto files = files_in(RELISH_FUZZ_CORPUS);
  REQUIRE(files.size() >= 20);
  for (const auto& f : files) {
    INFO("corpus file " << f.filename().string());
    CHECK(replay_report(read_bytes(f), relish_fuzz::kCiOps) == "");
  }
}

TEST_CASE("fuzz: fixed pseudo-random inputs replay without a mismatch", "[fuzz]") {
  std::mt19937_64 rng(20240601);  // fixed: the same 300 inputs on every run
  for (int i = 0; i < 300; ++i) {
    std::vector<std::uint8_t> bytes(rng() % 160);
    for (auto& b : bytes) b = static_cast<std::uint8_t>(rng());
    INFO("pseudo-random input " << i);
    CHECK(replay_report(bytes, relish_fuzz::kCiOps) == "");
  }
}

// The minimized inputs of known, still open engine bugs, with every op on. Allowed to fail
// ([!mayfail]); once one passes, its bug is fixed: move the file to tests/fuzz/corpus/ and
// take its op class out of relish_fuzz::kGatedOps if nothing else needs the gate.
TEST_CASE("fuzz: known crashes (open engine bugs)", "[fuzz][!mayfail]") {
  for (const auto& f : files_in(RELISH_FUZZ_CRASHES_KNOWN)) {
    INFO("crashes-known file " << f.filename().string());
    CHECK(replay_report(read_bytes(f), relish_fuzz::kAllOps) == "");
  }
}

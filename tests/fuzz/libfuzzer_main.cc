// libFuzzer entry point for the op-replay fuzzer (tests/fuzz/op_replay.hpp); built and run by
// scripts/fuzz.sh. Named .cc so the test build's glob of tests/**/*.cpp leaves it out.
//
// RELISH_FUZZ_OPS=<mask> (decimal or 0x...) restricts the op classes, e.g. to the CI mask
// (relish_fuzz::kCiOps) to look for failures beyond the known ones.
#include <cstdint>
#include <cstdlib>

#include "op_replay.hpp"

namespace {
relish_fuzz::Config config_from_env() {
  relish_fuzz::Config cfg;
  cfg.abort_on_failure = true;
  if (const char* ops = std::getenv("RELISH_FUZZ_OPS"))
    cfg.ops = static_cast<std::uint32_t>(std::strtoul(ops, nullptr, 0));
  return cfg;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const relish_fuzz::Config cfg = config_from_env();
  return relish_fuzz::replay(data, size, cfg);
}

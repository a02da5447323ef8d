// How long the randomized differential tests run. CI runs the defaults; a longer run is one
// environment variable away:
//
//   RELISH_DIFFERENTIAL_STEPS=1000000 ./build/release/tests/relish_tests "[differential]"
//
// The total is split evenly over each test's seeds.
#pragma once

#include <cstdlib>
#include <string>

namespace relish_test {

// Steps per seed: RELISH_DIFFERENTIAL_STEPS / seeds if set, else `default_per_seed`.
inline int steps_per_seed(int default_per_seed, int seeds) {
  if (const char* s = std::getenv("RELISH_DIFFERENTIAL_STEPS")) {
    const long total = std::strtol(s, nullptr, 10);
    if (total > 0) return static_cast<int>((total + seeds - 1) / seeds);
  }
  return default_per_seed;
}

}  // namespace relish_test

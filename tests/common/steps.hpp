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

// Steps per seed: RELISH_DIFFERENTIAL_STEPS / seeds if set, else `default_per_seed`, a
// quarter of it in sanitizer builds (ten times slower per step; the Release stage runs the
// full count, the sanitizers look for memory errors, which short runs already reach).
inline int steps_per_seed(int default_per_seed, int seeds) {
  if (const char* s = std::getenv("RELISH_DIFFERENTIAL_STEPS")) {
    const long total = std::strtol(s, nullptr, 10);
    if (total > 0) return static_cast<int>((total + seeds - 1) / seeds);
  }
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  return default_per_seed / 4 > 0 ? default_per_seed / 4 : 1;
#else
  return default_per_seed;
#endif
}

}  // namespace relish_test

// relish/durability.hpp: how often an input is expected to change.
//
// A memo remembers the lowest durability among everything it read. After a write of durability
// D, a memo whose own durability is higher than D, and which was verified after the last write
// of its durability, is known unchanged in O(1): its dependencies are not walked at all.
// Typical use: `low` for files open in the editor, `high` for the standard library.
#pragma once

#include <cstdint>

namespace relish {

enum class Durability : std::uint8_t { low = 0, medium = 1, high = 2 };

inline constexpr const char* to_string(Durability d) noexcept {
  switch (d) {
    case Durability::low: return "low";
    case Durability::medium: return "medium";
    case Durability::high: return "high";
  }
  return "?";
}

}  // namespace relish

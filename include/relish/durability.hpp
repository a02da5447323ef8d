// relish/durability.hpp: how often an input is expected to change.
//
// A memo remembers the lowest durability among everything it read. After a write of durability
// D, a memo whose own durability is higher than D, and which was verified after the last write
// of its durability, is known unchanged in O(1): its dependencies are not walked at all.
// Typical use: `low` for files open in the editor, `high` for the standard library.
//
// `never_change` (Salsa's NEVER_CHANGE): the value is final. Setting such a field is an
// ImmutableInputError; a memo that read only never-change inputs (or nothing) is never
// verified again, not even by the O(1) checks (no event); a memo that read them and others
// verifies only the others.
#pragma once

#include <cstdint>

namespace relish {

enum class Durability : std::uint8_t { low = 0, medium = 1, high = 2, never_change = 3 };

inline constexpr const char* to_string(Durability d) noexcept {
  switch (d) {
    case Durability::low: return "low";
    case Durability::medium: return "medium";
    case Durability::high: return "high";
    case Durability::never_change: return "never_change";
  }
  return "?";
}

}  // namespace relish

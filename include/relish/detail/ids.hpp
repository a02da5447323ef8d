// Identifiers that are plain data: revisions, keys of the dependency graph, entity handles.
// None of them holds a pointer, so memos and dependency lists can later be persisted.
#pragma once

#include <compare>
#include <concepts>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>
#include <vector>

namespace relish {

// A revision counts writes to the database. Revision 1 is the first one. 64 bits: at a few
// million writes a second it would take 100,000 years to wrap.
using Revision = std::uint64_t;

// One node of the dependency graph: an ingredient (a query, one field of an input or tracked
// struct...) and a key within it. Eight bytes: this is what a dependency edge costs.
struct DatabaseKey {
  std::uint32_t ingredient = 0;
  std::uint32_t key = 0;
  friend constexpr bool operator==(DatabaseKey, DatabaseKey) = default;
  template <class H>
  friend H AbslHashValue(H h, DatabaseKey k) {
    return H::combine(std::move(h), k.ingredient, k.key);
  }
};

namespace detail {

// Two lists of keys are equal: one memcmp (vectorized), where std::equal compares field by
// field. A key has no padding, so equal bytes are equal keys.
static_assert(std::has_unique_object_representations_v<DatabaseKey>);
inline bool same_keys(const std::vector<DatabaseKey>& a, const std::vector<DatabaseKey>& b) noexcept {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(DatabaseKey)) == 0);
}

// A handle is an index plus a stamp. The stamp packs the owning database's tag (low 12 bits)
// and the slot's generation (high 20 bits): one compare catches a handle from another
// database, a stale handle to a reused slot, and a default-constructed handle (stamp 0).
inline constexpr std::uint32_t kTagBits = 12;
inline constexpr std::uint32_t kTagMask = (1u << kTagBits) - 1;
// The last generation a slot may take: a slot that reaches it is retired, never reused, so a
// stamp never comes back.
inline constexpr std::uint32_t kMaxGeneration = (1u << (32 - kTagBits)) - 1;

constexpr std::uint32_t make_stamp(std::uint32_t db_tag, std::uint32_t generation) noexcept {
  return (generation << kTagBits) | (db_tag & kTagMask);
}
constexpr std::uint32_t stamp_tag(std::uint32_t stamp) noexcept { return stamp & kTagMask; }
constexpr std::uint32_t stamp_generation(std::uint32_t stamp) noexcept {
  return stamp >> kTagBits;
}

// Common representation of Input<T>, Interned<T> and Tracked<T> handles (CRTP, so that
// handles of different types do not compare equal to each other).
template <class Self>
class HandleBase {
 public:
  constexpr HandleBase() = default;
  constexpr std::uint32_t index() const noexcept { return index_; }
  constexpr std::uint32_t stamp() const noexcept { return stamp_; }
  constexpr bool is_null() const noexcept { return stamp_ == 0; }
  // Builds a handle from raw parts: for ingredients and persistence, not for everyday use.
  static constexpr Self from_raw(std::uint32_t index, std::uint32_t stamp) noexcept {
    Self s;
    s.index_ = index;
    s.stamp_ = stamp;
    return s;
  }

  friend constexpr bool operator==(const Self& a, const Self& b) noexcept {
    return a.index() == b.index() && a.stamp() == b.stamp();
  }
  friend constexpr std::strong_ordering operator<=>(const Self& a, const Self& b) noexcept {
    if (auto c = a.index() <=> b.index(); c != 0) return c;
    return a.stamp() <=> b.stamp();
  }
  template <class H>
  friend H AbslHashValue(H h, const Self& x) {
    return H::combine(std::move(h), x.index(), x.stamp());
  }

 private:
  std::uint32_t index_ = 0;
  std::uint32_t stamp_ = 0;
};

template <class T>
concept IsHandle = requires(const T& t) {
  { t.index() } -> std::same_as<std::uint32_t>;
  { t.stamp() } -> std::same_as<std::uint32_t>;
  typename T::relish_handle_tag;
};

}  // namespace detail
}  // namespace relish

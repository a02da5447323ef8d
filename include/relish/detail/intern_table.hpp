// A value -> dense id table. Values live in a StableVector (ids index it, references stay
// valid); a hash set of ids finds a value by content. Erased ids are reused by later inserts. Lookups take a "probe" that hashes and
// compares like the stored value without being one (a tuple of references for query keys),
// so re-interning an existing value copies nothing.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>
#include <tuple>
#include <type_traits>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "relish/detail/stable_vector.hpp"
#include "relish/detail/value.hpp"
#include "relish/heap_size.hpp"

namespace relish::detail {

// Compares a probe with a stored value: the same type, or a tuple of references to a tuple.
template <class P, class T>
bool probe_equal(const P& p, const T& stored) {
  if constexpr (std::is_same_v<P, T>) {
    return values_equal(p, stored);
  } else {
    return std::apply(
        [&](const auto&... x) {
          return std::apply([&](const auto&... y) { return (values_equal(x, y) && ...); },
                            stored);
        },
        p);
  }
}

template <class T>
class InternTable {
  template <class P>
  struct Probe {
    const P& value;
  };

  struct Hash {
    using is_transparent = void;
    const StableVector<std::optional<T>>* values;
    std::size_t operator()(std::uint32_t id) const { return ValueHash{}(*(*values)[id]); }
    template <class P>
    std::size_t operator()(const Probe<P>& p) const {
      return ValueHash{}(p.value);
    }
  };
  struct Eq {
    using is_transparent = void;
    const StableVector<std::optional<T>>* values;
    bool operator()(std::uint32_t a, std::uint32_t b) const { return a == b; }
    template <class P>
    bool operator()(const Probe<P>& p, std::uint32_t id) const {
      return probe_equal(p.value, *(*values)[id]);
    }
    template <class P>
    bool operator()(std::uint32_t id, const Probe<P>& p) const {
      return probe_equal(p.value, *(*values)[id]);
    }
  };

 public:
  InternTable() : index_(0, Hash{&values_}, Eq{&values_}) {}
  InternTable(const InternTable&) = delete;
  InternTable& operator=(const InternTable&) = delete;

  // The id of a value equal to `probe`, if any.
  template <class P>
  const std::uint32_t* find(const P& probe) const {
    auto it = index_.find(Probe<P>{probe});
    return it == index_.end() ? nullptr : &*it;
  }

  // The id of `probe`'s value, storing `make()` (which must equal probe) if it is new.
  // The bool is true when the value was inserted.
  template <class P, class Make>
  std::pair<std::uint32_t, bool> intern(const P& probe, Make&& make) {
    if (const std::uint32_t* id = find(probe)) return {*id, false};
    return {insert(make()), true};
  }

  // Stores a value known not to be present yet; returns its id.
  std::uint32_t insert(T&& value) {
    std::uint32_t id;
    if (!free_.empty()) {
      id = free_.back();
      free_.pop_back();
      values_[id].emplace(std::move(value));
    } else {
      id = values_.emplace_back(std::in_place, std::move(value));
    }
    index_.insert(id);
    return id;
  }

  // Destroys the value at `id`; the id is reused by a later insert.
  void erase(std::uint32_t id) {
    index_.erase(id);
    values_[id].reset();
    free_.push_back(id);
  }

  const T& operator[](std::uint32_t id) const noexcept { return *values_[id]; }
  // The value at `id`, or nullptr if there is none (never inserted, or erased).
  const T* get(std::uint32_t id) const noexcept {
    const std::optional<T>* v = values_.get(id);
    return v && *v ? &**v : nullptr;
  }
  std::uint32_t size() const noexcept { return values_.size(); }

  // Index and storage overhead as metadata; stored values as value bytes.
  template <class Out>
  void memory(Out& out) const {
    out.metadata_bytes += index_.capacity() * (sizeof(std::uint32_t) + 1) +
                          free_.capacity() * sizeof(std::uint32_t) +
                          values_.allocated_bytes() - values_.size() * sizeof(T);
    for (std::uint32_t i = 0; i < values_.size(); ++i) {
      if (!values_[i]) continue;
      out.value_stack_bytes += sizeof(T);
      out.value_heap_bytes += relish::heap_size(*values_[i]);
    }
  }
  std::size_t live() const noexcept { return index_.size(); }

 private:
  StableVector<std::optional<T>> values_;
  std::vector<std::uint32_t> free_;
  absl::flat_hash_set<std::uint32_t, Hash, Eq> index_;
};

}  // namespace relish::detail

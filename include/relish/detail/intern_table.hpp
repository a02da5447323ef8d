// A value -> dense id table. Values live in a StableVector (ids index it, references stay
// valid); a hash set of ids finds a value by content. Erased ids are reused by later inserts. Lookups take a "probe" that hashes and
// compares like the stored value without being one (a tuple of references for query keys),
// so re-interning an existing value copies nothing.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>
#include <tuple>
#include <type_traits>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "relish/detail/stable_vector.hpp"
#include "relish/detail/sync.hpp"
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

// Thread-safe: the index is split into shards, each behind a spin lock held for one probe
// (and the insert, when the value is new), so re-interning an existing value takes no global
// lock. Values are immutable once inserted; erase happens only between revisions.
template <class T>
class InternTable {
  static constexpr std::size_t kShards = 16;

  template <class P>
  struct Probe {
    const P& value;
    std::size_t hash;
  };

  struct Hash {
    using is_transparent = void;
    const StableVector<std::optional<T>>* values;
    std::size_t operator()(std::uint32_t id) const { return ValueHash{}(*(*values)[id]); }
    template <class P>
    std::size_t operator()(const Probe<P>& p) const {
      return p.hash;
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
  using Index = absl::flat_hash_set<std::uint32_t, Hash, Eq>;

  struct alignas(64) Shard {
    SpinLock lock;
    Index index;
    explicit Shard(const StableVector<std::optional<T>>* v) : index(0, Hash{v}, Eq{v}) {}
  };

 public:
  InternTable() {
    for (auto& s : shards_) s = std::make_unique<Shard>(&values_);
  }
  InternTable(const InternTable&) = delete;
  InternTable& operator=(const InternTable&) = delete;

  // The id of a value equal to `probe`, if any.
  template <class P>
  std::optional<std::uint32_t> find(const P& probe) const {
    const std::size_t h = ValueHash{}(probe);
    Shard& s = shard(h);
    std::lock_guard<SpinLock> lock(s.lock);
    auto it = s.index.find(Probe<P>{probe, h});
    if (it == s.index.end()) return std::nullopt;
    return *it;
  }

  // The id of `probe`'s value, storing `make()` (which must equal probe) if it is new; then
  // `on_insert(id)` runs before any other thread can find the id. The bool: inserted.
  template <class P, class Make, class OnInsert = void (*)(std::uint32_t)>
  std::pair<std::uint32_t, bool> intern(const P& probe, Make&& make,
                                        OnInsert&& on_insert = [](std::uint32_t) {}) {
    const std::size_t h = ValueHash{}(probe);
    Shard& s = shard(h);
    std::lock_guard<SpinLock> lock(s.lock);
    if (auto it = s.index.find(Probe<P>{probe, h}); it != s.index.end()) return {*it, false};
    const std::uint32_t id = allocate(make());
    on_insert(id);
    s.index.insert(id);
    return {id, true};
  }

  // Destroys the value at `id`; the id is reused by a later insert if `reuse`. Between
  // revisions only.
  void erase(std::uint32_t id, bool reuse = true) {
    Shard& s = shard(ValueHash{}(*values_[id]));
    {
      std::lock_guard<SpinLock> lock(s.lock);
      s.index.erase(id);
    }
    values_[id].reset();
    if (!reuse) return;
    std::lock_guard<SpinLock> lock(free_mu_);
    free_.push_back(id);
  }

  const T& operator[](std::uint32_t id) const noexcept { return *values_[id]; }
  // The value at `id`, or nullptr if there is none (never inserted, or erased).
  const T* get(std::uint32_t id) const noexcept {
    const std::optional<T>* v = values_.get(id);
    return v && *v ? &**v : nullptr;
  }
  std::uint32_t size() const noexcept { return values_.size(); }

  // Index and storage overhead as metadata; stored values as value bytes. Between revisions.
  template <class Out>
  void memory(Out& out) const {
    for (const auto& s : shards_)
      out.metadata_bytes += sizeof(Shard) + s->index.capacity() * (sizeof(std::uint32_t) + 1);
    out.reserved_bytes += values_.reserved_bytes();
    out.metadata_bytes += free_.capacity() * sizeof(std::uint32_t) + values_.used_bytes() -
                          values_.size() * sizeof(T);
    for (std::uint32_t i = 0; i < values_.size(); ++i) {
      if (!values_[i]) continue;
      out.value_stack_bytes += sizeof(T);
      out.value_heap_bytes += relish::heap_size(*values_[i]);
    }
  }

 private:
  Shard& shard(std::size_t hash) const noexcept {
    // The index uses the low bits (H2) and the high ones (H1): pick shards by the middle.
    return *shards_[(hash >> 40) % kShards];
  }

  std::uint32_t allocate(T&& value) {
    std::lock_guard<SpinLock> lock(free_mu_);  // every append of values_ is made under it
    if (!free_.empty()) {
      const std::uint32_t id = free_.back();
      free_.pop_back();
      values_[id].emplace(std::move(value));
      return id;
    }
    return values_.emplace_back_serialized(std::in_place, std::move(value));
  }

  StableVector<std::optional<T>> values_;
  std::array<std::unique_ptr<Shard>, kShards> shards_;
  SpinLock free_mu_;  // a pop or a push
  std::vector<std::uint32_t> free_;
};

}  // namespace relish::detail

// The reverse edges of the dependency graph: for a node (an input field, an interned value, a
// query's memo), the memos that may have read it. Writes walk them upward to mark what an
// edit may have affected (see Runtime::mark_from); nothing else reads them.
//
// Edges are added when the writer folds in what ran since the last write, never on the hot
// path. They may be stale (the memo re-ran and no longer reads the node): a stale edge only
// costs one needless verification. A node's list is compacted when it has doubled since its
// last compaction, so re-runs that read the same things do not grow it without bound.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "relish/detail/ids.hpp"

namespace relish::detail {

class ReverseIndex {
 public:
  // Records that `dependent` read `node`. `still_reads(dependent, node)` tells, when the list
  // is compacted, whether an old edge is still real.
  template <class StillReads>
  void add(DatabaseKey node, DatabaseKey dependent, StillReads&& still_reads) {
    Dependents& d = (*by_node_)[node];
    if (!d.memos.empty() && d.memos.back() == dependent) return;  // re-ran, read it again
    d.memos.push_back(dependent);
    ++edges_;
    if (d.memos.size() >= d.compact_at) compact(node, d, still_reads);
  }

  // Calls `f(dependent)` for every memo that may have read `node`.
  template <class F>
  void for_each_dependent(DatabaseKey node, F&& f) const {
    if (!by_node_) return;
    const auto it = by_node_->find(node);
    if (it == by_node_->end()) return;
    for (DatabaseKey d : it->second.memos) f(d);
  }

  // An allocation failed while adding: the map may be inconsistent (Abseil's tables update
  // their capacity before allocating the new one), so it is never touched again, not even
  // to free it. The engine verifies everything from then on (Runtime::index_lost_).
  void abandon() noexcept {
    // Kept reachable from a global (a leak checker sees it as in use), never freed.
    static std::atomic<void*> kept[8];
    void* map = by_node_.release();
    for (auto& slot : kept) {
      void* empty = nullptr;
      if (slot.compare_exchange_strong(empty, map)) break;
    }
    edges_ = 0;
  }

  // Room for `more` new nodes (folding a large cold run would otherwise rehash many times).
  void reserve_more(std::size_t more) { by_node_->reserve(by_node_->size() + more); }

  std::size_t edges() const noexcept { return edges_; }
  std::size_t heap_bytes() const noexcept {
    if (!by_node_) return 0;
    std::size_t bytes = by_node_->capacity() * (sizeof(DatabaseKey) + sizeof(Dependents) + 1);
    for (const auto& [node, d] : *by_node_)
      if (d.memos.size() > kInline) bytes += d.memos.capacity() * sizeof(DatabaseKey);
    return bytes;
  }

 private:
  static constexpr std::size_t kInline = 2;
  struct Dependents {
    absl::InlinedVector<DatabaseKey, kInline> memos;
    std::uint32_t compact_at = 8;
  };

  template <class StillReads>
  void compact(DatabaseKey node, Dependents& d, StillReads& still_reads) {
    auto& v = d.memos;
    const std::size_t before = v.size();
    std::sort(v.begin(), v.end(), [](DatabaseKey a, DatabaseKey b) {
      return a.ingredient != b.ingredient ? a.ingredient < b.ingredient : a.key < b.key;
    });
    v.erase(std::unique(v.begin(), v.end()), v.end());
    // Re-runs of the same readers doubled it: dropping the repeats was enough. Else look for
    // readers that stopped reading it (a walk of each one's dependencies).
    if (2 * v.size() > before)
      v.erase(std::remove_if(v.begin(), v.end(),
                             [&](DatabaseKey m) { return !still_reads(m, node); }),
              v.end());
    edges_ -= before - v.size();
    d.compact_at = static_cast<std::uint32_t>(std::max<std::size_t>(8, 2 * v.size()));
  }

  std::unique_ptr<absl::flat_hash_map<DatabaseKey, Dependents>> by_node_ =
      std::make_unique<absl::flat_hash_map<DatabaseKey, Dependents>>();
  std::size_t edges_ = 0;
};

}  // namespace relish::detail

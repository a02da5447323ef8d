// The reverse edges of the dependency graph: for a node (an input field, an interned value, a
// query's memo), the memos that may have read it. Writes walk them upward to mark what an
// edit may have affected (see Runtime::mark_from); nothing else reads them.
//
// Edges are added when the writer folds in what ran since the last write, never on the hot
// path. They may be stale (the memo re-ran and no longer reads the node): a stale edge only
// costs one needless verification. A node's list is compacted when it has doubled since its
// last compaction, so re-runs that read the same things do not grow it without bound.
//
// Layout. Keys are small dense integers per ingredient, so a node's entry is found by index,
// not by hashing: per ingredient index, pages of 1,024 entries, allocated when first written.
// An entry is 12 bytes and holds its first reader inline (most nodes have one: a file's text
// is read by its parser, a memo by its caller); a second reader moves the list to a vector.
// Folding the first write after a cold run of a million memos writes entries in about the
// order the keys were allocated, where a hash table took a cache miss per edge.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <vector>

#include "relish/detail/ids.hpp"

namespace relish::detail {

class ReverseIndex {
 public:
  // Records that `dependent` read `node`. `still_reads(dependent, node)` tells, when the list
  // is compacted, whether an old edge is still real. Strong guarantee: if an allocation
  // throws, the index is as it was.
  template <class StillReads>
  void add(DatabaseKey node, DatabaseKey dependent, StillReads&& still_reads) {
    Entry& e = entry(node);
    if (e.more == 0) {
      if (e.reader_plus1 == 0) {
        e = Entry{dependent.ingredient + 1, dependent.key, 0};
        ++edges_;
        return;
      }
      const DatabaseKey first{e.reader_plus1 - 1, e.reader_key};
      if (first == dependent) return;  // re-ran, read it again
      overflow_.emplace_back();
      Readers& r = overflow_.back();
      try {
        r.memos = {first, dependent};
      } catch (...) {
        overflow_.pop_back();
        throw;
      }
      e.more = static_cast<std::uint32_t>(overflow_.size());
      ++edges_;
      return;
    }
    Readers& r = overflow_[e.more - 1];
    if (!r.memos.empty() && r.memos.back() == dependent) return;  // re-ran, read it again
    r.memos.push_back(dependent);
    ++edges_;
    if (r.memos.size() >= r.compact_at) compact(node, r, still_reads);
  }

  // Calls `f(dependent)` for every memo that may have read `node`.
  template <class F>
  void for_each_dependent(DatabaseKey node, F&& f) const {
    const Entry* e = find(node);
    if (!e) return;
    if (e->more != 0) {
      for (DatabaseKey d : overflow_[e->more - 1].memos) f(d);
    } else if (e->reader_plus1 != 0) {
      f(DatabaseKey{e->reader_plus1 - 1, e->reader_key});
    }
  }

  // An allocation failed while folding: the engine verifies everything from then on
  // (Runtime::index_lost_) and never reads the index again, so its memory goes now.
  void abandon() noexcept {
    std::vector<std::vector<std::unique_ptr<Entry[]>>>().swap(pages_);
    std::vector<Readers>().swap(overflow_);
    edges_ = 0;
  }

  std::size_t edges() const noexcept { return edges_; }
  std::size_t heap_bytes() const noexcept {
    std::size_t bytes = pages_.capacity() * sizeof(pages_[0]);
    for (const auto& per_ingredient : pages_) {
      bytes += per_ingredient.capacity() * sizeof(per_ingredient[0]);
      for (const auto& page : per_ingredient)
        if (page) bytes += kPage * sizeof(Entry);
    }
    bytes += overflow_.capacity() * sizeof(Readers);
    for (const Readers& r : overflow_) bytes += r.memos.capacity() * sizeof(DatabaseKey);
    return bytes;
  }

 private:
  static constexpr std::uint32_t kPageBits = 10;
  static constexpr std::uint32_t kPage = 1u << kPageBits;

  // One node's readers: none (reader_plus1 == 0), one inline, or all in overflow_[more - 1].
  // Trivial (no member initializers), so that a new page is zeroed by one memset rather than
  // a loop over its 1,024 entries.
  struct Entry {
    std::uint32_t reader_plus1;  // the reader's ingredient index + 1
    std::uint32_t reader_key;
    std::uint32_t more;
  };
  static_assert(std::is_trivial_v<Entry>);
  struct Readers {
    std::vector<DatabaseKey> memos;
    std::uint32_t compact_at = 8;
  };

  const Entry* find(DatabaseKey node) const noexcept {
    if (node.ingredient >= pages_.size()) return nullptr;
    const auto& per_ingredient = pages_[node.ingredient];
    const std::uint32_t p = node.key >> kPageBits;
    if (p >= per_ingredient.size() || !per_ingredient[p]) return nullptr;
    return &per_ingredient[p][node.key & (kPage - 1)];
  }

  // The entry of `node`, allocating its page (and growing the tables) if needed.
  Entry& entry(DatabaseKey node) {
    if (node.ingredient >= pages_.size()) pages_.resize(node.ingredient + 1);
    auto& per_ingredient = pages_[node.ingredient];
    const std::uint32_t p = node.key >> kPageBits;
    if (p >= per_ingredient.size())
      per_ingredient.resize(std::max<std::size_t>(p + 1, 2 * per_ingredient.size()));
    auto& page = per_ingredient[p];
    if (!page) page = std::make_unique<Entry[]>(kPage);  // zeroed: no readers
    return page[node.key & (kPage - 1)];
  }

  template <class StillReads>
  void compact(DatabaseKey node, Readers& r, StillReads& still_reads) {
    auto& v = r.memos;
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
    r.compact_at = static_cast<std::uint32_t>(std::max<std::size_t>(8, 2 * v.size()));
  }

  std::vector<std::vector<std::unique_ptr<Entry[]>>> pages_;
  std::vector<Readers> overflow_;
  std::size_t edges_ = 0;
};

}  // namespace relish::detail

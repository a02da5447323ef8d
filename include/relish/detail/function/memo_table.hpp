// A query's memos by key id (keys.hpp). Plain-value keys are interned ids, dense from 0: the
// memo of id i is slot i. A query keyed on an entity handle has the entity's index as id, and
// such queries are often asked about a few of many entities (pyscope's infer_definition_type:
// 81.6k memos among 1.12M entity indices, 1.12M slots of ~90 bytes). Its memos are dense
// slots found through a table of pointers instead (8 bytes an entity): a fetch pays one more
// load.
//
// Readers need no lock: a memo, once made, stays at its address, and its slot index is
// published with a release store. Memos are made under a lock (one probe, a few stores).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>

#include "relish/detail/stable_vector.hpp"
#include "relish/detail/sync.hpp"

namespace relish::detail {

template <class Memo, bool kSparse>
class MemoTable;

template <class Memo>
class MemoTable<Memo, false> {
 public:
  Memo* get(std::uint32_t id) noexcept { return memos_.get(id); }
  const Memo* get(std::uint32_t id) const noexcept { return memos_.get(id); }
  // The memo of `id`, made (empty: no memo yet) if there was none.
  Memo& ensure(std::uint32_t id) {
    memos_.ensure_size(id + 1);
    return memos_[id];
  }
  // f(id, memo) for every memo made. Between revisions only.
  template <class F>
  void for_each(F&& f) const {
    for (std::uint32_t i = 0; i < memos_.size(); ++i) f(i, memos_[i]);
  }
  std::uint32_t slots() const noexcept { return memos_.size(); }
  std::size_t used_bytes() const noexcept { return memos_.used_bytes(); }
  std::size_t reserved_bytes() const noexcept { return memos_.reserved_bytes(); }

 private:
  StableVector<Memo> memos_;
};

template <class Memo>
class MemoTable<Memo, true> {
 public:
  Memo* get(std::uint32_t id) noexcept {
    const std::atomic<Memo*>* p = by_id_.get(id);
    return p ? p->load(std::memory_order_acquire) : nullptr;
  }
  const Memo* get(std::uint32_t id) const noexcept {
    return const_cast<MemoTable*>(this)->get(id);
  }
  Memo& ensure(std::uint32_t id) {
    if (Memo* m = get(id)) [[likely]]
      return *m;
    return make(id);
  }
  template <class F>
  void for_each(F&& f) const {
    for (std::uint32_t i = 0; i < entries_.size(); ++i) f(entries_[i].id, entries_[i].memo);
  }
  std::uint32_t slots() const noexcept { return entries_.size(); }
  std::size_t used_bytes() const noexcept {
    return entries_.used_bytes() + by_id_.used_bytes();
  }
  std::size_t reserved_bytes() const noexcept {
    return entries_.reserved_bytes() + by_id_.reserved_bytes();
  }

 private:
  struct Entry {
    explicit Entry(std::uint32_t i) : id(i) {}
    Memo memo;
    std::uint32_t id;
  };

  [[gnu::noinline]] Memo& make(std::uint32_t id) {
    std::lock_guard<SpinLock> lock(grow_);
    if (const std::uint32_t have = by_id_.size(); id >= have) {
      // Grown ahead (null pointers, 8 bytes each): a cold pass makes memos of ids in order.
      const std::uint64_t ahead = std::uint64_t{have} + std::min<std::uint32_t>(have, 4096);
      by_id_.ensure_size(static_cast<std::uint32_t>(
          std::max<std::uint64_t>(id + 1, std::min<std::uint64_t>(ahead, 0xFFFF0000u))));
    }
    std::atomic<Memo*>& p = by_id_[id];
    if (Memo* m = p.load(std::memory_order_relaxed)) return *m;
    Memo& m = entries_[entries_.emplace_back_serialized(id)].memo;  // appended under grow_ only
    p.store(&m, std::memory_order_release);
    return m;
  }

  StableVector<Entry> entries_;              // in the order they were made
  StableVector<std::atomic<Memo*>> by_id_;   // by id: its memo, or nullptr
  SpinLock grow_;
};

}  // namespace relish::detail

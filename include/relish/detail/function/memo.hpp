// Memo storage: what a query keeps for one key between revisions (its value, dependencies,
// revisions, owner word, and the rarely needed extras: created entities, accumulated values,
// fixpoint state), and the guard that owns a memo while a thread brings it up to date.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include "relish/detail/ids.hpp"
#include "relish/detail/runtime.hpp"
#include "relish/detail/sync.hpp"
#include "relish/durability.hpp"

namespace relish::detail {

// Dependencies: up to two edges are stored inline (most queries read one or two things, and
// allocate nothing for them); more go on the heap. 16 bytes either way: the second slot's
// ingredient tells the cases apart (kEmpty: fewer than two edges; kHeap: the first slot's
// bytes hold the array's pointer and the second slot's key its length). No ingredient has
// those indices.
class DepList {
 public:
  DepList() noexcept = default;
  DepList(const DepList&) = delete;
  DepList& operator=(const DepList&) = delete;
  ~DepList() { clear(); }
  std::uint32_t size() const noexcept {
    if (slot_[1].ingredient < kHeap) return 2;
    if (slot_[1].ingredient == kHeap) return slot_[1].key;
    return slot_[0].ingredient == kEmpty ? 0 : 1;
  }
  const DatabaseKey* data() const noexcept {
    return slot_[1].ingredient == kHeap ? heap() : slot_;
  }
  void assign(const std::vector<DatabaseKey>& deps) {
    const auto n = static_cast<std::uint32_t>(deps.size());
    if (n <= 2) {
      clear();
      if (n > 0) slot_[0] = deps[0];
      if (n > 1) slot_[1] = deps[1];
      return;
    }
    DatabaseKey* p = slot_[1].ingredient == kHeap && slot_[1].key == n ? heap() : nullptr;
    if (!p) {
      p = new DatabaseKey[n];
      clear();
      std::memcpy(static_cast<void*>(&slot_[0]), &p, sizeof p);
      slot_[1] = DatabaseKey{kHeap, n};
    }
    std::copy(deps.begin(), deps.end(), p);
  }
  void clear() noexcept {
    if (slot_[1].ingredient == kHeap) delete[] heap();
    slot_[0] = slot_[1] = DatabaseKey{kEmpty, 0};
  }
  std::size_t heap_bytes() const noexcept {
    return slot_[1].ingredient == kHeap ? slot_[1].key * sizeof(DatabaseKey) : 0;
  }

 private:
  static constexpr std::uint32_t kEmpty = UINT32_MAX, kHeap = UINT32_MAX - 1;
  static_assert(sizeof(DatabaseKey*) <= sizeof(DatabaseKey));
  DatabaseKey* heap() const noexcept {
    DatabaseKey* p;
    std::memcpy(&p, &slot_[0], sizeof p);
    return p;
  }

  DatabaseKey slot_[2] = {{kEmpty, 0}, {kEmpty, 0}};
};

// Rarely needed per-memo data, allocated on demand.
template <class Value>
struct MemoExtra {
  std::vector<DatabaseKey> created;  // tracked structs its last execution created
  std::size_t value_bytes = 0;       // estimated size, kept when a byte budget is set
  std::vector<Accumulated> accumulated;  // pushed by its last execution, in order
  // The last revision in which what accumulated() collects below it may have changed (the
  // node "accumulated values of this memo", sub-ingredient 1, that a query calling
  // accumulated() depends on). 0 for memos that never had values below them.
  Revision accumulated_changed_at = 0;
  // Positions in `deps` of the memos with accumulated values below them when it read them
  // (Frame::accumulating), if `accumulating_indexed`: accumulated() skips the others. A memo
  // that gains values below it is not backdated, so its readers re-run and index it.
  std::vector<std::uint32_t> accumulating;
  bool accumulating_indexed = false;
  // Fixpoint iteration, within one revision. A memo with `heads` is provisional: its value
  // is `provisional`, valid only in those rounds of those cycles; `value` keeps the last
  // final value (for backdating). A head being executed counts its rounds in `iteration`.
  std::optional<Value> provisional;
  std::vector<CycleHead> heads;
  // A head's provisional value from its last round depends on the other heads that round
  // read: whoever reads the value depends on them too.
  std::vector<CycleHead> head_inputs;
  // What the earlier rounds of a memo re-run in a later round read: the iteration's outcome
  // depends on them, so its next (final) memo keeps them as dependencies.
  std::vector<DatabaseKey> carried;
  std::vector<DatabaseKey> carried_created;
  Durability carried_durability = Durability::never_change;
  Durability provisional_durability = Durability::never_change;
  bool provisional_accumulates = false;
  std::uint32_t iteration = 0;
  // The round's id, unique in the process: a value provisional on a round of an attempt
  // that was abandoned (an error, a cancellation) never passes for one of a later attempt.
  std::uint32_t round = 0;
  bool head_executing = false;
  // The head's iteration (cycle_attempt): an id per run of rounds, from round 0.
  std::uint32_t attempt = 0;
  // An inner head iterated as part of an outer head's component (execute_fixpoint): its last
  // value, where its next pass starts while that outer iteration (`outer`, `outer_attempt`)
  // goes on.
  std::optional<Value> resume;
  DatabaseKey outer;
  std::int64_t outer_attempt = -1;
  bool computing_start = false;  // Initial / Fallback running
  // Round 0 started while it was still being verified (see reentered_in_execution), with
  // l.provisional's size then.
  bool early_start = false;
  std::size_t early_mark = 0;
};

template <class Value>
struct Memo {
  std::optional<Value> value;
  DepList deps;                        // 16 bytes
  std::unique_ptr<MemoExtra<Value>> extra;
  std::atomic<Revision> verified_at{0};  // 0: no memo
  std::atomic<Revision> last_used{0};    // LRU recency, when eviction is on
  Revision changed_at = 0;
  std::uint32_t key_stamp = 0;
  OwnerWord owner;  // thread computing or verifying it (Local::id)
  Durability durability = Durability::never_change;
  // Marked by a write as possibly affected (Runtime::invalidate): verified deeply before use.
  // Unmarked, a memo from an earlier revision is accepted in O(1). Written by the write (with
  // every reader out) and by the memo's owner; read without claiming (accept_unclaimed).
  std::atomic<bool> dirty{false};
  // It read an interned value under garbage collection: accepting it is a use of that value
  // (set by the write that folds its dependencies in; see Runtime::note_used).
  bool notes_use = false;
  // Mirrors "extra->heads is not empty", readable before claiming the memo.
  std::atomic<bool> provisional{false};
  // Mirrors "value holds one", readable before claiming the memo (see store_value).
  std::atomic<bool> filled{false};
  // Its last execution, or one below it, pushed accumulated values: accumulated() skips the
  // memos without (salsa: accumulated_inputs). May stay true after they stop; never false
  // while there are some (see finish()).
  bool accumulates = false;
  // Its value was set by Query::specify, by the query that created its key: it is current
  // when that query is (specify.hpp). Written and read by the memo's owner.
  bool assigned = false;

  std::size_t value_bytes() const noexcept { return extra ? extra->value_bytes : 0; }
  std::vector<DatabaseKey>* created() const noexcept {
    return extra && !extra->created.empty() ? &extra->created : nullptr;
  }
  MemoExtra<Value>& ensure_extra() {
    if (!extra) extra = std::make_unique<MemoExtra<Value>>();
    return *extra;
  }

  // Back to "no memo"; the owner word is left to the OwnerGuard.
  void reset() noexcept {
    filled.store(false, std::memory_order_relaxed);
    value.reset();
    deps.clear();
    extra.reset();
    provisional.store(false, std::memory_order_relaxed);
    verified_at.store(0, std::memory_order_relaxed);
    changed_at = 0;
    key_stamp = 0;
    durability = Durability::never_change;
    notes_use = false;
    accumulates = false;
    assigned = false;
  }
};

// Owns a memo for this thread (claimed) and marks it active for cycle reports.
template <class Value>
class OwnerGuard {
 public:
  OwnerGuard(Local& l, Memo<Value>& m, DatabaseKey key) : l_(&l), m_(&m) {
    Runtime::append(l.active, key);
  }
  OwnerGuard(const OwnerGuard&) = delete;
  OwnerGuard& operator=(const OwnerGuard&) = delete;
  ~OwnerGuard() {
    l_->active.pop_back();
    if (m_->extra) [[unlikely]] {  // a round 0 started early ends with the claim
      m_->extra->head_executing = false;
      m_->extra->early_start = false;
    }
    m_->owner.release();
  }

 private:
  Local* l_;
  Memo<Value>* m_;
};

}  // namespace relish::detail

// The engine's shared state: the revision counter, the durability table, the registry of
// ingredients, per-thread stacks of active queries, and the reader/writer protocol.
//
// Threads. Any number of threads run queries on one database at once. Each thread has its own
// `Local` (the frames of the queries it is running). A write (setting an input) raises
// `pending_`; readers notice it at their next dependency read and unwind with Cancelled; the
// writer waits until no thread is inside the database, then bumps the revision. Entering the
// database costs a reader a relaxed store and a compiler barrier (see AsymmetricFence).
// A memo being computed is owned by one thread; others asking for it block on it, and a
// wait-for graph never lets a cycle of threads deadlock: one thread of it, chosen by the
// memos they wait for (make_way), gives way (YieldToCycle), so the cycle runs on one thread,
// as a fixpoint or as a CycleError.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "relish/detail/ids.hpp"
#include "relish/detail/reverse_index.hpp"
#include "relish/detail/stable_vector.hpp"
#include "relish/detail/sync.hpp"
#include "relish/durability.hpp"
#include "relish/error.hpp"
#include "relish/event.hpp"

namespace relish {
class Database;

// Memory used by one ingredient (see memory_report.hpp).
struct IngredientMemory {
  std::string name;
  std::string kind;                   // "query", "input", "interned", "tracked"
  std::size_t entries = 0;            // memos, records or entities
  std::size_t values = 0;             // entries currently holding a value
  std::size_t metadata_bytes = 0;     // slots, revisions, dependency lists, hash indexes
  std::size_t value_stack_bytes = 0;  // sizeof of the values held
  std::size_t value_heap_bytes = 0;   // heap_size of the values held
  // Allocated for growth and not yet written (the tail of a table that doubles): address
  // space, not resident memory; not in total_bytes().
  std::size_t reserved_bytes = 0;
  std::size_t value_bytes() const noexcept { return value_stack_bytes + value_heap_bytes; }
  std::size_t total_bytes() const noexcept { return metadata_bytes + value_bytes(); }
};

// What one node of the dependency graph records (Database::node_info): a memo's revisions
// and durability, an input field's. For tools (write_dot in dot.hpp); between revisions only.
struct NodeInfo {
  enum class Kind : std::uint8_t {
    none,   // nothing there: no memo yet, a failed or dropped one, an unknown key
    memo,   // a query's memo
    input,  // an input field
    other,  // an interned value, a tracked struct's field...
  };
  Kind kind = Kind::none;
  Revision verified_at = 0;  // memos: the revision it was last verified (or executed) in
  Revision changed_at = 0;   // the revision its value last changed in (backdating keeps it)
  Durability durability = Durability::low;
  bool has_value = false;    // memos: false once evicted (LRU, byte budget)
  bool marked = false;       // memos: a write since may have changed what it read
  bool provisional = false;  // memos: inside a fixpoint cycle being iterated
};
}  // namespace relish

namespace relish::detail {

class Runtime;

// A cycle head a provisional value depends on, and the head's iteration it was computed in.
struct CycleHead {
  DatabaseKey head;
  std::uint32_t iteration;
  friend bool operator==(const CycleHead&, const CycleHead&) = default;
};

// What the memos a converged cycle drops as stale had read (IngredientBase::
// finalize_provisional): the head's final value rests on it.
struct StaleReads {
  std::vector<DatabaseKey> deps;
  Durability durability = Durability::never_change;
};

// What the reverse index must know about a dependency (IngredientBase::invalidation_source).
struct SourceInfo {
  // There is nothing to read there now (a memo that failed or was dropped, a deleted entity):
  // a memo that read it is marked at once.
  bool absent = false;
  // An interned value under garbage collection: an O(1) acceptance of a reader is a use.
  bool note_use = false;
};

struct Local;

// Where accumulated() puts what it collects: `append` copies one value, of the accumulator
// walked, into `out` (during the walk, from the memos that hold them).
struct AccumulatedSink {
  void* out;
  void (*append)(void* out, const void* value);
};

// Something that owns part of the dependency graph: a query's memos, an input's fields...
// An ingredient may span several consecutive ingredient indices ("sub" ingredients), one per
// field, so that a dependency names a single field.
class IngredientBase {
 public:
  explicit IngredientBase(std::string name) : name_(std::move(name)) {}
  IngredientBase(const IngredientBase&) = delete;
  IngredientBase& operator=(const IngredientBase&) = delete;
  virtual ~IngredientBase() = default;

  // Has the value at (sub, key) changed after revision `after`? May verify or re-execute
  // queries (deep verification); must leave the node verified in the current revision.
  virtual bool maybe_changed_after(Database& db, std::uint32_t sub, std::uint32_t key,
                                   Revision after) = 0;
  // "parsed_module(File#3)", "File#3.text".
  virtual std::string describe(std::uint32_t sub, std::uint32_t key) const = 0;
  // Adds this ingredient's memory use to `out` (heap sizes go through relish::heap_size, so
  // a HeapSizeTracker active on this thread counts shared allocations once).
  virtual void memory(IngredientMemory& out) const { out.kind = "other"; }
  // Called by the writer when a new revision starts, with no query running anywhere, if the
  // ingredient said it has work for it (wants_revision_hook).
  virtual void on_new_revision(Database&) {}
  // Applies value eviction (LRU capacity, byte budget) now; no query is running.
  virtual void evict_values(Database&) {}
  // The dependencies (sub, key) recorded in its last execution, in read order (none for
  // inputs and entities). Between revisions only.
  virtual std::vector<DatabaseKey> dependencies(std::uint32_t /*sub*/, std::uint32_t /*key*/) const {
    return {};
  }
  // What the node (sub, key) records, for tools (DOT graphs). Between revisions only.
  virtual NodeInfo node_info(std::uint32_t /*sub*/, std::uint32_t /*key*/) const {
    return NodeInfo{.kind = NodeInfo::Kind::other};
  }
  // Fixpoint iteration: the current iteration of memo `key` if it is a cycle head being
  // computed, else -1. Only the thread that owns the memo may ask.
  virtual std::int64_t cycle_iteration(std::uint32_t /*key*/) const { return -1; }
  // The id of the fixpoint iteration (all its rounds) it is running as a head, or -1.
  virtual std::int64_t cycle_attempt(std::uint32_t /*key*/) const { return -1; }
  // A query with a cycle policy (Fixpoint or CycleFallback): a cycle may close at its memos.
  virtual bool recovers_cycles() const { return false; }
  // Brings memo `key` (handle stamp `stamp`) up to date on thread `l`, as a read would: the
  // head chosen by Runtime::close_cycle, computed before the query the cycle came back to.
  virtual void compute_head(Database&, Local&, std::uint32_t /*key*/, std::uint32_t /*stamp*/) {}
  // The key stamp of memo `key`, which this thread owns (so that no other thread writes it).
  virtual std::uint32_t owned_memo_stamp(std::uint32_t /*key*/) const { return 0; }
  // The ownership word of memo `key` (nullptr for ingredients without memos): who is computing
  // a cycle head, for threads that meet another thread's provisional values.
  virtual OwnerWord* owner_word(std::uint32_t /*key*/) { return nullptr; }
  // The cycle `head` converged in round `iteration`, on a value provisional on the heads
  // `outer`: memo `key`, provisional on it, trades it for those, and becomes final if no head
  // is left; a value from an earlier round is stale and dropped, what it read going to
  // `stale`. Returns true if still provisional.
  virtual bool finalize_provisional(Database&, std::uint32_t /*key*/, DatabaseKey /*head*/,
                                    std::uint32_t /*iteration*/,
                                    const std::vector<CycleHead>& /*outer*/,
                                    StaleReads& /*stale*/) {
    return false;
  }
  // Accumulators: appends the values of accumulator `type` that memo `key` and everything it
  // read pushed, in execution order, skipping memos already in `visited`.
  virtual void collect_accumulated(Database&, std::uint32_t /*key*/, std::uint32_t /*type*/,
                                   AccumulatedSink& /*out*/,
                                   absl::flat_hash_set<std::uint64_t>& /*visited*/) const {}
  // Deletes entity `key` (a tracked struct its creating query did not re-create).
  virtual void delete_entity(Database&, std::uint32_t /*key*/) {}
  // The query that created entity `key` was verified in revision `now`: the entity is current.
  virtual void mark_validated(std::uint32_t /*key*/, Revision /*now*/) {}
  // Entity `index` (handle stamp `stamp`) of the ingredient at `first_index` was deleted;
  // memos keyed on it go.
  virtual void on_entity_deleted(Database&, std::uint32_t /*first_index*/,
                                 std::uint32_t /*index*/, std::uint32_t /*stamp*/) {}

  // ---- push-pull invalidation (see Runtime::invalidate), between revisions only ----
  // Marks memo `key` as possibly affected by a write. True if it was not marked yet: the
  // walk goes on to its readers. Nodes without memos (input fields, entities) pass it on.
  virtual bool mark_dirty(std::uint32_t /*sub*/, std::uint32_t /*key*/) { return true; }
  // What memo `key` read in its last execution (nothing for nodes without memos).
  virtual std::span<const DatabaseKey> dependency_span(std::uint32_t /*sub*/,
                                                       std::uint32_t /*key*/) const {
    return {};
  }
  // The node whose reverse edges lead to the readers of (sub, key): itself, or for a tracked
  // struct, the query that creates it (its fields change only when that query re-runs).
  virtual DatabaseKey invalidation_source(std::uint32_t sub, std::uint32_t key,
                                          SourceInfo& /*info*/) const {
    return DatabaseKey{first_index_ + sub, key};
  }
  // A memo that read (sub, key) was accepted in O(1) in revision `now`: for interned values
  // under garbage collection, that is a use (as deep verification would have been).
  virtual void note_used(std::uint32_t /*sub*/, std::uint32_t /*key*/, Revision /*now*/) {}
  // Memo `key` read a node whose uses must be noted (SourceInfo::note_use).
  virtual void set_notes_use(std::uint32_t /*sub*/, std::uint32_t /*key*/) {}

  // Tests (Runtime::set_check_acceptance_for_testing): did (sub, key), or anything it read,
  // transitively, change after `after`, or is it absent? Only reads (Runtime::changed_since).
  virtual bool changed_since(const Runtime&, std::uint32_t /*sub*/, std::uint32_t /*key*/,
                             Revision /*after*/, absl::flat_hash_set<DatabaseKey>& /*seen*/) const {
    return false;
  }

  const std::string& name() const noexcept { return name_; }
  std::uint32_t first_index() const noexcept { return first_index_; }
  // The runtime it is registered with (to describe the entities its keys name).
  const Runtime* runtime() const noexcept { return runtime_; }

  // Does on_new_revision have work? A write skips the call otherwise (most ingredients, most
  // writes). Set by readers too (a deferred drop), before they leave: the writer sees it.
  bool wants_revision_hook() const noexcept {
    return revision_hook_.load(std::memory_order_relaxed);
  }
  void want_revision_hook(bool on) noexcept {
    revision_hook_.store(on, std::memory_order_relaxed);
    if (on && any_hook_) any_hook_->store(true, std::memory_order_relaxed);
  }

 private:
  friend class Runtime;
  std::string name_;
  std::uint32_t first_index_ = 0;
  std::atomic<bool> revision_hook_{true};  // ingredients without work turn it off
  std::atomic<bool>* any_hook_ = nullptr;  // the runtime's: some ingredient wants the hook
  const Runtime* runtime_ = nullptr;
};

// A value pushed to an accumulator: which accumulator, how many dependencies the query had
// read when it pushed (to replay pushes in execution order), and the value.
struct Accumulated {
  std::uint32_t type;
  std::uint32_t position;
  std::shared_ptr<const void> value;
  // Compares two values of this accumulator's type (false if it has no ==).
  bool (*equal)(const void*, const void*);

  // Did a re-run push the same values, at the same places? If not, it is not backdated:
  // accumulated() called by a query depends on them.
  static bool same(const std::vector<Accumulated>& a, const std::vector<Accumulated>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (a[i].type != b[i].type || a[i].position != b[i].position ||
          !a[i].equal(a[i].value.get(), b[i].value.get()))
        return false;
    }
    return true;
  }
};

// Thrown inside relish when waiting would close a cycle of threads: this thread gives up the
// memo `release` that another thread of the cycle is waiting for (unwinding the queries it ran
// on top of it, which keep their old memos, as on cancellation), waits until `wait_key`'s
// owner is done, and then asks again. The cycle then runs on one thread, where a fixpoint
// iterates and anything else is a CycleError. Which thread makes way is chosen by the
// cycle's queries (Runtime::make_way), not by timing.
// Also thrown, with no `wait_word`, when a cycle comes back to a query without a policy
// through one with a policy (Runtime::close_cycle): this thread unwinds to `release`, its
// outermost query, lets go of it, computes `head` first (the cycle then closes at the head),
// and asks again.
// Not a std::exception, so that user code's `catch (const std::exception&)` lets it through.
struct YieldToCycle {
  DatabaseKey release;
  OwnerWord* wait_word;
  std::uint32_t wait_owner;
  DatabaseKey wait_key;
  DatabaseKey head{};
  std::uint32_t head_stamp = 0;
};

// One query execution in progress: what it has read so far.
struct Frame {
  DatabaseKey key;
  std::uint32_t stamp = 0;  // the key's handle stamp (to compute it again: close_cycle)
  std::vector<DatabaseKey> deps;
  Durability durability = Durability::never_change;
  // Tracked structs created by this execution, and per (ingredient, identity hash) counters
  // that tell apart structs with equal identity fields.
  std::vector<DatabaseKey> created;
  // What the memo's previous execution created, in order (null: nothing): a re-run that
  // creates the same structs in the same order finds each one there without a lookup.
  const std::vector<DatabaseKey>* previous_created = nullptr;
  // Refilling a value the LRU evicted, its dependencies verified unchanged: the structs it
  // creates are the old ones with the same fields (by purity), current in this revision and
  // perhaps being read by other threads, so their fields are left as they are.
  bool refill = false;
  // This execution, among all of this database's (tracked structs it claimed carry it), and,
  // per (ingredient, identity hash) met more than once, the next occurrence to try.
  std::uint64_t serial = 0;
  absl::flat_hash_map<std::pair<std::uint32_t, std::uint64_t>, std::uint32_t> occurrences;
  // Fixpoint cycles whose provisional values this execution read (empty almost always).
  std::vector<CycleHead> cycle_heads;
  std::vector<Accumulated> accumulated;
  // A memo it read has accumulated values below it (or is provisional): so does this one.
  bool accumulates = false;
  // Which of `deps` were such memos (positions, ascending), so that accumulated() walks
  // only those; not `indexed` once dependencies were added other than by record_dep.
  std::vector<std::uint32_t> accumulating;
  bool indexed = true;
  // Set when the engine threw one of its control exceptions (cancellation, a cycle, a restart,
  // making way for another thread) through this execution. User code may catch it, but the
  // execution then never stores a result: when it returns, the engine rethrows `control`.
  std::exception_ptr control;

  void reset(DatabaseKey k) {
    key = k;
    control = nullptr;
    deps.clear();
    durability = Durability::never_change;
    created.clear();
    previous_created = nullptr;
    refill = false;
    if (!occurrences.empty()) occurrences.clear();
    cycle_heads.clear();
    accumulated.clear();
    accumulates = false;
    accumulating.clear();
    indexed = true;
  }

  void add_cycle_heads(const std::vector<CycleHead>& heads) {
    for (const CycleHead& h : heads) {
      auto it = std::find_if(cycle_heads.begin(), cycle_heads.end(),
                             [&](const CycleHead& c) { return c.head == h.head; });
      if (it == cycle_heads.end()) cycle_heads.push_back(h);
    }
  }
};

// The executions in progress on one thread, innermost last. A frame keeps its address while
// deeper ones are pushed (callers hold references); indexing is one load (a deque of frames
// this size computed a block and an offset on every dependency recorded).
class FrameStack {
 public:
  Frame& operator[](std::size_t i) noexcept { return *frames_[i]; }
  const Frame& operator[](std::size_t i) const noexcept { return *frames_[i]; }
  std::size_t size() const noexcept { return frames_.size(); }
  void emplace_back() { frames_.push_back(std::make_unique<Frame>()); }

 private:
  std::vector<std::unique_ptr<Frame>> frames_;
};

// What one thread is doing in one database.
struct Local {
  std::uint32_t id = 0;  // owner id of the memos this thread computes (never 0)
  FrameStack frames;
  std::size_t depth = 0;
  std::vector<DatabaseKey> active;  // executing or verifying, outermost first
  std::uint32_t scope_depth = 0;    // nesting of ReaderScopes
  std::atomic<bool> in_db{false};   // inside the database: a writer must wait for it
  // The outermost query it executes (ingredient index + 1 in the high half, key in the low),
  // 0 for none: what a write that times out waiting for this thread names.
  std::atomic<std::uint64_t> running{0};
  // Fixpoint bookkeeping: cycle heads met (as "assume unchanged") by verifications in
  // progress, and memos computed provisionally in the cycles being iterated.
  std::vector<DatabaseKey> cycle_hits;
  // Heads of cycles it is computing first, at the top level (Runtime::close_cycle).
  std::vector<DatabaseKey> heads_first;
  std::vector<DatabaseKey> provisional;
  // Outer heads whose component an inner head found unsettled (execute_fixpoint): they
  // iterate again even if their own value did not change.
  std::vector<DatabaseKey> unsettled_heads;
  // Wait-for graph edge, guarded by Runtime::locals_mu_.
  Local* waiting_on = nullptr;
  DatabaseKey waiting_for;
  OwnerWord* waiting_word = nullptr;
  // Set (under locals_mu_) by a thread whose wait would close a cycle of waiting threads and
  // that chose this one to make way: it lets go of memo `yield_release` (Runtime::block_on).
  std::atomic<bool> must_yield{false};
  DatabaseKey yield_release;
  // Inside an event callback / holding the write lock: entering the database is a misuse.
  bool in_callback = false;
  bool writing = false;
  // The first exception an event callback threw: rethrown by the outermost relish call once
  // the engine's state is consistent (see Runtime::emit).
  std::exception_ptr callback_error;
  // For the next write's invalidation (Runtime::invalidate): memos this thread executed since
  // (their dependencies become reverse edges), and nodes that became absent (a memo reset by
  // an error, a deleted entity's memo, a reclaimed interned value: their readers are marked).
  std::vector<DatabaseKey> executed;
  std::vector<DatabaseKey> invalidated;
  std::uint64_t executions = 0;  // frames pushed (Frame::serial)
  // This thread's cancellation token (Database::cancellation_token): another thread sets it.
  // Points to a flag that is never set until the thread takes a token.
  std::atomic<bool>* token = &never_cancelled();
  std::shared_ptr<std::atomic<bool>> token_owner;

  static std::atomic<bool>& never_cancelled() noexcept {
    static std::atomic<bool> flag{false};
    return flag;
  }
};

// The error for a handle that does not name a live entity of this database: `h` renders it
// ("File#3"), `stale` says what happened to a once-valid one.
[[noreturn]] inline void throw_bad_handle(std::uint32_t db_tag, const std::string& h,
                                          std::uint32_t stamp, const std::string& stale) {
  if (stamp == 0) throw StaleHandleError("null handle " + h + " (default-constructed)");
  if (stamp_tag(stamp) != db_tag) throw MisuseError("handle " + h + " belongs to another database");
  throw StaleHandleError(stale);
}

inline std::uint32_t next_type_id() {
  static std::atomic<std::uint32_t> counter{0};
  return counter.fetch_add(1, std::memory_order_relaxed);
}

// A process-wide small integer per C++ type, used to find that type's ingredient.
template <class T>
std::uint32_t type_id() {
  static const std::uint32_t id = next_type_id();
  return id;
}

// The tags of the live databases of this process. A new database never gets the tag of a
// live one, so a handle of one live database is always rejected by another. Tags go round,
// so a freed tag is reused as late as possible (a handle of a destroyed database is as
// invalid as a dangling pointer; it is caught unless 4,095 databases came in between).
class DatabaseTags {
 public:
  static std::uint32_t acquire() {
    DatabaseTags& t = instance();
    LockGuard lock(t.mu_);
    for (std::uint32_t k = 0; k < kTagMask; ++k) {
      t.next_ = t.next_ % kTagMask + 1;  // 1..kTagMask: tag 0 is reserved for null handles
      if (!t.live_[t.next_]) {
        t.live_[t.next_] = true;
        return t.next_;
      }
    }
    throw Error("more than " + std::to_string(kTagMask) + " databases alive in one process");
  }
  static void release(std::uint32_t tag) noexcept {
    DatabaseTags& t = instance();
    LockGuard lock(t.mu_);
    t.live_[tag] = false;
  }

 private:
  static DatabaseTags& instance() {
    static DatabaseTags t;
    return t;
  }
  Mutex mu_;
  std::array<bool, kTagMask + 1> live_{};
  std::uint32_t next_ = 0;
};

inline std::uint64_t next_runtime_serial() {
  static std::atomic<std::uint64_t> counter{0};
  return counter.fetch_add(1, std::memory_order_relaxed) + 1;
}

class Runtime {
 public:
  Runtime() : tag_(DatabaseTags::acquire()), serial_(next_runtime_serial()) {}
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;
  ~Runtime() { DatabaseTags::release(tag_); }

  // The database is being destroyed: queries running on other threads are cancelled and
  // waited for (they unwind at their next read). From inside one of its own queries that
  // cannot work: it is a fatal misuse.
  void shut_down() noexcept {
    Local& me = local();
    if (me.scope_depth != 0 || me.in_callback || me.writing) {
      std::fputs("relish: a Database was destroyed from inside one of its own queries, "
                 "callbacks or writes\n",
                 stderr);
      std::abort();
    }
    LockGuard write(write_mu_);
    hold_off_readers(me);  // pending_ stays raised: no query may start any more
  }

  Revision revision() const noexcept { return revision_.load(std::memory_order_relaxed); }
  std::uint32_t tag() const noexcept { return tag_; }

  // Tests: as if `to - revision()` writes of every durability had happened (no query may run).
  void skip_revisions_for_testing(Revision to) noexcept {
    revision_.store(to, std::memory_order_relaxed);
    for (auto& c : last_changed_) c.store(to, std::memory_order_relaxed);
  }


  // Last revision in which an input of durability >= d was written.
  Revision last_changed(Durability d) const noexcept {
    return last_changed_[static_cast<int>(d)].load(std::memory_order_relaxed);
  }

  // ---- threads ------------------------------------------------------------------------

  // This thread's state in this database.
  Local& local() {
    struct Cache {
      std::uint64_t serial = 0;
      Local* local = nullptr;
    };
    thread_local Cache cache;
    if (cache.serial == serial_) [[likely]]
      return *cache.local;
    Local& l = local_slow();
    cache = Cache{serial_, &l};
    return l;
  }

  // ---- ingredients -------------------------------------------------------------------

  // The ingredient registered for C++ type `Key`, created by `make()` on first use.
  // Inlined, with registration out of line: on every input read and every query call, the
  // lookup is a few loads (a call with registration inlined saved and restored six registers).
  template <class I, class Key, class Make>
  [[gnu::always_inline]] I& ingredient(Make&& make) {
    const std::uint32_t t = type_id<Key>();
    if (const auto* slot = type_slot(t)) [[likely]] {
      if (IngredientBase* ing = slot->load(std::memory_order_acquire)) [[likely]]
        return *static_cast<I*>(ing);
    }
    return static_cast<I&>(register_ingredient(t, make));
  }

  template <class I, class Key>
  I* find_ingredient() const noexcept {
    const auto* slot = type_slot(type_id<Key>());
    return slot ? static_cast<I*>(slot->load(std::memory_order_acquire)) : nullptr;
  }

  template <class Make>
  [[gnu::noinline]] IngredientBase& register_ingredient(std::uint32_t type, Make& make) {
    LockGuard lock(registry_mu_);
    if (type >= kFastTypes) more_types_.ensure_size(type - kFastTypes + 1);
    std::atomic<IngredientBase*>& slot = *type_slot(type);
    if (IngredientBase* ing = slot.load(std::memory_order_relaxed)) return *ing;
    auto [owned, subs] = make();
    IngredientBase* ing = owned.get();
    ing->first_index_ = by_index_.size();
    ing->runtime_ = this;
    ing->any_hook_ = &any_hook_;
    for (std::uint32_t s = 0; s < subs; ++s) by_index_.emplace_back(ing, s);
    owned_.emplace_back(std::move(owned));
    // After it is in owned_: a write running its hooks on another thread (a top-level
    // Query::key or intern registers outside any reader scope) either sees the flag and the
    // ingredient, or leaves the flag for the next write.
    if (ing->wants_revision_hook()) any_hook_.store(true, std::memory_order_release);
    slot.store(ing, std::memory_order_release);
    return *ing;
  }

  template <class F>
  void for_each_ingredient(F&& f) const {
    const std::uint32_t n = owned_.size();
    for (std::uint32_t i = 0; i < n; ++i) f(*owned_[i]);
  }

  bool maybe_changed_after(Database& db, DatabaseKey k, Revision after) {
    const auto& [ing, sub] = by_index_[k.ingredient];
    return ing->maybe_changed_after(db, sub, k.key, after);
  }

  void delete_entity(Database& db, DatabaseKey k) {
    by_index_[k.ingredient].first->delete_entity(db, k.key);
  }

  // Tells every ingredient that entity `index` of `owner` is gone (memos keyed on it drop).
  void broadcast_deleted(Database& db, const IngredientBase& owner, std::uint32_t index,
                         std::uint32_t stamp) {
    for_each_ingredient([&](IngredientBase& ing) {
      ing.on_entity_deleted(db, owner.first_index(), index, stamp);
    });
  }

  // Where the ingredient of type id `t` is registered (nullptr: beyond what was allocated).
  std::atomic<IngredientBase*>* type_slot(std::uint32_t t) noexcept {
    if (t < kFastTypes) [[likely]]
      return &fast_types_[t];
    return more_types_.get(t - kFastTypes);
  }
  const std::atomic<IngredientBase*>* type_slot(std::uint32_t t) const noexcept {
    return const_cast<Runtime*>(this)->type_slot(t);
  }

  std::vector<DatabaseKey> dependencies(DatabaseKey k) const {
    const auto* entry = by_index_.get(k.ingredient);
    if (!entry) return {};
    return entry->first->dependencies(entry->second, k.key);
  }

  NodeInfo node_info(DatabaseKey k) const {
    const auto* entry = by_index_.get(k.ingredient);
    if (!entry) return {};
    return entry->first->node_info(entry->second, k.key);
  }

  IngredientBase& ingredient_at(DatabaseKey k) const { return *by_index_[k.ingredient].first; }
  // The same for a key that may not name a node of this database (nullptr then).
  const IngredientBase* find_ingredient_at(DatabaseKey k) const {
    const auto* entry = by_index_.get(k.ingredient);
    return entry ? entry->first : nullptr;
  }

  std::string describe(DatabaseKey k) const {
    const auto* entry = by_index_.get(k.ingredient);
    if (!entry) return "<unknown>";
    return entry->first->describe(entry->second, k.key);
  }

  // "File#3", or the user's relish_debug of its data, for a handle used as a query key.
  template <class H>
  std::string describe_handle(const H& h) const {
    using I = typename H::Ingredient;
    if constexpr (requires(const I& i) { i.describe_entity(h.index()); }) {
      if (const I* ing = find_ingredient<I, I>()) return ing->describe_entity(h.index());
    }
    return h.debug_name();
  }

  // ---- readers ------------------------------------------------------------------------

  // Marks this thread as inside the database for the span of a top-level call. While a write
  // is pending, entering waits for it to finish first.
  class ReaderScope {
   public:
    ReaderScope(Runtime& rt, Local& l) : l_(l) {
      if (l.scope_depth == 0) rt.enter(l);  // may throw: then there is no scope to leave
      ++l.scope_depth;
    }
    ReaderScope(const ReaderScope&) = delete;
    ReaderScope& operator=(const ReaderScope&) = delete;
    // Called by a relish call before it returns: the outermost one rethrows what an event
    // callback threw meanwhile.
    void done() {
      if (l_.scope_depth == 1) rethrow_callback_error(l_);
    }
    ~ReaderScope() {
      if (--l_.scope_depth == 0) {
        // Left by iterations that were unwound (an error, cancellation, making way for
        // another thread): their memos stay provisional on heads that are over, i.e. stale.
        if (!l_.provisional.empty()) [[unlikely]]
          l_.provisional.clear();
        entered() = nullptr;
        l_.running.store(0, std::memory_order_relaxed);
        l_.in_db.store(false, std::memory_order_release);
      }
    }

   private:
    Local& l_;
  };

  // Runs `read()` in a reader scope when this thread is not inside the database yet: a read at
  // top level (a writer on another thread waits for it). Inside a query, just `read()`.
  template <class Read>
  decltype(auto) read_in_scope(Local& l, Read&& read) {
    if (l.scope_depth == 0) [[unlikely]] {
      ReaderScope scope(*this, l);
      return read();
    }
    return read();
  }

  bool cancellation_pending() const noexcept {
    return pending_.load(std::memory_order_relaxed);
  }
  // A pending write: checked at every dependency read (one load).
  void check_pending(Local& l) const {
    if (pending_.load(std::memory_order_relaxed)) [[unlikely]]
      throw_cancelled(l);
  }
  // A pending write, or this thread's cancellation token (one branch for both): checked where
  // a query starts running or verifying, and by Database::check_cancelled.
  void check_cancelled(Local& l) const {
    if (pending_.load(std::memory_order_relaxed) | l.token->load(std::memory_order_relaxed))
        [[unlikely]]
      throw_cancelled(l);
  }
  void check_cancelled() const { check_cancelled(const_cast<Runtime*>(this)->local()); }
  // Every execution on this thread unwinds: none may store a result if it swallows this.
  [[noreturn, gnu::noinline]] void throw_cancelled(Local& l) const {
    throw_control(l, 0,
                  Cancelled(cancellation_pending() ? Cancelled::Reason::pending_write
                                                   : Cancelled::Reason::token));
  }
  // A new cancellation token for this thread (Database::cancellation_token).
  std::shared_ptr<std::atomic<bool>> new_token() {
    Local& l = local();
    l.token_owner = std::make_shared<std::atomic<bool>>(false);
    l.token = l.token_owner.get();
    return l.token_owner;
  }

  // ---- writers ------------------------------------------------------------------------

  // Exclusive access for a write: cancels running queries and waits until they unwound.
  // Inside a batch (BatchScope) it is the batch's access, and it starts no revision of its own.
  class WriteScope {
   public:
    // `what()` names the write for the error raised when it is attempted inside a query.
    template <class What>
    WriteScope(Runtime& rt, Database& db, What&& what)
        : rt_(rt), db_(db), nested_(rt.begin_write(what)) {}
    WriteScope(const WriteScope&) = delete;
    WriteScope& operator=(const WriteScope&) = delete;
    ~WriteScope() {
      if (!nested_) rt_.end_write();
    }
    // Starts a new revision for a write of durability `d` (the higher of the field's old and
    // new durability, so memos that read the old value cannot take the durability shortcut),
    // calls `commit(revision)` to stamp what was written, and only then runs the ingredients'
    // revision hooks (eviction...). A hook that throws cannot undo the write: the write is
    // complete, every hook still runs, and the first exception reaches the writer.
    // `changed` names the node written: what read it, transitively, is marked. In a batch,
    // the first write starts the batch's one revision, and the hooks run when it ends.
    template <class Commit>
    void new_revision(Durability d, DatabaseKey changed, Commit&& commit) {
      if (nested_) {
        rt_.invalidate(db_, changed, false);
        commit(rt_.batch_revision(d));
        return;
      }
      rt_.invalidate(db_, changed, true);
      commit(rt_.bump_revision(d));
      rt_.run_revision_hooks(db_);
    }

   private:
    Runtime& rt_;
    Database& db_;
    const bool nested_;
  };

  // Database::write: every write inside is part of one revision, and the exclusive access
  // (cancelling and waiting for running queries) is taken once.
  class BatchScope {
   public:
    explicit BatchScope(Runtime& rt, Database& db)
        : rt_(rt), db_(db), nested_(rt.begin_write([] { return "cannot start a batch write"; })) {
      if (!nested_) {
        rt.batch_ = true;
        rt.batch_started_ = false;
        rt.marked_ = 0;
      }
    }
    BatchScope(const BatchScope&) = delete;
    BatchScope& operator=(const BatchScope&) = delete;
    // The batch's revision hooks; the first exception of one reaches the writer.
    void finish() {
      if (nested_ || !rt_.batch_started_) return;
      rt_.batch_started_ = false;
      rt_.run_revision_hooks(db_);
    }
    ~BatchScope() {
      if (nested_) return;
      if (rt_.batch_started_) {  // the edits threw: what they wrote is still one revision
        rt_.batch_started_ = false;
        try {
          rt_.run_revision_hooks(db_);
        } catch (...) {  // the edits' exception is the one the writer gets
        }
      }
      rt_.batch_ = false;
      rt_.end_write();
    }

   private:
    Runtime& rt_;
    Database& db_;
    const bool nested_;
  };

  // This thread's active queries, innermost first (Database::backtrace).
  std::vector<std::string> backtrace(const Local& l) const {
    std::vector<std::string> out;
    out.reserve(l.active.size());
    for (std::size_t i = l.active.size(); i-- > 0;) out.push_back(describe(l.active[i]));
    return out;
  }
  // Called in a handler: if the exception being handled is a relish::Error without a
  // backtrace, it gets this thread's (the error is leaving its innermost query).
  void attach_backtrace(const Local& l) const noexcept {
    try {
      throw;
    } catch (Error& e) {
      if (e.backtrace().empty()) {
        try {
          e.set_backtrace(backtrace(l));
        } catch (...) {  // out of memory: the error goes on without one
        }
      }
    } catch (...) {
    }
  }

  // "parse(File#1)" for the query this thread is running, for error messages.
  std::string current_query(const Local& l) const {
    return l.depth ? describe(l.frames[l.depth - 1].key) : std::string("<top level>");
  }

  // ---- active queries (this thread) -----------------------------------------------------

  Frame& push_frame(Local& l, DatabaseKey k) {
    if (l.depth == l.frames.size()) l.frames.emplace_back();
    if (l.depth == 0)
      l.running.store((std::uint64_t{k.ingredient} + 1) << 32 | k.key, std::memory_order_relaxed);
    Frame& f = l.frames[l.depth++];
    f.reset(k);
    // Unique per database: the thread in the top 24 bits. A serial met again after 2^40
    // executions of one thread only makes a tracked struct be created anew, not reused.
    f.serial = (std::uint64_t{l.id} << 40) | (++l.executions & ((std::uint64_t{1} << 40) - 1));
    return f;
  }

  // Records that the running query (if any) read `k`; the point where cancellation is noticed.
  // The dependency is recorded first: an execution that swallows the Cancelled never stores
  // its result, but the rule "recorded before thrown" keeps every other frame honest too.
  // `accumulates`: a memo read, with accumulated values below it (Frame::accumulates).
  [[gnu::always_inline]] void record_read(Local& l, DatabaseKey k, Durability d,
                                          bool accumulates = false) {
    if (l.depth == 0) return;
    record_dep(l, k, d, accumulates);
    check_pending(l);
  }
  // The same without the cancellation check (on the way out of a failed read).
  void record_dep(Local& l, DatabaseKey k, Durability d, bool accumulates = false) {
    if (l.depth == 0) return;
    Frame& f = l.frames[l.depth - 1];
    if (f.deps.empty() || !(f.deps.back() == k)) append(f.deps, k);
    if (accumulates) [[unlikely]]
      note_accumulating(f);
    if (d < f.durability) f.durability = d;
  }
  // push_back, with the common case inlined (GCC calls push_back out of line: 24 instructions
  // a dependency) and reallocation out of line.
  [[gnu::always_inline]] static void append(std::vector<DatabaseKey>& v, DatabaseKey k) {
    if (v.size() != v.capacity()) [[likely]] {
      v.emplace_back(k);
    } else {
      append_growing(v, k);
    }
  }
  [[gnu::noinline]] static void append_growing(std::vector<DatabaseKey>& v, DatabaseKey k) {
    v.push_back(k);
  }
  // Out of line, so that record_dep saves no registers for it.
  [[gnu::noinline]] static void note_accumulating(Frame& f) {
    f.accumulates = true;
    const auto at = static_cast<std::uint32_t>(f.deps.size() - 1);
    if (f.accumulating.empty() || f.accumulating.back() != at) f.accumulating.push_back(at);
  }

  // Position of `k` in this thread's active queries (innermost occurrence), or active.size().
  static std::size_t active_position(const Local& l, DatabaseKey k) noexcept {
    for (std::size_t i = l.active.size(); i-- > 0;)
      if (l.active[i] == k) return i;
    return l.active.size();
  }

  // Marks the executions that a control exception `e`, about to be thrown, unwinds before the
  // engine catches it: those of the active queries from position `from` on. Each executing
  // query has a frame, in the same order as `active`, so they are a suffix of the frames.
  static void poison_from(Local& l, std::size_t from, const std::exception_ptr& e) {
    std::size_t i = l.depth;
    for (std::size_t j = l.active.size(); j-- > from && i > 0;) {
      if (l.frames[i - 1].key == l.active[j]) {
        Frame& f = l.frames[--i];
        if (!f.control) f.control = e;
      }
    }
  }

  // Throws `e` through the executions of the active queries from position `from` on.
  template <class E>
  [[noreturn]] static void throw_control(Local& l, std::size_t from, E e) {
    poison_from(l, from, std::make_exception_ptr(e));
    throw e;
  }

  // A cycle closed by `closing` (owned by this thread): a CycleError naming it. Every
  // execution in the cycle is poisoned (a participant that catches the error must not store a
  // value that never depended on the query that closed the cycle); the caller of the cycle's
  // first query gets an ordinary error.
  [[noreturn]] void throw_cycle(Local& l, DatabaseKey closing) const {
    std::vector<std::string> path;
    const std::size_t start = std::min(active_position(l, closing), l.active.size());
    for (std::size_t i = start; i < l.active.size(); ++i) path.push_back(describe(l.active[i]));
    path.push_back(describe(closing));
    throw_control(l, start == l.active.size() ? 0 : start, CycleError(std::move(path)));
  }

  // A cycle came back to `closing`, executing on this thread, and its query has no policy.
  // If a query executing or being verified on the way (above it) has one, the first such (not
  // being computed first already) heads the cycle: this thread unwinds all it runs (to its outermost query, as on cancellation: any
  // fixpoint iteration below is abandoned too), computes the head there, from a clean state,
  // then its outermost query again, which finds the head's final values. Otherwise a
  // CycleError.
  [[noreturn]] void close_cycle(Local& l, DatabaseKey closing) const {
    const std::size_t at = active_position(l, closing);
    const std::size_t n = l.active.size();
    // The first with a policy after `closing`, except one being computed first already,
    // further out (that would recurse without end).
    std::size_t best = n;
    std::size_t nested = n;  // the first with a policy, being computed first already
    for (std::size_t i = at + 1; i < n && best == n; ++i) {
      if (!ingredient_at(l.active[i]).recovers_cycles()) continue;
      if (std::find(l.heads_first.begin(), l.heads_first.end(), l.active[i]) ==
          l.heads_first.end())
        best = i;
      else if (nested == n)
        nested = i;
    }
    const bool top = best < n;
    if (!top) best = nested;
    if (at < n && best < n) {
      // An executing head's stamp is in its frame; one being verified has a memo with it.
      YieldToCycle y{top ? l.active[0] : closing, nullptr, 0, {}, l.active[best], 0};
      bool in_frame = false;
      for (std::size_t i = l.depth; i-- > 0 && !in_frame;) {
        if (l.frames[i].key == y.head) {
          y.head_stamp = l.frames[i].stamp;
          in_frame = true;
        }
      }
      if (!in_frame)  // read now, while this thread owns it
        y.head_stamp = ingredient_at(y.head).owned_memo_stamp(y.head.key);
      throw_control(l, top ? 0 : at, y);
    }
    throw_cycle(l, closing);
  }

  // The catch side of close_cycle, in the loop of this thread's outermost query `key`, at
  // the top level: computes the head. `done`: the heads this loop computed already; a head
  // asked for again means a query that is not deterministic (an ordinary CycleError, then).
  void compute_head(Database& db, Local& l, const YieldToCycle& y, DatabaseKey key,
                    std::vector<DatabaseKey>& done) {
    if (std::find(done.begin(), done.end(), y.head) != done.end())
      throw CycleError({describe(key), describe(y.head), describe(key)});
    done.push_back(y.head);
    l.heads_first.push_back(y.head);
    struct Pop {
      Local& l;
      ~Pop() { l.heads_first.pop_back(); }
    } pop{l};
    ingredient_at(y.head).compute_head(db, l, y.head.key, y.head_stamp);
  }

  [[noreturn, gnu::noinline]] void throw_reentry(const Local& l) const {
    if (l.in_callback)
      throw MisuseError("an event callback entered the database (a query, a read or a write): "
                        "callbacks may only look at the event and call describe()");
    throw MisuseError("the database was entered while this thread is writing to it");
  }

  // ---- memo ownership -----------------------------------------------------------------

  // Claims `owner` (a memo's owner word) for this thread. Returns true if claimed; false after
  // waiting for another thread that owned it (the caller re-reads the memo and retries).
  // Throws CycleError if this thread owns it already, and YieldToCycle if waiting would close
  // a cycle of threads waiting on each other.
  bool claim(Local& l, OwnerWord& owner, DatabaseKey key) {
    const std::uint32_t current = owner.try_claim(l.id);
    if (current == 0) [[likely]]
      return true;
    if (current == l.id) throw_cycle(l, key);
    block_on(l, owner, current, key);
    return false;
  }

  // Waits until thread `owner_id` no longer owns `owner` (memo `key`), as `claim` does.
  void wait_released(Local& l, OwnerWord& owner, std::uint32_t owner_id, DatabaseKey key) {
    block_on(l, owner, owner_id, key);
  }

  // ---- push-pull invalidation ---------------------------------------------------------
  //
  // A write marks the memos that may depend on what it changed: the upward cone of the
  // written field through the reverse index. Only marked ("dirty") memos are verified
  // deeply; a memo from an earlier revision that no write marked is accepted in O(1) when
  // read. A mark stays until the memo is verified or re-run, and a memo marked already stops
  // the walk: every reader of a marked memo was marked with it, and a memo gets new readers
  // only once it is up to date (unmarked).

  // Memo `k` ran and stored what it read: its edges go in at the next write.
  void note_executed(Local& l, DatabaseKey k) noexcept { note(l.executed, k); }
  // Node `k` lost its value mid-revision (or in a revision hook): its readers are marked at
  // the next write (or at the end of this one).
  void note_invalidated(Local& l, DatabaseKey k) noexcept { note(l.invalidated, k); }

  // May a memo no write marked be accepted without verifying it? Not once the reverse index
  // is incomplete (an allocation failed while folding), nor in the pull-only testing mode.
  bool accepts_clean() const noexcept {
    return !pull_only_for_testing_ && !index_lost_.load(std::memory_order_relaxed);
  }
  // Tests: verify every memo from an earlier revision deeply, as a pull-only engine does (the
  // reverse index is still kept, so switching back is safe). Between queries only.
  void set_pull_only_for_testing(bool on) noexcept { pull_only_for_testing_ = on; }

  // Tests: every memo accepted in O(1) is checked against a full walk of what it read: none
  // of it may have changed since the memo was verified (else the reverse index missed an
  // edge). A failed check aborts with both names. Single-threaded tests only.
  void set_check_acceptance_for_testing(bool on) noexcept { check_acceptance_ = on; }
  bool checks_acceptance() const noexcept {
    return check_acceptance_ && threads_.load(std::memory_order_relaxed) <= 1;
  }
  bool changed_since(DatabaseKey k, Revision after, absl::flat_hash_set<DatabaseKey>& seen) const {
    if (!seen.insert(k).second) return false;
    const auto& [ing, sub] = by_index_[k.ingredient];
    return ing->changed_since(*this, sub, k.key, after, seen);
  }
  // Called before memo `key`, verified at `verified`, is accepted without verification.
  void check_acceptance(DatabaseKey key, Revision verified,
                        std::span<const DatabaseKey> deps) const {
    absl::flat_hash_set<DatabaseKey> seen;
    for (DatabaseKey d : deps) {
      if (changed_since(d, verified, seen)) {
        std::fprintf(stderr,
                     "relish: push-pull check failed: %s (verified at %llu) was accepted as "
                     "clean, but its dependency %s changed since (revision now %llu)\n",
                     describe(key).c_str(), static_cast<unsigned long long>(verified),
                     describe(d).c_str(), static_cast<unsigned long long>(revision()));
        std::abort();
      }
    }
  }

  // Memos the last write marked, and the reverse index (benchmarks, memory reports).
  std::size_t marked_by_last_write() const noexcept { return marked_; }
  const ReverseIndex& reverse_index() const noexcept { return reverse_; }

  // ---- events -------------------------------------------------------------------------

  void set_event_callback(std::function<void(const Event&)> cb) { on_event_ = std::move(cb); }
  bool observed() const noexcept { return static_cast<bool>(on_event_); }
  // Database::set_write_wait_limit: milliseconds, -1 for none.
  void set_write_wait_limit(std::int64_t ms) noexcept {
    write_wait_limit_ms_.store(ms, std::memory_order_relaxed);
  }

  // Calls the event callback. A callback never throws into the engine (events are emitted in
  // the middle of its bookkeeping): its exception is kept and rethrown by the outermost relish
  // call of this thread once that call's work is consistent (rethrow_callback_error). While a
  // callback runs, entering the database (a query, a read, a write) is a MisuseError.
  void emit(EventKind kind, DatabaseKey key, std::uint32_t detail = 0) const {
    if (on_event_) [[unlikely]]
      emit_slow(kind, key, detail);
  }
  [[gnu::noinline]] void emit_slow(EventKind kind, DatabaseKey key,
                                   std::uint32_t detail) const noexcept {
    Local& l = const_cast<Runtime*>(this)->local();
    const bool outer = !l.in_callback;
    l.in_callback = true;
    try {
      on_event_(Event{kind, key, detail});
    } catch (...) {
      if (!l.callback_error) l.callback_error = std::current_exception();
    }
    l.in_callback = !outer;
  }
  // Called by the outermost relish call when it is done: a callback's exception surfaces here.
  // Inside a batch write (still writing), the batch's end rethrows it.
  [[gnu::always_inline]] static void rethrow_callback_error(Local& l) {
    if (l.callback_error && !l.writing) [[unlikely]]
      rethrow_callback_error_now(l);
  }
  [[noreturn, gnu::noinline]] static void rethrow_callback_error_now(Local& l) {
    std::exception_ptr e = std::move(l.callback_error);
    l.callback_error = nullptr;
    std::rethrow_exception(e);
  }

 private:
  Local& local_slow() {
    const std::thread::id me = std::this_thread::get_id();
    {
      LockGuard lock(locals_mu_);
      if (auto it = locals_.find(me); it != locals_.end()) return *it->second;
    }
    // A new thread. Registration takes write_mu_ too: a write sees a fixed set of threads
    // (hold_off_readers). Only here: a known thread may come back here (its cache names
    // another database) while inside this one, and a writer may be waiting for it.
    LockGuard write(write_mu_);
    LockGuard lock(locals_mu_);
    auto& slot = locals_[me];
    if (!slot) {
      if (by_local_id_.size() >= OwnerWord::kMaxOwner)
        throw MisuseError("more than 16,777,215 threads entered one database");
      slot = std::make_unique<Local>();
      slot->active.reserve(64);
      slot->id = static_cast<std::uint32_t>(by_local_id_.size()) + 1;
      by_local_id_.push_back(slot.get());
      threads_.store(slot->id, std::memory_order_relaxed);
    }
    return *slot;
  }

  // The database this thread is inside (outermost), for the cross-database check.
  static const Runtime*& entered() noexcept {
    thread_local const Runtime* inside = nullptr;
    return inside;
  }

  // Inlined into every top-level call; what is rare (misuse, a write pending) out of line.
  [[gnu::always_inline]] void enter(Local& l) {
    if (l.in_callback || l.writing) [[unlikely]]
      throw_reentry(l);
    if (const Runtime* other = entered(); other && other != this) [[unlikely]]
      throw_other_database();
    entered() = this;
    l.in_db.store(true, AsymmetricFence::order());
    fence_.light();
    if (pending_.load(kThreadSanitizer ? std::memory_order_seq_cst : std::memory_order_acquire))
        [[unlikely]]
      wait_for_writer(l);
  }
  [[noreturn, gnu::noinline]] static void throw_other_database() {
    throw MisuseError("a query (or read) of one database entered another database: two "
                      "threads doing so in opposite directions would deadlock; read the other "
                      "database before or after, not inside");
  }
  // A write is pending: steps out, waits until it is over, and enters again.
  [[gnu::noinline]] void wait_for_writer(Local& l) {
    do {
      l.in_db.store(false, std::memory_order_release);
      while (pending_.load(std::memory_order_acquire)) pending_.wait(true);
      l.in_db.store(true, AsymmetricFence::order());
      fence_.light();
    } while (pending_.load(kThreadSanitizer ? std::memory_order_seq_cst : std::memory_order_acquire));
  }

  // Returns true for a write inside this thread's batch (BatchScope), which holds the access.
  template <class What>
  bool begin_write(const What& what) {
    Local& me = local();
    if (me.writing && batch_ && !me.in_callback) return true;
    if (me.in_callback || me.writing) [[unlikely]] {
      throw MisuseError(std::string(what()) + (me.in_callback ? " from an event callback"
                                                              : " inside another write") +
                        ": writes are only allowed between queries");
    }
    if (me.scope_depth != 0) {
      throw MisuseError(std::string(what()) +
                        (me.depth ? " while query " + current_query(me) + " is running"
                                  : std::string(" while this thread holds a relish::ReadScope")) +
                        ": only allowed between queries");
    }
    write_mu_.lock();
    me.writing = true;
    const std::int64_t limit = write_wait_limit_ms_.load(std::memory_order_relaxed);
    if (const Local* stuck = hold_off_readers(me, limit)) [[unlikely]] {
      std::string message;
      try {  // under the lock: what() may describe an input another write could change
        message = std::string(what()) + ": gave up after waiting " + std::to_string(limit) +
                  " ms for another thread inside the database" + running_on(*stuck);
      } catch (...) {
        end_write();
        throw;
      }
      end_write();
      throw WriteTimeoutError(message +
                              " (a query that waits for a thread that writes never finishes)");
    }
    return false;
  }

  // ", running query q" for a thread inside the database (only the query's name: its key's
  // description would read tables that thread may be writing).
  std::string running_on(const Local& o) const {
    const std::uint64_t r = o.running.load(std::memory_order_relaxed);
    if (r == 0) return " (holding a relish::ReadScope, or reading at top level)";
    const auto* entry = by_index_.get(static_cast<std::uint32_t>((r >> 32) - 1));
    return entry ? ", running query " + entry->first->name() : std::string();
  }

  // Raises `pending_` (queries unwind at their next read, new ones wait) and waits until no
  // other thread is inside the database. The caller holds write_mu_, which threads take to
  // register: the set of threads cannot change meanwhile, and one registering later sees
  // `pending_`. With no other thread registered (a single-threaded tool, a server whose
  // workers have not started), no barrier is needed and there is nobody to wait for.
  // With a limit (milliseconds, -1 for none), returns a thread still inside once it is over.
  const Local* hold_off_readers(const Local& me, std::int64_t limit_ms = -1) noexcept {
    pending_.store(true, AsymmetricFence::order());
    if (by_local_id_.size() == 1) return nullptr;  // this thread only
    fence_.heavy();
    std::chrono::steady_clock::time_point deadline{};
    for (Local* o : by_local_id_) {
      if (o == &me) continue;
      while (o->in_db.load(kThreadSanitizer ? std::memory_order_seq_cst
                                            : std::memory_order_acquire)) {
        if (limit_ms >= 0) {
          const auto t = std::chrono::steady_clock::now();
          if (deadline == std::chrono::steady_clock::time_point{})
            deadline = t + std::chrono::milliseconds(limit_ms);
          else if (t >= deadline)
            return o;
        }
        std::this_thread::yield();
      }
    }
    return nullptr;
  }

  void end_write() noexcept {
    local().writing = false;
    pending_.store(false, std::memory_order_release);
    pending_.notify_all();
    write_mu_.unlock();
  }

  Revision bump_revision(Durability d) noexcept {
    const Revision r = revision() + 1;
    revision_.store(r, std::memory_order_relaxed);
    for (int i = 0; i <= static_cast<int>(d); ++i)
      last_changed_[i].store(r, std::memory_order_relaxed);
    return r;
  }
  // A write inside a batch: the first starts the batch's revision; later ones raise the
  // durabilities it changed.
  Revision batch_revision(Durability d) noexcept {
    if (!batch_started_) {
      batch_started_ = true;
      return bump_revision(d);
    }
    const Revision r = revision();
    for (int i = 0; i <= static_cast<int>(d); ++i)
      last_changed_[i].store(r, std::memory_order_relaxed);
    return r;
  }

  // The hooks may invalidate (interned values reclaimed, memos of deleted entities dropped):
  // their readers are marked before any query runs in the new revision.
  // Most writes find no ingredient with work (no LRU, no garbage collection, nothing deleted):
  // one load, not a call per ingredient.
  void run_revision_hooks(Database& db) {
    std::exception_ptr first;
    // A load first: the exchange (a locked instruction, ~7 ns of a ~30 ns write) only when
    // some ingredient asked.
    if (any_hook_.load(std::memory_order_relaxed) &&
        any_hook_.exchange(false, std::memory_order_acquire)) {
      bool again = false;
      for_each_ingredient([&](IngredientBase& ing) {
        if (!ing.wants_revision_hook()) return;
        try {
          ing.on_new_revision(db);
        } catch (...) {
          if (!first) first = std::current_exception();
        }
        again = again || ing.wants_revision_hook();
      });
      if (again) any_hook_.store(true, std::memory_order_relaxed);
    }
    mark_noted(db);
    if (first) std::rethrow_exception(first);
  }

  void note(std::vector<DatabaseKey>& log, DatabaseKey k) noexcept {
    try {
      append(log, k);
    } catch (...) {  // out of memory: fall back to verifying everything (always correct)
      index_lost_.store(true, std::memory_order_relaxed);
    }
  }

  // Under the write's exclusive access, before the revision changes: folds what every thread
  // executed into the reverse index, then marks the cone of `changed` and of every node noted
  // as invalidated. Cannot fail: if memory runs out, the engine verifies everything from now
  // on, as a pull-only engine does.
  void invalidate(Database&, DatabaseKey changed, bool count_anew) noexcept {
    if (count_anew) marked_ = 0;
    if (index_lost_.load(std::memory_order_relaxed)) return;
    try {
      to_mark_.clear();
      // The threads cannot change during a write (local_slow takes write_mu_).
      for (Local* o : by_local_id_) {
        for (DatabaseKey m : o->executed) fold(m);
        o->executed.clear();
        if (!o->invalidated.empty()) {
          to_mark_.insert(to_mark_.end(), o->invalidated.begin(), o->invalidated.end());
          o->invalidated.clear();
        }
      }
      mark_from(changed);
      for (DatabaseKey k : to_mark_) mark_from(k);
      to_mark_.clear();
    } catch (...) {
      reverse_.abandon();  // incomplete now: never read again
      index_lost_.store(true, std::memory_order_relaxed);
    }
  }

  void mark_noted(Database&) noexcept {
    Local& me = local();
    if (me.invalidated.empty() || index_lost_.load(std::memory_order_relaxed)) return;
    try {
      for (DatabaseKey k : me.invalidated) mark_from(k);
      me.invalidated.clear();
    } catch (...) {
      index_lost_.store(true, std::memory_order_relaxed);
    }
  }

  // The reverse edges of memo `m`'s dependencies. A memo that read an absent node (a query
  // that failed, a deleted entity) is marked now: the pull rule re-runs it at every revision
  // until it reads something present, and so do we.
  void fold(DatabaseKey m) {
    const auto& [ing, sub] = by_index_[m.ingredient];
    bool note_use = false;
    for (DatabaseKey d : ing->dependency_span(sub, m.key)) {
      SourceInfo info;
      const DatabaseKey source = source_of(d, info);
      if (info.absent) to_mark_.push_back(m);
      note_use = note_use || info.note_use;
      reverse_.add(source, m, [this](DatabaseKey reader, DatabaseKey node) {
        return still_reads(reader, node);
      });
    }
    if (note_use) ing->set_notes_use(sub, m.key);
  }

  DatabaseKey source_of(DatabaseKey d, SourceInfo& info) const {
    const auto& [ing, sub] = by_index_[d.ingredient];
    return ing->invalidation_source(sub, d.key, info);
  }

  bool still_reads(DatabaseKey reader, DatabaseKey node) const {
    const auto& [ing, sub] = by_index_[reader.ingredient];
    const std::span<const DatabaseKey> deps = ing->dependency_span(sub, reader.key);
    // Most nodes are their own source (not a tracked struct's): look for the node first.
    if (std::find(deps.begin(), deps.end(), node) != deps.end()) return true;
    for (DatabaseKey d : deps) {
      SourceInfo info;
      if (source_of(d, info) == node) return true;
    }
    return false;
  }

 public:
  // Memo `reader`, which read `deps`, was accepted in O(1): the uses it implies.
  void note_used(std::span<const DatabaseKey> deps) {
    for (DatabaseKey d : deps) {
      const auto& [ing, sub] = by_index_[d.ingredient];
      ing->note_used(sub, d.key, revision());
    }
  }

 private:

  // Marks `node` and everything above it that is not marked yet.
  void mark_from(DatabaseKey node) {
    std::vector<DatabaseKey>& stack = mark_stack_;
    auto mark_one = [&](DatabaseKey k) {
      const auto& [ing, sub] = by_index_[k.ingredient];
      if (!ing->mark_dirty(sub, k.key)) return false;
      ++marked_;
      return true;
    };
    auto mark = [&](DatabaseKey k) {
      if (mark_one(k)) stack.push_back(k);
    };
    if (!mark_one(node)) return;
    stack.clear();
    reverse_.for_each_dependent(node, mark);
    while (!stack.empty()) {
      const DatabaseKey k = stack.back();
      stack.pop_back();
      reverse_.for_each_dependent(k, mark);
    }
  }

  // The thread `p` is blocked on, if that edge is still live: a thread that was woken but has
  // not yet cleared its edge must not make a cycle appear.
  static Local* blocked_on(const Local* p) noexcept {
    if (!p->waiting_on || !p->waiting_word) return nullptr;
    return p->waiting_word->owner() == p->waiting_on->id ? p->waiting_on : nullptr;
  }

  // Where a cycle of waiting threads should close: at a memo whose query recovers from
  // cycles if there is one, then first by query name and key. The thread waiting for that
  // memo makes way, so the cycle's head does not depend on which thread came last.
  bool closes_before(DatabaseKey a, DatabaseKey b) const {
    const IngredientBase& ia = ingredient_at(a);
    const IngredientBase& ib = ingredient_at(b);
    if (ia.recovers_cycles() != ib.recovers_cycles()) return ia.recovers_cycles();
    if (&ia != &ib) {
      if (const int c = ia.name().compare(ib.name())) return c < 0;
      return a.ingredient < b.ingredient;
    }
    return a.key < b.key;
  }

  void block_on(Local& l, OwnerWord& owner, std::uint32_t owner_id, DatabaseKey key) {
    {
      LockGuard lock(locals_mu_);
      if (owner.owner() != owner_id) return;  // let go meanwhile: the caller retries
      Local* o = by_local_id_[owner_id - 1];
      // Edges are only added here, under the lock, after this check: the graph stays acyclic.
      Local* last = nullptr;  // the thread of the cycle that waits for a memo of ours
      for (Local* p = o; p && !last; p = blocked_on(p))
        if (blocked_on(p) == &l) last = p;
      if (last) make_way(l, o, last, owner, owner_id, key);
      l.waiting_on = o;
      l.waiting_for = key;
      l.waiting_word = &owner;
    }
    emit(EventKind::will_block_on, key, owner_id);
    // Wake when the owner lets go (a pending write makes the owner unwind soon), or when a
    // thread that would close a cycle asks this one to make way.
    owner.wait_while_owned_by(owner_id, l.must_yield);
    bool yield = false;
    DatabaseKey release;
    {
      LockGuard lock(locals_mu_);
      l.waiting_on = nullptr;
      l.waiting_word = nullptr;
      if (l.must_yield.load(std::memory_order_relaxed)) {
        l.must_yield.store(false, std::memory_order_relaxed);
        yield = true;
        release = l.yield_release;
      }
    }
    // (A memo it no longer holds, after a race with a release, needs no making way.)
    if (yield && active_position(l, release) < l.active.size())
      throw_control(l, active_position(l, release), YieldToCycle{release, &owner, owner_id, key});
    check_cancelled(l);
  }

  // Waiting for `key` (owner `o`) would close the cycle of threads l -> o -> ... -> last -> l.
  // One thread of it makes way: it lets go of the memo the thread before it waits for, and the
  // cycle then closes, on one thread, at the memo the one making way waited for. That memo is
  // chosen by closes_before. If it is ours, this thread unwinds now; otherwise the chosen
  // thread loses its edge (the graph stays acyclic once ours is added) and is woken to unwind.
  void make_way(Local& l, Local* o, Local* last, OwnerWord& owner, std::uint32_t owner_id,
                DatabaseKey key) {
    Local* yielder = &l;
    DatabaseKey closes = key;
    DatabaseKey releases = last->waiting_for;
    DatabaseKey before = key;  // what the thread before `p` in the cycle waits for
    for (Local* p = o;; p = blocked_on(p)) {
      if (closes_before(p->waiting_for, closes)) {
        yielder = p;
        closes = p->waiting_for;
        releases = before;
      }
      if (p == last) break;
      before = p->waiting_for;
    }
    if (yielder == &l)
      throw_control(l, active_position(l, releases), YieldToCycle{releases, &owner, owner_id, key});
    OwnerWord* word = yielder->waiting_word;
    const std::uint32_t waits_for = yielder->waiting_on->id;
    yielder->waiting_on = nullptr;
    yielder->waiting_word = nullptr;
    yielder->yield_release = releases;
    yielder->must_yield.store(true, std::memory_order_release);
    word->poke(waits_for);
  }

  std::atomic<Revision> revision_{1};
  std::array<std::atomic<Revision>, 4> last_changed_{1, 1, 1, 1};
  const std::uint32_t tag_;
  const std::uint64_t serial_;

  Mutex registry_mu_;
  StableVector<std::unique_ptr<IngredientBase>> owned_;
  StableVector<std::pair<IngredientBase*, std::uint32_t>> by_index_;
  // Ingredient by C++ type id: a flat array for the first types (one load on the hot path).
  static constexpr std::uint32_t kFastTypes = 256;
  std::array<std::atomic<IngredientBase*>, kFastTypes> fast_types_{};
  StableVector<std::atomic<IngredientBase*>> more_types_;

  Mutex locals_mu_;
  absl::flat_hash_map<std::thread::id, std::unique_ptr<Local>> locals_;
  // Grows under locals_mu_ and write_mu_ both: read under either.
  std::vector<Local*> by_local_id_;
  std::atomic<std::uint32_t> threads_{0};  // by_local_id_.size(), readable without the lock

  std::atomic<bool> pending_{false};
  std::atomic<std::int64_t> write_wait_limit_ms_{-1};
  Mutex write_mu_;
  AsymmetricFence fence_;

  std::function<void(const Event&)> on_event_;

  // Push-pull invalidation state, touched only under a write's exclusive access.
  ReverseIndex reverse_;
  std::vector<DatabaseKey> to_mark_;
  std::vector<DatabaseKey> mark_stack_;
  std::size_t marked_ = 0;
  // A batch write (BatchScope) is open; its revision has started. The writer's only.
  bool batch_ = false;
  bool batch_started_ = false;
  bool pull_only_for_testing_ = false;
#ifdef RELISH_CHECK_ACCEPTANCE  // the test suite turns the check on for every database
  bool check_acceptance_ = true;
#else
  bool check_acceptance_ = false;
#endif
  std::atomic<bool> index_lost_{false};
  // Some ingredient wants on_new_revision (IngredientBase::want_revision_hook sets it).
  std::atomic<bool> any_hook_{false};
};

}  // namespace relish::detail

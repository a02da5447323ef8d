// The engine's shared state: the revision counter, the durability table, the registry of
// ingredients, and the stack of active queries whose reads are being recorded.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "relish/durability.hpp"
#include "relish/error.hpp"
#include "relish/event.hpp"
#include "relish/detail/ids.hpp"

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
  std::size_t value_bytes() const noexcept { return value_stack_bytes + value_heap_bytes; }
  std::size_t total_bytes() const noexcept { return metadata_bytes + value_bytes(); }
};
}

namespace relish::detail {

class Runtime;

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
  // Called when a new revision starts (LRU eviction happens here).
  virtual void on_new_revision(Database&) {}
  // Applies value eviction (LRU capacity, byte budget) now.
  virtual void evict_values(Database&) {}
  // Deletes entity `key` (a tracked struct its creating query did not re-create).
  virtual void delete_entity(Database&, std::uint32_t /*key*/) {}
  // Entity `index` of the ingredient at `first_index` was deleted; memos keyed on it go.
  virtual void on_entity_deleted(Database&, std::uint32_t /*first_index*/,
                                 std::uint32_t /*index*/) {}

  const std::string& name() const noexcept { return name_; }
  std::uint32_t first_index() const noexcept { return first_index_; }

 private:
  friend class Runtime;
  std::string name_;
  std::uint32_t first_index_ = 0;
};

// One query execution in progress: what it has read so far.
struct Frame {
  DatabaseKey key;
  std::vector<DatabaseKey> deps;
  Durability durability = Durability::high;
  // Tracked structs created by this execution, and per (ingredient, identity hash) counters
  // that tell apart structs with equal identity fields.
  std::vector<DatabaseKey> created;
  absl::flat_hash_map<std::pair<std::uint32_t, std::uint64_t>, std::uint32_t> occurrences;

  void reset(DatabaseKey k) {
    key = k;
    deps.clear();
    durability = Durability::high;
    created.clear();
    occurrences.clear();
  }
};

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

inline std::uint32_t next_database_tag() {
  static std::atomic<std::uint32_t> counter{0};
  for (;;) {
    std::uint32_t t = (counter.fetch_add(1, std::memory_order_relaxed) + 1) & kTagMask;
    if (t != 0) return t;  // tag 0 is reserved for null handles
  }
}

class Runtime {
 public:
  Runtime() : tag_(next_database_tag()) {}

  Revision revision() const noexcept { return revision_; }
  std::uint32_t tag() const noexcept { return tag_; }

  // Last revision in which an input of durability >= d was written.
  Revision last_changed(Durability d) const noexcept {
    return last_changed_[static_cast<int>(d)];
  }

  // ---- ingredients -------------------------------------------------------------------

  // The ingredient registered for C++ type `Key`, created by `make()` on first use.
  template <class I, class Key, class Make>
  I& ingredient(Make&& make) {
    const std::uint32_t t = type_id<Key>();
    if (t < by_type_.size() && by_type_[t]) [[likely]]
      return *static_cast<I*>(by_type_[t]);
    return static_cast<I&>(register_ingredient(t, make()));
  }

  template <class I, class Key>
  I* find_ingredient() const noexcept {
    const std::uint32_t t = type_id<Key>();
    return t < by_type_.size() ? static_cast<I*>(by_type_[t]) : nullptr;
  }

  IngredientBase& register_ingredient(std::uint32_t type,
                                      std::pair<std::unique_ptr<IngredientBase>, std::uint32_t>
                                          made) {
    auto& [ing, subs] = made;
    ing->first_index_ = static_cast<std::uint32_t>(by_index_.size());
    for (std::uint32_t s = 0; s < subs; ++s) by_index_.push_back({ing.get(), s});
    if (by_type_.size() <= type) by_type_.resize(type + 1, nullptr);
    by_type_[type] = ing.get();
    owned_.push_back(std::move(ing));
    return *owned_.back();
  }

  const std::vector<std::unique_ptr<IngredientBase>>& ingredients() const noexcept {
    return owned_;
  }

  bool maybe_changed_after(Database& db, DatabaseKey k, Revision after) {
    const auto& [ing, sub] = by_index_[k.ingredient];
    return ing->maybe_changed_after(db, sub, k.key, after);
  }

  void delete_entity(Database& db, DatabaseKey k) {
    by_index_[k.ingredient].first->delete_entity(db, k.key);
  }

  // Tells every ingredient that entity `index` of `owner` is gone (memos keyed on it drop).
  void broadcast_deleted(Database& db, const IngredientBase& owner, std::uint32_t index) {
    for (auto& ing : owned_) ing->on_entity_deleted(db, owner.first_index(), index);
  }

  std::string describe(DatabaseKey k) const {
    if (k.ingredient >= by_index_.size()) return "<unknown>";
    const auto& [ing, sub] = by_index_[k.ingredient];
    return ing->describe(sub, k.key);
  }

  // ---- revisions ----------------------------------------------------------------------

  // Starts a new revision for a write of durability `d` (the higher of the field's old and
  // new durability, so memos that read the old value cannot take the durability shortcut).
  void new_revision(Database& db, Durability d, DatabaseKey written) {
    if (depth_ != 0) {
      throw MisuseError("cannot set " + describe(written) + " while query " +
                        describe(frames_[depth_ - 1].key) +
                        " is running: inputs are set only between queries");
    }
    ++revision_;
    for (int i = 0; i <= static_cast<int>(d); ++i) last_changed_[i] = revision_;
    for (auto& ing : owned_) ing->on_new_revision(db);
  }

  // ---- active queries -----------------------------------------------------------------

  bool in_query() const noexcept { return depth_ != 0; }
  Frame& top() noexcept { return frames_[depth_ - 1]; }

  Frame& push_frame(DatabaseKey k) {
    if (depth_ == frames_.size()) frames_.emplace_back();
    Frame& f = frames_[depth_++];
    f.reset(k);
    return f;
  }
  void pop_frame() noexcept { --depth_; }

  // Records that the running query (if any) read `k`.
  void record_read(DatabaseKey k, Durability d) {
    if (depth_ == 0) return;
    Frame& f = frames_[depth_ - 1];
    if (f.deps.empty() || !(f.deps.back() == k)) f.deps.push_back(k);
    if (d < f.durability) f.durability = d;
  }

  // Keys being executed or verified, outermost first, for cycle reports.
  void push_active(DatabaseKey k) { active_.push_back(k); }
  void pop_active() noexcept { active_.pop_back(); }

  [[noreturn]] void throw_cycle(DatabaseKey closing) const {
    std::vector<std::string> path;
    std::size_t start = 0;
    for (std::size_t i = active_.size(); i-- > 0;) {
      if (active_[i] == closing) {
        start = i;
        break;
      }
    }
    for (std::size_t i = start; i < active_.size(); ++i) path.push_back(describe(active_[i]));
    path.push_back(describe(closing));
    throw CycleError(std::move(path));
  }

  // ---- events -------------------------------------------------------------------------

  void set_event_callback(std::function<void(const Event&)> cb) { on_event_ = std::move(cb); }
  bool has_observer() const noexcept { return static_cast<bool>(on_event_); }
  void emit(EventKind kind, DatabaseKey key) const {
    if (on_event_) on_event_(Event{kind, key});
  }

 private:
  Revision revision_ = 1;
  std::array<Revision, 3> last_changed_{1, 1, 1};
  std::uint32_t tag_;
  std::vector<std::unique_ptr<IngredientBase>> owned_;
  std::vector<std::pair<IngredientBase*, std::uint32_t>> by_index_;
  std::vector<IngredientBase*> by_type_;
  std::deque<Frame> frames_;  // deque: frames keep their address while deeper ones are pushed
  std::size_t depth_ = 0;
  std::vector<DatabaseKey> active_;
  std::function<void(const Event&)> on_event_;
};

}  // namespace relish::detail

// relish/interned.hpp: interned structs, where the same data always gives the same handle.
//
//   struct UnionData { std::vector<Type> elements; };
//   using UnionType = relish::Interned<UnionData>;
//
//   UnionType u = UnionType::intern(db, {.elements = {a, b}});
//   UnionType::intern(db, {.elements = {a, b}}) == u;     // O(1) equality and hashing
//   const std::vector<Type>& e = u.get(db, &UnionData::elements);
//
// ty models its whole type system this way: same data -> same id, stable through cycle
// iteration, cheap to compare. The data type is a plain struct, hashed and compared field by
// field unless it brings its own AbslHashValue / operator==.
//
// Garbage collection is opt-in per type (`set_reclaim_after(db, N)`): values interned in a
// query of durability below high and unused for N revisions are then reclaimed, and their slot
// reused with a new generation, so an old handle is a StaleHandleError, never another value.
// Values interned outside any query count as high durability and are never reclaimed.
// Memos that read a reclaimable value depend on it and re-run if it is reclaimed.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "relish/database.hpp"
#include "relish/detail/ids.hpp"
#include "relish/detail/intern_table.hpp"
#include "relish/detail/names.hpp"
#include "relish/detail/runtime.hpp"
#include "relish/detail/stable_vector.hpp"
#include "relish/durability.hpp"
#include "relish/error.hpp"

namespace relish {

namespace detail {

template <class T>
class InternedIngredient final : public IngredientBase {
 public:
  InternedIngredient() : IngredientBase(std::string(entity_name<T>())) {
    want_revision_hook(false);  // until collection is on
  }

  // Returns (index, stamp) for a value equal to `probe`, inserting make() if it is new.
  template <class P, class Make>
  std::pair<std::uint32_t, std::uint32_t> intern(Database& db, const P& probe, Make&& make) {
    Runtime& rt = db.runtime();
    Local& l = rt.local();
    return rt.read_in_scope(l, [&] { return intern_in_scope(rt, l, probe, make); });
  }

  template <class P, class Make>
  std::pair<std::uint32_t, std::uint32_t> intern_in_scope(Runtime& rt, Local& l, const P& probe,
                                                          Make& make) {
    const Revision now = rt.revision();
    const Durability d = l.depth ? l.frames[l.depth - 1].durability : Durability::high;
    auto [index, inserted] = table_.intern(probe, make, [&](std::uint32_t i) {
      meta_.ensure_size(i + 1);
      Meta& m = meta_[i];
      const std::uint32_t old = m.stamp.load(std::memory_order_relaxed);
      const std::uint32_t gen = old == 0 ? 1 : stamp_generation(old) + 1;
      m.first_interned = now;
      m.last_used.store(now, std::memory_order_relaxed);
      m.stamp.store(make_stamp(rt.tag(), gen), std::memory_order_relaxed);
      m.durability.store(d, std::memory_order_relaxed);
      m.live.store(true, std::memory_order_release);
      live_.fetch_add(1, std::memory_order_relaxed);
    });
    Meta& m = meta_[index];
    if (!inserted) {
      if (m.last_used.load(std::memory_order_relaxed) != now)
        m.last_used.store(now, std::memory_order_relaxed);
      // Now also needed by a more durable query: keep it as long as that one.
      Durability old = m.durability.load(std::memory_order_relaxed);
      while (d > old && !m.durability.compare_exchange_weak(old, d, std::memory_order_relaxed)) {
      }
    }
    record(rt, l, index, m);
    return {index, m.stamp.load(std::memory_order_relaxed)};
  }

  const T& get(Database& db, std::uint32_t index, std::uint32_t stamp) {
    Runtime& rt = db.runtime();
    return rt.read_in_scope(rt.local(), [&]() -> const T& { return read(rt, index, stamp); });
  }

  const T& read(Runtime& rt, std::uint32_t index, std::uint32_t stamp) {
    Meta* m = meta_.get(index);
    if (!m || !m->live.load(std::memory_order_acquire) ||
        m->stamp.load(std::memory_order_relaxed) != stamp) [[unlikely]]
      throw_bad_handle(rt, index, stamp);
    if (reclaim_after_ != 0) {
      const Revision now = rt.revision();
      if (m->last_used.load(std::memory_order_relaxed) != now)
        m->last_used.store(now, std::memory_order_relaxed);
      record(rt, rt.local(), index, *m);
    }
    return table_[index];
  }

  // Throws unless (index, stamp) names a live value of this database.
  void check_handle(const Runtime& rt, std::uint32_t index, std::uint32_t stamp) const {
    const Meta* m = meta_.get(index);
    if (!m || !m->live.load(std::memory_order_acquire) ||
        m->stamp.load(std::memory_order_relaxed) != stamp) [[unlikely]]
      throw_bad_handle(rt, index, stamp);
  }

  // Values interned while collection was off were read without a dependency: no memo would
  // notice their reclaim, so they are kept for good (as if interned at top level).
  void set_reclaim_after(std::uint32_t revisions) noexcept {
    if (reclaim_after_ == 0 && revisions != 0) {
      for (std::uint32_t i = 0; i < meta_.size(); ++i)
        meta_[i].durability.store(Durability::high, std::memory_order_relaxed);
    }
    reclaim_after_ = revisions;
    want_revision_hook(revisions != 0);
  }

  bool maybe_changed_after(Database& db, std::uint32_t, std::uint32_t key,
                           Revision after) override {
    Meta* m = meta_.get(key);
    if (!m || !m->live.load(std::memory_order_acquire) || m->first_interned > after) return true;
    m->last_used.store(db.runtime().revision(), std::memory_order_relaxed);
    return false;
  }

  std::string describe(std::uint32_t, std::uint32_t key) const override {
    return describe_entity(key);
  }

  // "Union#3", or relish_debug of the value while it is live (interned values never change).
  std::string describe_entity(std::uint32_t index) const {
    const T* value = nullptr;
    if constexpr (HasDebugHook<T>) {
      const Meta* m = meta_.get(index);
      if (m && m->live.load(std::memory_order_acquire)) value = table_.get(index);
    }
    return entity_debug_string<T>(index, value);
  }

  bool changed_since(const Runtime&, std::uint32_t, std::uint32_t key, Revision after,
                     absl::flat_hash_set<DatabaseKey>&) const override {
    const Meta* m = meta_.get(key);
    return !m || !m->live.load(std::memory_order_relaxed) || m->first_interned > after;
  }

  DatabaseKey invalidation_source(std::uint32_t, std::uint32_t key,
                                  SourceInfo& info) const override {
    const Meta* m = meta_.get(key);
    info.absent = !m || !m->live.load(std::memory_order_relaxed);
    info.note_use = reclaim_after_ != 0;
    return DatabaseKey{first_index(), key};
  }

  // A memo that read the value was accepted without verification: the value is in use.
  void note_used(std::uint32_t, std::uint32_t key, Revision now) override {
    if (Meta* m = meta_.get(key); m && m->last_used.load(std::memory_order_relaxed) != now)
      m->last_used.store(now, std::memory_order_relaxed);
  }

  void on_new_revision(Database& db) override {
    const Revision now = db.runtime().revision();
    if (reclaim_after_ == 0 || now % reclaim_after_ != 0) return;  // sweep every N revisions
    for (std::uint32_t i = 0; i < meta_.size(); ++i) {
      Meta& m = meta_[i];
      if (!m.live.load(std::memory_order_relaxed)) continue;
      const Durability d = m.durability.load(std::memory_order_relaxed);
      const Revision used = m.last_used.load(std::memory_order_relaxed);
      // Unused for N revisions, and no memo can still hold it unseen: memos that read it are
      // at most as durable as it is, so after a write of that durability, every one of them
      // verifies deeply (touching it, or finding it reclaimed) before it is used again. Without
      // such a write, one verified by the durability shortcut never touches it.
      if (d < Durability::high && used + reclaim_after_ <= now &&
          db.runtime().last_changed(d) > used)
        reclaim(db, i);
    }
  }

  std::uint32_t live_count() const noexcept { return live_.load(std::memory_order_relaxed); }

  void memory(IngredientMemory& out) const override {
    out.kind = "interned";
    out.entries += live_count();
    out.values += live_count();
    out.metadata_bytes += meta_.used_bytes();
    out.reserved_bytes += meta_.reserved_bytes();
    table_.memory(out);
  }

 private:
  struct Meta {
    Revision first_interned = 0;  // when this slot got its current value
    std::atomic<Revision> last_used{0};
    std::atomic<std::uint32_t> stamp{0};
    std::atomic<Durability> durability{Durability::high};
    std::atomic<bool> live{false};
  };

  void reclaim(Database& db, std::uint32_t index) {
    Meta& m = meta_[index];
    // A slot whose generation is exhausted is retired: an old stamp never comes back.
    m.live.store(false, std::memory_order_relaxed);
    table_.erase(index, stamp_generation(m.stamp.load(std::memory_order_relaxed)) < kMaxGeneration);
    live_.fetch_sub(1, std::memory_order_relaxed);
    Runtime& rt = db.runtime();
    rt.note_invalidated(rt.local(), DatabaseKey{first_index(), index});  // its readers re-check
    rt.broadcast_deleted(db, *this, index, m.stamp.load(std::memory_order_relaxed));
    rt.emit(EventKind::did_reclaim, DatabaseKey{first_index(), index});
  }

  // Only reclaimable values need a dependency: the others never change under a handle.
  void record(Runtime& rt, Local& l, std::uint32_t index, const Meta& m) {
    const Durability d = m.durability.load(std::memory_order_relaxed);
    if (reclaim_after_ != 0 && d < Durability::high)
      rt.record_read(l, DatabaseKey{first_index(), index}, d);
  }

  [[noreturn]] void throw_bad_handle(const Runtime& rt, std::uint32_t index,
                                     std::uint32_t stamp) const {
    const std::string h = name() + "#" + std::to_string(index);
    detail::throw_bad_handle(rt.tag(), h, stamp,
                             "handle " + h + " names an interned value that was reclaimed");
  }

  InternTable<T> table_;
  StableVector<Meta> meta_;  // parallel to the table's ids
  std::uint32_t reclaim_after_ = 0;  // set between queries
  std::atomic<std::uint32_t> live_{0};
};

}  // namespace detail

template <class T>
class Interned : public detail::HandleBase<Interned<T>> {
 public:
  using Ingredient = detail::InternedIngredient<T>;
  using relish_handle_tag = void;
  using Data = T;

  Interned() = default;

  // The handle of `value`: the same handle for equal values, in any revision.
  static Interned intern(Database& db, const T& value) {
    auto [index, stamp] = ingredient(db).intern(db, value, [&] { return T(value); });
    return Interned::from_raw(index, stamp);
  }
  static Interned intern(Database& db, T&& value) {
    auto [index, stamp] = ingredient(db).intern(db, value, [&] { return T(std::move(value)); });
    return Interned::from_raw(index, stamp);
  }

  const T& get(Database& db) const { return ingredient(db).get(db, this->index(), this->stamp()); }
  template <class M>
  const M& get(Database& db, M T::*field) const {
    return get(db).*field;
  }

  // Opt into garbage collection of values unused for `revisions` revisions (0: never).
  static void set_reclaim_after(Database& db, std::uint32_t revisions) {
    ingredient(db).set_reclaim_after(revisions);
  }

  // "Union#3" (Database::describe of a query keyed on it uses relish_debug, if defined).
  std::string debug_name() const { return detail::entity_debug_string<T>(this->index(), nullptr); }

  [[gnu::always_inline]] static Ingredient& ingredient(Database& db) {
    return db.runtime().template ingredient<Ingredient, Ingredient>([] {
      return std::pair{std::unique_ptr<detail::IngredientBase>(new Ingredient()),
                       std::uint32_t{1}};
    });
  }
};

}  // namespace relish

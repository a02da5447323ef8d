// relish/tracked.hpp: tracked structs, entities created inside a query.
//
//   struct DefinitionData {
//     File file;                                                  // identity fields...
//     std::uint32_t scope;
//     std::uint32_t place;
//     relish::TrackedField<DefinitionKind, relish::NoEq> kind;    // ...and tracked fields
//     bool is_reexported;
//   };
//   using Definition = relish::Tracked<DefinitionData>;
//
//   // inside a query:
//   Definition d = Definition::create(db, {.file = f, .scope = 0, .place = 3, .kind = k});
//   // anywhere:
//   const DefinitionKind& k = d.get(db, &DefinitionData::kind);
//
// Identity: the creating query and its key, the identity fields (every field that is not a
// TrackedField), and an occurrence counter for equal identities within one execution. When
// the creating query re-runs and creates an entity with the same identity, it gets the *same*
// handle; its tracked fields are updated (with equality, a field set to an equal value keeps
// its old change revision; NoEq fields always count as changed). Entities the re-run did not
// create again are deleted: memos keyed on them are dropped and reading them throws
// StaleHandleError. Each field is its own dependency: a NoEq `kind` that changes on every
// re-parse does not invalidate queries that read only the identity fields.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "relish/database.hpp"
#include "relish/detail/ids.hpp"
#include "relish/detail/names.hpp"
#include "relish/detail/reflect.hpp"
#include "relish/detail/runtime.hpp"
#include "relish/detail/stable_vector.hpp"
#include "relish/detail/value.hpp"
#include "relish/durability.hpp"
#include "relish/heap_size.hpp"
#include "relish/error.hpp"

namespace relish {

struct Eq {};    // a tracked field compared on update: equal values keep their revision
struct NoEq {};  // a tracked field never compared: every update counts as a change

// Marks a field of a tracked struct as tracked (not part of the identity).
template <class V, class Policy = Eq>
struct TrackedField {
  static_assert(std::is_same_v<Policy, Eq> || std::is_same_v<Policy, NoEq>);
  static constexpr bool no_eq = std::is_same_v<Policy, NoEq>;
  using value_type = V;

  V value{};

  TrackedField() = default;
  template <class U>
    requires std::is_constructible_v<V, U&&>
  TrackedField(U&& u) : value(std::forward<U>(u)) {}  // NOLINT: implicit, for designated init

  friend std::size_t relish_heap_size(const TrackedField& f) { return relish::heap_size(f.value); }
};

namespace detail {

template <class T>
struct is_tracked_field : std::false_type {};
template <class V, class P>
struct is_tracked_field<TrackedField<V, P>> : std::true_type {};

template <class H, class F>
H hash_identity(H h, const F& f) {
  if constexpr (is_tracked_field<F>::value) {
    return h;
  } else {
    return hash_append(std::move(h), f);
  }
}

// Calls fn(index, field_of_a, field_of_b) for each field of two objects of the same type.
template <class T, class Fn>
void for_each_field_pair(T& a, const T& b, Fn&& fn) {
  auto fa = fields_of(a);
  auto fb = fields_of(b);
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (fn(std::integral_constant<std::size_t, I>{}, std::get<I>(fa), std::get<I>(fb)), ...);
  }(std::make_index_sequence<field_count<T>>{});
}

inline constexpr std::uint8_t kIdentityField = 0xff;

// For each field of T, its slot among T's tracked fields (kIdentityField for identity fields):
// only tracked fields change under one identity, so only they need a change revision.
template <class T>
constexpr auto tracked_field_slots() {
  using Fields = decltype(fields_of(std::declval<T&>()));
  std::array<std::uint8_t, field_count<T>> slots{};
  std::uint8_t next = 0;
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    ((slots[I] = is_tracked_field<std::remove_cvref_t<std::tuple_element_t<I, Fields>>>::value
                     ? next++
                     : kIdentityField),
     ...);
  }(std::make_index_sequence<field_count<T>>{});
  return std::pair{slots, next};
}

template <class T>
class TrackedIngredient final : public IngredientBase {
 public:
  static constexpr std::uint32_t kFields = static_cast<std::uint32_t>(field_count<T>);
  static constexpr auto kSlots = tracked_field_slots<T>().first;
  static constexpr std::size_t kTracked = tracked_field_slots<T>().second;

  TrackedIngredient()
      : IngredientBase(std::string(entity_name<T>())),
        by_identity_(0, IdentityHash{&entities_}, IdentityEq{&entities_}) {
    want_revision_hook(false);  // until an entity dies
  }

  std::pair<std::uint32_t, std::uint32_t> create(Database& db, T&& value) {
    Runtime& rt = db.runtime();
    Local& l = rt.local();
    if (l.depth == 0) {
      throw MisuseError("cannot create tracked struct " + name() +
                        " outside a query: tracked structs are created by queries");
    }
    Frame& f = l.frames[l.depth - 1];
    const std::uint64_t hash = identity_hash(value);
    const Revision now = rt.revision();
    if (const std::uint32_t index = same_as_last_time(f, hash, value); index != kNone) {
      Entity& e = entities_[index];
      if constexpr (HasDebugHook<T>) {  // describe_entity reads the fields under the lock
        std::lock_guard<SpinLock> lock(mu_);
        reuse(e, value, f, now);
      } else {
        reuse(e, value, f, now);
      }
      f.created.push_back(DatabaseKey{first_index(), index});
      return {index, e.stamp};
    }
    std::lock_guard<SpinLock> lock(mu_);
    // The k-th struct with this identity hash that an execution creates is occurrence k, and
    // is the entity of occurrence k of the creator's previous execution, if that one has the
    // same identity fields. Occurrences are claimed in order, so the first one not claimed by
    // this execution is the one; counting them (`occurrences`) is only needed from the
    // second struct with one hash on.
    Identity id{f.key, hash, 0};
    Entity* reused = nullptr;
    std::uint32_t index = 0;
    for (bool counted = false;; ++id.occurrence) {
      auto it = by_identity_.find(id);
      if (it == by_identity_.end()) break;
      Entity& e = entities_[*it];
      if (e.claimed_by != f.serial && same_identity(*e.value, value)) {
        reused = &e;
        index = *it;
        break;
      }
      if (!counted) {  // claimed (or another identity under an equal hash): count from here
        counted = true;
        const std::uint32_t next = f.occurrences[{first_index(), hash}];
        if (next > id.occurrence + 1) id.occurrence = next - 1;
      }
    }
    if (id.occurrence != 0) f.occurrences[{first_index(), hash}] = id.occurrence + 1;
    if (reused) {
      reuse(*reused, value, f, now);
    } else {
      index = allocate(rt, std::move(value), id, f.durability, f.serial);
    }
    f.created.push_back(DatabaseKey{first_index(), index});
    return {index, entities_[index].stamp};
  }

  template <class M>
  decltype(auto) get(Database& db, std::uint32_t index, std::uint32_t stamp, M T::*member) {
    Runtime& rt = db.runtime();
    Local& l = rt.local();
    return rt.read_in_scope(l,
                            [&]() -> decltype(auto) { return read(db, l, index, stamp, member); });
  }

  template <class M>
  decltype(auto) read(Database& db, Local& l, std::uint32_t index, std::uint32_t stamp,
                      M T::*member) {
    Runtime& rt = db.runtime();
    Entity* e = entities_.get(index);
    if (!e || e->stamp != stamp || !e->alive.load(std::memory_order_acquire)) [[unlikely]]
      throw_bad_handle(rt, index, stamp);
    if (e->validated_at.load(std::memory_order_acquire) != rt.revision()) [[unlikely]] {
      revalidate(db, l, *e);
      if (e->stamp != stamp || !e->alive.load(std::memory_order_acquire))
        throw_bad_handle(rt, index, stamp);
    }
    const std::size_t i = field_index(*e->value, member);
    if (i >= kFields) throw MisuseError("member pointer is not a direct field of " + name());
    if constexpr (is_tracked_field<M>::value) {
      rt.record_read(l, DatabaseKey{first_index() + 1 + static_cast<std::uint32_t>(i), index},
                     e->durability);
      return static_cast<const typename M::value_type&>(((*e->value).*member).value);
    } else {
      rt.record_read(l, DatabaseKey{first_index(), index}, e->durability);
      return static_cast<const M&>((*e->value).*member);
    }
  }

  // For Query::specify (specify.hpp): who created the entity, in which execution, and its
  // durability; and bringing its creator up to date in this revision, as a read does.
  DatabaseKey creator_of(std::uint32_t index) const { return entities_[index].creator; }
  bool created_in(std::uint32_t index, std::uint64_t serial) const {
    return entities_[index].claimed_by == serial;
  }
  Durability durability_of(std::uint32_t index) const { return entities_[index].durability; }
  void ensure_current(Database& db, Local& l, std::uint32_t index) {
    Entity* e = entities_.get(index);
    if (e && e->alive.load(std::memory_order_acquire) &&
        e->validated_at.load(std::memory_order_acquire) != db.runtime().revision())
      revalidate(db, l, *e);
  }

  // Throws unless (index, stamp) names a live entity of this database.
  void check_handle(const Runtime& rt, std::uint32_t index, std::uint32_t stamp) const {
    const Entity* e = entities_.get(index);
    if (!e || e->stamp != stamp || !e->alive.load(std::memory_order_acquire)) [[unlikely]]
      throw_bad_handle(rt, index, stamp);
  }

  // sub 0: the entity's existence and identity; sub 1 + i: field i.
  bool maybe_changed_after(Database& db, std::uint32_t sub, std::uint32_t key,
                           Revision after) override {
    Entity* e = entities_.get(key);
    if (!e || !e->alive.load(std::memory_order_acquire)) return true;
    if (e->validated_at.load(std::memory_order_acquire) != db.runtime().revision()) [[unlikely]] {
      revalidate(db, db.runtime().local(), *e);
      if (!e->alive.load(std::memory_order_acquire)) return true;
    }
    return e->created_at > after || field_changed_at(*e, sub) > after;
  }

  // A field (or the existence) of an entity changes only when its creating query re-runs:
  // the readers of the entity hang off the creator in the reverse index.
  DatabaseKey invalidation_source(std::uint32_t sub, std::uint32_t key,
                                  SourceInfo& info) const override {
    const Entity* e = entities_.get(key);
    if (!e || !e->alive.load(std::memory_order_relaxed)) {
      info.absent = true;
      return DatabaseKey{first_index() + sub, key};
    }
    return e->creator;
  }

  bool changed_since(const Runtime& rt, std::uint32_t sub, std::uint32_t key, Revision after,
                     absl::flat_hash_set<DatabaseKey>& seen) const override {
    const Entity* e = entities_.get(key);
    if (!e || !e->alive.load(std::memory_order_relaxed) || e->created_at > after) return true;
    if (field_changed_at(*e, sub) > after) return true;
    return rt.changed_since(e->creator, after, seen);  // about to change?
  }

  // Its creating query was verified in this revision: the entity is current.
  void mark_validated(std::uint32_t key, Revision now) override {
    if (Entity* e = entities_.get(key)) e->validated_at.store(now, std::memory_order_release);
  }

  // "Def#3" (its existence), "Def#3.body" (a field); relish_debug of the data if defined.
  std::string describe(std::uint32_t sub, std::uint32_t key) const override {
    std::string s = describe_entity(key);
    return sub == 0 ? s : s + field_suffix<T>(sub - 1);
  }

  // Under the lock: the creating query may be updating the fields on another thread.
  std::string describe_entity(std::uint32_t index) const {
    if constexpr (HasDebugHook<T>) {
      std::lock_guard<SpinLock> lock(mu_);
      const Entity* e = entities_.get(index);
      return entity_debug_string<T>(index, e && e->value ? &*e->value : nullptr);
    } else {
      return entity_debug_string<T>(index, nullptr);
    }
  }

  // Reading the entity through an old handle is a StaleHandleError from now on, but its value
  // lives until the next revision, and its slot is reused only then: another thread may still
  // be reading it, and a memo keyed on it may have handed out a reference, valid until the
  // next write.
  void delete_entity(Database& db, std::uint32_t index) override {
    std::uint32_t stamp;
    {
      std::lock_guard<SpinLock> lock(mu_);
      Entity* e = entities_.get(index);
      if (!e || !e->alive.load(std::memory_order_relaxed)) return;
      by_identity_.erase(index);  // hashed from its identity, still in place
      e->alive.store(false, std::memory_order_release);
      dead_.push_back(index);
      want_revision_hook(true);
      --live_;
      stamp = e->stamp;
    }
    db.runtime().broadcast_deleted(db, *this, index, stamp);
    db.runtime().emit(EventKind::did_discard, DatabaseKey{first_index(), index});
  }

  // No query runs: the values of entities deleted in the last revision go, and their slots
  // become reusable (unless their generation is exhausted: then the slot is retired, so that
  // no old handle can ever name a new entity).
  void on_new_revision(Database&) override {
    std::lock_guard<SpinLock> lock(mu_);
    want_revision_hook(false);
    for (std::uint32_t index : dead_) {
      Entity& e = entities_[index];
      e.value.reset();
      if (stamp_generation(e.stamp) < kMaxGeneration) free_.push_back(index);
    }
    dead_.clear();
  }

  std::uint32_t live_count() const noexcept { return live_; }

  void memory(IngredientMemory& out) const override {
    out.kind = "tracked";
    out.entries += live_;
    out.values += live_;
    out.reserved_bytes += entities_.reserved_bytes();
    out.metadata_bytes += entities_.used_bytes() - live_ * sizeof(T) +
                          by_identity_.capacity() * (sizeof(std::uint32_t) + 1) +
                          (free_.capacity() + dead_.capacity()) * sizeof(std::uint32_t);
    for (std::uint32_t i = 0; i < entities_.size(); ++i) {
      if (!entities_[i].alive.load(std::memory_order_relaxed)) continue;
      out.value_stack_bytes += sizeof(T);
      out.value_heap_bytes += relish::heap_size(*entities_[i].value);
    }
  }

 private:
  struct Identity {
    DatabaseKey creator;
    std::uint64_t hash = 0;
    std::uint32_t occurrence = 0;
    friend bool operator==(const Identity&, const Identity&) = default;
    template <class H>
    friend H AbslHashValue(H h, const Identity& x) {
      return H::combine(std::move(h), x.creator, x.hash, x.occurrence);
    }
  };

  // 56 bytes besides the value and a revision per tracked field.
  struct Entity {
    std::optional<T> value;
    [[no_unique_address]] std::array<Revision, kTracked> changed_at{};  // per tracked field
    Revision created_at = 0;
    // The last revision its creating query was verified or re-ran in. Before that happens in
    // a new revision, its fields may be about to change (or it may be about to go): a read
    // first brings the creator up to date (see revalidate).
    std::atomic<Revision> validated_at{0};
    std::uint64_t claimed_by = 0;  // the execution (Frame::serial) that last created it
    // Its identity: the creating query and key, the hash of the identity fields, the
    // occurrence of that hash within one execution.
    std::uint64_t hash = 0;
    DatabaseKey creator;
    std::uint32_t occurrence = 0;
    std::uint32_t stamp = 0;
    Durability durability = Durability::low;
    std::atomic<bool> alive{false};  // false once deleted (the value stays until next revision)

    Identity identity() const { return Identity{creator, hash, occurrence}; }
  };

  // sub 0: existence (0: it changes only by being created); sub 1 + i: field i.
  static Revision field_changed_at(const Entity& e, std::uint32_t sub) {
    if constexpr (kTracked == 0) {
      return 0;
    } else {
      if (sub == 0 || sub > kFields || kSlots[sub - 1] == kIdentityField) return 0;
      return e.changed_at[kSlots[sub - 1]];
    }
  }

  // The identity index holds entity indices only (4 bytes a slot, not a copy of the identity):
  // an index hashes and compares as its entity's identity. Entities are in it while alive.
  struct IdentityHash {
    using is_transparent = void;
    const StableVector<Entity>* entities;
    std::size_t operator()(const Identity& id) const { return absl::HashOf(id); }
    std::size_t operator()(std::uint32_t i) const { return absl::HashOf((*entities)[i].identity()); }
  };
  struct IdentityEq {
    using is_transparent = void;
    const StableVector<Entity>* entities;
    bool operator()(std::uint32_t a, std::uint32_t b) const { return a == b; }
    bool operator()(std::uint32_t a, const Identity& b) const { return (*entities)[a].identity() == b; }
    bool operator()(const Identity& a, std::uint32_t b) const { return (*this)(b, a); }
  };

  // The struct the previous execution created at this point, if it is this one: the entity
  // of occurrence 0 of this identity, alive and not claimed by this execution yet, which the
  // identity index would give too (any other case takes the lookup). No lock: the creator's
  // entities change only in its own executions (this thread's, now); a slot another thread
  // is filling (allocate, reusing a freed one) is not alive yet; every field read here is
  // written before its entity is published alive (release), and while it is alive only its
  // creator's executions write claimed_by (checked after creator) and the identity is fixed.
  static constexpr std::uint32_t kNone = ~std::uint32_t{0};
  std::uint32_t same_as_last_time(const Frame& f, std::uint64_t hash, const T& value) const {
    const std::vector<DatabaseKey>* prev = f.previous_created;
    if (!prev || f.created.size() >= prev->size()) return kNone;
    const DatabaseKey k = (*prev)[f.created.size()];
    if (k.ingredient != first_index()) return kNone;
    const Entity* e = entities_.get(k.key);
    if (!e || !e->alive.load(std::memory_order_acquire)) return kNone;
    if (e->creator != f.key || e->hash != hash || e->occurrence != 0 || e->claimed_by == f.serial)
      return kNone;
    return same_identity(*e->value, value) ? k.key : kNone;
  }

  // Claims entity `e` for this execution with `fresh`'s tracked fields (a refill keeps the
  // fields: they are equal, and other threads may be reading them).
  static void reuse(Entity& e, T& fresh, const Frame& f, Revision now) {
    if (f.refill) {
      e.claimed_by = f.serial;
      e.validated_at.store(now, std::memory_order_release);
      return;
    }
    update_fields(e, fresh, now);
    if (f.durability < e.durability) {
      // Readers recorded the old, higher durability: to them the entity and every field
      // changed, or the durability shortcut would skip its later changes.
      e.changed_at.fill(now);
      e.created_at = now;
    }
    e.durability = f.durability;
    e.claimed_by = f.serial;
    e.validated_at.store(now, std::memory_order_release);
  }

  // An entity read (or verified) in a revision its creator has not been brought up to date
  // in yet, through a handle kept from an earlier revision: the creator is verified first (it
  // re-runs if its inputs changed, updating or deleting the entity), so the read sees this
  // revision's fields, and no thread reads them while the creator rewrites them (it waits for
  // the creator). Not when the creator is running on this thread: that is its own business.
  static void revalidate(Database& db, Local& l, const Entity& e) {
    Runtime& rt = db.runtime();
    const DatabaseKey creator = e.creator;
    if (Runtime::active_position(l, creator) < l.active.size()) return;
    (void)rt.maybe_changed_after(db, creator, e.validated_at.load(std::memory_order_acquire));
  }

  // Hashes the identity fields only (tracked fields may change under the same identity).
  struct IdentityView {
    const T& v;
    template <class H>
    friend H AbslHashValue(H h, const IdentityView& x) {
      std::apply([&](const auto&... f) { ((h = hash_identity(std::move(h), f)), ...); },
                 fields_of(x.v));
      return h;
    }
  };
  static std::uint64_t identity_hash(const T& v) { return absl::HashOf(IdentityView{v}); }

  static bool same_identity(const T& a, const T& b) {
    bool same = true;
    for_each_field_pair(const_cast<T&>(a), b, [&](auto, const auto& fa, const auto& fb) {
      if constexpr (!is_tracked_field<std::remove_cvref_t<decltype(fa)>>::value)
        same = same && values_equal(fa, fb);
    });
    return same;
  }

  // Moves the new values of tracked fields in; a field's revision moves only if it changed.
  static void update_fields(Entity& e, T& fresh, Revision now) {
    for_each_field_pair(*e.value, fresh, [&](auto i, auto& old_f, const auto& new_f) {
      using F = std::remove_cvref_t<decltype(old_f)>;
      if constexpr (is_tracked_field<F>::value) {
        bool changed = true;
        if constexpr (!F::no_eq) changed = !values_equal(old_f.value, new_f.value);
        if (changed) {
          old_f.value = std::move(const_cast<typename F::value_type&>(new_f.value));
          e.changed_at[kSlots[i]] = now;
        }
      }
    });
  }

  std::uint32_t allocate(Runtime& rt, T&& value, const Identity& id, Durability d,
                         std::uint64_t serial) {
    const bool reused = !free_.empty();
    // Under mu_, like every append of entities_.
    const std::uint32_t index = reused ? free_.back() : entities_.emplace_back_serialized();
    Entity& e = entities_[index];
    const std::uint32_t gen = e.stamp == 0 ? 1 : stamp_generation(e.stamp) + 1;
    e.value.emplace(std::move(value));
    e.changed_at.fill(rt.revision());
    e.created_at = rt.revision();
    e.stamp = make_stamp(rt.tag(), gen);
    e.durability = d;
    e.creator = id.creator;
    e.hash = id.hash;
    e.occurrence = id.occurrence;
    e.claimed_by = serial;  // before it is published alive (same_as_last_time reads it)
    e.validated_at.store(rt.revision(), std::memory_order_relaxed);
    try {
      by_identity_.insert(index);  // create() found no live entity with this identity
    } catch (...) {  // out of memory: nothing is created, the slot is free
      e.value.reset();
      if (!reused) free_.push_back(index);
      throw;
    }
    if (reused) free_.pop_back();
    e.alive.store(true, std::memory_order_release);
    ++live_;
    return index;
  }

  [[noreturn]] void throw_bad_handle(const Runtime& rt, std::uint32_t index,
                                     std::uint32_t stamp) const {
    const std::string h = name() + "#" + std::to_string(index);
    detail::throw_bad_handle(
        rt.tag(), h, stamp,
        "tracked struct " + h + " was deleted: its creating query ran again without creating it");
  }

  StableVector<Entity> entities_;
  absl::flat_hash_set<std::uint32_t, IdentityHash, IdentityEq> by_identity_;
  std::vector<std::uint32_t> free_;  // reusable slots
  std::vector<std::uint32_t> dead_;  // deleted in this revision: reusable from the next one
  std::uint32_t live_ = 0;
  mutable SpinLock mu_;  // creation and deletion (reads of live entities take no lock): short
};

}  // namespace detail

template <class T>
class Tracked : public detail::HandleBase<Tracked<T>> {
 public:
  using Ingredient = detail::TrackedIngredient<T>;
  using relish_handle_tag = void;
  using Data = T;

  Tracked() = default;

  // Creates (or, when the creating query re-runs, re-creates) an entity. Inside a query only.
  static Tracked create(Database& db, T value) {
    auto [index, stamp] = ingredient(db).create(db, std::move(value));
    return Tracked::from_raw(index, stamp);
  }

  // Reads one field: a TrackedField<V> gives `const V&` and a dependency on that field; an
  // identity field gives a dependency on the entity's existence only.
  template <class M>
  decltype(auto) get(Database& db, M T::*field) const {
    return ingredient(db).get(db, this->index(), this->stamp(), field);
  }

  // "Def#3" (Database::describe of a query keyed on it uses relish_debug, if defined).
  std::string debug_name() const { return detail::entity_debug_string<T>(this->index(), nullptr); }

  [[gnu::always_inline]] static Ingredient& ingredient(Database& db) {
    // Here rather than at class scope: T may hold a Tracked<T> (in an std::optional, say) and
    // is incomplete while it is being defined. No fields at all is fine: pure identity.
    static_assert(detail::ReflectableOrEmpty<T>,
                  "relish::Tracked<T>: T must be a plain aggregate struct with at most 16 fields");
    return db.runtime().template ingredient<Ingredient, Ingredient>([] {
      return std::pair{std::unique_ptr<detail::IngredientBase>(new Ingredient()),
                       Ingredient::kFields + 1};
    });
  }
};

}  // namespace relish

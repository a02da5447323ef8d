// relish/input.hpp: inputs, the records set from outside that everything else is computed from.
//
//   struct FileData {
//     std::string path;
//     std::string text;
//     std::optional<std::uint32_t> permissions = std::nullopt;   // a default
//   };
//   using File = relish::Input<FileData>;
//
//   File f = File::create(db, {.path = "a.py", .text = "x = 1"});
//   const std::string& text = f.get(db, &FileData::text);   // depends on `text` only
//   f.set(db, &FileData::text, "x = 2");                     // starts a new revision
//   f.set(db, &FileData::path, "b.py", relish::Durability::high);
//   std::string old = f.set(db, &FileData::text, "x = 3");   // set returns the old value
//
//   // Durability per field at creation (ty's File: a durable path, a volatile text):
//   File g = File::create(db, {.path = "os.py", .text = src}, relish::Durability::low,
//                         relish::field_durability(&FileData::path, relish::Durability::high));
//   g.remove(db);   // a new revision: memos keyed on g go, readers of g re-run, g is stale
//
//   // One instance per database, found without a handle (a project's settings):
//   using Settings = relish::Input<SettingsData, relish::Singleton>;
//   Settings::create(db, {.python_version = 312});
//   Settings::instance(db).get(db, &SettingsData::python_version);
//
// The data type is a plain aggregate; each of its fields is tracked on its own, so setting
// `permissions` does not invalidate a query that read only `text`. A handle is 8 bytes of
// plain data (index + stamp) and stays valid until the input is removed. A reference
// returned by `get` is valid until that field is next set.
//
// Inputs are created and removed between queries, never inside one (Salsa allows creating
// them in tracked functions): an input is not owned by the query that would create it, so
// every re-run would leak one. An entity a query makes is a Tracked<T>, owned by its memo.
//
// Messages and events name an input "File#3" (the struct's name without namespaces or a
// trailing "Data") and its fields by name ("File#3.text"). A function found by ADL names it
// after its data instead (Tracked and Interned data types may have one too):
//
//   std::string relish_debug(const FileData& f) { return f.path; }   // "parse(a.py)"
#pragma once

#include <algorithm>
#include <array>
#include <concepts>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>

#include "relish/database.hpp"
#include "relish/detail/ids.hpp"
#include "relish/detail/names.hpp"
#include "relish/detail/reflect.hpp"
#include "relish/detail/stable_vector.hpp"
#include "relish/durability.hpp"
#include "relish/heap_size.hpp"
#include "relish/error.hpp"

namespace relish {

// The second parameter of Input for a singleton input: one instance per database, created
// once (a second create is a MisuseError) and found with `instance(db)`.
struct Singleton {};

// A field's durability at creation, when it differs from the record's (Input::create).
template <class T, class M>
struct FieldDurability {
  M T::*field;
  Durability durability;
};
template <class T, class M>
constexpr FieldDurability<T, M> field_durability(M T::*field, Durability d) noexcept {
  return {field, d};
}

namespace detail {

// Per (handle, field): the revision the field last changed in and its durability.
struct FieldStamp {
  Revision changed_at = 0;
  Durability durability = Durability::low;
};

template <class T, class Kind>
class InputIngredient final : public IngredientBase {
 public:
  static constexpr std::uint32_t kFields = static_cast<std::uint32_t>(field_count<T>);
  static constexpr bool kSingleton = std::is_same_v<Kind, Singleton>;

  struct Record {
    T value;
    std::array<FieldStamp, kFields> fields;
    std::uint32_t stamp;
  };

  InputIngredient() : IngredientBase(std::string(kName)) { want_revision_hook(false); }
  static constexpr std::string_view kName = entity_name<T>();

  // `fields`: durabilities that differ from `d`, by field index.
  std::pair<std::uint32_t, std::uint32_t> create(
      Database& db, T&& value, Durability d,
      std::span<const std::pair<std::uint32_t, Durability>> fields = {}) {
    Runtime& rt = db.runtime();
    if (Local& l = rt.local(); l.scope_depth != 0) [[unlikely]]
      throw_create_in_query(rt, l);
    const std::uint32_t stamp = make_stamp(rt.tag(), 1);
    const Revision now = rt.revision();
    auto make = [&] {  // returned by NRVO: built in its slot (a prvalue built worse code)
      Record rec{std::move(value), {}, stamp};
      for (auto& f : rec.fields) f = FieldStamp{now, d};
      for (auto [i, fd] : fields) rec.fields[i].durability = fd;
      return rec;
    };
    if constexpr (kSingleton) {
      // A write, so that a query that looked for the instance and found none re-runs.
      Runtime::WriteScope write(rt, db, [&] { return "cannot create the singleton " + name(); });
      if (records_.size() != 0) {
        throw MisuseError("singleton input " + name() +
                          " already exists: create it once, then set its fields");
      }
      const std::uint32_t index = records_.append(make);
      write.new_revision(d, DatabaseKey{first_index(), index}, [&](Revision r) noexcept {
        for (auto& f : records_[index].fields) f.changed_at = r;
      });
      return {index, stamp};
    } else {
      return {records_.append(make), stamp};
    }
  }

  [[noreturn, gnu::noinline, gnu::cold]] void throw_create_in_query(const Runtime& rt,
                                                                   const Local& l) const {
    throw MisuseError("cannot create an input " + name() + " inside query " +
                      rt.current_query(l) + ": create inputs between queries");
  }

  // The singleton's handle, recording that the caller looked (nullopt: none yet).
  std::optional<std::pair<std::uint32_t, std::uint32_t>> instance(Runtime& rt) {
    Local& l = rt.local();
    if (records_.size() == 0) {
      rt.record_read(l, DatabaseKey{first_index(), 0}, Durability::low);  // reads as changed
      return std::nullopt;
    }
    return std::pair{0u, records_[0].stamp};
  }

  // Removes the record: memos keyed on it are dropped, readers of its fields re-run, and its
  // handle becomes stale. Its slot is not reused (dependencies name slots, not stamps).
  void remove(Database& db, std::uint32_t index, std::uint32_t stamp) {
    Runtime& rt = db.runtime();
    {
      Runtime::WriteScope write(rt, db, [&] { return "cannot remove " + describe_entity(index); });
      Record& r = record(index, stamp, rt);
      Durability highest = Durability::low;
      for (std::uint32_t f = 0; f < kFields; ++f) {
        if (r.fields[f].durability == Durability::never_change) {
          throw ImmutableInputError("cannot remove " + describe_entity(index) + ": its field " +
                                    describe(f, index) + " has durability never_change");
        }
        highest = std::max(highest, r.fields[f].durability);
      }
      Local& me = rt.local();
      for (std::uint32_t f = 1; f < kFields; ++f)
        rt.note_invalidated(me, DatabaseKey{first_index() + f, index});
      rt.broadcast_deleted(db, *this, index, stamp);  // memos keyed on it
      write.new_revision(highest, DatabaseKey{first_index(), index}, [&](Revision now) noexcept {
        for (auto& f : r.fields) f.changed_at = now;
        r.stamp = make_stamp(rt.tag(), stamp_generation(r.stamp) + 1);
        ++removed_;
      });
      rt.emit(EventKind::did_remove_input, DatabaseKey{first_index(), index});
      if constexpr (std::is_nothrow_default_constructible_v<T> &&
                    std::is_nothrow_move_assignable_v<T>) {
        r.value = T{};  // its data goes now; the slot's stamps stay
      }
    }
    Runtime::rethrow_callback_error(rt.local());
  }

  // The record behind a handle, or a clear error for a handle that is not one of ours.
  Record& record(std::uint32_t index, std::uint32_t stamp, const Runtime& rt) {
    Record* r = records_.get(index);
    if (r && r->stamp == stamp) [[likely]]
      return *r;
    throw_bad_handle(index, stamp, rt);
  }

  // Throws unless (index, stamp) names a live input of this database.
  void check_handle(const Runtime& rt, std::uint32_t index, std::uint32_t stamp) {
    (void)record(index, stamp, rt);
  }

  [[noreturn]] void throw_bad_handle(std::uint32_t index, std::uint32_t stamp,
                                     const Runtime& rt) const {
    const std::string h = name() + "#" + std::to_string(index);
    const Record* r = records_.get(index);
    const bool removed = r && stamp_tag(stamp) == rt.tag() &&
                         stamp_generation(r->stamp) > stamp_generation(stamp);
    detail::throw_bad_handle(rt.tag(), h, stamp,
                             removed ? "input " + h + " was removed"
                                     : "handle " + h + " does not name a live input");
  }

  // The field index of `member`, from the record's address only (no data is read).
  template <class M>
  std::uint32_t field_of_handle(const Runtime& rt, std::uint32_t index, std::uint32_t stamp,
                                M T::*member) const {
    const Record* r = records_.get(index);
    if (!r) throw_bad_handle(index, stamp, rt);
    return field_of(r->value, member);
  }

  template <class M>
  std::uint32_t field_of(const T& value, M T::*member) const {
    const std::size_t i = field_index(value, member);
    if (i >= kFields) throw MisuseError("member pointer is not a direct field of " + name());
    return static_cast<std::uint32_t>(i);
  }

  template <class M>
  const M& get(Runtime& rt, std::uint32_t index, std::uint32_t stamp, M T::*member) {
    Local& l = rt.local();
    return rt.read_in_scope(l, [&]() -> const M& { return read(rt, l, index, stamp, member); });
  }

  template <class M>
  const M& read(Runtime& rt, Local& l, std::uint32_t index, std::uint32_t stamp, M T::*member) {
    Record& r = record(index, stamp, rt);
    const std::uint32_t f = field_of(r.value, member);
    rt.record_read(l, DatabaseKey{first_index() + f, index}, r.fields[f].durability);
    return r.value.*member;
  }

  // Sets one field and returns its old value. The record is looked at only with exclusive
  // access: another thread may be reading it, or removing it.
  template <class M, class V>
  M set(Database& db, std::uint32_t index, std::uint32_t stamp, M T::*member, V&& v,
        const Durability* durability) {
    Runtime& rt = db.runtime();
    const std::uint32_t f = field_of_handle(rt, index, stamp, member);
    const DatabaseKey key{first_index() + f, index};
    M value(std::forward<V>(v));  // if this throws, nothing was written
    std::optional<M> old;
    {
      Runtime::WriteScope write(rt, db, [&] { return "cannot set " + rt.describe(key); });
      Record& r = record(index, stamp, rt);
      FieldStamp& fs = r.fields[f];
      if (fs.durability == Durability::never_change) {
        throw ImmutableInputError("cannot set " + rt.describe(key) +
                                  ": it has durability never_change");
      }
      const Durability d = durability ? *durability : fs.durability;
      old.emplace(std::move(r.value.*member));
      r.value.*member = std::move(value);
      write.new_revision(std::max(d, fs.durability), key,
                         [&](Revision now) noexcept { fs = FieldStamp{now, d}; });
      rt.emit(EventKind::did_set_input, key);
    }
    Runtime::rethrow_callback_error(rt.local());
    return std::move(*old);
  }

  bool maybe_changed_after(Database&, std::uint32_t sub, std::uint32_t key,
                           Revision after) override {
    const Record* r = records_.get(key);
    return !r || r->fields[sub].changed_at > after;
  }

  bool changed_since(const Runtime&, std::uint32_t sub, std::uint32_t key, Revision after,
                     absl::flat_hash_set<DatabaseKey>&) const override {
    const Record* r = records_.get(key);
    return !r || r->fields[sub].changed_at > after;
  }

  NodeInfo node_info(std::uint32_t sub, std::uint32_t key) const override {
    const Record* r = records_.get(key);
    if (!r) return {};
    return NodeInfo{.kind = NodeInfo::Kind::input,
                    .changed_at = r->fields[sub].changed_at,
                    .durability = r->fields[sub].durability};
  }

  // "File#3.text" (or relish_debug of the record, then ".text").
  std::string describe(std::uint32_t sub, std::uint32_t key) const override {
    return describe_entity(key) + field_suffix<T>(sub);
  }

  // Records are written only by a writer, when no query runs: reading one here is safe.
  std::string describe_entity(std::uint32_t index) const {
    const Record* r = records_.get(index);
    return entity_debug_string<T>(index, r ? &r->value : nullptr);
  }

  std::uint32_t size() const noexcept { return records_.size(); }

  void memory(IngredientMemory& out) const override {
    out.kind = "input";
    out.entries += records_.size() - removed_;
    out.values += records_.size() - removed_;
    out.metadata_bytes += records_.used_bytes() - records_.size() * sizeof(T);
    out.reserved_bytes += records_.reserved_bytes();
    for (std::uint32_t i = 0; i < records_.size(); ++i) {
      out.value_stack_bytes += sizeof(T);
      out.value_heap_bytes += relish::heap_size(records_[i].value);
    }
  }

 private:
  StableVector<Record> records_;
  std::uint32_t removed_ = 0;  // records removed (written by writers only)
};

}  // namespace detail

// An input record type (see the top of this file). `Kind` is void, or relish::Singleton for
// one instance per database.
template <class T, class Kind = void>
class Input : public detail::HandleBase<Input<T, Kind>> {
 public:
  using Ingredient = detail::InputIngredient<T, Kind>;
  using relish_handle_tag = void;
  using Data = T;

  Input() = default;

  // Creates a new input record, every field with durability `d` except those given after it
  // (relish::field_durability). Not allowed inside a query. A singleton's creation is a write
  // (a new revision), and a second one a MisuseError.
  template <class... M>
  static Input create(Database& db, T value, Durability d = Durability::low,
                      FieldDurability<T, M>... fields) {
    Ingredient& ing = ingredient(db);
    const std::array<std::pair<std::uint32_t, Durability>, sizeof...(M)> overrides{
        std::pair{ing.field_of(value, fields.field), fields.durability}...};
    auto [index, stamp] = ing.create(db, std::move(value), d, overrides);
    return Input::from_raw(index, stamp);
  }

  // The singleton instance; a MisuseError if it was not created yet. Inside a query, the
  // query re-runs once it is.
  static Input instance(Database& db)
    requires std::same_as<Kind, Singleton>
  {
    if (auto h = try_instance(db)) return *h;
    throw MisuseError("singleton input " + ingredient(db).name() +
                      " was not created: call create(db, value) first");
  }
  static std::optional<Input> try_instance(Database& db)
    requires std::same_as<Kind, Singleton>
  {
    if (auto raw = ingredient(db).instance(db.runtime())) return Input::from_raw(raw->first, raw->second);
    return std::nullopt;
  }

  // Reads one field, recording a dependency on that field alone.
  template <class M>
  const M& get(Database& db, M T::*field) const {
    return ingredient(db).get(db.runtime(), this->index(), this->stamp(), field);
  }

  // Sets one field, starting a new revision, and returns its old value. Keeps the field's
  // durability unless one is given. A field of durability never_change cannot be set
  // (ImmutableInputError).
  template <class M, class V>
  M set(Database& db, M T::*field, V&& value) const {
    return ingredient(db).set(db, this->index(), this->stamp(), field, std::forward<V>(value),
                              nullptr);
  }
  template <class M, class V>
  M set(Database& db, M T::*field, V&& value, Durability d) const {
    return ingredient(db).set(db, this->index(), this->stamp(), field, std::forward<V>(value),
                              &d);
  }

  // Removes the input, starting a new revision: the memos keyed on it and their values are
  // freed, queries that read it re-run, and the handle is stale from now on (using it is a
  // StaleHandleError). An input with a never_change field cannot be removed.
  void remove(Database& db) const { ingredient(db).remove(db, this->index(), this->stamp()); }

  // "File#3" (Database::describe of a query keyed on it uses relish_debug, if defined).
  std::string debug_name() const { return detail::entity_debug_string<T>(this->index(), nullptr); }

  [[gnu::always_inline]] static Ingredient& ingredient(Database& db) {
    // Here rather than at class scope: T may hold an std::optional<Input<T>> member, and is
    // incomplete while it is being defined.
    static_assert(detail::Reflectable<T>,
                  "relish::Input<T>: T must be a plain aggregate struct with 1 to 16 fields");
    return db.runtime().template ingredient<Ingredient, Ingredient>([] {
      return std::pair{std::unique_ptr<detail::IngredientBase>(new Ingredient()),
                       Ingredient::kFields};
    });
  }

};

}  // namespace relish

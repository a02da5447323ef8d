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
//
// The data type is a plain aggregate; each of its fields is tracked on its own, so setting
// `permissions` does not invalidate a query that read only `text`. A handle is 8 bytes of
// plain data (index + stamp) and stays valid for the database's lifetime. A reference
// returned by `get` is valid until that field is next set.
//
// Messages and events name an input "File#3" (the struct's name without namespaces or a
// trailing "Data") and its fields by name ("File#3.text"). A function found by ADL names it
// after its data instead (Tracked and Interned data types may have one too):
//
//   std::string relish_debug(const FileData& f) { return f.path; }   // "parse(a.py)"
#pragma once

#include <array>
#include <cstdint>
#include <string>
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

namespace detail {

// Per (handle, field): the revision the field last changed in and its durability.
struct FieldStamp {
  Revision changed_at = 0;
  Durability durability = Durability::low;
};

template <class T>
class InputIngredient final : public IngredientBase {
 public:
  static constexpr std::uint32_t kFields = static_cast<std::uint32_t>(field_count<T>);

  struct Record {
    T value;
    std::array<FieldStamp, kFields> fields;
    std::uint32_t stamp;
  };

  InputIngredient() : IngredientBase(std::string(entity_name<T>())) { want_revision_hook(false); }

  std::pair<std::uint32_t, std::uint32_t> create(Runtime& rt, T&& value, Durability d) {
    if (Local& l = rt.local(); l.scope_depth != 0) {
      throw MisuseError("cannot create an input " + name() + " inside query " +
                        rt.current_query(l) + ": create inputs between queries");
    }
    Record rec{std::move(value), {}, make_stamp(rt.tag(), 1)};
    for (auto& f : rec.fields) f = FieldStamp{rt.revision(), d};
    const std::uint32_t index = records_.emplace_back(std::move(rec));
    return {index, records_[index].stamp};
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
    detail::throw_bad_handle(rt.tag(), h, stamp, "handle " + h + " does not name a live input");
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

  template <class M, class V>
  void set(Database& db, std::uint32_t index, std::uint32_t stamp, M T::*member, V&& v,
           const Durability* durability) {
    Runtime& rt = db.runtime();
    Record& r = record(index, stamp, rt);
    const std::uint32_t f = field_of(r.value, member);
    const DatabaseKey key{first_index() + f, index};
    {
      Runtime::WriteScope write(rt, db, [&] { return "cannot set " + rt.describe(key); });
      FieldStamp& fs = r.fields[f];
      const Durability d = durability ? *durability : fs.durability;
      r.value.*member = std::forward<V>(v);  // if this throws, nothing was written
      write.new_revision(std::max(d, fs.durability), key,
                         [&](Revision now) noexcept { fs = FieldStamp{now, d}; });
      rt.emit(EventKind::did_set_input, key);
    }
    Runtime::rethrow_callback_error(rt.local());
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
    out.entries += records_.size();
    out.values += records_.size();
    out.metadata_bytes += records_.allocated_bytes() - records_.size() * sizeof(T);
    for (std::uint32_t i = 0; i < records_.size(); ++i) {
      out.value_stack_bytes += sizeof(T);
      out.value_heap_bytes += relish::heap_size(records_[i].value);
    }
  }

 private:
  StableVector<Record> records_;
};

}  // namespace detail

template <class T>
class Input : public detail::HandleBase<Input<T>> {
  static_assert(detail::Reflectable<T>,
                "relish::Input<T>: T must be a plain aggregate struct with 1 to 16 fields");

 public:
  using Ingredient = detail::InputIngredient<T>;
  using relish_handle_tag = void;
  using Data = T;

  Input() = default;

  // Creates a new input record. All fields get durability `d`. Not allowed inside a query.
  static Input create(Database& db, T value, Durability d = Durability::low) {
    auto [index, stamp] = ingredient(db).create(db.runtime(), std::move(value), d);
    return Input::from_raw(index, stamp);
  }

  // Reads one field, recording a dependency on that field alone.
  template <class M>
  const M& get(Database& db, M T::*field) const {
    return ingredient(db).get(db.runtime(), this->index(), this->stamp(), field);
  }

  // Sets one field, starting a new revision. Keeps the field's durability unless one is given.
  template <class M, class V>
  void set(Database& db, M T::*field, V&& value) const {
    ingredient(db).set(db, this->index(), this->stamp(), field, std::forward<V>(value),
                       nullptr);
  }
  template <class M, class V>
  void set(Database& db, M T::*field, V&& value, Durability d) const {
    ingredient(db).set(db, this->index(), this->stamp(), field, std::forward<V>(value), &d);
  }

  // "File#3" (Database::describe of a query keyed on it uses relish_debug, if defined).
  std::string debug_name() const { return detail::entity_debug_string<T>(this->index(), nullptr); }

  static Ingredient& ingredient(Database& db) {
    return db.runtime().template ingredient<Ingredient, Ingredient>([] {
      return std::pair{std::unique_ptr<detail::IngredientBase>(new Ingredient()),
                       Ingredient::kFields};
    });
  }
};

}  // namespace relish

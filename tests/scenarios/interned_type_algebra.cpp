// Interned structs the way ty builds its type system: every type is a small handle, unions and
// intersections are interned lists of handles, and equal data always gives the same handle (in
// any revision), so type equality is one compare and a re-computed type backdates for free.
#include <catch2/catch.hpp>
#include <relish/relish.hpp>

#include <cstdint>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "../common/event_log.hpp"

namespace {

using relish_test::EventLog;
using relish_test::Log;

// ---- the type algebra -------------------------------------------------------------------

struct ClassData;
struct UnionData;
struct IntersectionData;
using ClassType = relish::Interned<ClassData>;
using UnionType = relish::Interned<UnionData>;
using IntersectionType = relish::Interned<IntersectionData>;

struct Never {
  friend bool operator==(Never, Never) = default;
  template <class H>
  friend H AbslHashValue(H h, Never) {
    return H::combine(std::move(h), 0);
  }
};
struct IntLiteral {
  std::int64_t value = 0;
  friend bool operator==(IntLiteral, IntLiteral) = default;
};

// ty's `Type<'db>`: a Copy enum of handles. Here a variant of 8-byte handles and literals.
struct Type {
  std::variant<Never, IntLiteral, ClassType, UnionType, IntersectionType> v;
  friend bool operator==(const Type&, const Type&) = default;

  bool is_never() const { return std::holds_alternative<Never>(v); }
  // Key rendering in events: "Literal[1]", "Class#0", "Union#2"...
  std::string debug_name() const {
    return std::visit(
        [](const auto& x) -> std::string {
          using X = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<X, Never>) {
            return "Never";
          } else if constexpr (std::is_same_v<X, IntLiteral>) {
            return "Literal[" + std::to_string(x.value) + "]";
          } else {
            return relish_test::strip_anonymous(x.debug_name());
          }
        },
        v);
  }
};

// No operator== and no hash: interned data is compared and hashed field by field.
struct ClassData {
  std::string name;
};
struct UnionData {
  std::vector<Type> elements;  // flattened, deduplicated, in insertion order (ty's UnionBuilder)
};
struct IntersectionData {
  std::vector<Type> positive;
  std::vector<Type> negative;
};

struct DeclData {
  std::vector<std::string> annotation;  // "int | str": the class names of a declaration
  std::uint32_t unrelated = 0;
};
using Decl = relish::Input<DeclData>;

struct Db : relish::Database {};

Type class_type(Db& db, std::string name) {
  return Type{ClassType::intern(db, ClassData{std::move(name)})};
}

// Appends t to elems, flattening unions and dropping Never and duplicates.
void add_to_union(Db& db, std::vector<Type>& elems, const Type& t) {
  if (t.is_never()) return;
  if (const auto* u = std::get_if<UnionType>(&t.v)) {
    for (const Type& e : u->get(db, &UnionData::elements)) add_to_union(db, elems, e);
    return;
  }
  for (const Type& e : elems)
    if (e == t) return;  // O(1): handles compare by id
  elems.push_back(t);
}

Type union_of_fn(Db& db, Type a, Type b) {
  std::vector<Type> elems;
  add_to_union(db, elems, a);
  add_to_union(db, elems, b);
  if (elems.empty()) return Type{Never{}};
  if (elems.size() == 1) return elems[0];
  return Type{UnionType::intern(db, UnionData{std::move(elems)})};
}
inline constexpr relish::Query<union_of_fn> union_of;  // key: (Type, Type), interned for us

// `t & ~excluded`, flattening intersections.
Type exclude_fn(Db& db, Type t, Type excluded) {
  if (excluded.is_never() || t.is_never()) return t;
  IntersectionData data;
  if (const auto* i = std::get_if<IntersectionType>(&t.v)) {
    data = i->get(db);
  } else {
    data.positive.push_back(t);
  }
  for (const Type& n : data.negative)
    if (n == excluded) return t;
  data.negative.push_back(excluded);
  return Type{IntersectionType::intern(db, std::move(data))};
}
inline constexpr relish::Query<exclude_fn> exclude;

// A query keyed on an interned handle.
std::size_t union_size_fn(Db& db, UnionType u) { return u.get(db, &UnionData::elements).size(); }
inline constexpr relish::Query<union_size_fn> union_size;

// A query keyed on a Type (a plain value holding handles), recursive over its structure.
std::string display_fn(Db& db, Type t);
inline constexpr relish::Query<display_fn> display;
std::string display_fn(Db& db, Type t) {
  return std::visit(
      [&](const auto& x) -> std::string {
        using X = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<X, Never>) {
          return "Never";
        } else if constexpr (std::is_same_v<X, IntLiteral>) {
          return "Literal[" + std::to_string(x.value) + "]";
        } else if constexpr (std::is_same_v<X, ClassType>) {
          return x.get(db, &ClassData::name);
        } else if constexpr (std::is_same_v<X, UnionType>) {
          std::string out;
          for (const Type& e : x.get(db, &UnionData::elements))
            out += (out.empty() ? "" : " | ") + display(db, e);
          return out;
        } else {
          std::string out;
          for (const Type& p : x.get(db, &IntersectionData::positive))
            out += (out.empty() ? "" : " & ") + display(db, p);
          for (const Type& n : x.get(db, &IntersectionData::negative))
            out += " & ~" + display(db, n);
          return out;
        }
      },
      t.v);
}

// The declared type of a declaration: the union of its annotation's classes.
Type declared_type_fn(Db& db, Decl d) {
  Type t{Never{}};
  for (const std::string& name : d.get(db, &DeclData::annotation))
    t = union_of(db, t, class_type(db, name));
  return t;
}
inline constexpr relish::Query<declared_type_fn> declared_type;

std::string display_declared_fn(Db& db, Decl d) { return display(db, declared_type(db, d)); }
inline constexpr relish::Query<display_declared_fn> display_declared;

}  // namespace

TEST_CASE("interned: equal data gives the same 8-byte handle, in any revision", "[scenario]") {
  static_assert(sizeof(ClassType) == 8 && sizeof(UnionType) == 8);
  Db db;
  Decl d = Decl::create(db, {.annotation = {}});

  const Type int_t = class_type(db, "int");
  const Type str_t = class_type(db, "str");
  CHECK(int_t == class_type(db, "int"));
  CHECK(int_t != str_t);
  CHECK(std::get<ClassType>(int_t.v).get(db, &ClassData::name) == "int");

  // A large value: equality of its handles is still one compare of two ids.
  std::vector<Type> many;
  for (int i = 0; i < 10000; ++i) many.push_back(Type{IntLiteral{i}});
  const UnionType big1 = UnionType::intern(db, UnionData{many});
  const UnionType big2 = UnionType::intern(db, UnionData{many});
  CHECK(big1 == big2);
  many.back() = Type{IntLiteral{-1}};
  CHECK(UnionType::intern(db, UnionData{many}) != big1);

  // Field access by reference: the same object every time, across revisions.
  const std::vector<Type>& elems = big1.get(db, &UnionData::elements);
  CHECK(elems.size() == 10000);
  CHECK(&big1.get(db, &UnionData::elements) == &elems);
  CHECK(&big1.get(db) == &big2.get(db));

  d.set(db, &DeclData::unrelated, 1u);  // a new revision
  CHECK(class_type(db, "int") == int_t);
  CHECK(UnionType::intern(db, UnionData{big1.get(db).elements}) == big1);
  CHECK(&big1.get(db, &UnionData::elements) == &elems);
}

TEST_CASE("interned: union_of flattens and deduplicates into one interned handle", "[scenario]") {
  Db db;
  const Type int_t = class_type(db, "int");
  const Type str_t = class_type(db, "str");
  const Type bytes_t = class_type(db, "bytes");
  const Type never{Never{}};
  EventLog log(db);

  const Type is = union_of(db, int_t, str_t);
  REQUIRE(std::holds_alternative<UnionType>(is.v));
  const UnionType is_u = std::get<UnionType>(is.v);
  CHECK(is_u.get(db, &UnionData::elements) == std::vector<Type>{int_t, str_t});
  CHECK(log.take() == Log{"will_execute union_of(Class#0, Class#1)"});

  // Same arguments: the memo (its key interned automatically); same data: the same handle.
  CHECK(union_of(db, int_t, str_t) == is);
  CHECK(log.take().empty());
  CHECK(UnionType::intern(db, UnionData{{int_t, str_t}}) == is_u);

  // Built two different ways, the same flattened union is the same handle.
  const Type left = union_of(db, union_of(db, int_t, str_t), bytes_t);
  const Type right = union_of(db, int_t, union_of(db, str_t, bytes_t));
  CHECK(left == right);
  CHECK(std::get<UnionType>(left.v).get(db, &UnionData::elements) ==
        std::vector<Type>{int_t, str_t, bytes_t});
  CHECK(log.take() == Log{"will_execute union_of(Union#0, Class#2)",
                          "will_execute union_of(Class#1, Class#2)",
                          "will_execute union_of(Class#0, Union#2)"});

  // Simplifications: no one-element unions, Never is the identity, duplicates collapse.
  CHECK(union_of(db, int_t, int_t) == int_t);
  CHECK(union_of(db, never, str_t) == str_t);
  CHECK(union_of(db, never, never) == never);
  CHECK(union_of(db, left, str_t) == left);
  CHECK(union_of(db, Type{IntLiteral{1}}, Type{IntLiteral{1}}) == Type{IntLiteral{1}});
}

TEST_CASE("interned: intersections with positive and negative sets", "[scenario]") {
  Db db;
  const Type int_t = class_type(db, "int");
  const Type str_t = class_type(db, "str");
  const Type none_t = class_type(db, "None");
  const Type opt = union_of(db, union_of(db, int_t, str_t), none_t);

  // `int | str | None` narrowed by `is not None`, then by `not isinstance(x, str)`.
  const Type not_none = exclude(db, opt, none_t);
  REQUIRE(std::holds_alternative<IntersectionType>(not_none.v));
  const IntersectionType i = std::get<IntersectionType>(not_none.v);
  const std::vector<Type>& pos = i.get(db, &IntersectionData::positive);
  CHECK(pos == std::vector<Type>{opt});
  CHECK(i.get(db, &IntersectionData::negative) == std::vector<Type>{none_t});
  CHECK(&i.get(db, &IntersectionData::positive) == &pos);

  const Type narrowed = exclude(db, not_none, str_t);
  const IntersectionType n = std::get<IntersectionType>(narrowed.v);
  CHECK(n.get(db, &IntersectionData::positive) == std::vector<Type>{opt});
  CHECK(n.get(db, &IntersectionData::negative) == std::vector<Type>{none_t, str_t});
  CHECK(display(db, narrowed) == "int | str | None & ~None & ~str");

  // The same set data, interned directly or through another query, is the same handle.
  CHECK(IntersectionType::intern(db, IntersectionData{{opt}, {none_t, str_t}}) == n);
  CHECK(exclude(db, narrowed, none_t) == narrowed);  // already excluded
  // Order of the negative set is part of the data (an ordered set, like ty's FxOrderSet).
  CHECK(IntersectionType::intern(db, IntersectionData{{opt}, {str_t, none_t}}) != n);
}

TEST_CASE("interned: queries keyed on interned handles memoize", "[scenario]") {
  Db db;
  Decl d = Decl::create(db, {.annotation = {"int", "str"}});
  EventLog log(db);

  CHECK(display_declared(db, d) == "int | str");
  const Type t = declared_type(db, d);
  const UnionType u = std::get<UnionType>(t.v);
  CHECK(union_size(db, u) == 2);
  CHECK(union_size(db, u) == 2);
  CHECK(log.take() ==
        Log{"will_execute display_declared(Decl#0)",
            "will_execute declared_type(Decl#0)",
            "will_execute union_of(Never, Class#0)",
            "will_execute union_of(Class#0, Class#1)",
            "will_execute display(Union#0)", "will_execute display(Class#0)",
            "will_execute display(Class#1)", "will_execute union_size(Union#0)"});

  // An unrelated edit: nothing re-runs, and nothing is even verified: the edit's cone is empty,
  // so what is read is accepted in O(1). union_size read only interned values (no input):
  // its durability is never_change, and it is not even looked at.
  d.set(db, &DeclData::unrelated, 7u);
  log.clear();
  CHECK(display_declared(db, d) == "int | str");
  CHECK(union_size(db, u) == 2);
  CHECK(log.take() == Log{"did_accept_clean display_declared(Decl#0)"});
  CHECK(db.node_info(union_size.key(db, u)).durability == relish::Durability::never_change);

  // The annotation is rewritten with the same classes: the re-computed type is the same
  // handle, so declared_type backdates and the display is not recomputed.
  d.set(db, &DeclData::annotation, std::vector<std::string>{"int", "str", "int"});
  log.clear();
  CHECK(display_declared(db, d) == "int | str");
  CHECK(log.take() == Log{"will_execute declared_type(Decl#0)",
                          "will_execute union_of(Union#0, Class#0)",
                          "did_backdate declared_type(Decl#0)",
                          "did_validate_memoized_value display_declared(Decl#0)"});

  // A genuinely new type: new union, new display; the old union's memos stay.
  d.set(db, &DeclData::annotation, std::vector<std::string>{"int", "bytes"});
  log.clear();
  CHECK(display_declared(db, d) == "int | bytes");
  CHECK(union_size(db, u) == 2);
  CHECK(log.executed() == Log{"declared_type(Decl#0)",
                              "union_of(Class#0, Class#2)",
                              "display_declared(Decl#0)", "display(Union#1)",
                              "display(Class#2)"});
}

// relish/query.hpp: memoized functions.
//
//   std::string source_text_of(Db& db, File file) { return file.get(db, &FileData::text); }
//   inline constexpr relish::Query<source_text_of> source_text;
//
//   AST parse(Db& db, File file) { return parse_python(source_text(db, file)); }
//   inline constexpr relish::Query<parse, relish::Options{.returns = relish::Returns::ref,
//                                                         .no_eq = true}> parsed_module;
//
//   const AST& ast = parsed_module(db, file);
//
// A query is an ordinary function `V f(Db&, Keys...)` plus a policy. Its key is an entity
// handle (Input, Interned, Tracked), nothing, or any plain values, which relish interns itself
// (no wrapper struct needed). Everything the function reads through the database is recorded
// as a dependency; in a later revision the memo is first verified and the function re-runs
// only if something it read changed. A re-computed value equal to the old one is "backdated":
// its dependents see no change and do not re-run.
#pragma once

#include <memory>
#include <type_traits>

#include "relish/database.hpp"
#include "relish/detail/function.hpp"
#include "relish/error.hpp"
#include "relish/query_options.hpp"

namespace relish {

namespace detail {
template <class T>
struct pointee {
  using type = void;
};
template <class T>
struct pointee<std::shared_ptr<T>> {
  using type = T;
};
template <class T, class D>
struct pointee<std::unique_ptr<T, D>> {
  using type = T;
};

template <auto F, Options O, class Cycle, class Db, class Value, class Args>
class QueryBase;

template <auto F, Options O, class Cycle, class Db, class Value, class... A>
class QueryBase<F, O, Cycle, Db, Value, std::tuple<A...>> {
 public:
  using Ingredient = FunctionIngredient<F, O, Cycle>;
  static_assert(O.returns != Returns::deref || !std::is_void_v<typename pointee<Value>::type>,
                "relish: returns(deref) needs a query returning shared_ptr<T> or unique_ptr<T>");

  decltype(auto) operator()(Db& db, const A&... args) const {
    detail::Runtime& rt = db.runtime();
    detail::Local& l = rt.local();
    detail::Runtime::ReaderScope scope(rt, l);
    const Value& v = ingredient(db).fetch(db, l, args...);
    scope.done();
    if constexpr (O.returns == Returns::ref) {
      return static_cast<const Value&>(v);
    } else if constexpr (O.returns == Returns::deref) {
      using T = typename pointee<Value>::type;
      if (!v) throw Error(ingredient(db).name() + " returned a null pointer (returns deref)");
      return static_cast<const T&>(*v);
    } else {
      return Value(v);
    }
  }

  // The dependency-graph node of the memo for these arguments (for Database::describe,
  // Database::dependencies and event filtering).
  DatabaseKey key(Database& db, const A&... args) const { return ingredient(db).key_of(args...); }

  // LRU capacity (0: unbounded), changeable at run time; applied at the next revision.
  void set_lru(Database& db, std::size_t capacity) const {
    ingredient(db).set_lru_capacity(capacity);
  }
  void set_byte_budget(Database& db, std::size_t bytes) const {
    ingredient(db).set_byte_budget(bytes);
  }

  // The memo table behind this query in `db` (created on first use).
  static Ingredient& ingredient(Database& db) {
    return db.runtime().template ingredient<Ingredient, Ingredient>([] {
      return std::pair{std::unique_ptr<IngredientBase>(new Ingredient()), std::uint32_t{1}};
    });
  }
};
}  // namespace detail

// Cycle: NoCycleRecovery (a cycle is a CycleError), Fixpoint<Initial, Recover, Max> or
// CycleFallback<Fallback> (see query_options.hpp).
template <auto F, Options O = Options{}, class Cycle = NoCycleRecovery>
class Query : public detail::QueryBase<F, O, Cycle, typename detail::FnTraits<decltype(F)>::Db,
                                       typename detail::FnTraits<decltype(F)>::Value,
                                       typename detail::FnTraits<decltype(F)>::Args> {};

}  // namespace relish

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
//
// One name per query: the function form has two names, and calling the function instead of
// the query skips memoization (and, inside another query, merges the callee's reads into the
// caller). relish::query declares a query from a captureless lambda, so there is nothing else
// to call:
//
//   inline constexpr auto line_count = relish::query([](Db& db, File file) {
//     return std::ranges::count(file.get(db, &FileData::text), '\n');
//   });
//   inline constexpr auto ast = relish::query<relish::Options{.returns = relish::Returns::ref}>(
//       [](Db& db, File file) { return parse_python(source_text(db, file)); });
//
// A lambda cannot name the variable it initializes, so a query that calls itself (directly or
// through a cycle) takes the function form: declare the function, then the Query, then define
// the function. `relish::Query<[](Db&, File) { ... }> q;` also works, but only in a program
// where one translation unit uses q: g++ gives a closure type written in a template argument
// internal linkage, so every file including the header would get its own q and memo table.
// relish::query's lambda is in the variable's initializer and is the same in every file.
//
// Declaration mistakes (a `const Db&`, a void result, a key that cannot be hashed, a Fixpoint
// Recover with its parameters swapped...) are each one static_assert saying what to change:
// see detail/function/checks.hpp.
#pragma once

#include <memory>
#include <type_traits>

#include "relish/database.hpp"
#include "relish/detail/function.hpp"
#include "relish/detail/function/checks.hpp"
#include "relish/error.hpp"
#include "relish/query_options.hpp"

namespace relish {

namespace detail {
template <auto F, Options O, class Cycle, class Db, class Value, class Args>
class QueryBase;

template <auto F, Options O, class Cycle, class Db, class Value, class... A>
class QueryBase<F, O, Cycle, Db, Value, std::tuple<A...>> {
 public:
  using Ingredient = FunctionIngredient<F, O, Cycle>;

  decltype(auto) operator()(Db& db, const A&... args) const {
    detail::Runtime& rt = db.runtime();
    detail::Local& l = rt.local();
    detail::Runtime::ReaderScope scope(rt, l);
    const Value& v = ingredient(db).fetch(db, l, args...);
    scope.done();
    if constexpr (O.returns == Returns::ref) {
      return static_cast<const Value&>(v);
    } else if constexpr (O.returns == Returns::deref) {
      using T = typename PointerTarget<Value>::type;
      if (!v) throw Error(ingredient(db).name() + " returned a null pointer (returns deref)");
      return static_cast<const T&>(*v);
    } else {
      return Value(v);
    }
  }

  // The dependency-graph node of the memo for these arguments (for Database::describe,
  // Database::dependencies and event filtering).
  DatabaseKey key(Database& db, const A&... args) const { return ingredient(db).key_of(args...); }

  // Sets the value for key `s` (a tracked struct) from the query that created it, in the
  // execution that creates it, instead of this query running (Options::specify). The value
  // follows the creator: re-specified equal, readers do not re-run; not re-specified, the
  // memo goes and the query runs normally when asked. Anywhere else, or twice, a MisuseError.
  template <class K>
    requires(O.specify)
  void specify(Db& db, const K& s, Value value) const {
    ingredient(db).specify(db, s, std::move(value));
  }

  // LRU capacity (0: unbounded), changeable at run time; applied at the next revision.
  void set_lru(Database& db, std::size_t capacity) const {
    ingredient(db).set_lru_capacity(capacity);
  }
  void set_byte_budget(Database& db, std::size_t bytes) const {
    ingredient(db).set_byte_budget(bytes);
  }

  // The memo table behind this query in `db` (created on first use).
  [[gnu::always_inline]] static Ingredient& ingredient(Database& db) {
    return db.runtime().template ingredient<Ingredient, Ingredient>([] {
      // Index 0: the memos' values; 1: what accumulated() collects below each (accumulate.hpp).
      return std::pair{std::unique_ptr<IngredientBase>(new Ingredient()), std::uint32_t{2}};
    });
  }
};

// A checked declaration (checks.hpp) gives the query; a bad one gives its static_assert and
// InvalidQuery.
template <auto F, Options O, class Cycle>
using QueryImpl = std::conditional_t<
    query_declaration_ok<F, O, Cycle>,
    QueryBase<F, O, Cycle, typename FnTraits<decltype(F)>::Db,
              typename FnTraits<decltype(F)>::Value, typename FnTraits<decltype(F)>::Args>,
    InvalidQuery>;
}  // namespace detail

// F: a function `V f(Db&, Keys...)` or a captureless lambda with that signature.
// Cycle: NoCycleRecovery (a cycle is a CycleError), Fixpoint<Initial, Recover, Max> or
// CycleFallback<Fallback> (see query_options.hpp).
template <auto F, Options O = Options{}, class Cycle = NoCycleRecovery>
class Query : public detail::QueryImpl<F, O, Cycle> {};

// The query of a captureless lambda: `inline constexpr auto q = relish::query([](Db& db,
// File f) { ... });`, with the policy as template arguments: relish::query<Options{...},
// relish::Fixpoint<...>>(lambda).
template <Options O = Options{}, class Cycle = NoCycleRecovery, class L>
consteval auto query(L) {
  constexpr bool captureless =
      std::is_class_v<L> && std::is_empty_v<L> && std::is_default_constructible_v<L>;
  if constexpr (captureless) {
    return Query<L{}, O, Cycle>{};
  } else {
    static_assert(captureless,
                  "relish::query: pass a captureless lambda `[](Db& db, Keys...) { ... }` (a "
                  "query reads only the database and its keys); for a function f use "
                  "relish::Query<f>");
    return detail::InvalidQuery{};
  }
}

}  // namespace relish

// What a query declaration must satisfy, checked where the user declares it: each mistake
// gives one static_assert that says what is wrong and how to fix it, and the query is then
// not built (QueryImpl in query.hpp picks InvalidQuery), so no error follows from deep inside
// the engine or the standard library. tests/compile_fail/ has one file per mistake.
//
//   stage      checks                                                     on
//   function   a function or captureless lambda, `V f(Db&, Keys...)`      FunctionCheck
//   keys       each plain key can be hashed and compared                  KeyCheck
//   value      comparable (for backdating) unless no_eq; copyable for     ValueCheck
//              Returns::copy; a pointer for Returns::deref
//   cycle      Initial / Recover / Fallback have the exact signatures     CycleCheck
//              documented in query_options.hpp
//
// The later stages are instantiated only when the function stage passed (they need its Db,
// V and keys).
#pragma once

#include <cstdint>
#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>

#include "relish/database.hpp"
#include "relish/detail/function/keys.hpp"
#include "relish/detail/ids.hpp"
#include "relish/detail/value.hpp"
#include "relish/query_options.hpp"

namespace relish {
template <class T>
class Tracked;
}  // namespace relish

namespace relish::detail {

// ---- function ----

enum class FnProblem : std::uint8_t {
  none,
  not_a_function,
  untyped_lambda,
  mutable_lambda,
  no_parameters,
  not_a_database,
  db_not_by_reference,
  const_db,
  returns_void,
  returns_reference,
  key_by_reference,
};

template <class Params>
struct AnyKeyByReference;
template <class... P>
struct AnyKeyByReference<std::tuple<P...>>
    : std::bool_constant<(
          (std::is_rvalue_reference_v<P> ||
           (std::is_lvalue_reference_v<P> && !std::is_const_v<std::remove_reference_t<P>>)) ||
          ...)> {};

template <class Fn>
constexpr FnProblem fn_problem() {
  using T = FnTraits<Fn>;
  constexpr Shape shape = T::Signature::shape;
  using First = typename T::First;
  if constexpr (shape == Shape::other) {
    return FnProblem::not_a_function;
  } else if constexpr (shape == Shape::untyped_lambda) {
    return FnProblem::untyped_lambda;
  } else if constexpr (shape == Shape::mutable_lambda) {
    return FnProblem::mutable_lambda;
  } else if constexpr (std::is_void_v<First>) {
    return FnProblem::no_parameters;
  } else if constexpr (!std::is_base_of_v<Database, std::remove_cvref_t<First>>) {
    return FnProblem::not_a_database;
  } else if constexpr (!std::is_lvalue_reference_v<First>) {
    return FnProblem::db_not_by_reference;
  } else if constexpr (std::is_const_v<std::remove_reference_t<First>>) {
    return FnProblem::const_db;
  } else if constexpr (std::is_void_v<typename T::Value>) {
    return FnProblem::returns_void;
  } else if constexpr (std::is_reference_v<typename T::Value>) {
    return FnProblem::returns_reference;
  } else if constexpr (AnyKeyByReference<typename T::KeyParams>::value) {
    return FnProblem::key_by_reference;
  } else {
    return FnProblem::none;
  }
}

template <auto F>
struct FunctionCheck {
  static constexpr FnProblem problem = fn_problem<decltype(F)>();
  static_assert(problem != FnProblem::not_a_function,
                "relish::Query<F>: F is not a query function; pass a function "
                "`V f(Db&, Keys...)` or a captureless lambda `[](Db& db, Keys...) { ... }`");
  static_assert(problem != FnProblem::untyped_lambda,
                "relish::Query: the lambda has `auto` parameters (or no single operator()); "
                "give every parameter a type: `[](Db& db, File file) { ... }`");
  static_assert(problem != FnProblem::mutable_lambda,
                "relish::Query: the lambda is `mutable`; a query function keeps no state "
                "between calls: drop `mutable`");
  static_assert(problem != FnProblem::no_parameters,
                "relish::Query: the query function takes no parameters; its first parameter "
                "must be `Db&`, your database (a class derived from relish::Database)");
  static_assert(problem != FnProblem::not_a_database,
                "relish::Query: the query function's first parameter is not the database; "
                "make it `Db&` (your class derived from relish::Database), the keys after it");
  static_assert(problem != FnProblem::db_not_by_reference,
                "relish::Query: the query function takes the database by value (or as Db&&); "
                "take it as `Db&`");
  static_assert(problem != FnProblem::const_db,
                "relish::Query: the query function takes `const Db&`; take `Db&` "
                "(non-const): a query records what it reads in the database");
  static_assert(problem != FnProblem::returns_void,
                "relish::Query: the query function returns void; a query is memoized by its "
                "value: return one (`V f(Db&, Keys...)`), or push side outputs to an "
                "Accumulator");
  static_assert(problem != FnProblem::returns_reference,
                "relish::Query: the query function returns a reference; return the value "
                "(the memo keeps it) and declare Options{.returns = relish::Returns::ref} "
                "to hand callers a const reference");
  static_assert(problem != FnProblem::key_by_reference,
                "relish::Query: a key parameter is a non-const reference (T& or T&&); take "
                "keys by value or by const reference");
  static constexpr bool ok = problem == FnProblem::none;
};

// ---- keys ----

// Instantiated per key type, so that g++ names the type ("In instantiation of
// KeyCheck<Path>") just above the message.
template <class K>
struct KeyCheck {
  static constexpr bool hashable = can_hash<K>();
  static constexpr bool comparable = can_compare<K>();
  static_assert(hashable,
                "relish::Query: a key type (the K of KeyCheck<K> above) cannot be hashed; give "
                "it an AbslHashValue overload or a std::hash specialization, or make it an "
                "aggregate of hashable fields");
  static_assert(!hashable || comparable,
                "relish::Query: a key type (the K of KeyCheck<K> above) cannot be compared; "
                "give it an operator== (or make it an aggregate of comparable fields)");
  static constexpr bool ok = hashable && comparable;
};

template <class Args>
struct KeysCheck;
template <class... A>
struct KeysCheck<std::tuple<A...>> {
  // No key, or one entity handle (its index is the memo id): nothing is hashed.
  static constexpr bool ok = KeyedOnEntity<std::tuple<A...>>::value || (KeyCheck<A>::ok && ...);
};

// ---- value ----

template <class T>
struct PointerTarget {
  using type = void;
};
template <class T>
struct PointerTarget<std::shared_ptr<T>> {
  using type = T;
};
template <class T, class D>
struct PointerTarget<std::unique_ptr<T, D>> {
  using type = T;
};

template <class V, Options O>
struct ValueCheck {
  static constexpr bool comparable = O.no_eq || is_shared_ptr<V>::value || can_compare<V>();
  static constexpr bool copyable = O.returns != Returns::copy || std::is_copy_constructible_v<V>;
  static constexpr bool deref_ok =
      O.returns != Returns::deref || !std::is_void_v<typename PointerTarget<V>::type>;
  static_assert(comparable,
                "relish::Query: the value type (the V of ValueCheck<V> above) cannot be "
                "compared, which backdating needs; give it an operator==, or declare the "
                "query Options{.no_eq = true}");
  static_assert(!comparable || copyable,
                "relish::Query: the value type cannot be copied and the query returns copies; "
                "declare it Options{.returns = relish::Returns::ref} (or Returns::deref for "
                "a unique_ptr)");
  static_assert(!comparable || !copyable || deref_ok,
                "relish: returns(deref) needs a query returning shared_ptr<T> or unique_ptr<T>");
  static constexpr bool ok = comparable && copyable && deref_ok;
};

// ---- cycle policy ----

// P is how a function takes key K: by value or by const reference.
template <class P, class K>
inline constexpr bool key_param_ok =
    std::is_same_v<std::remove_cv_t<P>, K> || std::is_same_v<P, const K&>;

// Params from index Lead on take the keys Args, each by value or by const reference.
template <class Params, std::size_t Lead, class Args,
          class = std::make_index_sequence<std::tuple_size_v<Args>>>
struct KeyParamsOk;
template <class Params, std::size_t Lead, class Args, std::size_t... I>
struct KeyParamsOk<Params, Lead, Args, std::index_sequence<I...>>
    : std::bool_constant<(
          key_param_ok<std::tuple_element_t<Lead + I, Params>, std::tuple_element_t<I, Args>> &&
          ...)> {};

// Recover's parameters 1 and 2: `const V&` (or V) value, then `std::uint32_t` iteration.
template <class Params, class V, class Value = std::tuple_element_t<1, Params>,
          class Iteration = std::tuple_element_t<2, Params>>
struct ValueAndIterationOk
    : std::bool_constant<(
          std::is_same_v<Value, V> ||
          std::is_same_v<Value, const V&>)&&std::is_same_v<Iteration, std::uint32_t>> {};

// Whether Fn is exactly `V (D&, [const V& value, std::uint32_t iteration,] Keys...)`, with D
// the query's database or a base of it. Exact, not merely invocable: an int iteration and an
// int value swapped would convert silently.
template <class Fn, class Db, class V, class Args, bool Recover>
constexpr bool cycle_fn_matches() {
  using S = SignatureOf<std::remove_cvref_t<Fn>>;
  if constexpr (S::shape != Shape::function && S::shape != Shape::lambda) {
    return false;
  } else {
    using P = typename S::Params;
    constexpr std::size_t lead = Recover ? 3 : 1;
    if constexpr (std::tuple_size_v<P> != lead + std::tuple_size_v<Args>) {
      return false;
    } else {
      using D0 = std::tuple_element_t<0, P>;
      constexpr bool result_ok = std::is_same_v<std::remove_cv_t<typename S::Result>, V>;
      constexpr bool db_ok = std::is_lvalue_reference_v<D0> &&
                             !std::is_const_v<std::remove_reference_t<D0>> &&
                             std::is_base_of_v<std::remove_reference_t<D0>, Db>;
      bool value_ok = true;
      if constexpr (Recover) value_ok = ValueAndIterationOk<P, V>::value;
      constexpr bool keys_ok = KeyParamsOk<P, lead, Args>::value;
      return result_ok && db_ok && value_ok && keys_ok;
    }
  }
}

template <class Cycle, Options O, class Db, class V, class Args>
struct CycleCheck {
  static constexpr bool ok = true;  // NoCycleRecovery
};
template <auto Initial, auto Recover, std::uint32_t Max, Options O, class Db, class V, class Args>
struct CycleCheck<Fixpoint<Initial, Recover, Max>, O, Db, V, Args> {
  static constexpr bool initial_ok = cycle_fn_matches<decltype(Initial), Db, V, Args, false>();
  static constexpr bool recover_ok = std::is_null_pointer_v<decltype(Recover)> ||
                                     cycle_fn_matches<decltype(Recover), Db, V, Args, true>();
  static_assert(initial_ok,
                "relish::Fixpoint: Initial must be `V initial(Db&, Keys...)`: the query's "
                "database, value type V and keys (each by value or const&), see "
                "query_options.hpp");
  static_assert(recover_ok,
                "relish::Fixpoint: Recover must be `V recover(Db&, const V& value, "
                "std::uint32_t iteration, Keys...)`: the value, then the iteration (1 on the "
                "first call), then the query's keys; see query_options.hpp");
  static_assert(!O.no_eq,
                "relish::Query: a no_eq query cannot take part in fixpoint iteration (its "
                "values are never compared, so the iteration could not tell it converged)");
  static constexpr bool ok = initial_ok && recover_ok && !O.no_eq;
};
template <auto Fallback, Options O, class Db, class V, class Args>
struct CycleCheck<CycleFallback<Fallback>, O, Db, V, Args> {
  static constexpr bool fallback_ok = cycle_fn_matches<decltype(Fallback), Db, V, Args, false>();
  static_assert(fallback_ok,
                "relish::CycleFallback: Fallback must be `V fallback(Db&, Keys...)`: the "
                "query's database, value type V and keys (each by value or const&), see "
                "query_options.hpp");
  static_assert(!O.no_eq,
                "relish::Query: a no_eq query cannot take part in cycle recovery (its values "
                "are never compared)");
  static constexpr bool ok = fallback_ok && !O.no_eq;
};

// ---- specify ----

template <class K>
struct IsTrackedHandle : std::false_type {};
template <class T>
struct IsTrackedHandle<Tracked<T>> : std::true_type {};

template <Options O, class Args, class Cycle>
struct SpecifyCheck {
  static constexpr bool one_tracked_key = [] {
    if constexpr (std::tuple_size_v<Args> != 1) {
      return false;
    } else {
      return IsTrackedHandle<std::tuple_element_t<0, Args>>::value;
    }
  }();
  static_assert(!O.specify || one_tracked_key,
                "relish::Options::specify: the query must take exactly one key, a "
                "relish::Tracked<T> (the query that creates the struct specifies its value)");
  static_assert(!O.specify || std::is_same_v<Cycle, NoCycleRecovery>,
                "relish::Options::specify: a specify query cannot have cycle recovery");
  static constexpr bool ok =
      !O.specify || (one_tracked_key && std::is_same_v<Cycle, NoCycleRecovery>);
};

// ---- all of it ----

template <auto F, Options O, class Cycle>
struct DeclarationCheck {
  using T = FnTraits<decltype(F)>;
  static constexpr bool ok =
      KeysCheck<typename T::Args>::ok && ValueCheck<typename T::Value, O>::ok &&
      CycleCheck<Cycle, O, typename T::Db, typename T::Value, typename T::Args>::ok &&
      SpecifyCheck<O, typename T::Args, Cycle>::ok;
};
struct FailedCheck {
  static constexpr bool ok = false;
};

template <auto F, Options O, class Cycle>
inline constexpr bool query_declaration_ok =
    std::conditional_t<FunctionCheck<F>::ok, DeclarationCheck<F, O, Cycle>, FailedCheck>::ok;

// What a Query with a bad declaration becomes (after its static_assert): nothing to call, so
// the declaration's message is the one that counts.
struct InvalidQuery {
  template <class... A>
  void operator()(A&&...) const = delete;
};

}  // namespace relish::detail

// relish/query_options.hpp: the per-query policy, the counterpart of salsa's
// `#[salsa::tracked(returns(ref), no_eq, lru = 200)]`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace relish {

// A query's name in messages, events and reports, fixed at compile time: a string literal of
// at most 63 characters. Structural, so that Options stays a valid template argument.
struct QueryName {
  static constexpr std::size_t kCapacity = 63;
  char chars[kCapacity + 1] = {};
  std::size_t size = 0;

  constexpr QueryName() = default;
  template <std::size_t N>
  consteval QueryName(const char (&s)[N]) : size(N - 1) {  // NOLINT: implicit from a literal
    static_assert(N - 1 <= kCapacity, "relish::QueryName: at most 63 characters");
    for (std::size_t i = 0; i + 1 < N; ++i) chars[i] = s[i];
  }
  constexpr std::string_view view() const noexcept { return {chars, size}; }
  constexpr bool empty() const noexcept { return size == 0; }
};

// How a query hands its memoized value to the caller.
enum class Returns : std::uint8_t {
  copy,   // a copy of the value (the default; right for small values and handles)
  ref,    // `const V&` into the memo: valid until the next write to the database
  deref,  // for V = shared_ptr<T> or unique_ptr<T>: `const T&` to the pointee
};

// Usage: relish::Query<parse_fn, relish::Options{.name = "parse", .returns = relish::Returns::ref,
//                                                 .no_eq = true, .lru = 200}>
struct Options {
  // The query's name in events, errors and the memory report; by default the function's,
  // without namespace and without a trailing "_fn" (parse_fn: "parse").
  QueryName name = {};
  Returns returns = Returns::copy;
  // Never compare a re-computed value with the old one: it always counts as changed. For
  // large values that almost always change (ASTs), where comparing costs more than it saves.
  bool no_eq = false;
  // Keep at most this many values (least recently used are dropped at revision boundaries,
  // their dependency records kept). 0: unbounded.
  std::size_t lru = 0;
  // Keep the values' estimated size (sizeof + relish::heap_size) under this many bytes, dropping
  // the least recently used at revision boundaries, like `lru`. 0: unbounded.
  std::size_t byte_budget = 0;
  // The query (keyed on one Tracked<T>) may have its value set by the query that created the
  // key, instead of running: Query::specify (Salsa's `#[salsa::tracked(specify)]`).
  bool specify = false;
};

// Cycle policies: the third template argument of relish::Query.
//
// By default a query that (transitively) calls itself throws relish::CycleError. With
// Fixpoint, a cycle that comes back to this query is iterated: inside the cycle the query's
// value is first Initial(db, keys...), every query of the cycle is re-run with it, and the
// iteration repeats with each new value until it stops changing. Recover(db, value, iteration,
// keys...), if given, maps each new value before the next iteration (to widen, e.g. to "top"
// after a few rounds); after MaxIterations a CycleError is thrown. Values computed during the
// iteration are provisional and never seen as final outside it.
//
//   Type infer_initial(Db&, Def) { return Type::never(); }
//   inline constexpr relish::Query<infer_fn, relish::Options{}, relish::Fixpoint<infer_initial>>
//       infer;
//
// The signatures, for a query `V f(Db&, Keys...)`; each is a function or a captureless lambda,
// and is checked exactly when the query is declared (a Recover with the value and the
// iteration swapped is an error, not a silent conversion):
//
//   V initial(Db& db, Keys... keys);
//   V recover(Db& db, const V& value, std::uint32_t iteration, Keys... keys);
//   V fallback(Db& db, Keys... keys);  // CycleFallback
//
// - Db& is the query's database class (or a base of it), non-const; each key is taken by value
//   or by const reference, in the query's order; the result is exactly V (no conversion).
// - recover's value is the one the round just computed (`V value` by value also works);
//   iteration counts the rounds computed so far: 1 on the first call (after the round that
//   started from initial), 2 on the next, up to MaxIterations. What recover returns is what the
//   next round starts from; the iteration has converged when that, or the round's own value,
//   equals the value the round started from. Recover runs in the round's frame: what it reads
//   is a dependency of the result.
// - After MaxIterations rounds without converging, the query throws relish::CycleError.
struct NoCycleRecovery {};

template <auto Initial, auto Recover = nullptr, std::uint32_t MaxIterations = 200>
struct Fixpoint {
  static_assert(MaxIterations >= 1);
};

// With CycleFallback, a query that is part of a cycle takes the value Fallback(db, keys...) at
// once, without iterating; the other queries of the cycle are computed against it.
template <auto Fallback>
struct CycleFallback {};

}  // namespace relish

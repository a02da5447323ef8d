// relish/query_options.hpp: the per-query policy, the counterpart of salsa's
// `#[salsa::tracked(returns(ref), no_eq, lru = 200)]`.
#pragma once

#include <cstddef>
#include <cstdint>

namespace relish {

// How a query hands its memoized value to the caller.
enum class Returns : std::uint8_t {
  copy,   // a copy of the value (the default; right for small values and handles)
  ref,    // `const V&` into the memo: valid until the next write to the database
  deref,  // for V = shared_ptr<T> or unique_ptr<T>: `const T&` to the pointee
};

// Usage: relish::Query<parse, relish::Options{.returns = relish::Returns::ref,
//                                              .no_eq = true, .lru = 200}>
struct Options {
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
};

}  // namespace relish

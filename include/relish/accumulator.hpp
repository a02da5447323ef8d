// relish/accumulator.hpp: side outputs of queries, such as diagnostics.
//
//   struct Diagnostic { std::string message; };
//   using Diagnostics = relish::Accumulator<Diagnostic>;
//
//   Type check_expr(Db& db, Expr e) {
//     ...
//     Diagnostics::push(db, {"unresolved name `x`"});   // inside a query
//   }
//   std::vector<Diagnostic> all = relish::accumulated<Diagnostics>(db, check_file, file);
//
// accumulated<A>(db, query, keys...) brings the query up to date, then returns every value
// of A pushed by that query and by everything it (transitively) read, in execution order,
// each query counted once. It stays correct incrementally: a memo reused without re-running
// keeps contributing the values its last execution pushed.
#pragma once

#include <concepts>
#include <memory>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "relish/database.hpp"
#include "relish/detail/runtime.hpp"
#include "relish/error.hpp"

namespace relish {

template <class T>
class Accumulator {
  static bool equal(const void* a, const void* b) {
    if constexpr (std::equality_comparable<T>) {
      return *static_cast<const T*>(a) == *static_cast<const T*>(b);
    } else {
      return false;
    }
  }

 public:
  using value_type = T;

  // Adds `value` to the running query's output. Only inside a query.
  static void push(Database& db, T value) {
    detail::Runtime& rt = db.runtime();
    detail::Local& l = rt.local();
    if (l.depth == 0) {
      throw MisuseError("Accumulator::push outside a query: values are pushed by queries");
    }
    detail::Frame& f = l.frames[l.depth - 1];
    f.accumulated.push_back(detail::Accumulated{detail::type_id<Accumulator>(),
                                                static_cast<std::uint32_t>(f.deps.size()),
                                                std::make_shared<const T>(std::move(value)),
                                                &equal});
  }
};

template <class A, class Q, class... Keys>
std::vector<typename A::value_type> accumulated(Database& db, const Q& query, const Keys&... keys) {
  using T = typename A::value_type;
  (void)query(static_cast<typename Q::Ingredient::Db&>(db), keys...);  // up to date first
  const DatabaseKey k = query.key(db, keys...);
  // A walk visits every memo below the query: growing the set to that size on every call
  // would cost about as much as the walk, so it starts at the size of this thread's last walk.
  thread_local std::size_t last_walk = 0;
  std::vector<T> out;
  detail::AccumulatedSink sink{&out, [](void* o, const void* v) {
                                 static_cast<std::vector<T>*>(o)->push_back(
                                     *static_cast<const T*>(v));
                               }};
  absl::flat_hash_set<std::uint64_t> visited;
  visited.reserve(last_walk);
  detail::Runtime& rt = db.runtime();
  detail::Runtime::ReaderScope scope(rt, rt.local());
  rt.ingredient_at(k).collect_accumulated(db, k.key, detail::type_id<A>(), sink, visited);
  last_walk = visited.size();
  return out;
}

}  // namespace relish

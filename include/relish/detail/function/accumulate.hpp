// Accumulators: the values a query and everything it read pushed, collected in the order
// they were pushed.
#pragma once

#include "relish/detail/function.hpp"

namespace relish::detail {

template <auto F, Options O, class Cycle>
inline void FunctionIngredient<F, O, Cycle>::collect_accumulated(
    Database& db, std::uint32_t id, std::uint32_t type, AccumulatedSink& out,
    absl::flat_hash_set<std::uint64_t>& visited) const {
  const Memo* m = memos_.get(id);
  if (!m || m->verified_at.load(std::memory_order_acquire) == 0) return;
  const std::uint64_t seen = (std::uint64_t{first_index()} << 32) | id;
  Runtime& rt = db.runtime();
  Local& l = rt.local();
  const bool in_query = l.depth != 0;
  if (in_query) {
    // Called inside a query: what it collects depends on what every memo the walk looks at
    // collects (sub-ingredient 1, see finish()), not only on the root's value: a memo below
    // may re-run, push other values and backdate. So it looks at every dependency.
    if (!visited.insert(seen).second) return;
    rt.record_dep(l, DatabaseKey{first_index() + 1, id}, m->durability);
    if (!m->accumulates) return;
  } else {
    if (!m->accumulates) return;  // nothing was pushed below it
    if (!visited.insert(seen).second) return;
  }
  static const std::vector<Accumulated> none;
  const std::vector<Accumulated>& acc = m->extra ? m->extra->accumulated : none;
  const DatabaseKey* deps = m->deps.data();
  const std::uint32_t n = m->deps.size();
  std::size_t next = 0;
  // Values pushed after reading i dependencies come before dependency i's own values.
  const auto values_before = [&](std::uint32_t i) {
    for (; next < acc.size() && acc[next].position <= i; ++next)
      if (acc[next].type == type) out.append(out.out, acc[next].value.get());
  };
  const auto walk = [&](std::uint32_t i) {
    values_before(i);
    rt.ingredient_at(deps[i]).collect_accumulated(db, deps[i].key, type, out, visited);
  };
  if (!in_query && m->extra && m->extra->accumulating_indexed) {
    for (const std::uint32_t i : m->extra->accumulating) walk(i);  // the others hold none
  } else {
    for (std::uint32_t i = 0; i < n; ++i) walk(i);
  }
  values_before(n);
}

}  // namespace relish::detail

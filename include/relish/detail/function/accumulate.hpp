// Accumulators: the values a query and everything it read pushed, collected in the order
// they were pushed.
#pragma once

#include "relish/detail/function.hpp"

namespace relish::detail {

template <auto F, Options O, class Cycle>
inline void FunctionIngredient<F, O, Cycle>::collect_accumulated(
    Database& db, std::uint32_t id, std::uint32_t type,
    std::vector<std::shared_ptr<const void>>& out,
    absl::flat_hash_set<std::uint64_t>& visited) const {
  const Memo* m = memos_.get(id);
  if (!m || m->verified_at.load(std::memory_order_acquire) == 0) return;
  const std::uint64_t seen = (std::uint64_t{first_index()} << 32) | id;
  Runtime& rt = db.runtime();
  if (Local& l = rt.local(); l.depth) {
    // Called inside a query: what it collects depends on what every memo the walk looks at
    // collects (sub-ingredient 1, see finish()), not only on the root's value: a memo below
    // may re-run, push other values and backdate.
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
  for (std::uint32_t i = 0; i <= n; ++i) {
    for (; next < acc.size() && acc[next].position <= i; ++next)
      if (acc[next].type == type) out.push_back(acc[next].value);
    if (i < n) db.runtime().ingredient_at(deps[i]).collect_accumulated(db, deps[i].key, type, out, visited);
  }
}

}  // namespace relish::detail

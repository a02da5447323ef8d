// Backdating: a re-computed value equal to the old one keeps the old change revision, so its
// dependents see no change and do not re-run. Used when an execution is stored (execute.hpp)
// and when a fixpoint's provisional value becomes final (fixpoint.hpp).
#pragma once

#include "relish/detail/function.hpp"

namespace relish::detail {

// Backdate only if durability did not drop: a memo must not claim an old change revision
// for a value that now depends on less durable inputs. Nor if accumulated values appeared
// below it: its readers, not re-run, would still say "nothing accumulated below".
template <auto F, Options O, class Cycle>
inline bool FunctionIngredient<F, O, Cycle>::backdates(const Memo& m, Durability d,
                                                       bool accumulates, const Value& fresh) {
  if constexpr (O.no_eq) {
    return false;
  } else {
    return m.value && d >= m.durability && (m.accumulates || !accumulates) &&
           memo_values_equal(*m.value, fresh);
  }
}

}  // namespace relish::detail

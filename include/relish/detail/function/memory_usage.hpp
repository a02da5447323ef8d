// Memory report of a query's memo table (see relish/memory_report.hpp).
#pragma once

#include "relish/detail/function.hpp"

namespace relish::detail {

template <auto F, Options O, class Cycle>
inline void FunctionIngredient<F, O, Cycle>::memory(IngredientMemory& out) const {
  out.kind = "query";
  out.metadata_bytes += memos_.used_bytes() - memos_.slots() * sizeof(std::optional<Value>);
  out.reserved_bytes += memos_.reserved_bytes();
  memos_.for_each([&](std::uint32_t, const Memo& m) {
    if (m.verified_at.load(std::memory_order_relaxed) == 0) return;
    ++out.entries;
    out.metadata_bytes += m.deps.heap_bytes();
    if (m.extra) out.metadata_bytes += sizeof(MemoExtra) + m.extra->created.capacity() * sizeof(DatabaseKey);
    if (m.value) {
      ++out.values;
      out.value_stack_bytes += sizeof(Value);
      out.value_heap_bytes += relish::heap_size(*m.value);
    }
  });
  keys_.memory(out);
}

}  // namespace relish::detail

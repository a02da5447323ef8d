// LRU eviction: the values of the least recently used memos go beyond a capacity or a byte
// budget; their dependencies stay, so they still verify (verify.hpp), and a fetch refills the
// value by re-executing (execute.hpp).
#pragma once

#include "relish/detail/function.hpp"

namespace relish::detail {

// Drops the values of the least recently used memos beyond the capacity / byte budget. Their
// dependencies stay, so dependents still verify without re-running this query. Recency is
// the last revision a memo was read in (ties: lower key first); no query is running.
template <auto F, Options O, class Cycle>
inline void FunctionIngredient<F, O, Cycle>::evict_values(Database& db) {
  if (lru_capacity_ == 0 && byte_budget_ == 0) return;
  struct Candidate {
    Revision last_used;
    std::uint32_t id;
  };
  std::vector<Candidate> live;
  std::size_t bytes = 0;
  memos_.for_each([&](std::uint32_t id, const Memo& m) {
    if (m.value && !m.assigned) {  // a specified value cannot be re-computed: it stays
      live.push_back({m.last_used.load(std::memory_order_relaxed), id});
      if (byte_budget_ != 0) bytes += measured_bytes(const_cast<Memo&>(m));
    }
  });
  const bool over_count = lru_capacity_ != 0 && live.size() > lru_capacity_;
  const bool over_bytes = byte_budget_ != 0 && bytes > byte_budget_;
  if (!over_count && !over_bytes) return;
  std::stable_sort(live.begin(), live.end(), [](const Candidate& a, const Candidate& b) {
    return a.last_used < b.last_used;
  });
  std::size_t count = live.size();
  for (const Candidate& c : live) {
    const bool evict_count = lru_capacity_ != 0 && count > lru_capacity_;
    const bool evict_bytes = byte_budget_ != 0 && bytes > byte_budget_;
    if (!evict_count && !evict_bytes) break;
    Memo& m = *memos_.get(c.id);
    bytes -= m.value_bytes();
    m.filled.store(false, std::memory_order_relaxed);
    m.value.reset();
    if (m.extra) m.extra->value_bytes = 0;
    --count;
    db.runtime().emit(EventKind::did_evict, DatabaseKey{first_index(), c.id});
  }
}

// sizeof + heap_size of a memo's value, measured once (values are immutable).
template <auto F, Options O, class Cycle>
inline std::size_t FunctionIngredient<F, O, Cycle>::measured_bytes(Memo& m) {
  MemoExtra& x = m.ensure_extra();
  if (x.value_bytes == 0) x.value_bytes = sizeof(Value) + relish::heap_size(*m.value);
  return x.value_bytes;
}

// Recency for LRU: one store per memo per revision, so parallel hits do not bounce the
// memo's cache line between cores.
template <auto F, Options O, class Cycle>
inline void FunctionIngredient<F, O, Cycle>::touch(Memo& m, Revision now) noexcept {
  if ((lru_capacity_ | byte_budget_) != 0 && m.last_used.load(std::memory_order_relaxed) != now)
    m.last_used.store(now, std::memory_order_relaxed);
}

}  // namespace relish::detail

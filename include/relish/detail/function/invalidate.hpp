// Push-pull invalidation, the memo's side (the walk itself is Runtime::invalidate): a write
// marks memos (mark_dirty) through the reverse edges built from their dependencies
// (dependency_span, invalidation_source); an unmarked memo from an earlier revision is
// accepted in O(1) when read (accept_clean).
#pragma once

#include "relish/detail/function.hpp"

namespace relish::detail {

template <auto F, Options O, class Cycle>
inline bool FunctionIngredient<F, O, Cycle>::mark_dirty(std::uint32_t, std::uint32_t id) {
  Memo* m = memos_.get(id);
  if (!m || m->dirty) return false;
  m->dirty = true;
  return true;
}

template <auto F, Options O, class Cycle>
inline std::span<const DatabaseKey> FunctionIngredient<F, O, Cycle>::dependency_span(
    std::uint32_t, std::uint32_t id) const {
  const Memo* m = memos_.get(id);
  if (!m) return {};
  return {m->deps.data(), m->deps.size()};
}

template <auto F, Options O, class Cycle>
inline DatabaseKey FunctionIngredient<F, O, Cycle>::invalidation_source(std::uint32_t,
                                                                        std::uint32_t id,
                                                                        SourceInfo& info) const {
  const Memo* m = memos_.get(id);
  info.absent = !m || m->verified_at.load(std::memory_order_relaxed) == 0;
  return DatabaseKey{first_index(), id};
}

template <auto F, Options O, class Cycle>
inline void FunctionIngredient<F, O, Cycle>::set_notes_use(std::uint32_t, std::uint32_t id) {
  if (Memo* m = memos_.get(id)) m->notes_use = true;
}

template <auto F, Options O, class Cycle>
inline bool FunctionIngredient<F, O, Cycle>::changed_since(
    const Runtime& rt, std::uint32_t, std::uint32_t id, Revision after,
    absl::flat_hash_set<DatabaseKey>& seen) const {
  const Memo* m = memos_.get(id);
  if (!m || m->verified_at.load(std::memory_order_relaxed) == 0 || is_provisional(*m) ||
      m->changed_at > after)
    return true;
  for (DatabaseKey d : dependency_span(0, id))
    if (rt.changed_since(d, after, seen)) return true;
  return false;
}

// No write marked the memo since it was verified: nothing it read changed, so it is current
// without looking at its dependencies. The caller owns it. `publish`: as in verify().
template <auto F, Options O, class Cycle>
inline bool FunctionIngredient<F, O, Cycle>::accept_clean(Db& db, Memo& m, DatabaseKey key,
                                                          bool publish) {
  Runtime& rt = db.runtime();
  if (m.dirty || !rt.accepts_clean()) return false;
  if (rt.checks_acceptance()) [[unlikely]]
    rt.check_acceptance(key, m.verified_at.load(std::memory_order_relaxed),
                        dependency_span(0, key.key));
  if (const std::vector<DatabaseKey>* made = m.created()) {  // what it created is current
    for (DatabaseKey e : *made) rt.ingredient_at(e).mark_validated(e.key, rt.revision());
  }
  if (m.notes_use) rt.note_used(dependency_span(0, key.key));  // interned values it read
  if (publish) m.verified_at.store(rt.revision(), std::memory_order_release);
  rt.emit(EventKind::did_accept_clean, key);
  return true;
}

}  // namespace relish::detail

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
  if (!m || m->dirty.load(std::memory_order_relaxed)) return false;
  m->dirty.store(true, std::memory_order_relaxed);
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
  return DatabaseKey{first_index(), id};  // its accumulated values (sub 1) change with it
}

template <auto F, Options O, class Cycle>
inline void FunctionIngredient<F, O, Cycle>::set_notes_use(std::uint32_t, std::uint32_t id) {
  if (Memo* m = memos_.get(id)) m->notes_use = true;
}

template <auto F, Options O, class Cycle>
inline bool FunctionIngredient<F, O, Cycle>::changed_since(
    const Runtime& rt, std::uint32_t sub, std::uint32_t id, Revision after,
    absl::flat_hash_set<DatabaseKey>& seen) const {
  const Memo* m = memos_.get(id);
  if (!m || m->verified_at.load(std::memory_order_relaxed) == 0 || is_provisional(*m) ||
      changed_after(*m, sub, after))
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
  const bool final_value = m.durability == Durability::never_change;  // nothing to check
  if (!final_value && (m.dirty.load(std::memory_order_relaxed) || !rt.accepts_clean()))
    return false;
  if (rt.checks_acceptance()) [[unlikely]]
    rt.check_acceptance(key, m.verified_at.load(std::memory_order_relaxed),
                        dependency_span(0, key.key));
  if (const std::vector<DatabaseKey>* made = m.created()) {  // what it created is current
    for (DatabaseKey e : *made) rt.ingredient_at(e).mark_validated(e.key, rt.revision());
  }
  if (m.notes_use) rt.note_used(dependency_span(0, key.key));  // interned values it read
  if (publish) m.verified_at.store(rt.revision(), std::memory_order_release);
  if (!final_value) rt.emit(EventKind::did_accept_clean, key);
  return true;
}

// The common case of the above, without claiming the memo: unmarked, with its value, nothing
// else to do (no entities to re-validate, no interned values to note, no cycle). Fields are
// read unclaimed: a clean memo's fields are not written in this revision, and a marked one
// is unmarked only after its owner published it (then the compare-and-swap fails, and the
// published value is read). Only the
// revision is published, by one compare-and-swap: a clean memo is not written by anyone else
// in this revision (its owner, if any, only accepts it too). nullptr: take the claimed path.
template <auto F, Options O, class Cycle>
inline auto FunctionIngredient<F, O, Cycle>::accept_unclaimed(Db& db, Local& l, Memo& m,
                                                              DatabaseKey key, Revision verified,
                                                              std::uint32_t stamp)
    -> const Value* {
  Runtime& rt = db.runtime();
  if (!unclaimed_acceptable(rt, m, stamp)) return nullptr;
  const bool final_value = m.durability == Durability::never_change;
  if (rt.checks_acceptance()) [[unlikely]]
    rt.check_acceptance(key, verified, dependency_span(0, key.key));
  const Revision now = rt.revision();
  Revision expected = verified;
  if (m.verified_at.compare_exchange_strong(expected, now, std::memory_order_acq_rel,
                                            std::memory_order_acquire)) {
    if (!final_value) rt.emit(EventKind::did_accept_clean, key);
  } else if (expected != now) {
    return nullptr;  // dropped meanwhile (its entity was deleted)
  }
  touch(m, now);
  rt.record_read(l, key, m.durability, m.accumulates);
  return &*m.value;
}

// Unmarked (acquire: what its last publisher wrote is visible), with its value, and nothing
// else to do. A final (never_change) memo needs no check, but its durability is read only
// after the acquire loads: a marked memo's fields may be being rewritten by its owner.
template <auto F, Options O, class Cycle>
inline bool FunctionIngredient<F, O, Cycle>::unclaimed_acceptable(const Runtime& rt,
                                                                  const Memo& m,
                                                                  std::uint32_t stamp) noexcept {
  return !m.dirty.load(std::memory_order_acquire) && m.filled.load(std::memory_order_acquire) &&
         rt.accepts_clean() && !is_provisional(m) && !m.created() && !m.notes_use &&
         m.key_stamp == stamp;
}

}  // namespace relish::detail

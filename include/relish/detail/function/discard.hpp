// Discarding memos: a memo keyed on a deleted entity (or one whose slot another entity took)
// goes back to "no memo", and the tracked structs it created are deleted.
#pragma once

#include "relish/detail/function.hpp"

namespace relish::detail {

// A memo keyed on a deleted entity is dropped at the next revision boundary: another thread
// may still be reading it in this one.
template <auto F, Options O, class Cycle>
inline void FunctionIngredient<F, O, Cycle>::on_entity_deleted(
    [[maybe_unused]] Database& base, [[maybe_unused]] std::uint32_t owner,
    [[maybe_unused]] std::uint32_t index, [[maybe_unused]] std::uint32_t stamp) {
  if constexpr (KeyedOnEntity<Args>::value) {
    using KeyIngredient = typename std::tuple_element_t<0, Args>::Ingredient;
    const auto* ki = base.runtime().find_ingredient<KeyIngredient, KeyIngredient>();
    if (!ki || ki->first_index() != owner) return;
    // No hit from now on (the slot is not reused before the next revision, so the memo at
    // `index` is the dead entity's, or an older dead one's): asked again, the query fails
    // on the dead handle; the value stays alive for references handed out.
    if (Memo* m = memos_.get(index)) {
      m->verified_at.store(0, std::memory_order_release);
      Runtime& rt = base.runtime();
      rt.note_invalidated(rt.local(), DatabaseKey{first_index(), index});
    }
    LockGuard lock(deferred_mu_);
    deferred_drops_.push_back({index, stamp});
    want_revision_hook(true);
  }
}

template <auto F, Options O, class Cycle>
inline void FunctionIngredient<F, O, Cycle>::on_new_revision(Database& base) {
  Db& db = static_cast<Db&>(base);
  // Off until the next drop (one made below, by a discard, turns it back on).
  if (lru_capacity_ == 0 && byte_budget_ == 0) want_revision_hook(false);
  std::vector<std::pair<std::uint32_t, std::uint32_t>> drops;
  // Readers push under the lock, and every reader is out during a write (its exit
  // happens-before the write): an empty list needs no lock.
  if (!deferred_drops_.empty()) {
    LockGuard lock(deferred_mu_);
    drops.swap(deferred_drops_);
  }
  // Only the deleted entity's memo: a new entity may already have its slot (another stamp).
  for (auto [index, stamp] : drops) {
    Memo* m = memos_.get(index);
    if (m && m->key_stamp == stamp &&
        (m->verified_at.load(std::memory_order_relaxed) != 0 || is_provisional(*m) || m->value))
      discard(db, *m);
  }
  evict_values(db);
}

template <auto F, Options O, class Cycle>
inline void FunctionIngredient<F, O, Cycle>::discard(Db& db, Memo& m) {
  std::vector<DatabaseKey> made;
  if (auto* c = m.created()) made = std::move(*c);
  m.reset();
  for (DatabaseKey e : made) db.runtime().delete_entity(db, e);
}

}  // namespace relish::detail

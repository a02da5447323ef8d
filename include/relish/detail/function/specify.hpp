// Specify (Salsa's `#[salsa::tracked(specify)]`): the query that creates a tracked struct
// sets the value of a query keyed on it, instead of that query running.
//
// A specified ("assigned") memo is current exactly when its creator is: it is listed with the
// creator's created entities, so a verified creator validates it (mark_validated), a re-run
// that specifies it again overwrites it (an equal value keeps its changed revision: readers
// do not re-run), and a re-run that does not drops it (delete_entity), after which the query
// runs normally. A specify query therefore brings the creator of its key up to date before
// looking at a memo (ensure_creator_current), and every one of its memos, assigned or run,
// depends on the key's existence, whose reverse edges hang off the creator: a write that may
// re-run the creator marks the memo and its readers.
#pragma once

#include "relish/detail/function.hpp"

namespace relish::detail {

template <auto F, Options O, class Cycle>
inline void FunctionIngredient<F, O, Cycle>::ensure_creator_current(Db& db, Local& l,
                                                                    std::uint32_t id) {
  if constexpr (O.specify) KeyEntity::ingredient(db).ensure_current(db, l, id);
}

template <auto F, Options O, class Cycle>
inline DatabaseKey FunctionIngredient<F, O, Cycle>::existence_of_key(Db& db, std::uint32_t id) {
  return DatabaseKey{KeyEntity::ingredient(db).first_index(), id};
}

template <auto F, Options O, class Cycle>
template <class K>
inline void FunctionIngredient<F, O, Cycle>::specify(Db& db, const K& s, Value&& v) {
  static_assert(O.specify && std::is_same_v<K, KeyEntity>);
  Runtime& rt = db.runtime();
  Local& l = rt.local();
  auto& entities = KeyEntity::ingredient(db);
  const std::uint32_t id = s.index();
  const std::uint32_t stamp = s.stamp();
  entities.check_handle(rt, id, stamp);
  const DatabaseKey key{first_index(), id};
  if (l.depth == 0) {
    throw MisuseError("cannot specify " + describe(0, id) +
                      " outside a query: only the query that created its key may, as it runs");
  }
  Frame& f = l.frames[l.depth - 1];
  if (!(entities.creator_of(id) == f.key) || !entities.created_in(id, f.serial)) {
    throw MisuseError("cannot specify " + describe(0, id) + " in " + rt.describe(f.key) +
                      ": only the query that created its key (" +
                      rt.describe(entities.creator_of(id)) +
                      ") may, in the execution that creates it");
  }
  if (std::find(f.created.begin(), f.created.end(), key) != f.created.end()) {
    throw MisuseError(describe(0, id) + " was specified twice by " + rt.describe(f.key));
  }
  Memo& m = memos_.ensure(id);
  while (!rt.claim(l, m.owner, key)) {
  }
  {
    OwnerGuard owner(l, m, key);
    const Revision now = rt.revision();
    if (m.key_stamp != stamp && (m.verified_at.load(std::memory_order_relaxed) != 0 || m.value))
      discard(db, m);  // a memo of another entity that had this index
    if (!m.assigned && m.verified_at.load(std::memory_order_relaxed) == now) {
      throw MisuseError(describe(0, id) + " was computed in this revision before " +
                        rt.describe(f.key) + " specified it: specify it before reading it");
    }
    if (!m.assigned && (m.value || m.verified_at.load(std::memory_order_relaxed) != 0))
      discard(db, m);  // it ran before: what it created goes, its value is replaced
    bool same = false;
    if constexpr (!O.no_eq) same = m.assigned && m.value && values_equal(*m.value, v);
    if (same) {
      rt.emit(EventKind::did_backdate, key);
    } else {
      store_value(m, std::move(v));
      m.changed_at = now;
    }
    m.deps.assign({existence_of_key(db, id)});
    m.durability = std::min(f.durability, entities.durability_of(id));
    m.key_stamp = stamp;
    m.assigned = true;
    m.accumulates = false;
    rt.note_executed(l, key);
    m.verified_at.store(now, std::memory_order_release);
    m.dirty.store(!rt.accepts_clean(), std::memory_order_release);
    rt.emit(EventKind::did_specify, key);
  }
  f.created.push_back(key);  // current while its creator is (mark_validated, delete_entity)
}

// The creator re-ran without specifying it (or failed, or was dropped): no memo.
template <auto F, Options O, class Cycle>
inline void FunctionIngredient<F, O, Cycle>::delete_entity(Database& base, std::uint32_t id) {
  if constexpr (O.specify) {
    Db& db = static_cast<Db&>(base);
    Memo* m = memos_.get(id);
    if (!m || !m->assigned) return;
    Runtime& rt = db.runtime();
    Local& l = rt.local();
    const DatabaseKey key{first_index(), id};
    if (m->owner.owner() == l.id) {  // being verified further up: it will find no memo
      m->assigned = false;
      m->verified_at.store(0, std::memory_order_release);
      rt.note_invalidated(l, key);
      return;
    }
    while (!rt.claim(l, m->owner, key)) {
    }
    OwnerGuard owner(l, *m, key);
    if (!m->assigned) return;
    m->reset();
    rt.note_invalidated(l, key);  // what read it reads nothing now
  } else {
    (void)base;
    (void)id;
  }
}

// Its creator was verified in this revision without re-running: the value stands.
template <auto F, Options O, class Cycle>
inline void FunctionIngredient<F, O, Cycle>::mark_validated(std::uint32_t id, Revision now) {
  if constexpr (O.specify) {
    Memo* m = memos_.get(id);
    if (m && m->assigned && m->verified_at.load(std::memory_order_relaxed) != 0)
      m->verified_at.store(now, std::memory_order_release);
  } else {
    (void)id;
    (void)now;
  }
}

}  // namespace relish::detail

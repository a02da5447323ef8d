// Deep verification ("maybe changed after", as salsa calls it): is a memo from an earlier
// revision still valid? Its dependencies are checked in the order they were read; a changed
// one is re-executed (execute.hpp) to see whether its value really changed.
#pragma once

#include "relish/detail/function.hpp"

namespace relish::detail {

template <auto F, Options O, class Cycle>
inline bool FunctionIngredient<F, O, Cycle>::maybe_changed_after(Database& base, std::uint32_t sub,
                                                                 std::uint32_t id, Revision after) {
  Db& db = static_cast<Db&>(base);
  Runtime& rt = db.runtime();
  Memo* m = memos_.get(id);
  if (!m) return true;
  const DatabaseKey key{first_index(), id};
  Local* l = nullptr;
  std::vector<DatabaseKey> heads_done;  // close_cycle: heads computed first
  if constexpr (O.specify) {
    l = &rt.local();
    ensure_creator_current(db, *l, id);
  }
  for (;;) {
    const Revision verified = m->verified_at.load(std::memory_order_acquire);
    if (verified == rt.revision()) return changed_after(*m, sub, after);
    if (verified == 0 && !is_provisional(*m)) return true;  // no memo
    if (!l) l = &rt.local();
    if (m->owner.owner() == l->id) [[unlikely]]
      return reentered_in_verification(rt, *l, key);
    if (!rt.claim(*l, m->owner, key)) continue;
    Wait wait;
    try {
      OwnerGuard owner(*l, *m, key);
      if (is_provisional(*m)) return true;  // inside a cycle being iterated: assume changed
      if (m->verified_at.load(std::memory_order_relaxed) == rt.revision())
        return changed_after(*m, sub, after);
      if (m->verified_at.load(std::memory_order_relaxed) == 0) return true;
      if constexpr (O.specify) {
        if (m->assigned) {  // its creator is current (above) and did not specify it again
          discard(db, *m);
          return true;
        }
      }
      if (accept_clean(db, *m, key, true)) return changed_after(*m, sub, after);
      Verdict v = verify_or_restart(db, *l, *m, key);
      if (v == Verdict::changed) {
        if (!execute_for_verification(db, *l, *m, key)) return true;
        if (is_provisional(*m)) return true;
      }
      return changed_after(*m, sub, after);
    } catch (const YieldToCycle& y) {
      if (!(y.release == key)) throw;
      if (!y.wait_word) {  // a cycle headed further up: its head first, then this again
        rt.compute_head(db, *l, y, key, heads_done);
        continue;
      }
      wait = Wait{y.wait_word, y.wait_owner, y.wait_key};
    }
    rt.wait_released(*l, *wait.word, wait.owner, wait.key);
  }
}

// Sub-ingredient 0 is the memo's value; 1 is what accumulated() collects below it, which a
// query calling accumulated() depends on (for every memo the walk looks at).
template <auto F, Options O, class Cycle>
inline bool FunctionIngredient<F, O, Cycle>::changed_after(const Memo& m, std::uint32_t sub,
                                                           Revision after) noexcept {
  if (sub == 0) return m.changed_at > after;
  return m.extra && m.extra->accumulated_changed_at > after;
}

template <auto F, Options O, class Cycle>
inline Verdict FunctionIngredient<F, O, Cycle>::verify_or_restart(Db& db, Local& l, Memo& m,
                                                                  DatabaseKey key, bool publish) {
  try {
    return verify(db, l, m, key, publish);
  } catch (const RestartVerification& r) {
    if (!(r.key == key)) throw;
    return Verdict::changed;
  }
}

// Deep verification: is every dependency unchanged since m.verified_at? Dependencies are
// checked in the order they were read, and the walk stops at the first changed one (later
// ones may not even be read by a re-execution). The caller owns m. "conditional": unchanged
// provided the cycle heads met on the way (being verified further up) turn out unchanged;
// such a verdict is not recorded. With push-pull invalidation on, only marked memos get here,
// and they never take the durability shortcut: a mark that came through a stale edge could
// otherwise be cleared while a dependency stays marked, and "every reader of a marked memo is
// marked" (what lets marking stop early) would break.
//
// For tracing, it is a span: will_verify here, did_verify on every way out (with how it ended,
// a VerifyEnd), and did_cancel first if a cancellation unwinds it.
template <auto F, Options O, class Cycle>
inline Verdict FunctionIngredient<F, O, Cycle>::verify(Db& db, Local& l, Memo& m, DatabaseKey key,
                                                       bool publish) {
  Runtime& rt = db.runtime();
  rt.emit(EventKind::will_verify, key);
  struct Span {
    const Runtime& rt;
    DatabaseKey key;
    VerifyEnd end = VerifyEnd::unwound;
    ~Span() { rt.emit(EventKind::did_verify, key, static_cast<std::uint32_t>(end)); }
  } span{rt, key};
  const Verdict v = verify_deps(db, l, m, key, publish);
  span.end = v == Verdict::unchanged     ? VerifyEnd::unchanged
             : v == Verdict::conditional ? VerifyEnd::conditional
                                         : VerifyEnd::changed;
  return v;
}

template <auto F, Options O, class Cycle>
inline Verdict FunctionIngredient<F, O, Cycle>::verify_deps(Db& db, Local& l, Memo& m,
                                                            DatabaseKey key, bool publish) {
  Runtime& rt = db.runtime();
  const Revision verified = m.verified_at.load(std::memory_order_relaxed);
  const std::size_t hits = l.cycle_hits.size();
  const bool push_pull = rt.accepts_clean();
  // A memo that read only never-change inputs is valid for good, marked (through a stale
  // edge) or not; else push-pull walks every marked memo, pull-only all but the durable.
  if (m.durability != Durability::never_change &&
      (push_pull || rt.last_changed(m.durability) > verified)) {
    const DatabaseKey* deps = m.deps.data();
    try {
      for (std::uint32_t i = 0, n = m.deps.size(); i < n; ++i) {
        if (rt.maybe_changed_after(db, deps[i], verified)) {
          l.cycle_hits.resize(hits);
          return Verdict::changed;
        }
      }
    } catch (const Cancelled&) {
      l.cycle_hits.resize(hits);
      rt.emit(EventKind::did_cancel, key);
      throw;
    } catch (...) {
      l.cycle_hits.resize(hits);
      throw;
    }
  }
  if (l.cycle_hits.size() > hits) {
    std::erase(l.cycle_hits, key);  // assumptions about this memo itself now hold
    if (l.cycle_hits.size() > hits) return Verdict::conditional;
  }
  if (const std::vector<DatabaseKey>* made = m.created()) {  // what it created is current
    for (DatabaseKey e : *made) rt.ingredient_at(e).mark_validated(e.key, rt.revision());
  }
  if (publish) {
    m.verified_at.store(rt.revision(), std::memory_order_release);
    // Every dependency is current and unmarked now. Unmarked only after the revision is
    // published: a reader that sees it unmarked without claiming it sees the rest too.
    if (push_pull) m.dirty.store(false, std::memory_order_release);
  }
  rt.emit(EventKind::did_validate_memoized_value, key);
  return Verdict::unchanged;
}

// Deep verification reached a memo this thread owns. Being executed: it will change (a
// fixpoint head) or it is a genuine cycle. Being verified further up: assume unchanged, and
// make every verdict until that memo's own verdict conditional.
template <auto F, Options O, class Cycle>
inline bool FunctionIngredient<F, O, Cycle>::reentered_in_verification(Runtime& rt, Local& l,
                                                                       DatabaseKey key) {
  if (executing(l, key)) {
    if constexpr (kCycle != 0) return true;
    rt.close_cycle(l, key);
  }
  l.cycle_hits.push_back(key);
  return false;
}

}  // namespace relish::detail

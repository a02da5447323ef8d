// Execution: running the query's function in a new frame and storing the result, with its
// dependencies, as the new memo (or refilling an evicted value). Whether the new value
// backdates is decided in backdate.hpp; a fixpoint query iterates in fixpoint.hpp.
#pragma once

#include "relish/detail/function.hpp"

namespace relish::detail {

// Runs the function once in a new frame, which the caller pops. On a throw no memo survives:
// it is reset and the entities it created, then or before, are deleted.
template <auto F, Options O, class Cycle>
inline auto FunctionIngredient<F, O, Cycle>::run(Db& db, Local& l, Memo& m, DatabaseKey key,
                                                 std::uint32_t stamp, bool refill) -> Value {
  Runtime& rt = db.runtime();
  rt.emit(EventKind::will_execute, key);
  Frame& f = rt.push_frame(l, key);  // stays put: frames is a deque
  f.stamp = stamp;
  f.previous_created = m.created();  // only this thread changes it, while it runs
  f.refill = refill;
  if constexpr (O.specify) {  // the creator of its key may specify it next time (specify.hpp)
    rt.record_dep(l, existence_of_key(db, key.key),
                  KeyEntity::ingredient(db).durability_of(key.key));
  }
  try {
    Value v = keys_.invoke(db, key.key, stamp,
                           [](Db& d, const auto&... a) -> Value { return F(d, a...); });
    // The function swallowed a control exception of the engine: its result is not trusted.
    if (f.control) [[unlikely]]
      std::rethrow_exception(f.control);
    return v;
  } catch (const Cancelled&) {
    rt.emit(EventKind::did_cancel, key);  // then did_execute: the span ends last
    abandon_run(db, l, m, key, f);
    throw;
  } catch (const YieldToCycle&) {
    abandon_run(db, l, m, key, f);
    throw;
  } catch (const RestartVerification&) {
    abandon_run(db, l, m, key, f);
    throw;
  } catch (...) {
    rt.attach_backtrace(l);
    std::vector<DatabaseKey> made = std::move(f.created);
    --l.depth;
    rt.emit(EventKind::did_execute, key);
    if (auto* old = m.created()) made.insert(made.end(), old->begin(), old->end());
    m.reset();
    rt.note_invalidated(l, key);  // what read the old memo now reads nothing
    for (DatabaseKey e : made) rt.delete_entity(db, e);
    throw;
  }
}

// Re-runs a changed dependency to see whether its value changed. If it throws (its own
// error, an operator== that throws while backdating...), it left no memo: that is a change,
// and the reader re-runs and meets the error where its own code can catch it. The engine's
// control exceptions go on unwinding.
template <auto F, Options O, class Cycle>
inline bool FunctionIngredient<F, O, Cycle>::execute_for_verification(Db& db, Local& l, Memo& m,
                                                                      DatabaseKey key) {
  try {
    execute(db, l, m, key, m.key_stamp, false);
    return true;
  } catch (const Cancelled&) {
    throw;
  } catch (const YieldToCycle&) {
    throw;
  } catch (const RestartVerification&) {
    throw;
  } catch (...) {
    return false;
  }
}

// An execution interrupted through no fault of its own (cancelled, making way for another
// thread, or a cycle head restarting from scratch): the old memo stays as it was (a later
// re-run can still backdate against it); only entities this attempt newly created are dropped.
template <auto F, Options O, class Cycle>
inline void FunctionIngredient<F, O, Cycle>::abandon_run(Db& db, Local& l, Memo& m, DatabaseKey key,
                                                         Frame& f) {
  Runtime& rt = db.runtime();
  std::vector<DatabaseKey> made = std::move(f.created);
  --l.depth;
  rt.emit(EventKind::did_execute, key);
  const std::vector<DatabaseKey>* old = m.created();
  for (DatabaseKey e : made)
    if (!old || std::find(old->begin(), old->end(), e) == old->end()) rt.delete_entity(db, e);
}

// Runs the function and stores the result; the caller owns m. `verified`: the old memo's
// dependencies are unchanged but its value was evicted, so the new value equals the old one
// by purity and keeps its changed_at. A fixpoint query whose execution came back to itself
// iterates here until its value stops changing.
template <auto F, Options O, class Cycle>
inline void FunctionIngredient<F, O, Cycle>::execute(Db& db, Local& l, Memo& m, DatabaseKey key,
                                                     std::uint32_t stamp, bool verified) {
  const std::size_t depth = l.depth;
  try {
    execute_rounds(db, l, m, key, stamp, verified);
  } catch (...) {
    // The function returned, then something else threw (operator== while backdating,
    // heap_size, Recover...) with its frame still on the stack: as if the function threw.
    if (l.depth > depth) fail_after_run(db, l, m, depth);
    throw;
  }
}

template <auto F, Options O, class Cycle>
inline void FunctionIngredient<F, O, Cycle>::fail_after_run(Db& db, Local& l, Memo& m,
                                                            std::size_t depth) {
  std::vector<DatabaseKey> made = std::move(l.frames[depth].created);
  l.depth = depth;
  db.runtime().emit(EventKind::did_execute, l.frames[depth].key);  // pairs with will_execute
  if (auto* old = m.created()) made.insert(made.end(), old->begin(), old->end());
  m.reset();
  db.runtime().note_invalidated(l, l.frames[depth].key);
  for (DatabaseKey e : made) db.runtime().delete_entity(db, e);
}

template <auto F, Options O, class Cycle>
inline void FunctionIngredient<F, O, Cycle>::execute_rounds(Db& db, Local& l, Memo& m,
                                                            DatabaseKey key, std::uint32_t stamp,
                                                            bool verified) {
  if constexpr (kCycle == 0) {
    Value result = run(db, l, m, key, stamp, verified);
    finish(db, l, m, key, stamp, verified, std::move(result));
  } else {
    execute_fixpoint(db, l, m, key, stamp, verified);  // fixpoint.hpp
  }
}

// Stores an execution's result from the top frame, then pops it.
template <auto F, Options O, class Cycle>
inline void FunctionIngredient<F, O, Cycle>::finish(Db& db, Local& l, Memo& m, DatabaseKey key,
                                                    std::uint32_t stamp, bool verified,
                                                    Value&& result) {
  Runtime& rt = db.runtime();
  Frame& f = l.frames[l.depth - 1];
  const Revision now = rt.revision();
  if (!f.cycle_heads.empty()) {  // read a provisional value: provisional itself
    store_provisional(db, l, m, key, stamp, f, std::move(result));
    return;
  }
  if (verified) {
    // A value evicted by the LRU, refilled: dependencies, revisions, pushed values and
    // created entities are the old ones by purity, and other threads may be reading them
    // (the memo can be verified in this revision already): only the value is new.
    store_value(m, std::move(result));
    --l.depth;
    m.verified_at.store(now, std::memory_order_release);
    // Verified (or clean) before the refill; unmarked after publishing, as in verify().
    if (rt.accepts_clean()) m.dirty.store(false, std::memory_order_release);
    rt.emit(EventKind::did_execute, key);
    return;
  }
  Revision changed_at = now;
  const bool accumulates = f.accumulates || !f.accumulated.empty();
  if (backdates(m, f.durability, accumulates, result)) {
    changed_at = m.changed_at;
    rt.emit(EventKind::did_backdate, key);
  }
  // What accumulated() collects below it may differ: its own values, or what it reads (the
  // walk's shape), changed. Only memos with values below them keep the revision.
  if (accumulates || m.accumulates) {
    static const std::vector<Accumulated> none;
    const bool same = m.extra && Accumulated::same(m.extra->accumulated, f.accumulated) &&
                      f.deps.size() == m.deps.size() &&
                      std::equal(f.deps.begin(), f.deps.end(), m.deps.data());
    if (!same) m.ensure_extra().accumulated_changed_at = now;
  }
  if (changed_at == now || !m.value) store_value(m, std::move(result));
  take_carried(m, f);
  m.deps.assign(f.deps);
  rt.note_executed(l, key);  // its reverse edges go in at the next write
  m.changed_at = changed_at;
  m.durability = f.durability;
  m.accumulates = accumulates;
  m.key_stamp = stamp;
  if (m.extra || !f.accumulated.empty()) m.ensure_extra().accumulated = std::move(f.accumulated);
  if (accumulates) {
    MemoExtra& x = m.ensure_extra();
    x.accumulating = std::move(f.accumulating);
    x.accumulating_indexed = f.indexed;
  } else if (m.extra) {
    m.extra->accumulating.clear();
    m.extra->accumulating_indexed = false;
  }
  const std::vector<DatabaseKey> dropped = replace_created(m, std::move(f.created));
  --l.depth;
  m.verified_at.store(now, std::memory_order_release);  // publishes the fields above
  // Its dependencies are current and unmarked (after publishing, as in verify()). In the
  // pull-only testing mode they may still be marked, verified by the durability shortcut:
  // it stays marked, so that switching back is safe.
  m.dirty.store(!rt.accepts_clean(), std::memory_order_release);
  rt.emit(EventKind::did_execute, key);
  for (DatabaseKey e : dropped) rt.delete_entity(db, e);
}

// The value goes in before `filled` says so: a hot-path reader checks `filled` first.
template <auto F, Options O, class Cycle>
inline void FunctionIngredient<F, O, Cycle>::store_value(Memo& m, Value&& v) {
  m.filled.store(false, std::memory_order_relaxed);
  m.value = std::move(v);
  if (byte_budget_ != 0)
    m.ensure_extra().value_bytes = sizeof(Value) + relish::heap_size(*m.value);
  m.filled.store(true, std::memory_order_release);
}

// The tracked structs this execution created replace the previous execution's, before the
// memo is published: accept_unclaimed reads the list unclaimed once it is. Returns those the
// previous execution created and this one did not, which the caller deletes after publishing.
template <auto F, Options O, class Cycle>
inline std::vector<DatabaseKey> FunctionIngredient<F, O, Cycle>::replace_created(
    Memo& m, std::vector<DatabaseKey>&& now_created) {
  std::vector<DatabaseKey>* old = m.created();
  if (!old && now_created.empty()) return {};  // the common case: creates no entities
  if (old && same_keys(*old, now_created)) return {};  // the common re-run: the same ones
  std::vector<DatabaseKey> dropped;
  if (old) {
    const absl::flat_hash_set<DatabaseKey> kept(now_created.begin(), now_created.end());
    for (DatabaseKey e : *old)
      if (!kept.contains(e)) dropped.push_back(e);
  }
  m.ensure_extra().created = std::move(now_created);
  return dropped;
}

}  // namespace relish::detail

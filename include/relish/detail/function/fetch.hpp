// Fetch: the value of a query for some arguments. The hot path returns a memo verified in
// this revision; the cold path claims the memo, then verifies it (verify.hpp) or executes the
// query (execute.hpp), or finds it provisional in a fixpoint round (fixpoint.hpp) or owned by
// this thread already (a cycle).
#pragma once

#include "relish/detail/function.hpp"

namespace relish::detail {

// The hot path: a memo verified in this revision is returned after two loads and compares.
template <auto F, Options O, class Cycle>
template <class... A>
inline auto FunctionIngredient<F, O, Cycle>::fetch(Db& db, Local& l, const A&... args)
    -> const Value& {
  auto [id, stamp] = keys_.key_of(args...);
  Runtime& rt = db.runtime();
  const Revision now = rt.revision();
  if (Memo* m = memos_.get(id)) [[likely]] {
    // verified_at first: the other fields are only stable once it says "this revision".
    const Revision verified = m->verified_at.load(std::memory_order_acquire);
    if (verified == now && m->filled.load(std::memory_order_acquire) && m->key_stamp == stamp)
        [[likely]] {
#ifndef NDEBUG
      // Debug builds re-check every hit: the key's entity is alive with this stamp.
      if constexpr (KeyedOnEntity<Args>::value)
        std::tuple_element_t<0, Args>::ingredient(db).check_handle(rt, id, stamp);
#endif
      touch(*m, now);
      rt.record_read(l, DatabaseKey{first_index(), id}, m->durability, m->accumulates);
      return *m->value;
    }
    if (verified != 0) return fetch_earlier(db, l, *m, id, stamp, verified);
  }
  return fetch_cold(db, l, id, stamp);
}

// A memo from an earlier revision. Unmarked since (outside every write's cone), it is accepted
// in O(1), as fetch_cold_claimed would, without its set-up (after the same checks); out of
// line, so that the hot path above stays small. The common case (nothing observes, checks or
// evicts) makes no call, so saves no registers; the rest is accept_unclaimed.
template <auto F, Options O, class Cycle>
auto FunctionIngredient<F, O, Cycle>::fetch_earlier(Db& db, Local& l, Memo& m, std::uint32_t id,
                                                    std::uint32_t stamp, Revision verified)
    -> const Value& {
  // No handle check, as on a hit: deleting an entity (input, tracked struct, interned value)
  // zeroes the verified revision of the memos keyed on it, and a handle of another generation
  // or database has another stamp than the memo's key_stamp, so a stale handle never gets
  // past the acceptance checks (it goes to fetch_cold, which checks it).
#ifndef NDEBUG
  if constexpr (KeyedOnEntity<Args>::value)
    if (!l.in_callback)
      std::tuple_element_t<0, Args>::ingredient(db).check_handle(db.runtime(), id, stamp);
#endif
  Runtime& rt = db.runtime();
  if (l.in_callback || !unclaimed_acceptable(rt, m, stamp)) [[unlikely]]
    return fetch_cold(db, l, id, stamp);
  if (rt.observed() || rt.checks_acceptance() || (lru_capacity_ | byte_budget_) != 0) [[unlikely]]
    return fetch_earlier_slow(db, l, m, id, stamp, verified);
  // Only the revision to publish.
  const Revision now = rt.revision();
  Revision expected = verified;
  if (!m.verified_at.compare_exchange_strong(expected, now, std::memory_order_acq_rel,
                                             std::memory_order_acquire) &&
      expected != now) [[unlikely]]
    return fetch_cold(db, l, id, stamp);  // dropped meanwhile (its entity was deleted)
  if (l.depth == 0) return *m.value;  // a top-level read records nothing
  return record_accepted(db, l, m, id);
}

template <auto F, Options O, class Cycle>
auto FunctionIngredient<F, O, Cycle>::record_accepted(Db& db, Local& l, Memo& m,
                                                      std::uint32_t id) -> const Value& {
  db.runtime().record_read(l, DatabaseKey{first_index(), id}, m.durability, m.accumulates);
  return *m.value;
}

template <auto F, Options O, class Cycle>
auto FunctionIngredient<F, O, Cycle>::fetch_earlier_slow(Db& db, Local& l, Memo& m,
                                                         std::uint32_t id, std::uint32_t stamp,
                                                         Revision verified) -> const Value& {
  if (const Value* v = accept_unclaimed(db, l, m, DatabaseKey{first_index(), id}, verified, stamp))
    return *v;
  return fetch_cold(db, l, id, stamp);
}

// Whatever escapes a read (an error, cancellation, a cycle) is a dependency of the reader
// first: a caller that catches the error and returns a fallback must re-run once this
// query's inputs change. The memo left behind has no value (or is unchanged), so the
// dependency reads as changed, or as what it was.
template <auto F, Options O, class Cycle>
auto FunctionIngredient<F, O, Cycle>::fetch_cold(Db& db, Local& l, std::uint32_t id,
                                                 std::uint32_t stamp) -> const Value& {
  Runtime& rt = db.runtime();
  if (l.in_callback) [[unlikely]]
    rt.throw_reentry(l);
  if constexpr (KeyedOnEntity<Args>::value) {
    // A bad handle is an error before it can touch the memo of the entity in that slot.
    using H = std::tuple_element_t<0, Args>;
    H::ingredient(db).check_handle(rt, id, stamp);
  }
  try {
    ensure_creator_current(db, l, id);  // specify queries: the creator may set this memo
    return fetch_cold_claimed(db, l, id, stamp);
  } catch (...) {
    rt.record_dep(l, DatabaseKey{first_index(), id}, Durability::low);
    throw;
  }
}

template <auto F, Options O, class Cycle>
inline auto FunctionIngredient<F, O, Cycle>::fetch_cold_claimed(Db& db, Local& l, std::uint32_t id,
                                                                std::uint32_t stamp)
    -> const Value& {
  Runtime& rt = db.runtime();
  rt.check_cancelled(l);
  const DatabaseKey key{first_index(), id};
  Memo& m = memos_.ensure(id);
  std::vector<DatabaseKey> heads_done;  // close_cycle: heads computed first
  for (;;) {
    const Revision verified = m.verified_at.load(std::memory_order_acquire);
    if (verified == rt.revision() && m.filled.load(std::memory_order_acquire) &&
        m.key_stamp == stamp) {  // done meanwhile
      touch(m, verified);
      rt.record_read(l, key, m.durability, m.accumulates);
      return *m.value;
    }
    if (verified != 0) {
      if (const Value* v = accept_unclaimed(db, l, m, key, verified, stamp)) return *v;
    }
    if (m.owner.owner() == l.id) [[unlikely]]
      return reentered_in_execution(db, l, m, key, stamp);
    if (!rt.claim(l, m.owner, key)) continue;
    // Claimed. Either the memo is brought up to date, or this thread lets go of it to wait
    // for another thread: one computing the cycle it is provisional in, or one it made way
    // for (YieldToCycle).
    Wait wait;
    try {
      OwnerGuard owner(l, m, key);
      if (is_provisional(m)) {
        switch (provisional_round(rt, l, m, wait)) {
          case Round::current: {  // computed in this round of its cycle(s), on this thread
            if (l.depth) l.frames[l.depth - 1].add_cycle_heads(m.extra->heads);
            rt.record_read(l, key, Durability::low, true);  // provisional: assume values below
            return *m.extra->provisional;
          }
          case Round::stale:
            carry_over(m);
            keep_for_resume(rt, m);
            clear_provisional(m);
            execute(db, l, m, key, stamp, false);
            break;
          case Round::foreign:
            break;
        }
      } else {
        if (m.key_stamp != stamp && (m.verified_at.load(std::memory_order_relaxed) != 0 || m.value))
          discard(db, m);  // a memo of another entity that had this index
        if constexpr (O.specify) {
          // Specified before, and its creator (running on this thread) has not again: the
          // query computes it itself.
          if (m.assigned && m.verified_at.load(std::memory_order_relaxed) != rt.revision())
            discard(db, m);
        }
        const Revision verified = m.verified_at.load(std::memory_order_relaxed);
        // A conditional verdict leans on a cycle head still being verified: not good enough
        // for a value that is about to be used.
        // A memo without a value (evicted) is not published as verified before it is
        // refilled: other threads would find it verified and read it half-written.
        const bool publish = m.value.has_value();
        const bool ok = verified == rt.revision() ||
                        (verified != 0 && (accept_clean(db, m, key, publish) ||
                                           verify_or_restart(db, l, m, key, publish) ==
                                               Verdict::unchanged));
        if (!ok || !m.value) execute(db, l, m, key, stamp, ok);
      }
      if (!wait.word) {
        touch(m, rt.revision());
        if (is_provisional(m)) {  // its reader is provisional on the same heads
          if (l.depth) l.frames[l.depth - 1].add_cycle_heads(m.extra->heads);
          rt.record_read(l, key, Durability::low, true);  // provisional: assume values below
          return *m.extra->provisional;
        }
        rt.record_read(l, key, m.durability, m.accumulates);
        return *m.value;
      }
    } catch (const YieldToCycle& y) {
      if (!(y.release == key)) throw;
      if (!y.wait_word) {  // a cycle headed further up: its head first, then this again
        rt.compute_head(db, l, y, key, heads_done);
        continue;
      }
      wait = Wait{y.wait_word, y.wait_owner, y.wait_key};
    }
    rt.wait_released(l, *wait.word, wait.owner, wait.key);
  }
}

// This thread needs a memo it owns: a cycle. A fixpoint query being executed hands out its
// provisional value; one being verified is re-executed instead (RestartVerification);
// anything else is a CycleError.
template <auto F, Options O, class Cycle>
inline auto FunctionIngredient<F, O, Cycle>::reentered_in_execution(Db& db, Local& l, Memo& m,
                                                                    DatabaseKey key,
                                                                    std::uint32_t stamp)
    -> const Value& {
  Runtime& rt = db.runtime();
  if (!executing(l, key)) {
    if constexpr (kCycle == 0) {
      Runtime::throw_control(l, Runtime::active_position(l, key) + 1, RestartVerification{key});
    } else {
      // Being verified further up, and the re-run of a changed dependency needs it: that
      // re-run is provisional on it, so the verification will report a change and execute
      // it. Start its round 0 here rather than unwinding; the round's memos are kept.
      MemoExtra& x = m.ensure_extra();
      if (!x.head_executing) {
        x.head_executing = true;
        x.early_start = true;
        x.early_mark = l.provisional.size();
        x.iteration = 0;
        x.round = next_round_id();
        x.attempt = x.round;
        x.provisional.reset();
        // An inner head of an outer iteration goes on from its last pass (execute_fixpoint).
        if (x.resume && resume_anchored(rt, x)) x.provisional = std::move(x.resume);
        x.resume.reset();
        x.head_inputs.clear();
      }
    }
  }
  if constexpr (kCycle != 0) {
    MemoExtra& x = *m.extra;  // an executing fixpoint query always has one
    if (!x.provisional) {
      // Initial (or Fallback) needing the head itself would recurse: a cycle of its own.
      if (x.computing_start) rt.throw_cycle(l, key);
      x.computing_start = true;
      struct Done {
        MemoExtra& x;
        ~Done() { x.computing_start = false; }
      } done{x};
      x.provisional.emplace(keys_.invoke(db, key.key, stamp, [](Db& d, const auto&... a) {
        return cycle_start(d, a...);
      }));
    }
    if (l.depth) {
      Frame& reader = l.frames[l.depth - 1];
      reader.add_cycle_heads({CycleHead{key, x.round}});
      reader.add_cycle_heads(x.head_inputs);
    }
    rt.record_read(l, key, Durability::low, true);  // provisional: assume values below
    return *x.provisional;
  } else {
    (void)db;
    (void)m;
    (void)stamp;
    rt.close_cycle(l, key);
  }
}

// Is a provisional value usable here? `current`: every cycle round it was computed in is
// still running, on this thread. `foreign`: another thread is iterating one of its heads
// (`wait` says which); its provisional values are not ours to read, its final ones will be.
// `stale`: computed in a round or an iteration that is over.
template <auto F, Options O, class Cycle>
inline auto FunctionIngredient<F, O, Cycle>::provisional_round(Runtime& rt, const Local& l,
                                                               const Memo& m, Wait& wait) -> Round {
  for (const CycleHead& h : m.extra->heads) {
    IngredientBase& head = rt.ingredient_at(h.head);
    OwnerWord* word = head.owner_word(h.head.key);
    const std::uint32_t owner = word ? word->owner() : 0;
    if (owner != 0 && owner != l.id) {
      wait = Wait{word, owner, h.head};
      return Round::foreign;
    }
  }
  for (const CycleHead& h : m.extra->heads) {
    const OwnerWord* word = rt.ingredient_at(h.head).owner_word(h.head.key);
    if (!word || word->owner() != l.id ||
        rt.ingredient_at(h.head).cycle_iteration(h.head.key) != h.iteration)
      return Round::stale;
  }
  return Round::current;
}

}  // namespace relish::detail

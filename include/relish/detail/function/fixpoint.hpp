// Fixpoint iteration of a cycle whose head recovers (Fixpoint or CycleFallback): the head
// re-executes, round after round, from its provisional value until the value stops changing;
// the memos computed on the way are provisional in the round, and become final (or stale)
// when the head converges.
#pragma once

#include "relish/detail/function.hpp"

namespace relish::detail {

// The value a fixpoint (or fallback) query takes when a cycle comes back to it.
template <auto F, Options O, class Cycle>
template <class... A>
inline auto FunctionIngredient<F, O, Cycle>::cycle_start(Db& db, const A&... a) -> Value {
  if constexpr (kCycle == 1) {
    return CycleInitial<Cycle>::value(db, a...);
  } else if constexpr (kCycle == 2) {
    return CycleFallbackValue<Cycle>::value(db, a...);
  } else {
    static_assert(kCycle != 0);
  }
}

// What the earlier rounds of a fixpoint iteration read: dependencies, their durability, and
// outer cycle heads.
template <auto F, Options O, class Cycle>
struct FunctionIngredient<F, O, Cycle>::Rounds {
  std::vector<DatabaseKey> deps;
  std::vector<CycleHead> heads;
  std::vector<DatabaseKey> created;  // the final memo owns what every round created
  Durability durability = Durability::never_change;

  void add(const Frame& f) {
    deps.insert(deps.end(), f.deps.begin(), f.deps.end());
    heads.insert(heads.end(), f.cycle_heads.begin(), f.cycle_heads.end());
    created.insert(created.end(), f.created.begin(), f.created.end());
    durability = std::min(durability, f.durability);
  }
  // Appends them to the last round's frame, after its own (read first, as the most likely
  // to have changed), each once.
  void merge_into(Frame& f) const {
    if (deps.empty() && heads.empty() && created.empty()) return;
    if (!deps.empty()) f.indexed = false;
    append_missing(f.deps, deps.data(), deps.size());
    append_missing(f.created, created.data(), created.size());
    f.add_cycle_heads(heads);
    f.durability = std::min(f.durability, durability);
  }
};

// Appends the keys of `extra` that `into` lacks, in order, each once.
template <auto F, Options O, class Cycle>
inline void FunctionIngredient<F, O, Cycle>::append_missing(std::vector<DatabaseKey>& into,
                                                            const DatabaseKey* extra,
                                                            std::size_t n) {
  absl::flat_hash_set<DatabaseKey> seen(into.begin(), into.end());
  for (std::size_t i = 0; i < n; ++i)
    if (seen.insert(extra[i]).second) into.push_back(extra[i]);
}

template <auto F, Options O, class Cycle>
inline void FunctionIngredient<F, O, Cycle>::execute_fixpoint(Db& db, Local& l, Memo& m,
                                                              DatabaseKey key, std::uint32_t stamp,
                                                              bool verified) {
  Runtime& rt = db.runtime();
  MemoExtra& x = m.ensure_extra();
  // Memos computed provisionally from here on (or since round 0 started early) are this
  // iteration's.
  const std::size_t mark = x.early_start ? x.early_mark : l.provisional.size();
  if (!x.early_start) {  // a round 0 started early keeps its start value and round id
    x.iteration = 0;
    x.round = next_round_id();
    x.attempt = x.round;
    x.provisional.reset();
    // An inner head in an outer head's component goes on from its last pass.
    if (x.resume && resume_anchored(rt, x)) x.provisional = std::move(x.resume);
    x.head_inputs.clear();
  }
  x.resume.reset();
  x.early_start = false;
  std::erase(l.unsettled_heads, key);
  x.head_executing = true;
  struct HeadDone {
    Memo& m;
    ~HeadDone() {
      if (m.extra) m.extra->head_executing = false;
    }
  } head_done{m};
  // The value a fixpoint reaches depends on every round of the iteration: what earlier
  // rounds read (say, an input read only while the value was still small) stays a
  // dependency of the final memo.
  Rounds earlier;
  for (;;) {
    Value result = [&]() -> Value {
      try {
        return run(db, l, m, key, stamp);
      } catch (const YieldToCycle&) {
        // Unwound before it stored anything (a cycle re-headed by close_cycle, a thread
        // making way): in the same outer iteration, the next run goes on from where this
        // one got to.
        if (x.provisional && resume_anchored(rt, x)) x.resume = std::move(x.provisional);
        throw;
      }
    }();
    Frame& f = l.frames[l.depth - 1];
    const auto self = std::find_if(f.cycle_heads.begin(), f.cycle_heads.end(),
                                   [&](const CycleHead& h) { return h.head == key; });
    if (self == f.cycle_heads.end()) {  // no cycle came back here
      x.head_executing = false;
      earlier.merge_into(f);
      finish(db, l, m, key, stamp, verified && x.iteration == 0, std::move(result));
      return;
    }
    f.cycle_heads.erase(self);
    if constexpr (kCycle == 2) {
      result = *x.provisional;  // the fallback is the cycle's answer
    } else {
      // Converged when the round's value equals the one it started from, or when what the
      // next round would start from (the value after Recover) does: a widening that maps
      // back to the last value settles on it. Recover runs in the round's frame, so what
      // it reads is a dependency of the result.
      const bool same = x.provisional && values_equal(*x.provisional, result);
      Value next = same ? std::move(result)
                        : CycleRecover<Cycle>::apply(db, std::move(result), x.iteration + 1,
                                                     key, stamp, keys_);
      const bool settled = same || (x.provisional && values_equal(*x.provisional, next));
      // Nested cycles iterate as one component (Salsa's per-SCC fixpoint): a head whose
      // round read an outer head that is iterating on this thread does not iterate alone
      // (holding the outer value fixed, it may never settle). It makes one pass per round
      // of the outer head, going on from its last value, and holds the outer head's
      // iteration open until a pass leaves it unchanged.
      const bool component_unsettled = std::erase(l.unsettled_heads, key) != 0;
      if (const CycleHead* outer = iterating_outer_head(rt, l, f.cycle_heads)) {
        if (!settled || component_unsettled) {  // heads inside it did not settle either
          for (const CycleHead& h : f.cycle_heads)
            if (executing(l, h.head) && std::find(l.unsettled_heads.begin(),
                                                  l.unsettled_heads.end(),
                                                  h.head) == l.unsettled_heads.end())
              l.unsettled_heads.push_back(h.head);
        }
        (void)outer;
        result = std::move(next);  // stored provisional on the outer heads (finish)
      } else if (!settled || component_unsettled) {
        if (x.iteration + 1 >= CycleTraits<Cycle>::max_iterations) {
          // The frame is still up: execute() fails the run (memo and entities go).
          throw CycleError({rt.describe(key) + " did not converge after " +
                            std::to_string(CycleTraits<Cycle>::max_iterations) +
                            " fixpoint iterations"});
        }
        ++x.iteration;
        x.round = next_round_id();
        x.head_inputs = f.cycle_heads;
        earlier.add(f);
        x.provisional = std::move(next);
        --l.depth;  // next round: a fresh frame
        rt.emit(EventKind::did_execute, key);
        rt.emit(EventKind::will_iterate_cycle, key, x.iteration);
        continue;
      } else {
        result = std::move(next);
      }
    }
    // Converged: what was computed against this head's last round becomes final.
    x.head_executing = false;
    x.provisional.reset();
    earlier.merge_into(f);
    try {
      finalize_round(db, l, key, x.round, f, mark);
    } catch (...) {  // waiting for a memo another thread holds: as if the round failed
      abandon_run(db, l, m, key, f);
      throw;
    }
    finish(db, l, m, key, stamp, false, std::move(result));
    return;
  }
}

// The first of `heads` that is a fixpoint head iterating on this thread, further up.
template <auto F, Options O, class Cycle>
inline const CycleHead* FunctionIngredient<F, O, Cycle>::iterating_outer_head(
    Runtime& rt, const Local& l, const std::vector<CycleHead>& heads) {
  for (const CycleHead& h : heads) {
    if (!executing(l, h.head)) continue;
    IngredientBase& ing = rt.ingredient_at(h.head);
    const OwnerWord* word = ing.owner_word(h.head.key);
    if (word && word->owner() == l.id && ing.cycle_attempt(h.head.key) >= 0) return &h;
  }
  return nullptr;
}

// The fixpoint head iterating on this thread lowest on the stack, and its attempt (-1: none).
// Every iteration nested in it, on this thread, is part of its run.
template <auto F, Options O, class Cycle>
inline std::pair<DatabaseKey, std::int64_t> FunctionIngredient<F, O, Cycle>::outermost_iteration(
    Runtime& rt, const Local& l) {
  for (std::size_t i = 0; i < l.depth; ++i) {
    const DatabaseKey k = l.frames[i].key;
    IngredientBase& ing = rt.ingredient_at(k);
    const OwnerWord* word = ing.owner_word(k.key);
    if (!word || word->owner() != l.id) continue;
    if (const std::int64_t a = ing.cycle_attempt(k.key); a >= 0) return {k, a};
  }
  return {DatabaseKey{}, -1};
}

// A provisional memo from an earlier round is about to run again (as a participant, or as an
// inner head of a component): while the outermost iteration it was computed in goes on, it
// starts from its last provisional value rather than from Initial. Under a monotone
// iteration from Initial that value is at most the least fixpoint, so starting there is
// sound; starting again from Initial would make the component's values go down and up.
template <auto F, Options O, class Cycle>
inline void FunctionIngredient<F, O, Cycle>::keep_for_resume(Runtime& rt, Memo& m) {
  MemoExtra& x = *m.extra;
  if constexpr (kCycle == 1) {
    if (x.provisional && resume_anchored(rt, x)) {
      x.resume = std::move(x.provisional);
      return;  // the anchor stays, for execute_fixpoint to check again
    }
  }
  x.outer_attempt = -1;
}

// Is the outer iteration its provisional value was computed in still going on, on this thread?
template <auto F, Options O, class Cycle>
inline bool FunctionIngredient<F, O, Cycle>::resume_anchored(Runtime& rt, const MemoExtra& x) {
  if (x.outer_attempt < 0) return false;
  IngredientBase& outer = rt.ingredient_at(x.outer);
  const OwnerWord* word = outer.owner_word(x.outer.key);
  return word && word->owner() == rt.local().id &&
         outer.cycle_attempt(x.outer.key) == x.outer_attempt;
}

// A provisional memo from an earlier round is about to be re-run: keep what it read, and
// the tracked structs it created (the final value may hold one an early round made).
template <auto F, Options O, class Cycle>
inline void FunctionIngredient<F, O, Cycle>::carry_over(Memo& m) {
  MemoExtra& x = *m.extra;
  append_missing(x.carried, m.deps.data(), m.deps.size());
  x.carried_durability = std::min(x.carried_durability, x.provisional_durability);
  append_missing(x.carried_created, x.created.data(), x.created.size());
}

template <auto F, Options O, class Cycle>
inline void FunctionIngredient<F, O, Cycle>::take_carried(Memo& m, Frame& f) {
  if (!m.extra) return;
  MemoExtra& x = *m.extra;
  if (!x.carried.empty()) {
    f.indexed = false;
    append_missing(f.deps, x.carried.data(), x.carried.size());
    f.durability = std::min(f.durability, x.carried_durability);
    x.carried.clear();
    x.carried_durability = Durability::never_change;
  }
  if (!x.carried_created.empty()) {
    append_missing(f.created, x.carried_created.data(), x.carried_created.size());
    x.carried_created.clear();
  }
}

// Memos computed provisionally since `mark` drop `head`, which converged in round
// `iteration` on a value provisional on the heads of `head_frame`: they now depend on those
// instead. Those with no head left are final. Those from an earlier round only are dropped,
// and what they read becomes a dependency of the head: the value they helped it reach rests
// on it (a memo re-run later, against the converged values, may no longer read it, and the
// head's own rounds only show that it read them).
template <auto F, Options O, class Cycle>
inline void FunctionIngredient<F, O, Cycle>::finalize_round(Db& db, Local& l, DatabaseKey head,
                                                            std::uint32_t iteration,
                                                            Frame& head_frame, std::size_t mark) {
  Runtime& rt = db.runtime();
  std::vector<DatabaseKey> still;
  StaleReads stale;
  for (std::size_t i = mark; i < l.provisional.size(); ++i) {
    const DatabaseKey k = l.provisional[i];
    if (rt.ingredient_at(k).finalize_provisional(db, k.key, head, iteration,
                                                 head_frame.cycle_heads, stale))
      still.push_back(k);
  }
  l.provisional.resize(mark);
  l.provisional.insert(l.provisional.end(), still.begin(), still.end());
  if (!stale.deps.empty()) {
    append_missing(head_frame.deps, stale.deps.data(), stale.deps.size());
    head_frame.durability = std::min(head_frame.durability, stale.durability);
  }
}

template <auto F, Options O, class Cycle>
inline void FunctionIngredient<F, O, Cycle>::store_provisional(Db& db, Local& l, Memo& m,
                                                               DatabaseKey key, std::uint32_t stamp,
                                                               Frame& f, Value&& result) {
  Runtime& rt = db.runtime();
  MemoExtra& x = m.ensure_extra();
  x.provisional = std::move(result);
  x.heads = f.cycle_heads;
  if constexpr (kCycle == 1) std::tie(x.outer, x.outer_attempt) = outermost_iteration(rt, l);
  m.provisional.store(true, std::memory_order_release);
  x.provisional_durability = f.durability;
  x.provisional_accumulates = f.accumulates || !f.accumulated.empty();
  x.accumulated = std::move(f.accumulated);
  take_carried(m, f);
  m.deps.assign(f.deps);
  x.accumulating_indexed = false;  // provisional reads all count as accumulating
  rt.note_executed(l, key);
  m.key_stamp = stamp;
  const std::vector<DatabaseKey> dropped = replace_created(m, std::move(f.created));
  --l.depth;
  l.provisional.push_back(key);
  rt.emit(EventKind::did_execute, key);
  for (DatabaseKey e : dropped) rt.delete_entity(db, e);
}

template <auto F, Options O, class Cycle>
inline bool FunctionIngredient<F, O, Cycle>::finalize_provisional(
    Database& base, std::uint32_t id, DatabaseKey head, std::uint32_t iteration,
    const std::vector<CycleHead>& outer, StaleReads& stale) {
  Memo* m = memos_.get(id);
  if (!m || !is_provisional(*m)) return false;
  Runtime& rt = base.runtime();
  Local& l = rt.local();
  const DatabaseKey key{first_index(), id};
  // Other threads may be looking at it (to find they must wait for this cycle): own it.
  const bool mine = m->owner.owner() == l.id;
  if (!mine)
    while (!rt.claim(l, m->owner, key)) {
    }
  struct Release {
    Memo* m;
    bool active;
    ~Release() {
      if (active) m->owner.release();
    }
  } release{m, !mine};
  if (!is_provisional(*m)) return false;
  MemoExtra& x = *m->extra;
  const auto h = std::find_if(x.heads.begin(), x.heads.end(),
                              [&](const CycleHead& c) { return c.head == head; });
  if (h != x.heads.end() && h->iteration != iteration) {
    // Read in an earlier round only: its value is stale and its dependencies are not the
    // old value's. Unverified until re-executed; the old value stays for backdating. What
    // it read, in every round, goes to the head.
    stale.deps.insert(stale.deps.end(), m->deps.data(), m->deps.data() + m->deps.size());
    stale.deps.insert(stale.deps.end(), x.carried.begin(), x.carried.end());
    stale.durability = std::min({stale.durability, x.provisional_durability,
                                 x.carried_durability});
    clear_provisional(*m);
    m->verified_at.store(0, std::memory_order_release);
    rt.note_invalidated(l, key);
    return false;
  }
  if (h == x.heads.end()) return true;  // not computed in this cycle
  x.heads.erase(h);
  for (const CycleHead& o : outer) {
    if (std::none_of(x.heads.begin(), x.heads.end(),
                     [&](const CycleHead& c) { return c.head == o.head; }))
      x.heads.push_back(o);
  }
  if (!x.heads.empty()) return true;
  m->provisional.store(false, std::memory_order_release);
  const Revision now = rt.revision();
  if (x.provisional_accumulates || m->accumulates) x.accumulated_changed_at = now;  // may have
  if (backdates(*m, x.provisional_durability, x.provisional_accumulates, *x.provisional)) {
    rt.emit(EventKind::did_backdate, key);
  } else {
    store_value(*m, std::move(*x.provisional));
    m->changed_at = now;
  }
  x.provisional.reset();
  m->durability = x.provisional_durability;
  m->accumulates = x.provisional_accumulates;
  m->verified_at.store(now, std::memory_order_release);
  m->dirty.store(!rt.accepts_clean(), std::memory_order_release);  // as in finish()
  return false;
}

template <auto F, Options O, class Cycle>
inline void FunctionIngredient<F, O, Cycle>::clear_provisional(Memo& m) noexcept {
  m.extra->heads.clear();
  m.extra->provisional.reset();
  m.provisional.store(false, std::memory_order_release);
}

}  // namespace relish::detail

// The memo table of one query: fetch (hot path and cold path), deep verification, execution
// with backdating. Names follow salsa's function/ folder: fetch, maybe_changed_after,
// execute, backdate.
//
// This header declares FunctionIngredient; its members are defined out of line, by
// operation, in detail/function/*.hpp (included at the end). The life of one memo (one query,
// one key):
//
//   state              meaning
//   no memo            nothing stored (verified_at 0, no value)
//   verified in R      value, dependencies and changed_at valid in revision R
//   marked (dirty)     a write since R may have changed something it read
//   provisional        value valid only in the running round(s) of fixpoint cycle(s)
//   evicted            value dropped by the LRU; dependencies and revisions kept
//   entity deleted     keyed on a deleted entity: never hit again, dropped next revision
//
//   transition          from -> to                                          file
//   fetch hit           verified in now -> (read; two loads and compares)   fetch.hpp
//   marking             verified in R -> marked (by a write, up its cone)   invalidate.hpp
//   clean acceptance    verified in R < now, unmarked -> verified in now    invalidate.hpp
//   deep verification   marked -> verified in now (unmarked), or execute    verify.hpp
//   execution           no memo / changed -> verified in now                execute.hpp
//   backdate            re-executed to an equal value: keeps changed_at     backdate.hpp
//   fixpoint rounds     cycle head executing -> provisional -> final/stale  fixpoint.hpp
//   LRU eviction        verified -> evicted (at a revision boundary)        evict.hpp
//   refill              evicted, deps unchanged -> verified; value re-run   execute.hpp
//   discard             entity deleted (or slot reused) -> no memo          discard.hpp
//   specify             set by the creator of its key -> verified in now    specify.hpp
//
// Memo storage is in memo.hpp, the table of memos by key in memo_table.hpp, argument keys in
// keys.hpp, the Cycle parameter in cycle_policy.hpp, accumulated values in accumulate.hpp,
// memory reports in memory_usage.hpp.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "relish/database.hpp"
#include "relish/heap_size.hpp"
#include "relish/detail/function/cycle_policy.hpp"
#include "relish/detail/function/keys.hpp"
#include "relish/detail/function/memo.hpp"
#include "relish/detail/function/memo_table.hpp"
#include "relish/detail/ids.hpp"
#include "relish/detail/intern_table.hpp"
#include "relish/detail/names.hpp"
#include "relish/detail/runtime.hpp"
#include "relish/detail/stable_vector.hpp"
#include "relish/detail/value.hpp"
#include "relish/query_options.hpp"

namespace relish::detail {

// Thrown (and caught inside relish) when a query being *verified* up the stack is needed by an
// execution: the verification is abandoned and that query re-executes instead. Not derived
// from std::exception, so that user code's `catch (const std::exception&)` lets it through.
struct RestartVerification {
  DatabaseKey key;
};

enum class Verdict : std::uint8_t { unchanged, conditional, changed };

// The key's entity type of a specify query (Options::specify), else void.
template <bool Specify, class Args>
struct SpecifyKey {
  using type = void;
};
template <class Args>
struct SpecifyKey<true, Args> {
  using type = std::tuple_element_t<0, Args>;
};

template <auto F, Options O, class Cycle = NoCycleRecovery>
class FunctionIngredient final : public IngredientBase {
  using Traits = FnTraits<decltype(F)>;
  static constexpr int kCycle = CycleTraits<Cycle>::kind;

 public:
  using Db = typename Traits::Db;
  using Value = typename Traits::Value;
  using Args = typename Traits::Args;

  // The declaration was checked before this is instantiated: checks.hpp.

  FunctionIngredient()
      : IngredientBase(std::string(O.name.empty() ? query_function_name<F>() : O.name.view())) {
    want_revision_hook(O.lru != 0 || O.byte_budget != 0);  // else only after a deferred drop
  }

  // fetch.hpp
  template <class... A>
  const Value& fetch(Db& db, Local& l, const A&... args);

  // verify.hpp
  bool maybe_changed_after(Database& base, std::uint32_t, std::uint32_t id,
                           Revision after) override;

  std::string describe(std::uint32_t sub, std::uint32_t id) const override {
    return (sub == 0 ? "" : "accumulated ") + name() + "(" + keys_.describe(runtime(), id) + ")";
  }


  std::vector<DatabaseKey> dependencies(std::uint32_t, std::uint32_t id) const override {
    const Memo* m = memos_.get(id);
    if (!m) return {};
    return std::vector<DatabaseKey>(m->deps.data(), m->deps.data() + m->deps.size());
  }

  NodeInfo node_info(std::uint32_t, std::uint32_t id) const override {
    const Memo* m = memos_.get(id);
    if (!m || (m->verified_at.load(std::memory_order_acquire) == 0 && !is_provisional(*m)))
      return {};
    return NodeInfo{.kind = NodeInfo::Kind::memo,
                    .verified_at = m->verified_at.load(std::memory_order_acquire),
                    .changed_at = m->changed_at,
                    .durability = m->durability,
                    .has_value = m->value.has_value(),
                    .marked = m->dirty.load(std::memory_order_relaxed),
                    .provisional = is_provisional(*m)};
  }

  // The graph node of the memo for these arguments (interning plain-value keys).
  template <class... A>
  DatabaseKey key_of(const A&... args) {
    return DatabaseKey{first_index(), keys_.key_of(args...).first};
  }

  // specify.hpp
  template <class K>
  void specify(Db& db, const K& key, Value&& v);
  void delete_entity(Database& base, std::uint32_t id) override;
  void mark_validated(std::uint32_t id, Revision now) override;

  // discard.hpp
  void on_entity_deleted(Database& base, std::uint32_t owner, std::uint32_t index,
                         std::uint32_t stamp) override;
  void on_new_revision(Database& base) override;

  // ---- eviction ----

  void set_lru_capacity(std::size_t n) noexcept {
    lru_capacity_ = n;
    if (n != 0) want_revision_hook(true);
  }
  std::size_t lru_capacity() const noexcept { return lru_capacity_; }
  void set_byte_budget(std::size_t n) noexcept {
    byte_budget_ = n;
    if (n != 0) want_revision_hook(true);
  }
  std::size_t byte_budget() const noexcept { return byte_budget_; }

  // evict.hpp
  void evict_values(Database& db) override;

  // memory_usage.hpp
  void memory(IngredientMemory& out) const override;

  // ---- introspection (tests, reports) ----
  bool has_value(std::uint32_t id) const noexcept {
    const Memo* m = memos_.get(id);
    return m && m->value.has_value();
  }

  std::int64_t cycle_iteration(std::uint32_t id) const override {
    const Memo* m = memos_.get(id);
    if (!m || !m->extra || !m->extra->head_executing) return -1;
    return m->extra->round;
  }

  std::int64_t cycle_attempt(std::uint32_t id) const override {
    const Memo* m = memos_.get(id);
    if (!m || !m->extra || !m->extra->head_executing) return -1;
    return m->extra->attempt;
  }

  bool recovers_cycles() const override { return kCycle != 0; }
  void compute_head(Database& db, Local& l, std::uint32_t id, std::uint32_t stamp) override {
    (void)fetch_cold(static_cast<Db&>(db), l, id, stamp);
  }
  std::uint32_t owned_memo_stamp(std::uint32_t id) const override {
    const Memo* m = memos_.get(id);
    return m ? m->key_stamp : 0;
  }
  OwnerWord* owner_word(std::uint32_t id) override {
    Memo* m = memos_.get(id);
    return m ? &m->owner : nullptr;
  }

  // fixpoint.hpp
  bool finalize_provisional(Database& base, std::uint32_t id, DatabaseKey head,
                            std::uint32_t iteration, const std::vector<CycleHead>& outer,
                            StaleReads& stale) override;

  // accumulate.hpp
  void collect_accumulated(Database& db, std::uint32_t id, std::uint32_t type,
                           AccumulatedSink& out,
                           absl::flat_hash_set<std::uint64_t>& visited) const override;

  // invalidate.hpp
  bool mark_dirty(std::uint32_t, std::uint32_t id) override;
  std::span<const DatabaseKey> dependency_span(std::uint32_t, std::uint32_t id) const override;
  DatabaseKey invalidation_source(std::uint32_t, std::uint32_t id,
                                  SourceInfo& info) const override;
  void set_notes_use(std::uint32_t, std::uint32_t id) override;
  bool changed_since(const Runtime& rt, std::uint32_t sub, std::uint32_t id, Revision after,
                     absl::flat_hash_set<DatabaseKey>& seen) const override;

 private:
  // memo.hpp
  using MemoExtra = relish::detail::MemoExtra<Value>;
  using Memo = relish::detail::Memo<Value>;
  using OwnerGuard = relish::detail::OwnerGuard<Value>;
  // verify.hpp
  static bool changed_after(const Memo& m, std::uint32_t sub, Revision after) noexcept;

  // A memo owned by another thread that this one must wait for before asking again.
  struct Wait {
    OwnerWord* word = nullptr;
    std::uint32_t owner = 0;
    DatabaseKey key;
  };

  enum class Round : std::uint8_t { current, stale, foreign };

  static bool executing(const Local& l, DatabaseKey key) {
    for (std::size_t i = 0; i < l.depth; ++i)
      if (l.frames[i].key == key) return true;
    return false;
  }

  static bool is_provisional(const Memo& m) noexcept {
    return m.provisional.load(std::memory_order_acquire);
  }

  // fetch.hpp
  [[gnu::noinline]] const Value& fetch_earlier(Db& db, Local& l, Memo& m, std::uint32_t id,
                                               std::uint32_t stamp, Revision verified);
  [[gnu::noinline]] const Value& record_accepted(Db& db, Local& l, Memo& m, std::uint32_t id);
  [[gnu::noinline]] const Value& fetch_earlier_slow(Db& db, Local& l, Memo& m, std::uint32_t id,
                                                    std::uint32_t stamp, Revision verified);
  [[gnu::noinline]] const Value& fetch_cold(Db& db, Local& l, std::uint32_t id,
                                            std::uint32_t stamp);
  const Value& fetch_cold_claimed(Db& db, Local& l, std::uint32_t id, std::uint32_t stamp);
  const Value& reentered_in_execution(Db& db, Local& l, Memo& m, DatabaseKey key,
                                      std::uint32_t stamp);
  static Round provisional_round(Runtime& rt, const Local& l, const Memo& m, Wait& wait);

  // verify.hpp
  Verdict verify_or_restart(Db& db, Local& l, Memo& m, DatabaseKey key, bool publish = true);
  Verdict verify(Db& db, Local& l, Memo& m, DatabaseKey key, bool publish);
  Verdict verify_deps(Db& db, Local& l, Memo& m, DatabaseKey key, bool publish);
  bool reentered_in_verification(Runtime& rt, Local& l, DatabaseKey key);

  // execute.hpp
  Value run(Db& db, Local& l, Memo& m, DatabaseKey key, std::uint32_t stamp, bool refill = false);
  bool execute_for_verification(Db& db, Local& l, Memo& m, DatabaseKey key);
  void abandon_run(Db& db, Local& l, Memo& m, DatabaseKey key, Frame& f);
  void execute(Db& db, Local& l, Memo& m, DatabaseKey key, std::uint32_t stamp, bool verified);
  void fail_after_run(Db& db, Local& l, Memo& m, std::size_t depth);
  void execute_rounds(Db& db, Local& l, Memo& m, DatabaseKey key, std::uint32_t stamp,
                      bool verified);
  void finish(Db& db, Local& l, Memo& m, DatabaseKey key, std::uint32_t stamp, bool verified,
              Value&& result);
  void store_value(Memo& m, Value&& v);
  std::vector<DatabaseKey> replace_created(Memo& m, std::vector<DatabaseKey>&& now_created);

  // backdate.hpp
  static bool backdates(const Memo& m, Durability d, bool accumulates, const Value& fresh);

  // fixpoint.hpp
  template <class... A>
  static Value cycle_start(Db& db, const A&... a);
  struct Rounds;
  static void append_missing(std::vector<DatabaseKey>& into, const DatabaseKey* extra,
                             std::size_t n);
  void execute_fixpoint(Db& db, Local& l, Memo& m, DatabaseKey key, std::uint32_t stamp,
                        bool verified);
  static void carry_over(Memo& m);
  static const CycleHead* iterating_outer_head(Runtime& rt, const Local& l,
                                               const std::vector<CycleHead>& heads);
  static std::pair<DatabaseKey, std::int64_t> outermost_iteration(Runtime& rt, const Local& l);
  static void keep_for_resume(Runtime& rt, Memo& m);
  static bool resume_anchored(Runtime& rt, const MemoExtra& x);
  static void take_carried(Memo& m, Frame& f);
  static void finalize_round(Db& db, Local& l, DatabaseKey head, std::uint32_t iteration,
                             Frame& head_frame, std::size_t mark);
  void store_provisional(Db& db, Local& l, Memo& m, DatabaseKey key, std::uint32_t stamp,
                         Frame& f, Value&& result);
  static void clear_provisional(Memo& m) noexcept;

  // discard.hpp
  void discard(Db& db, Memo& m);

  // specify.hpp
  using KeyEntity = typename SpecifyKey<O.specify, Args>::type;
  void ensure_creator_current(Db& db, Local& l, std::uint32_t id);
  static DatabaseKey existence_of_key(Db& db, std::uint32_t id);

  // invalidate.hpp
  bool accept_clean(Db& db, Memo& m, DatabaseKey key, bool publish);
  const Value* accept_unclaimed(Db& db, Local& l, Memo& m, DatabaseKey key, Revision verified,
                                std::uint32_t stamp);
  static bool unclaimed_acceptable(const Runtime& rt, const Memo& m, std::uint32_t stamp) noexcept;

  // evict.hpp
  static std::size_t measured_bytes(Memo& m);
  void touch(Memo& m, Revision now) noexcept;

  MemoTable<Memo, KeyedOnEntity<Args>::value> memos_;
  KeyStore<Args> keys_;
  std::size_t lru_capacity_ = O.lru;
  std::size_t byte_budget_ = O.byte_budget;
  Mutex deferred_mu_;
  std::vector<std::pair<std::uint32_t, std::uint32_t>> deferred_drops_;  // (index, stamp)
};

}  // namespace relish::detail

#include "relish/detail/function/accumulate.hpp"
#include "relish/detail/function/backdate.hpp"
#include "relish/detail/function/discard.hpp"
#include "relish/detail/function/evict.hpp"
#include "relish/detail/function/execute.hpp"
#include "relish/detail/function/fetch.hpp"
#include "relish/detail/function/fixpoint.hpp"
#include "relish/detail/function/invalidate.hpp"
#include "relish/detail/function/memory_usage.hpp"
#include "relish/detail/function/specify.hpp"
#include "relish/detail/function/verify.hpp"

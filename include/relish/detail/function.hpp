// The memo table of one query: fetch (hot path and cold path), deep verification, execution
// with backdating. Names follow salsa's function/ folder: fetch, maybe_changed_after,
// execute, backdate.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "relish/database.hpp"
#include "relish/heap_size.hpp"
#include "relish/detail/ids.hpp"
#include "relish/detail/intern_table.hpp"
#include "relish/detail/names.hpp"
#include "relish/detail/runtime.hpp"
#include "relish/detail/stable_vector.hpp"
#include "relish/detail/value.hpp"
#include "relish/query_options.hpp"

namespace relish::detail {

template <class Fn>
struct FnTraits;
template <class R, class D, class... A>
struct FnTraits<R (*)(D&, A...)> {
  using Db = D;
  using Value = R;
  using Args = std::tuple<std::remove_cvref_t<A>...>;
};

// How a query's arguments become a dense key id (and a stamp, for handle keys).
template <class Args>
struct KeyStore;

template <>
struct KeyStore<std::tuple<>> {  // no arguments: one memo, id 0
  std::pair<std::uint32_t, std::uint32_t> key_of() { return {0, 0}; }
  template <class Db, class F>
  decltype(auto) invoke(Db& db, std::uint32_t, std::uint32_t, F&& f) const {
    return f(db);
  }
  std::string describe(std::uint32_t) const { return ""; }
  void memory(IngredientMemory&) const {}
};

template <class H>
  requires IsHandle<H>
struct KeyStore<std::tuple<H>> {  // one entity handle: its index is the memo id
  std::pair<std::uint32_t, std::uint32_t> key_of(const H& h) { return {h.index(), h.stamp()}; }
  template <class Db, class F>
  decltype(auto) invoke(Db& db, std::uint32_t id, std::uint32_t stamp, F&& f) const {
    return f(db, H::from_raw(id, stamp));
  }
  std::string describe(std::uint32_t id) const {
    return debug_string(H::from_raw(id, 0));
  }
  void memory(IngredientMemory&) const {}
};

template <class... A>
struct KeyStore<std::tuple<A...>> {  // plain values: interned automatically
  InternTable<std::tuple<A...>> table;
  std::pair<std::uint32_t, std::uint32_t> key_of(const A&... a) {
    auto [id, inserted] =
        table.intern(std::tuple<const A&...>(a...), [&] { return std::tuple<A...>(a...); });
    return {id, 0};
  }
  template <class Db, class F>
  decltype(auto) invoke(Db& db, std::uint32_t id, std::uint32_t, F&& f) const {
    return std::apply([&](const A&... a) -> decltype(auto) { return f(db, a...); }, table[id]);
  }
  std::string describe(std::uint32_t id) const {
    const auto* k = table.get(id);
    return k ? debug_string(*k) : "?";
  }
  void memory(IngredientMemory& out) const { table.memory(out); }
};

template <class Args>
struct KeyedOnEntity : std::false_type {};
template <class H>
struct KeyedOnEntity<std::tuple<H>> : std::bool_constant<IsHandle<H>> {};

template <class C>
struct CycleTraits {
  static constexpr int kind = 0;  // no recovery: a cycle is a CycleError
};
template <auto Initial, auto Recover, std::uint32_t Max>
struct CycleTraits<Fixpoint<Initial, Recover, Max>> {
  static constexpr int kind = 1;
  static constexpr std::uint32_t max_iterations = Max;
};
template <auto Fallback>
struct CycleTraits<CycleFallback<Fallback>> {
  static constexpr int kind = 2;
};

// Ids of fixpoint rounds (see MemoExtra::round); 0 is never one.
inline std::uint32_t next_round_id() noexcept {
  static std::atomic<std::uint32_t> counter{0};
  for (;;)
    if (std::uint32_t r = counter.fetch_add(1, std::memory_order_relaxed) + 1) return r;
}

// Thrown (and caught inside relish) when a query being *verified* up the stack is needed by an
// execution: the verification is abandoned and that query re-executes instead. Not derived
// from std::exception, so that user code's `catch (const std::exception&)` lets it through.
struct RestartVerification {
  DatabaseKey key;
};

enum class Verdict : std::uint8_t { unchanged, conditional, changed };

template <class C>
struct CycleInitial;
template <auto Initial, auto Recover, std::uint32_t Max>
struct CycleInitial<Fixpoint<Initial, Recover, Max>> {
  template <class Db, class... A>
  static auto value(Db& db, const A&... a) {
    return Initial(db, a...);
  }
};
template <class C>
struct CycleFallbackValue;
template <auto Fallback>
struct CycleFallbackValue<CycleFallback<Fallback>> {
  template <class Db, class... A>
  static auto value(Db& db, const A&... a) {
    return Fallback(db, a...);
  }
};
// The value the next fixpoint round starts from: Recover(db, value, iteration, keys...) if
// the query gave one, else the value itself.
template <class C>
struct CycleRecover {
  template <class Db, class V, class Keys>
  static V apply(Db&, V&& v, std::uint32_t, DatabaseKey, std::uint32_t, Keys&) {
    return std::move(v);
  }
};
template <auto Initial, auto Recover, std::uint32_t Max>
  requires(!std::is_null_pointer_v<decltype(Recover)>)
struct CycleRecover<Fixpoint<Initial, Recover, Max>> {
  template <class Db, class V, class Keys>
  static V apply(Db& db, V&& v, std::uint32_t iteration, DatabaseKey key, std::uint32_t stamp,
                 Keys& keys) {
    return keys.invoke(db, key.key, stamp, [&](Db& d, const auto&... a) -> V {
      return Recover(d, static_cast<const V&>(v), iteration, a...);
    });
  }
};

template <auto F, Options O, class Cycle = NoCycleRecovery>
class FunctionIngredient final : public IngredientBase {
  using Traits = FnTraits<decltype(F)>;
  static constexpr int kCycle = CycleTraits<Cycle>::kind;

 public:
  using Db = typename Traits::Db;
  using Value = typename Traits::Value;
  using Args = typename Traits::Args;

  static_assert(std::is_base_of_v<Database, Db>,
                "relish::Query: the function's first parameter must be a reference to "
                "relish::Database or a class derived from it");
  static_assert(O.no_eq || EqualityComparable<Value> || Reflectable<Value> ||
                    is_shared_ptr<Value>::value,
                "relish::Query: the value type needs operator== for backdating; "
                "or declare the query no_eq");
  static_assert(kCycle == 0 || !O.no_eq,
                "relish::Query: a no_eq query cannot take part in fixpoint iteration (its "
                "values are never compared, so the iteration could not tell it converged)");

  FunctionIngredient() : IngredientBase(std::string(function_name<F>())) {}

  // The hot path: a memo verified in this revision is returned after two loads and compares.
  template <class... A>
  const Value& fetch(Db& db, Local& l, const A&... args) {
    auto [id, stamp] = keys_.key_of(args...);
    Runtime& rt = db.runtime();
    const Revision now = rt.revision();
    if (Memo* m = memos_.get(id)) [[likely]] {
      // verified_at first: the other fields are only stable once it says "this revision".
      if (m->verified_at.load(std::memory_order_acquire) == now &&
          m->filled.load(std::memory_order_acquire) && m->key_stamp == stamp) [[likely]] {
#ifndef NDEBUG
        // Debug builds re-check every hit: the key's entity is alive with this stamp.
        if constexpr (KeyedOnEntity<Args>::value)
          std::tuple_element_t<0, Args>::ingredient(db).check_handle(rt, id, stamp);
#endif
        touch(*m, now);
        rt.record_read(l, DatabaseKey{first_index(), id}, m->durability);
        return *m->value;
      }
    }
    return fetch_cold(db, l, id, stamp);
  }

  bool maybe_changed_after(Database& base, std::uint32_t, std::uint32_t id,
                           Revision after) override {
    Db& db = static_cast<Db&>(base);
    Runtime& rt = db.runtime();
    Memo* m = memos_.get(id);
    if (!m) return true;
    const DatabaseKey key{first_index(), id};
    Local* l = nullptr;
    for (;;) {
      const Revision verified = m->verified_at.load(std::memory_order_acquire);
      if (verified == rt.revision()) return m->changed_at > after;
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
          return m->changed_at > after;
        if (m->verified_at.load(std::memory_order_relaxed) == 0) return true;
        Verdict v = verify_or_restart(db, *l, *m, key);
        if (v == Verdict::changed) {
          if (!execute_for_verification(db, *l, *m, key)) return true;
          if (is_provisional(*m)) return true;
        }
        return m->changed_at > after;
      } catch (const YieldToCycle& y) {
        if (!(y.release == key)) throw;
        wait = Wait{y.wait_word, y.wait_owner, y.wait_key};
      }
      rt.wait_released(*l, *wait.word, wait.owner, wait.key);
    }
  }

  std::string describe(std::uint32_t, std::uint32_t id) const override {
    return name() + "(" + keys_.describe(id) + ")";
  }


  std::vector<DatabaseKey> dependencies(std::uint32_t, std::uint32_t id) const override {
    const Memo* m = memos_.get(id);
    if (!m) return {};
    return std::vector<DatabaseKey>(m->deps.data(), m->deps.data() + m->deps.size());
  }

  // The graph node of the memo for these arguments (interning plain-value keys).
  template <class... A>
  DatabaseKey key_of(const A&... args) {
    return DatabaseKey{first_index(), keys_.key_of(args...).first};
  }

  // A memo keyed on a deleted entity is dropped at the next revision boundary: another thread
  // may still be reading it in this one.
  void on_entity_deleted([[maybe_unused]] Database& base, [[maybe_unused]] std::uint32_t owner,
                         [[maybe_unused]] std::uint32_t index,
                         [[maybe_unused]] std::uint32_t stamp) override {
    if constexpr (KeyedOnEntity<Args>::value) {
      using KeyIngredient = typename std::tuple_element_t<0, Args>::Ingredient;
      const auto* ki = base.runtime().find_ingredient<KeyIngredient, KeyIngredient>();
      if (!ki || ki->first_index() != owner) return;
      // No hit from now on (the slot is not reused before the next revision, so the memo at
      // `index` is the dead entity's, or an older dead one's): asked again, the query fails
      // on the dead handle; the value stays alive for references handed out.
      if (Memo* m = memos_.get(index)) m->verified_at.store(0, std::memory_order_release);
      LockGuard lock(deferred_mu_);
      deferred_drops_.push_back({index, stamp});
    }
  }

  void on_new_revision(Database& base) override {
    Db& db = static_cast<Db&>(base);
    std::vector<std::pair<std::uint32_t, std::uint32_t>> drops;
    {
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

  // ---- eviction ----

  void set_lru_capacity(std::size_t n) noexcept { lru_capacity_ = n; }
  std::size_t lru_capacity() const noexcept { return lru_capacity_; }
  void set_byte_budget(std::size_t n) noexcept { byte_budget_ = n; }
  std::size_t byte_budget() const noexcept { return byte_budget_; }

  // Drops the values of the least recently used memos beyond the capacity / byte budget. Their
  // dependencies stay, so dependents still verify without re-running this query. Recency is
  // the last revision a memo was read in (ties: lower key first); no query is running.
  void evict_values(Database& db) override {
    if (lru_capacity_ == 0 && byte_budget_ == 0) return;
    struct Candidate {
      Revision last_used;
      std::uint32_t id;
    };
    std::vector<Candidate> live;
    std::size_t bytes = 0;
    for (std::uint32_t i = 0; i < memos_.size(); ++i) {
      const Memo& m = memos_[i];
      if (m.value) {
        live.push_back({m.last_used.load(std::memory_order_relaxed), i});
        if (byte_budget_ != 0) bytes += measured_bytes(memos_[i]);
      }
    }
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
      Memo& m = memos_[c.id];
      bytes -= m.value_bytes();
      m.filled.store(false, std::memory_order_relaxed);
      m.value.reset();
      if (m.extra) m.extra->value_bytes = 0;
      --count;
      db.runtime().emit(EventKind::did_evict, DatabaseKey{first_index(), c.id});
    }
  }

  void memory(IngredientMemory& out) const override {
    out.kind = "query";
    out.metadata_bytes += memos_.allocated_bytes() - memos_.size() * sizeof(std::optional<Value>);
    for (std::uint32_t i = 0; i < memos_.size(); ++i) {
      const Memo& m = memos_[i];
      if (m.verified_at.load(std::memory_order_relaxed) == 0) continue;
      ++out.entries;
      out.metadata_bytes += m.deps.heap_bytes();
      if (m.extra) out.metadata_bytes += sizeof(MemoExtra) + m.extra->created.capacity() * sizeof(DatabaseKey);
      if (m.value) {
        ++out.values;
        out.value_stack_bytes += sizeof(Value);
        out.value_heap_bytes += relish::heap_size(*m.value);
      }
    }
    keys_.memory(out);
  }

  // ---- introspection (tests, reports) ----
  bool has_value(std::uint32_t id) const noexcept {
    const Memo* m = memos_.get(id);
    return m && m->value.has_value();
  }

 private:
  // Dependencies: one edge is stored inline (leaves reading one input field allocate nothing).
  class DepList {
   public:
    DepList() noexcept : one_{} {}
    DepList(const DepList&) = delete;
    DepList& operator=(const DepList&) = delete;
    ~DepList() { clear(); }
    std::uint32_t size() const noexcept { return size_; }
    const DatabaseKey* data() const noexcept { return size_ <= 1 ? &one_ : many_; }
    void assign(const std::vector<DatabaseKey>& deps) {
      const auto n = static_cast<std::uint32_t>(deps.size());
      if (n != size_) {
        clear();
        if (n > 1) many_ = new DatabaseKey[n];
        size_ = n;
      }
      if (n == 1) {
        one_ = deps[0];
      } else if (n > 1) {
        std::copy(deps.begin(), deps.end(), many_);
      }
    }
    void clear() noexcept {
      if (size_ > 1) delete[] many_;
      size_ = 0;
      one_ = DatabaseKey{};
    }
    std::size_t heap_bytes() const noexcept { return size_ > 1 ? size_ * sizeof(DatabaseKey) : 0; }

   private:
    union {
      DatabaseKey one_;
      DatabaseKey* many_;
    };
    std::uint32_t size_ = 0;
  };

  // Rarely needed per-memo data, allocated on demand.
  struct MemoExtra {
    std::vector<DatabaseKey> created;  // tracked structs its last execution created
    std::size_t value_bytes = 0;       // estimated size, kept when a byte budget is set
    std::vector<Accumulated> accumulated;  // pushed by its last execution, in order
    // Fixpoint iteration, within one revision. A memo with `heads` is provisional: its value
    // is `provisional`, valid only in those rounds of those cycles; `value` keeps the last
    // final value (for backdating). A head being executed counts its rounds in `iteration`.
    std::optional<Value> provisional;
    std::vector<CycleHead> heads;
    // A head's provisional value from its last round depends on the other heads that round
    // read: whoever reads the value depends on them too.
    std::vector<CycleHead> head_inputs;
    // What the earlier rounds of a memo re-run in a later round read: the iteration's outcome
    // depends on them, so its next (final) memo keeps them as dependencies.
    std::vector<DatabaseKey> carried;
    std::vector<DatabaseKey> carried_created;
    Durability carried_durability = Durability::high;
    Durability provisional_durability = Durability::high;
    std::uint32_t iteration = 0;
    // The round's id, unique in the process: a value provisional on a round of an attempt
    // that was abandoned (an error, a cancellation) never passes for one of a later attempt.
    std::uint32_t round = 0;
    bool head_executing = false;
    bool computing_start = false;  // Initial / Fallback running
    // Round 0 started while it was still being verified (see reentered_in_execution), with
    // l.provisional's size then.
    bool early_start = false;
    std::size_t early_mark = 0;
  };

  struct Memo {
    std::optional<Value> value;
    DepList deps;                        // 16 bytes
    std::unique_ptr<MemoExtra> extra;
    std::atomic<Revision> verified_at{0};  // 0: no memo
    std::atomic<Revision> last_used{0};    // LRU recency, when eviction is on
    Revision changed_at = 0;
    std::uint32_t key_stamp = 0;
    OwnerWord owner;  // thread computing or verifying it (Local::id)
    Durability durability = Durability::high;
    // Mirrors "extra->heads is not empty", readable before claiming the memo.
    std::atomic<bool> provisional{false};
    // Mirrors "value holds one", readable before claiming the memo (see store_value).
    std::atomic<bool> filled{false};

    std::size_t value_bytes() const noexcept { return extra ? extra->value_bytes : 0; }
    std::vector<DatabaseKey>* created() const noexcept {
      return extra && !extra->created.empty() ? &extra->created : nullptr;
    }
    MemoExtra& ensure_extra() {
      if (!extra) extra = std::make_unique<MemoExtra>();
      return *extra;
    }

    // Back to "no memo"; the owner word is left to the OwnerGuard.
    void reset() noexcept {
      filled.store(false, std::memory_order_relaxed);
      value.reset();
      deps.clear();
      extra.reset();
      provisional.store(false, std::memory_order_relaxed);
      verified_at.store(0, std::memory_order_relaxed);
      changed_at = 0;
      key_stamp = 0;
      durability = Durability::high;
    }
  };

  // Owns a memo for this thread (claimed) and marks it active for cycle reports.
  class OwnerGuard {
   public:
    OwnerGuard(Local& l, Memo& m, DatabaseKey key) : l_(&l), m_(&m) { l.active.push_back(key); }
    OwnerGuard(const OwnerGuard&) = delete;
    OwnerGuard& operator=(const OwnerGuard&) = delete;
    ~OwnerGuard() {
      l_->active.pop_back();
      if (m_->extra) [[unlikely]] {  // a round 0 started early ends with the claim
        m_->extra->head_executing = false;
        m_->extra->early_start = false;
      }
      m_->owner.release();
    }

   private:
    Local* l_;
    Memo* m_;
  };

  // Whatever escapes a read (an error, cancellation, a cycle) is a dependency of the reader
  // first: a caller that catches the error and returns a fallback must re-run once this
  // query's inputs change. The memo left behind has no value (or is unchanged), so the
  // dependency reads as changed, or as what it was.
  [[gnu::noinline]] const Value& fetch_cold(Db& db, Local& l, std::uint32_t id,
                                            std::uint32_t stamp) {
    Runtime& rt = db.runtime();
    if (l.in_callback) [[unlikely]]
      rt.throw_reentry(l);
    if constexpr (KeyedOnEntity<Args>::value) {
      // A bad handle is an error before it can touch the memo of the entity in that slot.
      using H = std::tuple_element_t<0, Args>;
      H::ingredient(db).check_handle(rt, id, stamp);
    }
    try {
      return fetch_cold_claimed(db, l, id, stamp);
    } catch (...) {
      rt.record_dep(l, DatabaseKey{first_index(), id}, Durability::low);
      throw;
    }
  }

  const Value& fetch_cold_claimed(Db& db, Local& l, std::uint32_t id, std::uint32_t stamp) {
    Runtime& rt = db.runtime();
    rt.check_cancelled();
    const DatabaseKey key{first_index(), id};
    memos_.ensure_size(id + 1);
    Memo& m = memos_[id];
    for (;;) {
      const Revision verified = m.verified_at.load(std::memory_order_acquire);
      if (verified == rt.revision() && m.filled.load(std::memory_order_acquire) &&
          m.key_stamp == stamp) {  // done meanwhile
        touch(m, verified);
        rt.record_read(l, key, m.durability);
        return *m.value;
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
              rt.record_read(l, key, Durability::low);
              return *m.extra->provisional;
            }
            case Round::stale:
              carry_over(m);
              clear_provisional(m);
              execute(db, l, m, key, stamp, false);
              break;
            case Round::foreign:
              break;
          }
        } else {
          if (m.key_stamp != stamp && (m.verified_at.load(std::memory_order_relaxed) != 0 || m.value))
            discard(db, m);  // a memo of another entity that had this index
          const Revision verified = m.verified_at.load(std::memory_order_relaxed);
          // A conditional verdict leans on a cycle head still being verified: not good enough
          // for a value that is about to be used.
          // A memo without a value (evicted) is not published as verified before it is
          // refilled: other threads would find it verified and read it half-written.
          const bool ok = verified == rt.revision() ||
                          (verified != 0 && verify_or_restart(db, l, m, key, m.value.has_value()) ==
                                                Verdict::unchanged);
          if (!ok || !m.value) execute(db, l, m, key, stamp, ok);
        }
        if (!wait.word) {
          touch(m, rt.revision());
          if (is_provisional(m)) {  // its reader is provisional on the same heads
            if (l.depth) l.frames[l.depth - 1].add_cycle_heads(m.extra->heads);
            rt.record_read(l, key, Durability::low);
            return *m.extra->provisional;
          }
          rt.record_read(l, key, m.durability);
          return *m.value;
        }
      } catch (const YieldToCycle& y) {
        if (!(y.release == key)) throw;
        wait = Wait{y.wait_word, y.wait_owner, y.wait_key};
      }
      rt.wait_released(l, *wait.word, wait.owner, wait.key);
    }
  }

  // This thread needs a memo it owns: a cycle. A fixpoint query being executed hands out its
  // provisional value; one being verified is re-executed instead (RestartVerification);
  // anything else is a CycleError.
  const Value& reentered_in_execution(Db& db, Local& l, Memo& m, DatabaseKey key,
                                      std::uint32_t stamp) {
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
          x.provisional.reset();
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
      rt.record_read(l, key, Durability::low);
      return *x.provisional;
    } else {
      (void)db;
      (void)m;
      (void)stamp;
      rt.throw_cycle(l, key);
    }
  }

  // Deep verification reached a memo this thread owns. Being executed: it will change (a
  // fixpoint head) or it is a genuine cycle. Being verified further up: assume unchanged, and
  // make every verdict until that memo's own verdict conditional.
  bool reentered_in_verification(Runtime& rt, Local& l, DatabaseKey key) {
    if (executing(l, key)) {
      if constexpr (kCycle != 0) return true;
      rt.throw_cycle(l, key);
    }
    l.cycle_hits.push_back(key);
    return false;
  }

  static bool executing(const Local& l, DatabaseKey key) {
    for (std::size_t i = 0; i < l.depth; ++i)
      if (l.frames[i].key == key) return true;
    return false;
  }

  static bool is_provisional(const Memo& m) noexcept {
    return m.provisional.load(std::memory_order_acquire);
  }

  // A memo owned by another thread that this one must wait for before asking again.
  struct Wait {
    OwnerWord* word = nullptr;
    std::uint32_t owner = 0;
    DatabaseKey key;
  };

  enum class Round : std::uint8_t { current, stale, foreign };

  // Is a provisional value usable here? `current`: every cycle round it was computed in is
  // still running, on this thread. `foreign`: another thread is iterating one of its heads
  // (`wait` says which); its provisional values are not ours to read, its final ones will be.
  // `stale`: computed in a round or an iteration that is over.
  static Round provisional_round(Runtime& rt, const Local& l, const Memo& m, Wait& wait) {
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

  static void clear_provisional(Memo& m) noexcept {
    m.extra->heads.clear();
    m.extra->provisional.reset();
    m.provisional.store(false, std::memory_order_release);
  }

  Verdict verify_or_restart(Db& db, Local& l, Memo& m, DatabaseKey key, bool publish = true) {
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
  // such a verdict is not recorded.
  Verdict verify(Db& db, Local& l, Memo& m, DatabaseKey key, bool publish) {
    Runtime& rt = db.runtime();
    const Revision verified = m.verified_at.load(std::memory_order_relaxed);
    const std::size_t hits = l.cycle_hits.size();
    if (rt.last_changed(m.durability) > verified) {  // else: the durability shortcut
      const DatabaseKey* deps = m.deps.data();
      try {
        for (std::uint32_t i = 0, n = m.deps.size(); i < n; ++i) {
          if (rt.maybe_changed_after(db, deps[i], verified)) {
            l.cycle_hits.resize(hits);
            return Verdict::changed;
          }
        }
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
    if (publish) m.verified_at.store(rt.revision(), std::memory_order_release);
    rt.emit(EventKind::did_validate_memoized_value, key);
    return Verdict::unchanged;
  }

  // The value a fixpoint (or fallback) query takes when a cycle comes back to it.
  template <class... A>
  static Value cycle_start(Db& db, const A&... a) {
    if constexpr (kCycle == 1) {
      return CycleInitial<Cycle>::value(db, a...);
    } else if constexpr (kCycle == 2) {
      return CycleFallbackValue<Cycle>::value(db, a...);
    } else {
      static_assert(kCycle != 0);
    }
  }

  // Runs the function once in a new frame, which the caller pops. On a throw no memo survives:
  // it is reset and the entities it created, then or before, are deleted.
  Value run(Db& db, Local& l, Memo& m, DatabaseKey key, std::uint32_t stamp) {
    Runtime& rt = db.runtime();
    rt.emit(EventKind::will_execute, key);
    Frame& f = rt.push_frame(l, key);  // stays put: frames is a deque
    try {
      Value v = keys_.invoke(db, key.key, stamp,
                             [](Db& d, const auto&... a) -> Value { return F(d, a...); });
      // The function swallowed a control exception of the engine: its result is not trusted.
      if (f.control) [[unlikely]]
        std::rethrow_exception(f.control);
      return v;
    } catch (const Cancelled&) {
      abandon_run(db, l, m, key, f);
      throw;
    } catch (const YieldToCycle&) {
      abandon_run(db, l, m, key, f);
      throw;
    } catch (const RestartVerification&) {
      abandon_run(db, l, m, key, f);
      throw;
    } catch (...) {
      std::vector<DatabaseKey> made = std::move(f.created);
      --l.depth;
      rt.emit(EventKind::did_execute, key);
      if (auto* old = m.created()) made.insert(made.end(), old->begin(), old->end());
      m.reset();
      for (DatabaseKey e : made) rt.delete_entity(db, e);
      throw;
    }
  }

  // Re-runs a changed dependency to see whether its value changed. If it throws (its own
  // error, an operator== that throws while backdating...), it left no memo: that is a change,
  // and the reader re-runs and meets the error where its own code can catch it. The engine's
  // control exceptions go on unwinding.
  bool execute_for_verification(Db& db, Local& l, Memo& m, DatabaseKey key) {
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
  void abandon_run(Db& db, Local& l, Memo& m, DatabaseKey key, Frame& f) {
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
  void execute(Db& db, Local& l, Memo& m, DatabaseKey key, std::uint32_t stamp, bool verified) {
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

  void fail_after_run(Db& db, Local& l, Memo& m, std::size_t depth) {
    std::vector<DatabaseKey> made = std::move(l.frames[depth].created);
    l.depth = depth;
    if (auto* old = m.created()) made.insert(made.end(), old->begin(), old->end());
    m.reset();
    for (DatabaseKey e : made) db.runtime().delete_entity(db, e);
  }

  void execute_rounds(Db& db, Local& l, Memo& m, DatabaseKey key, std::uint32_t stamp,
                      bool verified) {
    if constexpr (kCycle == 0) {
      Value result = run(db, l, m, key, stamp);
      finish(db, l, m, key, stamp, verified, std::move(result));
    } else {
      Runtime& rt = db.runtime();
      MemoExtra& x = m.ensure_extra();
      // Memos computed provisionally from here on (or since round 0 started early) are this
      // iteration's.
      const std::size_t mark = x.early_start ? x.early_mark : l.provisional.size();
      if (!x.early_start) {  // a round 0 started early keeps its start value and round id
        x.iteration = 0;
        x.round = next_round_id();
        x.provisional.reset();
        x.head_inputs.clear();
      }
      x.early_start = false;
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
        Value result = run(db, l, m, key, stamp);
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
          if (!same && (!x.provisional || !values_equal(*x.provisional, next))) {
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
            continue;
          }
          result = std::move(next);
        }
        // Converged: what was computed against this head's last round becomes final.
        x.head_executing = false;
        x.provisional.reset();
        earlier.merge_into(f);
        try {
          finalize_round(db, l, key, x.round, f.cycle_heads, mark);
        } catch (...) {  // waiting for a memo another thread holds: as if the round failed
          abandon_run(db, l, m, key, f);
          throw;
        }
        finish(db, l, m, key, stamp, false, std::move(result));
        return;
      }
    }
  }

  // What the earlier rounds of a fixpoint iteration read: dependencies, their durability, and
  // outer cycle heads.
  struct Rounds {
    std::vector<DatabaseKey> deps;
    std::vector<CycleHead> heads;
    std::vector<DatabaseKey> created;  // the final memo owns what every round created
    Durability durability = Durability::high;

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
      append_missing(f.deps, deps.data(), deps.size());
      append_missing(f.created, created.data(), created.size());
      f.add_cycle_heads(heads);
      f.durability = std::min(f.durability, durability);
    }
  };

  // Appends the keys of `extra` that `into` lacks, in order, each once.
  static void append_missing(std::vector<DatabaseKey>& into, const DatabaseKey* extra,
                             std::size_t n) {
    absl::flat_hash_set<DatabaseKey> seen(into.begin(), into.end());
    for (std::size_t i = 0; i < n; ++i)
      if (seen.insert(extra[i]).second) into.push_back(extra[i]);
  }

  // A provisional memo from an earlier round is about to be re-run: keep what it read, and
  // the tracked structs it created (the final value may hold one an early round made).
  static void carry_over(Memo& m) {
    MemoExtra& x = *m.extra;
    append_missing(x.carried, m.deps.data(), m.deps.size());
    x.carried_durability = std::min(x.carried_durability, x.provisional_durability);
    append_missing(x.carried_created, x.created.data(), x.created.size());
  }

  static void take_carried(Memo& m, Frame& f) {
    if (!m.extra) return;
    MemoExtra& x = *m.extra;
    if (!x.carried.empty()) {
      append_missing(f.deps, x.carried.data(), x.carried.size());
      f.durability = std::min(f.durability, x.carried_durability);
      x.carried.clear();
      x.carried_durability = Durability::high;
    }
    if (!x.carried_created.empty()) {
      append_missing(f.created, x.carried_created.data(), x.carried_created.size());
      x.carried_created.clear();
    }
  }

  // Memos computed provisionally since `mark` drop `head`, which converged in round
  // `iteration` on a value provisional on the heads `outer`: they now depend on those instead.
  // Those with no head left are final.
  static void finalize_round(Db& db, Local& l, DatabaseKey head, std::uint32_t iteration,
                             const std::vector<CycleHead>& outer, std::size_t mark) {
    Runtime& rt = db.runtime();
    std::vector<DatabaseKey> still;
    for (std::size_t i = mark; i < l.provisional.size(); ++i) {
      const DatabaseKey k = l.provisional[i];
      if (rt.ingredient_at(k).finalize_provisional(db, k.key, head, iteration, outer))
        still.push_back(k);
    }
    l.provisional.resize(mark);
    l.provisional.insert(l.provisional.end(), still.begin(), still.end());
  }

  // Stores an execution's result from the top frame, then pops it.
  void finish(Db& db, Local& l, Memo& m, DatabaseKey key, std::uint32_t stamp, bool verified,
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
      rt.emit(EventKind::did_execute, key);
      return;
    }
    Revision changed_at = now;
    if (backdates(m, f.durability, result)) {
      changed_at = m.changed_at;
      rt.emit(EventKind::did_backdate, key);
    }
    if (changed_at == now || !m.value) store_value(m, std::move(result));
    take_carried(m, f);
    m.deps.assign(f.deps);
    m.changed_at = changed_at;
    m.durability = f.durability;
    m.key_stamp = stamp;
    if (m.extra || !f.accumulated.empty()) m.ensure_extra().accumulated = std::move(f.accumulated);
    std::vector<DatabaseKey> created = std::move(f.created);
    --l.depth;
    m.verified_at.store(now, std::memory_order_release);  // publishes the fields above
    rt.emit(EventKind::did_execute, key);
    diff_created(db, m, created);
  }

  // The value goes in before `filled` says so: a hot-path reader checks `filled` first.
  void store_value(Memo& m, Value&& v) {
    m.filled.store(false, std::memory_order_relaxed);
    m.value = std::move(v);
    if (byte_budget_ != 0)
      m.ensure_extra().value_bytes = sizeof(Value) + relish::heap_size(*m.value);
    m.filled.store(true, std::memory_order_release);
  }

  // Backdate only if durability did not drop: a memo must not claim an old change revision
  // for a value that now depends on less durable inputs.
  static bool backdates(const Memo& m, Durability d, const Value& fresh) {
    if constexpr (O.no_eq) {
      return false;
    } else {
      return m.value && d >= m.durability && memo_values_equal(*m.value, fresh);
    }
  }

  void store_provisional(Db& db, Local& l, Memo& m, DatabaseKey key, std::uint32_t stamp,
                         Frame& f, Value&& result) {
    Runtime& rt = db.runtime();
    MemoExtra& x = m.ensure_extra();
    x.provisional = std::move(result);
    x.heads = f.cycle_heads;
    m.provisional.store(true, std::memory_order_release);
    x.provisional_durability = f.durability;
    x.accumulated = std::move(f.accumulated);
    take_carried(m, f);
    m.deps.assign(f.deps);
    m.key_stamp = stamp;
    std::vector<DatabaseKey> created = std::move(f.created);
    --l.depth;
    l.provisional.push_back(key);
    rt.emit(EventKind::did_execute, key);
    diff_created(db, m, created);
  }

 public:
  std::int64_t cycle_iteration(std::uint32_t id) const override {
    const Memo* m = memos_.get(id);
    if (!m || !m->extra || !m->extra->head_executing) return -1;
    return m->extra->round;
  }

  OwnerWord* owner_word(std::uint32_t id) override {
    Memo* m = memos_.get(id);
    return m ? &m->owner : nullptr;
  }

  bool finalize_provisional(Database& base, std::uint32_t id, DatabaseKey head,
                            std::uint32_t iteration,
                            const std::vector<CycleHead>& outer) override {
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
      // old value's. Unverified until re-executed; the old value stays for backdating.
      clear_provisional(*m);
      m->verified_at.store(0, std::memory_order_release);
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
    if (backdates(*m, x.provisional_durability, *x.provisional)) {
      rt.emit(EventKind::did_backdate, key);
    } else {
      store_value(*m, std::move(*x.provisional));
      m->changed_at = now;
    }
    x.provisional.reset();
    m->durability = x.provisional_durability;
    m->verified_at.store(now, std::memory_order_release);
    return false;
  }

  void collect_accumulated(Database& db, std::uint32_t id, std::uint32_t type,
                           std::vector<std::shared_ptr<const void>>& out,
                           absl::flat_hash_set<std::uint64_t>& visited) const override {
    if (!visited.insert((std::uint64_t{first_index()} << 32) | id).second) return;
    const Memo* m = memos_.get(id);
    if (!m || m->verified_at.load(std::memory_order_acquire) == 0) return;
    static const std::vector<Accumulated> none;
    const std::vector<Accumulated>& acc = m->extra ? m->extra->accumulated : none;
    const DatabaseKey* deps = m->deps.data();
    const std::uint32_t n = m->deps.size();
    std::size_t next = 0;
    // Values pushed after reading i dependencies come before dependency i's own values.
    for (std::uint32_t i = 0; i <= n; ++i) {
      for (; next < acc.size() && acc[next].position <= i; ++next)
        if (acc[next].type == type) out.push_back(acc[next].value);
      if (i < n) db.runtime().ingredient_at(deps[i]).collect_accumulated(db, deps[i].key, type, out, visited);
    }
  }

 private:
  // Tracked structs the previous execution created and this one did not are deleted.
  void diff_created(Db& db, Memo& m, std::vector<DatabaseKey>& now_created) {
    if (!m.extra && now_created.empty()) return;  // the common case: creates no entities
    std::vector<DatabaseKey> old = std::move(m.ensure_extra().created);
    m.extra->created = std::move(now_created);
    if (old.empty()) return;
    const absl::flat_hash_set<DatabaseKey> kept(m.extra->created.begin(), m.extra->created.end());
    for (DatabaseKey e : old)
      if (!kept.contains(e)) db.runtime().delete_entity(db, e);
  }

  void discard(Db& db, Memo& m) {
    std::vector<DatabaseKey> made;
    if (auto* c = m.created()) made = std::move(*c);
    m.reset();
    for (DatabaseKey e : made) db.runtime().delete_entity(db, e);
  }

  // sizeof + heap_size of a memo's value, measured once (values are immutable).
  static std::size_t measured_bytes(Memo& m) {
    MemoExtra& x = m.ensure_extra();
    if (x.value_bytes == 0) x.value_bytes = sizeof(Value) + relish::heap_size(*m.value);
    return x.value_bytes;
  }

  // Recency for LRU: one store per memo per revision, so parallel hits do not bounce the
  // memo's cache line between cores.
  void touch(Memo& m, Revision now) noexcept {
    if ((lru_capacity_ | byte_budget_) != 0 && m.last_used.load(std::memory_order_relaxed) != now)
      m.last_used.store(now, std::memory_order_relaxed);
  }

  StableVector<Memo> memos_;
  KeyStore<Args> keys_;
  std::size_t lru_capacity_ = O.lru;
  std::size_t byte_budget_ = O.byte_budget;
  Mutex deferred_mu_;
  std::vector<std::pair<std::uint32_t, std::uint32_t>> deferred_drops_;  // (index, stamp)
};

}  // namespace relish::detail

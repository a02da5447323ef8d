// The memo table of one query: fetch (hot path and cold path), deep verification, execution
// with backdating. Names follow salsa's function/ folder: fetch, maybe_changed_after,
// execute, backdate.
#pragma once

#include <algorithm>
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

template <auto F, Options O>
class FunctionIngredient final : public IngredientBase {
  using Traits = FnTraits<decltype(F)>;

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

  FunctionIngredient() : IngredientBase(std::string(function_name<F>())) {}

  // The hot path: a memo verified in this revision is returned after two loads and compares.
  template <class... A>
  const Value& fetch(Db& db, Local& l, const A&... args) {
    auto [id, stamp] = keys_.key_of(args...);
    Runtime& rt = db.runtime();
    const Revision now = rt.revision();
    if (Memo* m = memos_.get(id)) [[likely]] {
      // verified_at first: the other fields are only stable once it says "this revision".
      if (m->verified_at.load(std::memory_order_acquire) == now && m->key_stamp == stamp &&
          m->value) [[likely]] {
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
      if (verified == 0) return true;  // no memo (never computed, or discarded)
      if (!l) l = &rt.local();
      if (rt.claim(*l, m->owner, key)) break;
    }
    OwnerGuard owner(rt, *l, *m, key);
    if (m->verified_at.load(std::memory_order_relaxed) != rt.revision()) {
      if (m->verified_at.load(std::memory_order_relaxed) == 0) return true;
      if (!verify(db, *l, *m, key)) execute(db, *l, *m, key, m->key_stamp, false);
    }
    return m->changed_at > after;
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
                         [[maybe_unused]] std::uint32_t index) override {
    if constexpr (KeyedOnEntity<Args>::value) {
      using KeyIngredient = typename std::tuple_element_t<0, Args>::Ingredient;
      const auto* ki = base.runtime().find_ingredient<KeyIngredient, KeyIngredient>();
      if (!ki || ki->first_index() != owner) return;
      LockGuard lock(deferred_mu_);
      deferred_drops_.push_back(index);
    }
  }

  void on_new_revision(Database& base) override {
    Db& db = static_cast<Db&>(base);
    std::vector<std::uint32_t> drops;
    {
      LockGuard lock(deferred_mu_);
      drops.swap(deferred_drops_);
    }
    for (std::uint32_t index : drops) {
      if (Memo* m = memos_.get(index); m && m->verified_at.load(std::memory_order_relaxed) != 0)
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
        bytes += m.value_bytes();
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
  std::uint32_t memo_capacity() const noexcept { return memos_.size(); }
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
      value.reset();
      deps.clear();
      extra.reset();
      verified_at.store(0, std::memory_order_relaxed);
      changed_at = 0;
      key_stamp = 0;
      durability = Durability::high;
    }
  };

  // Owns a memo for this thread (claimed) and marks it active for cycle reports.
  class OwnerGuard {
   public:
    OwnerGuard(Runtime& rt, Local& l, Memo& m, DatabaseKey key) : l_(&l), m_(&m) {
      (void)rt;
      l.active.push_back(key);
    }
    OwnerGuard(const OwnerGuard&) = delete;
    OwnerGuard& operator=(const OwnerGuard&) = delete;
    ~OwnerGuard() {
      l_->active.pop_back();
      m_->owner.release();
    }

   private:
    Local* l_;
    Memo* m_;
  };

  [[gnu::noinline]] const Value& fetch_cold(Db& db, Local& l, std::uint32_t id,
                                            std::uint32_t stamp) {
    Runtime& rt = db.runtime();
    rt.check_cancelled();
    const DatabaseKey key{first_index(), id};
    memos_.ensure_size(id + 1);
    Memo& m = memos_[id];
    for (;;) {
      const Revision verified = m.verified_at.load(std::memory_order_acquire);
      if (verified == rt.revision() && m.key_stamp == stamp && m.value) {  // done meanwhile
        touch(m, verified);
        rt.record_read(l, key, m.durability);
        return *m.value;
      }
      if (rt.claim(l, m.owner, key)) break;
    }
    {
      OwnerGuard owner(rt, l, m, key);
      const Revision now = rt.revision();
      if (m.verified_at.load(std::memory_order_relaxed) != 0 && m.key_stamp != stamp)
        discard(db, m);  // a memo of another entity that had this index
      const Revision verified = m.verified_at.load(std::memory_order_relaxed);
      const bool ok = verified == now || (verified != 0 && verify(db, l, m, key));
      if (!ok || !m.value) execute(db, l, m, key, stamp, ok);
      touch(m, now);
    }
    rt.record_read(l, key, m.durability);
    return *m.value;
  }

  // Deep verification: is every dependency unchanged since m.verified_at? Dependencies are
  // checked in the order they were read, and the walk stops at the first changed one (later
  // ones may not even be read by a re-execution). The caller owns m.
  bool verify(Db& db, Local& l, Memo& m, DatabaseKey key) {
    Runtime& rt = db.runtime();
    const Revision verified = m.verified_at.load(std::memory_order_relaxed);
    if (rt.last_changed(m.durability) > verified) {  // else: the durability shortcut
      const DatabaseKey* deps = m.deps.data();
      for (std::uint32_t i = 0, n = m.deps.size(); i < n; ++i) {
        if (rt.maybe_changed_after(db, deps[i], verified)) return false;
      }
    }
    (void)l;
    m.verified_at.store(rt.revision(), std::memory_order_release);
    rt.emit(EventKind::did_validate_memoized_value, key);
    return true;
  }

  // Runs the function; the caller owns m. `verified`: the old memo's dependencies are
  // unchanged but its value was evicted, so the new value equals the old one by purity and
  // keeps its changed_at.
  void execute(Db& db, Local& l, Memo& m, DatabaseKey key, std::uint32_t stamp, bool verified) {
    Runtime& rt = db.runtime();
    rt.emit(EventKind::will_execute, key);
    std::optional<Value> result;
    Frame& f = rt.push_frame(l, key);  // stays put: frames is a deque
    try {
      result.emplace(keys_.invoke(db, key.key, stamp, [](Db& d, const auto&... a) -> Value {
        return F(d, a...);
      }));
    } catch (...) {
      std::vector<DatabaseKey> made = std::move(f.created);
      --l.depth;
      rt.emit(EventKind::did_execute, key);
      // No memo survives a throw; entities it created, then or before, go with it.
      if (auto* old = m.created()) made.insert(made.end(), old->begin(), old->end());
      m.reset();
      for (DatabaseKey e : made) rt.delete_entity(db, e);
      throw;
    }
    const Revision now = rt.revision();
    Revision changed_at = now;
    if (verified) {
      changed_at = m.changed_at;
    } else if constexpr (!O.no_eq) {
      // Backdate only if durability did not drop: a memo must not claim an old change
      // revision for a value that now depends on less durable inputs.
      if (m.value && f.durability >= m.durability && memo_values_equal(*m.value, *result)) {
        changed_at = m.changed_at;
        rt.emit(EventKind::did_backdate, key);
      }
    }
    if (changed_at == now || !m.value) {
      m.value = std::move(result);
      if (byte_budget_ != 0)
        m.ensure_extra().value_bytes = sizeof(Value) + relish::heap_size(*m.value);
    }
    m.deps.assign(f.deps);
    m.changed_at = changed_at;
    m.durability = f.durability;
    m.key_stamp = stamp;
    std::vector<DatabaseKey> created = std::move(f.created);
    --l.depth;
    m.verified_at.store(now, std::memory_order_release);  // publishes the fields above
    rt.emit(EventKind::did_execute, key);
    diff_created(db, m, created);
  }

  // Tracked structs the previous execution created and this one did not are deleted.
  void diff_created(Db& db, Memo& m, std::vector<DatabaseKey>& now_created) {
    if (!m.extra && now_created.empty()) return;  // the common case: creates no entities
    std::vector<DatabaseKey> old = std::move(m.ensure_extra().created);
    m.extra->created = std::move(now_created);
    const std::vector<DatabaseKey>& kept = m.extra->created;
    for (DatabaseKey e : old) {
      if (std::find(kept.begin(), kept.end(), e) == kept.end()) db.runtime().delete_entity(db, e);
    }
  }

  void discard(Db& db, Memo& m) {
    std::vector<DatabaseKey> made;
    if (auto* c = m.created()) made = std::move(*c);
    m.reset();
    for (DatabaseKey e : made) db.runtime().delete_entity(db, e);
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
  std::vector<std::uint32_t> deferred_drops_;
};

}  // namespace relish::detail

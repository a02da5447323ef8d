// relish/reclaimable.hpp: a value that can be dropped in the middle of a revision and is
// recomputed on the next load (the seed's ParsedModule over ArcSwapOption).
//
//   struct ParsedModule {
//     File file;
//     relish::Reclaimable<Ast> ast;
//     relish::Ref<Ast> load(Db& db) const {
//       return ast.load_or([&] { return parse_impl(db, file); });   // re-parse if cleared
//     }
//   };
//   ParsedModule pm = parsed_module(db, file);
//   relish::Ref<Ast> ast = pm.load(db);   // keeps this AST alive while held
//   pm.ast.clear();                       // memory pressure: drop it now; `ast` stays valid
//
// A ReclaimBudget bounds the bytes its slots hold, within a revision: a value stored past the
// budget clears the least recently loaded others (a CLOCK sweep), and their next load_or
// recomputes them. ty clears each file's AST once the file is checked; a budget does it for
// any value, without the caller knowing which ones are done with:
//
//   relish::ReclaimBudget asts(64 << 20);                       // in the database, say
//   return ParsedModule{file, relish::Reclaimable<Ast>(asts, parse_impl(db, file))};
//
// ReclaimableSlot<T> is the lock-free core: load() never blocks or takes a lock; load, store
// and clear may run concurrently from any threads. A Ref<T> keeps its value alive after the
// slot was cleared or overwritten. Reclaimable<T> is a copyable handle sharing one slot (so a
// memoized value and its copies see the same slot).
//
// Why not std::atomic<std::shared_ptr<T>>: in libstdc++ 12 it takes a spin lock and
// ThreadSanitizer reports false races inside it. The slot uses split reference counts with a
// reserve instead (see ReclaimableSlot).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "relish/heap_size.hpp"

namespace relish {

template <class T>
class ReclaimableSlot;
namespace detail {
template <class T>
struct ReclaimableNode;
}

// A counted reference to a value loaded from a slot (like a shared_ptr<const T>).
template <class T>
class Ref {
  struct alignas(16) Box {  // 16-aligned: the slot word keeps the pointer shifted by 4
    template <class... A>
    explicit Box(A&&... a) : value(std::forward<A>(a)...) {}
    std::atomic<std::int64_t> refs{1};
    T value;
  };

 public:
  Ref() = default;
  Ref(const Ref& o) noexcept : box_(o.box_) {
    if (box_) box_->refs.fetch_add(1, std::memory_order_relaxed);
  }
  Ref(Ref&& o) noexcept : box_(std::exchange(o.box_, nullptr)) {}
  Ref& operator=(Ref o) noexcept {
    std::swap(box_, o.box_);
    return *this;
  }
  ~Ref() { release(box_, 1); }

  const T& operator*() const noexcept { return box_->value; }
  const T* operator->() const noexcept { return &box_->value; }
  const T* get() const noexcept { return box_ ? &box_->value : nullptr; }
  explicit operator bool() const noexcept { return box_ != nullptr; }

  // Same allocation (what backdating by pointer compares).
  friend bool operator==(const Ref& a, const Ref& b) noexcept { return a.box_ == b.box_; }

  template <class... A>
  static Ref make(A&&... args) {
    Ref r;
    r.box_ = new Box(std::forward<A>(args)...);
    return r;
  }

  friend std::size_t relish_heap_size(const Ref& r) {
    if (!r) return 0;
    if (HeapSizeTracker* t = HeapSizeTracker::current(); t && !t->first_visit(r.box_)) return 0;
    return sizeof(Box) + heap_size(r.box_->value);
  }

 private:
  friend class ReclaimableSlot<T>;
  friend struct detail::ReclaimableNode<T>;
  explicit Ref(Box* adopted) noexcept : box_(adopted) {}
  static void release(Box* b, std::int64_t n) noexcept {
    if (b && b->refs.fetch_sub(n, std::memory_order_acq_rel) == n) delete b;
  }
  Box* box_ = nullptr;
};

// The lock-free slot. Its word packs the box pointer (shifted right by 4) in the low 44 bits
// and a count of loads in the high 20. A stored box carries, besides the slot's own
// reference, a *reserve* of kReserve references: a load takes one of them just by
// incrementing the word's count (one fetch_add, nothing to undo), so a writer swapping the
// word out never races a half-done load. The writer gives back the unused part of the reserve
// (kReserve - count) plus the slot's reference in one step. When the count grows large, a
// load refills the reserve (adds the count to the box and resets it to 0).
//
// Invariant, for the stored box: refs = 1 + (kReserve - count) + references held by Refs.
template <class T>
class ReclaimableSlot {
  using Box = typename Ref<T>::Box;
  static constexpr int kCountShift = 44;
  static constexpr std::uint64_t kOne = std::uint64_t{1} << kCountShift;
  static constexpr std::uint64_t kPtrMask = kOne - 1;
  static constexpr std::int64_t kReserve = std::int64_t{1} << 20;  // = the count's range
  static constexpr std::uint64_t kRefillAt = std::uint64_t{1} << 19;

 public:
  ReclaimableSlot() = default;
  ReclaimableSlot(const ReclaimableSlot&) = delete;
  ReclaimableSlot& operator=(const ReclaimableSlot&) = delete;
  ~ReclaimableSlot() { release_word(word_.exchange(0, std::memory_order_acq_rel)); }

  // The current value, or an empty Ref if the slot is empty. Lock-free.
  Ref<T> load() const noexcept {
    if ((word_.load(std::memory_order_acquire) & kPtrMask) == 0) return {};
    const std::uint64_t w = word_.fetch_add(kOne, std::memory_order_acq_rel);
    Box* b = box_of(w);
    // An empty word's count means nothing: whoever stores next overwrites it.
    if (!b) return {};
    const std::uint64_t count = (w >> kCountShift) + 1;
    if (count >= kRefillAt) refill(b, w + kOne, count);
    return Ref<T>(b);  // the reference taken from the reserve
  }

  // Replaces the value; holders of the old one keep it alive.
  void store(Ref<T> value) noexcept { (void)exchange(std::move(value)); }

  // Drops the slot's reference; the next load_or recomputes.
  void clear() noexcept { release_word(word_.exchange(0, std::memory_order_acq_rel)); }

  // Replaces the value (empty: clears the slot) and returns the old one, to be released by
  // the caller when it chooses (a budget does it after letting go of its lock).
  Ref<T> exchange(Ref<T> value) noexcept {
    Box* b = std::exchange(value.box_, nullptr);  // its reference becomes the slot's
    if (b) b->refs.fetch_add(kReserve, std::memory_order_relaxed);
    const std::uint64_t old = word_.exchange(word_of(b), std::memory_order_acq_rel);
    Box* ob = box_of(old);
    if (!ob) return {};
    // The unused reserve goes back; the slot's own reference becomes the returned Ref's.
    Ref<T>::release(ob, kReserve - static_cast<std::int64_t>(old >> kCountShift));
    return Ref<T>(ob);
  }

  // Stores `value` only if the slot is empty; returns what the slot holds afterwards (never
  // empty: if another thread clears the value that beat us, we try again).
  Ref<T> store_if_empty(Ref<T> value) noexcept {
    Box* b = value.box_;
    if (!b) return load();
    // Published with its reserve and the slot's reference already in place.
    b->refs.fetch_add(kReserve + 1, std::memory_order_relaxed);
    for (;;) {
      std::uint64_t cur = word_.load(std::memory_order_relaxed);
      while (box_of(cur) == nullptr) {
        if (word_.compare_exchange_weak(cur, word_of(b), std::memory_order_acq_rel,
                                        std::memory_order_relaxed))
          return value;
      }
      if (Ref<T> current = load()) {
        Ref<T>::release(b, kReserve + 1);  // not stored: give them back (value keeps it alive)
        return current;
      }
    }
  }

  bool empty() const noexcept { return (word_.load(std::memory_order_acquire) & kPtrMask) == 0; }

 private:
  static Box* box_of(std::uint64_t w) noexcept {
    return reinterpret_cast<Box*>(static_cast<std::uintptr_t>((w & kPtrMask) << 4));
  }
  static std::uint64_t word_of(Box* b) noexcept {
    return static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(b)) >> 4;
  }
  // Adds `count` references to the reserve and resets the count, if the word is still `seen`.
  // The caller holds a reference, so the temporary excess never frees anything.
  void refill(Box* b, std::uint64_t seen, std::uint64_t count) const noexcept {
    b->refs.fetch_add(static_cast<std::int64_t>(count), std::memory_order_relaxed);
    if (!word_.compare_exchange_strong(seen, seen & kPtrMask, std::memory_order_acq_rel,
                                       std::memory_order_relaxed))
      b->refs.fetch_sub(static_cast<std::int64_t>(count), std::memory_order_relaxed);
  }
  // Gives back the unused reserve and the slot's reference of a swapped-out word.
  static void release_word(std::uint64_t old) noexcept {
    Box* b = box_of(old);
    if (!b) return;
    const auto taken = static_cast<std::int64_t>(old >> kCountShift);
    Ref<T>::release(b, kReserve - taken + 1);
  }

  mutable std::atomic<std::uint64_t> word_{0};
};

namespace detail {

// A value taken out of a slot under a budget's lock, released after it: releasing may run the
// value's destructor, which may touch the budget again.
struct TakenValue {
  void* box = nullptr;
  void (*release)(void*) noexcept = nullptr;
};

// What a budget knows of one slot. `charged` and `in_ring` change under the budget's lock;
// `referenced` is set by lock-free loads.
struct BudgetedSlot {
  virtual ~BudgetedSlot() = default;
  virtual TakenValue take_value() noexcept = 0;  // empties the slot, under the lock
  std::size_t charged = 0;  // the bytes of the value the slot holds, 0 when empty
  std::atomic<bool> referenced{false};
  bool in_ring = false;
};

// The shared state of a ReclaimBudget. Slots hold it by shared_ptr, so it outlives them
// whatever order a database's members are destroyed in. Budgeted slots change value only
// under its lock, so `held` is exactly what they hold; loads stay lock-free.
class BudgetState {
 public:
  explicit BudgetState(std::size_t limit) : limit_(limit) {}

  // Values taken out under the lock, and the slots a sweep passed (kept alive: if the last
  // handle to one went meanwhile, its destructor must not run under the lock). Released when
  // the caller lets go of the lock, in this order: destroy the Sweep after the lock guard.
  class Sweep {
   public:
    Sweep() = default;
    Sweep(const Sweep&) = delete;
    Sweep& operator=(const Sweep&) = delete;
    ~Sweep() {
      for (const TakenValue& t : taken_)
        if (t.box) t.release(t.box);
    }
    void take(BudgetedSlot& s) noexcept { taken_.push_back(s.take_value()); }  // room reserved

   private:
    friend class BudgetState;
    std::vector<TakenValue> taken_;
    std::vector<std::shared_ptr<BudgetedSlot>> seen_;
  };

  std::unique_lock<std::mutex> lock() { return std::unique_lock<std::mutex>(mu_); }

  // Under lock(), before the slot changes: puts `s` in the ring if it is not (may throw;
  // then nothing changed).
  void enter(const std::shared_ptr<BudgetedSlot>& s) {
    if (s->in_ring) return;
    if (ring_.size() >= 2 * live_ + 64) compact();
    ring_.push_back(s);
    s->in_ring = true;
    ++live_;
  }
  // Under lock(), after enter(): slot `s` now holds a value of `bytes` (it held one of
  // s->charged), unmarked: a value stored and never read goes first. Then clears the least
  // recently loaded other slots until the budget holds again (never `s` itself: its caller
  // is about to use it).
  void charged(BudgetedSlot& s, std::size_t bytes, Sweep& sw) noexcept {
    held_.store(held_.load(std::memory_order_relaxed) - s.charged + bytes,
                std::memory_order_relaxed);
    s.charged = bytes;
    s.referenced.store(false, std::memory_order_relaxed);
    sweep(&s, sw);
  }
  // Under lock(): slot `s` was emptied.
  void emptied(BudgetedSlot& s) noexcept {
    held_.store(held_.load(std::memory_order_relaxed) - s.charged, std::memory_order_relaxed);
    s.charged = 0;
  }
  // A slot is destroyed (its value is released after this, outside the lock).
  void forget(BudgetedSlot& s) noexcept {
    std::lock_guard<std::mutex> g(mu_);
    emptied(s);
    if (s.in_ring) --live_;  // its ring entry has expired: sweep and compact drop it
  }

  std::size_t held() const noexcept { return held_.load(std::memory_order_relaxed); }
  std::size_t limit() const noexcept { return limit_.load(std::memory_order_relaxed); }
  std::uint64_t reclaimed() const noexcept { return reclaimed_.load(std::memory_order_relaxed); }
  void set_limit(std::size_t n) noexcept {
    Sweep sw;
    std::lock_guard<std::mutex> g(mu_);
    limit_.store(n, std::memory_order_relaxed);
    sweep(nullptr, sw);
  }

 private:
  // CLOCK: the hand passes slots loaded since its last pass (clearing their mark) and empties
  // the first one that was not. Two laps of live slots at most: after one, every mark is clear.
  // Out of memory for its bookkeeping, it stops: over budget until the next store.
  void sweep(const BudgetedSlot* keep, Sweep& sw) noexcept {
    for (std::size_t passed = 0; held() > limit() && !ring_.empty() && passed < 2 * ring_.size();) {
      if (hand_ >= ring_.size()) hand_ = 0;
      try {
        // Room first: a slot whose last handle went must not be released under the lock.
        sw.seen_.reserve(sw.seen_.size() + 1);
        sw.taken_.reserve(sw.taken_.size() + 1);
      } catch (...) {
        return;
      }
      std::shared_ptr<BudgetedSlot> s = ring_[hand_].lock();
      if (!s) {  // destroyed: its entry goes
        ring_[hand_] = std::move(ring_.back());
        ring_.pop_back();
        continue;
      }
      ++hand_;
      ++passed;
      BudgetedSlot* p = s.get();
      sw.seen_.push_back(std::move(s));
      if (p == keep || p->charged == 0) continue;
      if (p->referenced.exchange(false, std::memory_order_relaxed)) continue;
      sw.take(*p);
      emptied(*p);
      reclaimed_.fetch_add(1, std::memory_order_relaxed);
    }
  }
  void compact() {
    std::erase_if(ring_, [](const std::weak_ptr<BudgetedSlot>& w) { return w.expired(); });
    hand_ = 0;
  }

  std::mutex mu_;
  std::vector<std::weak_ptr<BudgetedSlot>> ring_;  // the slots charged, in CLOCK order
  std::size_t hand_ = 0;
  std::size_t live_ = 0;  // ring entries whose slot is alive
  std::atomic<std::size_t> held_{0};  // written under mu_, read anywhere
  std::atomic<std::size_t> limit_;
  std::atomic<std::uint64_t> reclaimed_{0};
};

// Set while a budget computes what a value costs: a budgeted Reclaimable inside it is charged
// to its own slot, so the value counts only its handle (not twice, nor after that slot clears).
inline thread_local int charging_depth = 0;
template <class T>
std::size_t charge_of(const Ref<T>& r) {
  struct Depth {
    Depth() { ++charging_depth; }
    ~Depth() { --charging_depth; }
  } depth;
  return heap_size(r);
}

template <class T>
struct ReclaimableNode final : BudgetedSlot {
  explicit ReclaimableNode(std::shared_ptr<BudgetState> b) : budget(std::move(b)) {}
  ~ReclaimableNode() override {
    if (budget) budget->forget(*this);
  }
  TakenValue take_value() noexcept override {
    Ref<T> r = slot.exchange(Ref<T>());
    return {std::exchange(r.box_, nullptr),
            [](void* b) noexcept { Ref<T>::release(static_cast<typename Ref<T>::Box*>(b), 1); }};
  }

  ReclaimableSlot<T> slot;
  std::shared_ptr<BudgetState> budget;  // null: no budget
};

}  // namespace detail

// A byte budget shared by Reclaimable values (see the top of this file). Copies share one
// budget. Values are charged sizeof plus their heap_size when stored; a value held by a Ref
// stays alive after its slot is cleared, so the budget bounds what the slots hold, not what
// callers keep.
class ReclaimBudget {
 public:
  explicit ReclaimBudget(std::size_t bytes) : state_(std::make_shared<detail::BudgetState>(bytes)) {}

  std::size_t bytes_held() const noexcept { return state_->held(); }
  std::size_t limit() const noexcept { return state_->limit(); }
  // Values cleared to keep the budget, so far.
  std::uint64_t reclaimed() const noexcept { return state_->reclaimed(); }
  // A lower limit clears values now.
  void set_limit(std::size_t bytes) { state_->set_limit(bytes); }

 private:
  template <class T>
  friend class Reclaimable;
  std::shared_ptr<detail::BudgetState> state_;
};

// A copyable handle to a shared ReclaimableSlot, under a ReclaimBudget or none.
template <class T>
class Reclaimable {
  using Node = detail::ReclaimableNode<T>;

 public:
  Reclaimable() : node_(std::make_shared<Node>(nullptr)) {}
  explicit Reclaimable(T value) : Reclaimable() { store(std::move(value)); }
  explicit Reclaimable(const ReclaimBudget& budget) : node_(std::make_shared<Node>(budget.state_)) {}
  Reclaimable(const ReclaimBudget& budget, T value) : Reclaimable(budget) {
    store(std::move(value));
  }

  Ref<T> load() const noexcept {
    Ref<T> r = node_->slot.load();
    if (r && node_->budget && !node_->referenced.load(std::memory_order_relaxed))
      node_->referenced.store(true, std::memory_order_relaxed);  // not swept next time
    return r;
  }

  // The current value, or `compute()`'s result stored in the slot if it was cleared. Two
  // threads racing here may both compute; both get the value that ended up in the slot.
  template <class F>
  Ref<T> load_or(F&& compute) const {
    if (Ref<T> r = load()) return r;
    Ref<T> mine = Ref<T>::make(std::forward<F>(compute)());
    if (!node_->budget) return node_->slot.store_if_empty(std::move(mine));
    const std::size_t bytes = detail::charge_of(mine);
    detail::BudgetState::Sweep sw;
    auto lock = node_->budget->lock();
    node_->budget->enter(node_);
    Ref<T> r = node_->slot.store_if_empty(mine);
    if (r == mine) {
      node_->budget->charged(*node_, bytes, sw);
      node_->referenced.store(true, std::memory_order_relaxed);  // its caller reads it now
    }
    return r;
  }

  void store(T value) const {
    Ref<T> r = Ref<T>::make(std::move(value));
    if (!node_->budget) return node_->slot.store(std::move(r));
    const std::size_t bytes = detail::charge_of(r);
    Ref<T> old;  // released after the lock (declared before it)
    detail::BudgetState::Sweep sw;
    auto lock = node_->budget->lock();
    node_->budget->enter(node_);
    old = node_->slot.exchange(std::move(r));
    node_->budget->charged(*node_, bytes, sw);
  }
  void clear() const noexcept {
    if (!node_->budget) return node_->slot.clear();
    Ref<T> old;
    auto lock = node_->budget->lock();
    old = node_->slot.exchange(Ref<T>());
    node_->budget->emptied(*node_);
  }
  bool is_cleared() const noexcept { return node_->slot.empty(); }

  // Handles to the same slot are equal (and backdate by pointer).
  friend bool operator==(const Reclaimable& a, const Reclaimable& b) noexcept {
    return a.node_ == b.node_;
  }

  friend std::size_t relish_heap_size(const Reclaimable& r) {
    HeapSizeTracker* t = HeapSizeTracker::current();
    if (t && !t->first_visit(r.node_.get())) return 0;
    if (r.node_->budget && detail::charging_depth > 0) return sizeof(Node) + 16;
    return sizeof(Node) + 16 + heap_size(r.node_->slot.load());
  }

 private:
  std::shared_ptr<Node> node_;
};

}  // namespace relish

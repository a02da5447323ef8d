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
#include <cstdint>
#include <memory>
#include <utility>

#include "relish/heap_size.hpp"

namespace relish {

template <class T>
class ReclaimableSlot;

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
  void store(Ref<T> value) noexcept {
    Box* b = std::exchange(value.box_, nullptr);  // its reference becomes the slot's
    if (b) b->refs.fetch_add(kReserve, std::memory_order_relaxed);
    release_word(word_.exchange(word_of(b), std::memory_order_acq_rel));
  }

  // Drops the slot's reference; the next load_or recomputes.
  void clear() noexcept { release_word(word_.exchange(0, std::memory_order_acq_rel)); }

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

// A copyable handle to a shared ReclaimableSlot.
template <class T>
class Reclaimable {
 public:
  Reclaimable() : slot_(std::make_shared<ReclaimableSlot<T>>()) {}
  explicit Reclaimable(T value) : Reclaimable() { store(std::move(value)); }

  Ref<T> load() const noexcept { return slot_->load(); }

  // The current value, or `compute()`'s result stored in the slot if it was cleared. Two
  // threads racing here may both compute; both get the value that ended up in the slot.
  template <class F>
  Ref<T> load_or(F&& compute) const {
    if (Ref<T> r = slot_->load()) return r;
    return slot_->store_if_empty(Ref<T>::make(std::forward<F>(compute)()));
  }

  void store(T value) const { slot_->store(Ref<T>::make(std::move(value))); }
  void clear() const noexcept { slot_->clear(); }
  bool is_cleared() const noexcept { return slot_->empty(); }

  // Handles to the same slot are equal (and backdate by pointer).
  friend bool operator==(const Reclaimable& a, const Reclaimable& b) noexcept {
    return a.slot_ == b.slot_;
  }

  friend std::size_t relish_heap_size(const Reclaimable& r) {
    HeapSizeTracker* t = HeapSizeTracker::current();
    if (t && !t->first_visit(r.slot_.get())) return 0;
    return sizeof(ReclaimableSlot<T>) + 16 + heap_size(r.slot_->load());
  }

 private:
  std::shared_ptr<ReclaimableSlot<T>> slot_;
};

}  // namespace relish

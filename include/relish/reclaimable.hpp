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
// ThreadSanitizer reports false races inside it. The slot uses split reference counts instead:
// a load announces itself in the high bits of the slot word before taking its own reference; a
// store that swaps the value out converts the announcements into references.
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
  struct Box {
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
  ~Ref() { release(box_); }

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
  static void release(Box* b) noexcept {
    if (b && b->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete b;
  }
  Box* box_ = nullptr;
};

template <class T>
class ReclaimableSlot {
  using Box = typename Ref<T>::Box;
  // The slot word: the box pointer in the low 48 bits (user-space x86-64/AArch64 addresses),
  // the number of announced, unfinished loads in the high 16.
  static constexpr int kCountShift = 48;
  static constexpr std::uint64_t kOne = std::uint64_t{1} << kCountShift;
  static constexpr std::uint64_t kPtrMask = kOne - 1;

 public:
  ReclaimableSlot() = default;
  ReclaimableSlot(const ReclaimableSlot&) = delete;
  ReclaimableSlot& operator=(const ReclaimableSlot&) = delete;
  ~ReclaimableSlot() { release_word(word_.exchange(0, std::memory_order_acq_rel)); }

  // The current value, or an empty Ref if the slot is empty. Lock-free.
  Ref<T> load() const noexcept {
    if ((word_.load(std::memory_order_acquire) & kPtrMask) == 0) return {};
    const std::uint64_t announced = word_.fetch_add(kOne, std::memory_order_acq_rel);
    Box* b = box_of(announced);
    if (b) b->refs.fetch_add(1, std::memory_order_relaxed);  // our own reference
    // Withdraw the announcement; if the box was swapped out meanwhile, the writer already
    // turned the announcement into a reference for us, so drop that one instead.
    std::uint64_t cur = word_.load(std::memory_order_relaxed);
    for (;;) {
      if (box_of(cur) != b) {
        if (b) b->refs.fetch_sub(1, std::memory_order_relaxed);  // we still hold one more
        break;
      }
      if (word_.compare_exchange_weak(cur, cur - kOne, std::memory_order_acq_rel,
                                      std::memory_order_relaxed))
        break;
    }
    return Ref<T>(b);
  }

  // Replaces the value; holders of the old one keep it alive.
  void store(Ref<T> value) noexcept {
    Box* b = std::exchange(value.box_, nullptr);  // the slot's own reference
    release_word(word_.exchange(word_of(b), std::memory_order_acq_rel));
  }

  // Drops the slot's reference; the next load_or recomputes.
  void clear() noexcept { release_word(word_.exchange(0, std::memory_order_acq_rel)); }

  // Stores `value` only if the slot is empty; returns what the slot holds afterwards.
  Ref<T> store_if_empty(Ref<T> value) noexcept {
    Box* b = value.box_;
    if (!b) return load();
    // The slot's reference is taken before publishing: a clear() right after the CAS must
    // not free the box under the caller.
    b->refs.fetch_add(1, std::memory_order_relaxed);
    std::uint64_t cur = word_.load(std::memory_order_relaxed);
    while (box_of(cur) == nullptr) {
      // Loads announced on the empty word see the pointer change and took no reference.
      if (word_.compare_exchange_weak(cur, word_of(b), std::memory_order_acq_rel,
                                      std::memory_order_relaxed))
        return value;
    }
    Ref<T>::release(b);  // not stored: give back the slot's reference
    return load();
  }

  bool empty() const noexcept { return (word_.load(std::memory_order_acquire) & kPtrMask) == 0; }

 private:
  static Box* box_of(std::uint64_t w) noexcept {
    return reinterpret_cast<Box*>(static_cast<std::uintptr_t>(w & kPtrMask));
  }
  static std::uint64_t word_of(Box* b) noexcept {
    return static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(b));
  }
  // Converts the announcements on a swapped-out word into references, then drops the slot's.
  static void release_word(std::uint64_t old) noexcept {
    Box* b = box_of(old);
    if (!b) return;
    if (const std::uint64_t announced = old >> kCountShift)
      b->refs.fetch_add(static_cast<std::int64_t>(announced), std::memory_order_relaxed);
    Ref<T>::release(b);
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

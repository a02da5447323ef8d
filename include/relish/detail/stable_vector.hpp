// A growable array whose elements never move: index i lives in bucket floor(log2(i + 32)) - 5,
// buckets double in size. References stay valid while the vector grows (memos hand out
// `const&` into their slots), and the bucket table never reallocates, so readers need no lock:
// growth happens under a lock and publishes the new size with a release store. The lock is a
// SpinLock: an append (an input or a tracked struct created) is a few stores, and std::mutex
// was a third of its cost.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>

#include "relish/detail/sync.hpp"

namespace relish::detail {

template <class T>
class StableVector {
  static constexpr std::uint32_t kFirstBits = 5;  // first bucket holds 32 elements
  static constexpr std::uint32_t kBuckets = 32 - kFirstBits;
  static constexpr std::uint64_t kMaxSize = (std::uint64_t{1} << 32) - (1u << kFirstBits);

 public:
  StableVector() = default;
  StableVector(const StableVector&) = delete;
  StableVector& operator=(const StableVector&) = delete;
  ~StableVector() { clear(); }

  std::uint32_t size() const noexcept { return size_.load(std::memory_order_acquire); }

  // Pointer to element i, or nullptr if i >= size().
  T* get(std::uint32_t i) noexcept { return i < size() ? &at(i) : nullptr; }
  const T* get(std::uint32_t i) const noexcept { return i < size() ? &at(i) : nullptr; }

  // Element i, which the caller knows exists.
  T& operator[](std::uint32_t i) noexcept { return at(i); }
  const T& operator[](std::uint32_t i) const noexcept { return at(i); }

  // Grows to at least n elements, value-initializing the new ones.
  void ensure_size(std::uint32_t n) {
    if (size() >= n) return;
    if (n > kMaxSize) [[unlikely]]
      throw std::length_error("relish: a table cannot hold more than 2^32 - 32 entries");
    std::lock_guard<SpinLock> lock(grow_);
    std::uint32_t s = size_.load(std::memory_order_relaxed);
    for (; s < n; ++s) ::new (static_cast<void*>(slot(s))) T();
    size_.store(s, std::memory_order_release);
  }

  template <class... A>
  std::uint32_t emplace_back(A&&... args) {
    return append([&] { return T(std::forward<A>(args)...); });
  }
  // Appends the element `make()` returns, built in its slot (no temporary is moved).
  template <class Make>
  std::uint32_t append(Make&& make) {
    std::lock_guard<SpinLock> lock(grow_);
    return append_serialized(make);
  }

  // The same, for a vector every append of which the caller makes under one lock of its
  // own (a table that takes a lock anyway, to look up before it appends): no second locked
  // instruction. Readers are as safe as above.
  template <class... A>
  std::uint32_t emplace_back_serialized(A&&... args) {
    return append_serialized([&] { return T(std::forward<A>(args)...); });
  }
  template <class Make>
  std::uint32_t append_serialized(Make&& make) {
    const std::uint32_t s = size_.load(std::memory_order_relaxed);
    ::new (static_cast<void*>(slot(s))) T(make());
    size_.store(s + 1, std::memory_order_release);
    return s;
  }

  void clear() noexcept {
    const std::uint32_t n = size_.load(std::memory_order_relaxed);
    for (std::uint32_t i = 0; i < n; ++i) at(i).~T();
    for (std::uint32_t b = 0; b < kBuckets; ++b) {
      if (T* p = buckets_[b].load(std::memory_order_relaxed))
        ::operator delete(p, std::align_val_t(alignof(T)));
      buckets_[b].store(nullptr, std::memory_order_relaxed);
    }
    size_.store(0, std::memory_order_relaxed);
  }

  // Bytes of storage in use (for memory reports): the buckets before the last one, and the
  // pages of the last one that hold elements. Its tail was never written: buckets double, so
  // it can be half the allocation, and a large allocation's untouched pages are not resident.
  std::size_t used_bytes() const noexcept {
    const std::uint32_t n = size();
    if (n == 0) return 0;
    auto [last, off] = locate(n - 1);
    std::size_t before = 0;
    for (std::uint32_t b = 0; b < last; ++b) before += sizeof(T) * bucket_size(b);
    constexpr std::size_t kPage = 4096;
    const std::size_t tail = (sizeof(T) * (std::size_t{off} + 1) + kPage - 1) / kPage * kPage;
    return before + std::min(tail, sizeof(T) * bucket_size(last));
  }
  // Bytes allocated for growth and never written: the rest of the last bucket.
  std::size_t reserved_bytes() const noexcept {
    std::size_t n = 0;
    for (std::uint32_t b = 0; b < kBuckets; ++b)
      if (buckets_[b].load(std::memory_order_relaxed)) n += sizeof(T) * bucket_size(b);
    return n - used_bytes();
  }

 private:
  static constexpr std::size_t bucket_size(std::uint32_t b) noexcept {
    return std::size_t{1} << (b + kFirstBits);
  }
  static std::pair<std::uint32_t, std::uint32_t> locate(std::uint32_t i) noexcept {
    const std::uint64_t v = std::uint64_t{i} + (1u << kFirstBits);
    const std::uint32_t top = static_cast<std::uint32_t>(std::bit_width(v)) - 1;
    return {top - kFirstBits, static_cast<std::uint32_t>(v - (std::uint64_t{1} << top))};
  }
  [[gnu::always_inline]] T& at(std::uint32_t i) const noexcept {
    auto [b, off] = locate(i);
    return buckets_[b].load(std::memory_order_relaxed)[off];
  }
  // Storage for element i, allocating its bucket if needed (under grow_).
  T* slot(std::uint32_t i) {
    auto [b, off] = locate(i);
    T* bucket = buckets_[b].load(std::memory_order_relaxed);
    if (!bucket) {
      bucket = static_cast<T*>(
          ::operator new(sizeof(T) * bucket_size(b), std::align_val_t(alignof(T))));
      buckets_[b].store(bucket, std::memory_order_relaxed);  // published by size_'s release
    }
    return bucket + off;
  }

  std::array<std::atomic<T*>, kBuckets> buckets_{};
  std::atomic<std::uint32_t> size_{0};
  SpinLock grow_;
};

}  // namespace relish::detail

// A growable array whose elements never move: index i lives in bucket floor(log2(i + 32)) - 5,
// buckets double in size. References stay valid while the vector grows (memos hand out
// `const&` into their slots), and the bucket table itself never reallocates, which keeps the
// door open for lock-free concurrent readers.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace relish::detail {

template <class T>
class StableVector {
  static constexpr std::uint32_t kFirstBits = 5;  // first bucket holds 32 elements
  static constexpr std::uint32_t kBuckets = 32 - kFirstBits;

 public:
  StableVector() = default;
  StableVector(const StableVector&) = delete;
  StableVector& operator=(const StableVector&) = delete;
  ~StableVector() { clear(); }

  std::uint32_t size() const noexcept { return size_; }

  // Pointer to element i, or nullptr if i >= size().
  T* get(std::uint32_t i) noexcept { return i < size_ ? &at(i) : nullptr; }
  const T* get(std::uint32_t i) const noexcept { return i < size_ ? &at(i) : nullptr; }

  T& operator[](std::uint32_t i) noexcept { return at(i); }
  const T& operator[](std::uint32_t i) const noexcept { return at(i); }

  // Grows to at least n elements, value-initializing the new ones.
  void ensure_size(std::uint32_t n) {
    while (size_ < n) {
      auto [b, off] = locate(size_);
      if (!buckets_[b]) {
        buckets_[b] = static_cast<T*>(::operator new(sizeof(T) * bucket_size(b),
                                                     std::align_val_t(alignof(T))));
      }
      ::new (static_cast<void*>(buckets_[b] + off)) T();
      ++size_;
    }
  }

  template <class... A>
  std::uint32_t emplace_back(A&&... args) {
    auto [b, off] = locate(size_);
    if (!buckets_[b]) {
      buckets_[b] = static_cast<T*>(
          ::operator new(sizeof(T) * bucket_size(b), std::align_val_t(alignof(T))));
    }
    ::new (static_cast<void*>(buckets_[b] + off)) T(std::forward<A>(args)...);
    return size_++;
  }

  void clear() noexcept {
    for (std::uint32_t i = 0; i < size_; ++i) at(i).~T();
    for (std::uint32_t b = 0; b < kBuckets; ++b) {
      if (buckets_[b]) ::operator delete(buckets_[b], std::align_val_t(alignof(T)));
      buckets_[b] = nullptr;
    }
    size_ = 0;
  }

  // Bytes of storage allocated (for memory reports).
  std::size_t allocated_bytes() const noexcept {
    std::size_t n = 0;
    for (std::uint32_t b = 0; b < kBuckets; ++b)
      if (buckets_[b]) n += sizeof(T) * bucket_size(b);
    return n;
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
  T& at(std::uint32_t i) const noexcept {
    auto [b, off] = locate(i);
    return buckets_[b][off];
  }

  std::array<T*, kBuckets> buckets_{};
  std::uint32_t size_ = 0;
};

}  // namespace relish::detail

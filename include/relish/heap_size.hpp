// relish/heap_size.hpp: how many bytes a value owns on the heap.
//
//   std::size_t n = relish::heap_size(value);
//
// Covers arithmetic types, strings, the standard containers, optional/variant/tuple/pair,
// unique_ptr, shared_ptr, Abseil's flat and node containers, relish handles (0: plain ids),
// and plain structs (field by field, via reflection). A user type with private state adds one
// function found by argument-dependent lookup (types relish cannot see into count as owning
// nothing on the heap):
//
//   std::size_t relish_heap_size(const MyType& v) { return relish::heap_size(v.items_); }
//
// Shared allocations. While a HeapSizeTracker is active on this thread (the memory report
// activates one for its whole duration), each shared_ptr allocation is counted once, however
// many values point to it. Without a tracker every call counts everything it reaches.
// Figures are estimates of what the allocator was asked for (node containers count their nodes,
// hash tables their slots), not of what it committed.
#pragma once

#include <cstddef>
#include <deque>
#include <forward_list>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/node_hash_map.h"
#include "absl/container/node_hash_set.h"
#include "relish/detail/ids.hpp"
#include "relish/detail/reflect.hpp"

namespace relish {

// Counts shared allocations once while alive; one may be active per thread at a time.
class HeapSizeTracker {
 public:
  HeapSizeTracker() : previous_(current()) { current() = this; }
  HeapSizeTracker(const HeapSizeTracker&) = delete;
  HeapSizeTracker& operator=(const HeapSizeTracker&) = delete;
  ~HeapSizeTracker() { current() = previous_; }

  // True the first time `p` is seen by this tracker.
  bool first_visit(const void* p) { return seen_.insert(p).second; }

  static HeapSizeTracker*& current() noexcept {
    thread_local HeapSizeTracker* tracker = nullptr;
    return tracker;
  }

 private:
  absl::flat_hash_set<const void*> seen_;
  HeapSizeTracker* previous_;
};

template <class T>
std::size_t heap_size(const T& value);

namespace detail {

// libstdc++ node overheads: two or three pointers plus colour/hash, rounded.
inline constexpr std::size_t kTreeNodeOverhead = 32;
inline constexpr std::size_t kListNodeOverhead = 16;
inline constexpr std::size_t kHashNodeOverhead = 16;
// make_shared puts the control block (two counts + vtable) before the object.
inline constexpr std::size_t kSharedControlBlock = 16;

template <class T>
concept UserHeapSize = requires(const T& v) {
  { relish_heap_size(v) } -> std::convertible_to<std::size_t>;
};

template <class T>
struct is_std_vector : std::false_type {};
template <class T, class A>
struct is_std_vector<std::vector<T, A>> : std::true_type {};

template <class T>
struct heap_kind {
  static constexpr int value = 0;
};

template <class Range>
std::size_t elements_heap(const Range& r) {
  std::size_t n = 0;
  for (const auto& e : r) n += relish::heap_size(e);
  return n;
}

template <class T>
struct is_absl_raw_hash : std::false_type {};
template <class K, class V, class H, class E, class A>
struct is_absl_raw_hash<absl::flat_hash_map<K, V, H, E, A>> : std::true_type {};
template <class K, class H, class E, class A>
struct is_absl_raw_hash<absl::flat_hash_set<K, H, E, A>> : std::true_type {};

template <class T>
struct is_absl_node_hash : std::false_type {};
template <class K, class V, class H, class E, class A>
struct is_absl_node_hash<absl::node_hash_map<K, V, H, E, A>> : std::true_type {};
template <class K, class H, class E, class A>
struct is_absl_node_hash<absl::node_hash_set<K, H, E, A>> : std::true_type {};

template <class T>
struct is_node_container : std::false_type {};
template <class... A>
struct is_node_container<std::map<A...>> : std::true_type {};
template <class... A>
struct is_node_container<std::multimap<A...>> : std::true_type {};
template <class... A>
struct is_node_container<std::set<A...>> : std::true_type {};
template <class... A>
struct is_node_container<std::multiset<A...>> : std::true_type {};
template <class... A>
struct is_node_container<std::list<A...>> : std::true_type {};

template <class T>
struct is_forward_list : std::false_type {};
template <class... A>
struct is_forward_list<std::forward_list<A...>> : std::true_type {};

template <class T>
struct is_unordered : std::false_type {};
template <class... A>
struct is_unordered<std::unordered_map<A...>> : std::true_type {};
template <class... A>
struct is_unordered<std::unordered_set<A...>> : std::true_type {};

template <class T>
struct is_unique_ptr : std::false_type {};
template <class T, class D>
struct is_unique_ptr<std::unique_ptr<T, D>> : std::true_type {};

template <class T>
struct is_shared : std::false_type {};
template <class T>
struct is_shared<std::shared_ptr<T>> : std::true_type {};

template <class T>
struct is_basic_string : std::false_type {};
template <class C, class Tr, class A>
struct is_basic_string<std::basic_string<C, Tr, A>> : std::true_type {};

template <class T>
struct is_deque : std::false_type {};
template <class T, class A>
struct is_deque<std::deque<T, A>> : std::true_type {};

template <class T>
struct is_tuple_or_pair : std::false_type {};
template <class... T>
struct is_tuple_or_pair<std::tuple<T...>> : std::true_type {};
template <class A, class B>
struct is_tuple_or_pair<std::pair<A, B>> : std::true_type {};

template <class T>
struct is_opt : std::false_type {};
template <class T>
struct is_opt<std::optional<T>> : std::true_type {};

template <class T>
struct is_var : std::false_type {};
template <class... T>
struct is_var<std::variant<T...>> : std::true_type {};

template <class T>
std::size_t heap_size_impl(const T& v) {
  if constexpr (UserHeapSize<T>) {
    return static_cast<std::size_t>(relish_heap_size(v));
  } else if constexpr (std::is_arithmetic_v<T> || std::is_enum_v<T> || std::is_pointer_v<T> ||
                       std::is_empty_v<T> || IsHandle<T>) {
    return 0;
  } else if constexpr (is_basic_string<T>::value) {
    using C = typename T::value_type;
    // Short strings live inside the object (libstdc++: 15 chars).
    const bool sso = v.capacity() < 16 / sizeof(C);
    return sso ? 0 : (v.capacity() + 1) * sizeof(C);
  } else if constexpr (is_std_vector<T>::value) {
    return v.capacity() * sizeof(typename T::value_type) + elements_heap(v);
  } else if constexpr (is_deque<T>::value) {
    // 512-byte blocks plus a map of block pointers.
    const std::size_t per_block = std::max<std::size_t>(1, 512 / sizeof(typename T::value_type));
    const std::size_t blocks = v.size() / per_block + 1;
    return blocks * 512 + (blocks + 8) * sizeof(void*) + elements_heap(v);
  } else if constexpr (is_forward_list<T>::value) {
    std::size_t n = 0;
    for (const auto& e : v) n += sizeof(void*) + sizeof(e) + relish::heap_size(e);
    return n;
  } else if constexpr (is_node_container<T>::value) {
    const std::size_t overhead = std::is_same_v<T, std::list<typename T::value_type>>
                                     ? kListNodeOverhead
                                     : kTreeNodeOverhead;
    return v.size() * (sizeof(typename T::value_type) + overhead) + elements_heap(v);
  } else if constexpr (is_unordered<T>::value) {
    return v.bucket_count() * sizeof(void*) +
           v.size() * (sizeof(typename T::value_type) + kHashNodeOverhead) + elements_heap(v);
  } else if constexpr (is_absl_raw_hash<T>::value) {
    // One control byte per slot (+ a group of sentinels), plus the slots.
    const std::size_t cap = v.capacity();
    return cap == 0 ? 0 : cap * (sizeof(typename T::value_type) + 1) + 16 + elements_heap(v);
  } else if constexpr (is_absl_node_hash<T>::value) {
    const std::size_t cap = v.capacity();
    return (cap == 0 ? 0 : cap * (sizeof(void*) + 1) + 16) +
           v.size() * sizeof(typename T::value_type) + elements_heap(v);
  } else if constexpr (is_opt<T>::value) {
    return v ? relish::heap_size(*v) : 0;
  } else if constexpr (is_var<T>::value) {
    return std::visit([](const auto& alt) { return relish::heap_size(alt); }, v);
  } else if constexpr (is_tuple_or_pair<T>::value) {
    return std::apply([](const auto&... e) { return (std::size_t{0} + ... + relish::heap_size(e)); },
                      v);
  } else if constexpr (is_unique_ptr<T>::value) {
    return v ? sizeof(*v) + relish::heap_size(*v) : 0;
  } else if constexpr (is_shared<T>::value) {
    if (!v) return 0;
    if (HeapSizeTracker* t = HeapSizeTracker::current(); t && !t->first_visit(v.get())) return 0;
    return kSharedControlBlock + sizeof(*v) + relish::heap_size(*v);
  } else if constexpr (requires { std::begin(v); std::end(v); v.size(); }) {
    return elements_heap(v);  // std::array and other inline ranges
  } else if constexpr (Reflectable<T>) {
    return std::apply([](const auto&... f) { return (std::size_t{0} + ... + relish::heap_size(f)); },
                      fields_of(v));
  } else {
    // Unknown to relish and without relish_heap_size: assumed to own no heap memory (the
    // report then undercounts it; add `std::size_t relish_heap_size(const T&)` to fix that).
    return 0;
  }
}

}  // namespace detail

template <class T>
std::size_t heap_size(const T& value) {
  return detail::heap_size_impl(value);
}

}  // namespace relish

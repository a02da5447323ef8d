// Hashing and equality for user values with no boilerplate: a plain struct is hashed and
// compared field by field (via reflect.hpp) unless it provides its own AbslHashValue /
// operator==. Used by interned structs and automatically interned query keys.
#pragma once

#include <concepts>
#include <memory>
#include <optional>
#include <ranges>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>

#include "absl/hash/hash.h"
#include "relish/detail/reflect.hpp"

namespace relish::detail {

template <class T>
concept UserAbslHashable = requires(absl::HashState h, const T& v) {
  { AbslHashValue(std::move(h), v) };
};

template <class T>
concept StdHashable = requires(const T& v) {
  { std::hash<T>{}(v) } -> std::convertible_to<std::size_t>;
};

template <class T>
struct is_tuple_like : std::false_type {};
template <class... Ts>
struct is_tuple_like<std::tuple<Ts...>> : std::true_type {};
template <class A, class B>
struct is_tuple_like<std::pair<A, B>> : std::true_type {};

template <class T>
struct is_variant : std::false_type {};
template <class... Ts>
struct is_variant<std::variant<Ts...>> : std::true_type {};

template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};

template <class H, class T>
H hash_append(H h, const T& v);

// A value relish can hash: used for query keys and interned data.
template <class H, class T>
H hash_append(H h, const T& v) {
  if constexpr (std::is_arithmetic_v<T> || std::is_enum_v<T> ||
                std::is_convertible_v<const T&, std::string_view>) {
    return H::combine(std::move(h), v);
  } else if constexpr (UserAbslHashable<T>) {
    return H::combine(std::move(h), v);
  } else if constexpr (is_tuple_like<T>::value) {
    return std::apply(
        [&](const auto&... e) {
          H s = std::move(h);
          ((s = hash_append(std::move(s), e)), ...);
          return s;
        },
        v);
  } else if constexpr (is_optional<T>::value) {
    h = H::combine(std::move(h), v.has_value());
    return v ? hash_append(std::move(h), *v) : std::move(h);
  } else if constexpr (is_variant<T>::value) {
    h = H::combine(std::move(h), v.index());
    return std::visit([&](const auto& alt) { return hash_append(std::move(h), alt); }, v);
  } else if constexpr (std::ranges::input_range<T>) {
    std::size_t n = 0;
    for (const auto& e : v) {
      h = hash_append(std::move(h), e);
      ++n;
    }
    return H::combine(std::move(h), n);
  } else if constexpr (Reflectable<T>) {
    return hash_append(std::move(h), fields_of(v));
  } else if constexpr (StdHashable<T>) {
    return H::combine(std::move(h), std::hash<T>{}(v));
  } else {
    static_assert(sizeof(T) == 0,
                  "relish: cannot hash this type; give it an AbslHashValue overload or a "
                  "std::hash specialization");
    return h;
  }
}

// The hash relish uses for a value (absl::Hash seeded per process).
struct ValueHash {
  template <class T>
  std::size_t operator()(const T& v) const {
    return absl::HashOf(Wrap<T>{v});
  }
  template <class T>
  struct Wrap {
    const T& v;
    template <class H>
    friend H AbslHashValue(H h, const Wrap& w) {
      return hash_append(std::move(h), w.v);
    }
  };
};

template <class T>
concept EqualityComparable = requires(const T& a, const T& b) {
  { a == b } -> std::convertible_to<bool>;
};

// Equality with a fallback to field-by-field comparison for plain structs.
template <class T>
bool values_equal(const T& a, const T& b) {
  if constexpr (EqualityComparable<T>) {
    return a == b;
  } else if constexpr (is_tuple_like<T>::value) {
    return std::apply(
        [&](const auto&... x) {
          return std::apply([&](const auto&... y) { return (values_equal(x, y) && ...); }, b);
        },
        a);
  } else if constexpr (std::ranges::input_range<T>) {
    auto ia = std::ranges::begin(a), ea = std::ranges::end(a);
    auto ib = std::ranges::begin(b), eb = std::ranges::end(b);
    for (; ia != ea && ib != eb; ++ia, ++ib)
      if (!values_equal(*ia, *ib)) return false;
    return ia == ea && ib == eb;
  } else if constexpr (Reflectable<T>) {
    return values_equal(fields_of(a), fields_of(b));
  } else {
    static_assert(sizeof(T) == 0, "relish: cannot compare this type; give it an operator==");
    return false;
  }
}

template <class T>
struct is_shared_ptr : std::false_type {};
template <class T>
struct is_shared_ptr<std::shared_ptr<T>> : std::true_type {};

// Backdating equality of memoized values. A shared_ptr that is the same allocation is equal
// without looking inside (the seed's place_table extraction); otherwise the pointees compare.
template <class T>
bool memo_values_equal(const T& a, const T& b) {
  if constexpr (is_shared_ptr<T>::value) {
    using E = typename T::element_type;
    if (a == b) return true;
    if (!a || !b) return false;
    if constexpr (EqualityComparable<E> || Reflectable<E>) {
      return values_equal(*a, *b);
    } else {
      return false;
    }
  } else {
    return values_equal(a, b);
  }
}

}  // namespace relish::detail

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

// Whether hash_append / values_equal accept T, decided without instantiating them, so that a
// query declaration can reject a key or value type with one message (checks.hpp) instead of
// an error deep inside std::tuple's operator==. Each mirrors its function branch by branch;
// past a few levels of nesting (recursive types) the type is assumed fine and the functions
// themselves have the last word.
template <class T, int Depth = 0>
constexpr bool can_hash();
template <class T, int Depth = 0>
constexpr bool can_compare();
template <class T, int Depth = 0>
constexpr bool equality_works();

template <class Tuple, int Depth, class Each>
constexpr bool all_elements(Each each) {
  return []<std::size_t... I>(std::index_sequence<I...>, Each e) {
    return (e.template operator()<std::remove_cvref_t<std::tuple_element_t<I, Tuple>>>() && ...);
  }(std::make_index_sequence<std::tuple_size_v<Tuple>>{}, each);
}
template <class T>
using fields_tuple = decltype(fields_of(std::declval<const T&>()));

template <class T, int Depth>
constexpr bool can_hash() {
  if constexpr (Depth > 8) {
    return true;
  } else if constexpr (std::is_arithmetic_v<T> || std::is_enum_v<T> ||
                       std::is_convertible_v<const T&, std::string_view>) {
    return true;
  } else if constexpr (UserAbslHashable<T>) {
    return true;
  } else if constexpr (is_tuple_like<T>::value) {
    return all_elements<T, Depth>([]<class E>() { return can_hash<E, Depth + 1>(); });
  } else if constexpr (is_optional<T>::value) {
    return can_hash<typename T::value_type, Depth + 1>();
  } else if constexpr (is_variant<T>::value) {
    return []<class... A>(std::variant<A...>*) {
      return (can_hash<A, Depth + 1>() && ...);
    }(static_cast<T*>(nullptr));
  } else if constexpr (std::ranges::input_range<T>) {
    return can_hash<std::remove_cvref_t<std::ranges::range_reference_t<const T&>>, Depth + 1>();
  } else if constexpr (Reflectable<T>) {
    return all_elements<fields_tuple<T>, Depth>([]<class E>() { return can_hash<E, Depth + 1>(); });
  } else {
    return StdHashable<T>;
  }
}

// a == b compiles all the way down: the standard containers' operator== is not constrained
// on their elements', so `EqualityComparable<std::vector<X>>` holds for any X.
template <class T, int Depth>
constexpr bool equality_works() {
  if constexpr (Depth > 8) {
    return true;
  } else if constexpr (!EqualityComparable<T>) {
    return false;
  } else if constexpr (is_tuple_like<T>::value) {
    return all_elements<T, Depth>([]<class E>() { return equality_works<E, Depth + 1>(); });
  } else if constexpr (is_optional<T>::value) {
    return equality_works<typename T::value_type, Depth + 1>();
  } else if constexpr (is_variant<T>::value) {
    return []<class... A>(std::variant<A...>*) {
      return (equality_works<A, Depth + 1>() && ...);
    }(static_cast<T*>(nullptr));
  } else if constexpr (std::ranges::input_range<T> && requires { typename T::value_type; }) {
    return equality_works<std::remove_cvref_t<std::ranges::range_reference_t<const T&>>,
                          Depth + 1>();
  } else {
    return true;
  }
}

template <class T, int Depth>
constexpr bool can_compare() {
  if constexpr (Depth > 8) {
    return true;
  } else if constexpr (EqualityComparable<T>) {
    return equality_works<T, Depth>();
  } else if constexpr (is_tuple_like<T>::value) {
    return all_elements<T, Depth>([]<class E>() { return can_compare<E, Depth + 1>(); });
  } else if constexpr (std::ranges::input_range<T>) {
    return can_compare<std::remove_cvref_t<std::ranges::range_reference_t<const T&>>,
                       Depth + 1>();
  } else if constexpr (Reflectable<T>) {
    // values_equal compares the tuple of field references with ==.
    return equality_works<fields_tuple<T>, Depth>();
  } else {
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

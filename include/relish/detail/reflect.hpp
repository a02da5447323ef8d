// Minimal aggregate reflection: the number of fields of a plain struct, and its fields as a
// tuple of references (via structured bindings). This is what lets users declare inputs,
// interned and tracked structs as ordinary structs with no registration or macro.
// Limits: aggregates without base classes, C arrays or reference members; at most 16 fields.
#pragma once

#include <cstddef>
#include <tuple>
#include <type_traits>
#include <utility>

namespace relish::detail {

struct AnyField {
  template <class U>
  operator U() const;  // never defined: only used in unevaluated contexts
};

template <class T, std::size_t... I>
constexpr bool brace_constructible(std::index_sequence<I...>) {
  return requires { T{((void)I, AnyField{})...}; };
}

template <class T, std::size_t N = 16>
constexpr std::size_t count_fields() {
  if constexpr (N == 0) {
    return 0;
  } else if constexpr (brace_constructible<T>(std::make_index_sequence<N>{})) {
    return N;
  } else {
    return count_fields<T, N - 1>();
  }
}

template <class T>
concept Reflectable = std::is_aggregate_v<T> && !std::is_array_v<T> && count_fields<T>() > 0;

template <class T>
inline constexpr std::size_t field_count = count_fields<std::remove_cvref_t<T>>();

// Structured bindings cannot be generated from a count, so each arity is spelled out once.
#define RELISH_DETAIL_TIE(N, ...)                  \
  if constexpr (field_count<T> == N) {             \
    auto& [__VA_ARGS__] = obj;                     \
    return std::forward_as_tuple(__VA_ARGS__);     \
  } else
template <class T>
constexpr auto fields_of(T& obj) {
  RELISH_DETAIL_TIE(1, a)
  RELISH_DETAIL_TIE(2, a, b)
  RELISH_DETAIL_TIE(3, a, b, c)
  RELISH_DETAIL_TIE(4, a, b, c, d)
  RELISH_DETAIL_TIE(5, a, b, c, d, e)
  RELISH_DETAIL_TIE(6, a, b, c, d, e, f)
  RELISH_DETAIL_TIE(7, a, b, c, d, e, f, g)
  RELISH_DETAIL_TIE(8, a, b, c, d, e, f, g, h)
  RELISH_DETAIL_TIE(9, a, b, c, d, e, f, g, h, i)
  RELISH_DETAIL_TIE(10, a, b, c, d, e, f, g, h, i, j)
  RELISH_DETAIL_TIE(11, a, b, c, d, e, f, g, h, i, j, k)
  RELISH_DETAIL_TIE(12, a, b, c, d, e, f, g, h, i, j, k, l)
  RELISH_DETAIL_TIE(13, a, b, c, d, e, f, g, h, i, j, k, l, m)
  RELISH_DETAIL_TIE(14, a, b, c, d, e, f, g, h, i, j, k, l, m, n)
  RELISH_DETAIL_TIE(15, a, b, c, d, e, f, g, h, i, j, k, l, m, n, o)
  RELISH_DETAIL_TIE(16, a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p) {
    static_assert(field_count<T> >= 1 && field_count<T> <= 16,
                  "relish: a reflected struct must be an aggregate with 1 to 16 fields");
    return std::tuple<>{};
  }
}
#undef RELISH_DETAIL_TIE

// Index of the field `member` points to, or field_count<T> if it is none of T's direct fields.
template <class T, class M>
std::size_t field_index(const T& obj, M T::*member) noexcept {
  const void* target = &(obj.*member);
  std::size_t found = field_count<T>;
  std::apply(
      [&](const auto&... f) {
        std::size_t i = 0;
        ((static_cast<const void*>(&f) == target ? (found = i, ++i) : ++i), ...);
      },
      fields_of(obj));
  return found;
}

}  // namespace relish::detail

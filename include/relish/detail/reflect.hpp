// Minimal aggregate reflection: the number of fields of a plain struct, its fields as a
// tuple of references (via structured bindings), and their names (for messages). This is what
// lets users declare inputs, interned and tracked structs as ordinary structs with no
// registration or macro.
// Limits: aggregates without base classes, C arrays or reference members; at most 16 fields.
#pragma once

#include <array>
#include <cstddef>
#include <string_view>
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
// The same, allowing no fields at all (a tracked struct may be pure identity).
template <class T>
concept ReflectableOrEmpty = std::is_aggregate_v<T> && !std::is_array_v<T>;

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
  if constexpr (field_count<T> == 0) {
    (void)obj;
    return std::tuple<>{};
  } else
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
    static_assert(field_count<T> <= 16,
                  "relish: a reflected struct must be an aggregate with at most 16 fields");
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

// ---- field names ----
//
// The name of field I of T, recovered at compile time the way Boost.PFR does: the address of
// the field inside an object that is declared but never defined is a constant, usable as a
// template argument, and the compiler spells it out in __PRETTY_FUNCTION__
// ("(& fake<Wrap<T>>.value.ns::T::text)" on g++, "{&fake.value.text}" on clang).
// The object is never odr-used at run time: nothing refers to it in the object file.
template <class T>
struct FakeHolder {
  T value;
};
#if defined(__clang__)
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wundefined-var-template"
#pragma clang diagnostic ignored "-Wundefined-internal"
#endif
template <class T>
extern const FakeHolder<T> fake_object;

// Wraps the pointer: clang only accepts a pointer to a subobject inside a class-type argument.
template <class P>
struct FieldAddress {
  P pointer;
};

template <auto A>
constexpr std::string_view pretty_address() {
  return __PRETTY_FUNCTION__;
}

template <class T, std::size_t I>
constexpr std::string_view pretty_field() {
  constexpr auto pointer = &std::get<I>(fields_of(fake_object<T>.value));
  return pretty_address<FieldAddress<decltype(pointer)>{pointer}>();
}
#if defined(__clang__)
#pragma clang diagnostic pop
#endif

// The identifier that ends `pretty` before its closing "}" (and any ')'), or "" if the text
// does not look like an address expression.
constexpr std::string_view last_identifier(std::string_view pretty) {
  std::size_t end = pretty.rfind('}');
  if (end == std::string_view::npos) return {};
  while (end > 0 && pretty[end - 1] == ')') --end;
  std::size_t begin = end;
  auto ident = [](char c) {
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  while (begin > 0 && ident(pretty[begin - 1])) --begin;
  if (begin == end || (pretty[begin] >= '0' && pretty[begin] <= '9')) return {};
  if (begin == 0 || (pretty[begin - 1] != '.' && pretty[begin - 1] != ':')) return {};
  return pretty.substr(begin, end - begin);
}

#if defined(__GNUC__) || defined(__clang__)
#define RELISH_DETAIL_FIELD_NAMES 1
#else
#define RELISH_DETAIL_FIELD_NAMES 0
#endif

// "text" for T = FileData, I = 1 (or "" where the compiler does not tell).
template <class T, std::size_t I>
constexpr std::string_view field_name() {
#if RELISH_DETAIL_FIELD_NAMES
  constexpr std::string_view name = last_identifier(pretty_field<std::remove_cvref_t<T>, I>());
  return name;
#else
  return {};
#endif
}

// Field names of T by index, for messages: field_names<T>[1] == "text" (or "" if unknown).
template <class T, std::size_t... I>
constexpr auto field_name_table(std::index_sequence<I...>) {
  return std::array<std::string_view, sizeof...(I)>{field_name<T, I>()...};
}
template <class T>
inline constexpr auto field_names = field_name_table<T>(std::make_index_sequence<field_count<T>>{});

}  // namespace relish::detail

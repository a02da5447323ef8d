// Human-readable names for types, functions and keys, used in errors, events and reports.
#pragma once

#include <concepts>
#include <cstdint>
#include <optional>
#include <ostream>
#include <sstream>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>

#include "relish/detail/reflect.hpp"

namespace relish::detail {

constexpr std::string_view trim_pretty(std::string_view pretty, std::string_view marker) {
  auto start = pretty.find(marker);
  if (start == std::string_view::npos) return pretty;
  start += marker.size();
  auto end = pretty.find_first_of(";]", start);
  return pretty.substr(start, end - start);
}

// "ns::File" for T = ns::File. Relies on __PRETTY_FUNCTION__ (g++ and clang).
template <class T>
constexpr std::string_view type_name() {
  return trim_pretty(__PRETTY_FUNCTION__, "T = ");
}

// "parsed_module" for F = &ns::parsed_module (namespace and '&' dropped).
template <auto F>
constexpr std::string_view function_name() {
  std::string_view n = trim_pretty(__PRETTY_FUNCTION__, "F = ");
  if (auto paren = n.find('('); paren != std::string_view::npos) n = n.substr(0, paren);
  if (auto colon = n.rfind("::"); colon != std::string_view::npos) n = n.substr(colon + 2);
  while (!n.empty() && (n.front() == '&' || n.front() == '*')) n.remove_prefix(1);
  return n;
}

template <class T>
concept Streamable = requires(std::ostream& os, const T& v) { os << v; };

template <class T>
concept HasDebugName = requires(const T& v) {
  { v.debug_name() } -> std::convertible_to<std::string>;
};

// Renders a key for messages: strings quoted, numbers and streamable values printed, handles
// as "File#3", tuples as "a, b", anything else by its type name.
template <class T>
std::string debug_string(const T& v) {
  if constexpr (HasDebugName<T>) {
    return v.debug_name();
  } else if constexpr (std::is_convertible_v<const T&, std::string_view>) {
    std::string out = "\"";
    out += std::string_view(v);
    return out + "\"";
  } else if constexpr (std::is_same_v<T, bool>) {
    return v ? "true" : "false";
  } else if constexpr (std::is_enum_v<T>) {
    return std::to_string(static_cast<std::underlying_type_t<T>>(v));
  } else if constexpr (Streamable<T>) {
    std::ostringstream os;
    os << v;
    return os.str();
  } else if constexpr (requires { std::tuple_size<T>::value; }) {
    std::string out;
    std::apply(
        [&](const auto&... e) {
          ((out += (out.empty() ? "" : ", "), out += debug_string(e)), ...);
        },
        v);
    return out;
  } else if constexpr (requires { v.has_value(); *v; }) {
    return v.has_value() ? debug_string(*v) : std::string("none");
  } else if constexpr (Reflectable<T>) {
    return std::string(type_name<T>()) + "{" + debug_string(fields_of(v)) + "}";
  } else {
    return "<" + std::string(type_name<T>()) + ">";
  }
}

}  // namespace relish::detail

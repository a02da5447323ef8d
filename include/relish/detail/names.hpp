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

// Drops the qualifiers of a type name, outside its template arguments: "ns::Outer::File" and
// "{anonymous}::File" give "File", "main()::Local" gives "Local", "ns::Box<ns::File>"
// gives "Box<ns::File>".
constexpr std::string_view unqualified(std::string_view n) {
  std::size_t start = 0;
  int depth = 0;
  for (std::size_t i = 0; i < n.size(); ++i) {
    const char c = n[i];
    if (c == '<' || c == '(' || c == '{' || c == '[') {
      ++depth;
    } else if (c == '>' || c == ')' || c == '}' || c == ']') {
      --depth;
    } else if (depth == 0 && c == ':' && i + 1 < n.size() && n[i + 1] == ':') {
      start = i + 2;
      ++i;
    }
  }
  return n.substr(start);
}

// The name entities of data type T go by in messages: the struct's name without namespaces,
// and without a trailing "Data" (the naming convention `using File = relish::Input<FileData>`
// gives "File", the handle's name): "an::SourceFileData" gives "SourceFile".
template <class T>
constexpr std::string_view entity_name() {
  std::string_view n = unqualified(type_name<T>());
  constexpr std::string_view suffix = "Data";
  if (n.size() > suffix.size() && n.substr(n.size() - suffix.size()) == suffix)
    n.remove_suffix(suffix.size());
  return n;
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

// The default name of a query of function F: its name without a trailing "_fn" (the
// convention `relish::Query<parse_fn> parse` names the query "parse").
template <auto F>
constexpr std::string_view query_name() {
  std::string_view n = function_name<F>();
  constexpr std::string_view suffix = "_fn";
  if (n.size() > suffix.size() && n.substr(n.size() - suffix.size()) == suffix)
    n.remove_suffix(suffix.size());
  return n;
}

// The user's name for an entity: `std::string relish_debug(const FileData&)`, found by
// argument-dependent lookup next to the data type.
template <class T>
concept HasDebugHook = requires(const T& v) {
  { relish_debug(v) } -> std::convertible_to<std::string>;
};

// ".text" for field 1 of FileData (".field1" where the compiler does not tell field names).
template <class T>
std::string field_suffix(std::size_t i) {
  std::string out = ".";
  const std::string_view n = i < field_count<T> ? field_names<T>[i] : std::string_view{};
  if (n.empty()) return out + "field" + std::to_string(i);
  return out += n;
}

// "File#3", or what relish_debug says of its data (`data` may be null: an entity that is gone).
template <class T>
std::string entity_debug_string(std::uint32_t index, const T* data) {
  if constexpr (HasDebugHook<T>) {
    if (data) return std::string(relish_debug(*data));
  }
  std::string out(entity_name<T>());
  out += '#';
  out += std::to_string(index);
  return out;
}

template <class T>
concept Streamable = requires(std::ostream& os, const T& v) { os << v; };

template <class T>
concept HasDebugName = requires(const T& v) {
  { v.debug_name() } -> std::convertible_to<std::string>;
};

// No database at hand: handles print as "File#3", whatever their data.
struct NoEntities {};

// Renders a key for messages: strings quoted, numbers and streamable values printed, handles
// as "File#3" (or their relish_debug, if `entities`, the runtime, can find their data), tuples
// as "a, b", anything else by its type name.
template <class T, class Entities = NoEntities>
std::string debug_string(const T& v, const Entities* entities = nullptr) {
  if constexpr (requires {
                  typename T::relish_handle_tag;
                  entities->describe_handle(v);
                }) {
    if (entities) return entities->describe_handle(v);
  }
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
          ((out += (out.empty() ? "" : ", "), out += debug_string(e, entities)), ...);
        },
        v);
    return out;
  } else if constexpr (requires { v.has_value(); *v; }) {
    return v.has_value() ? debug_string(*v, entities) : std::string("none");
  } else if constexpr (Reflectable<T>) {
    return std::string(unqualified(type_name<T>())) + "{" + debug_string(fields_of(v), entities) +
           "}";
  } else {
    return "<" + std::string(unqualified(type_name<T>())) + ">";
  }
}

}  // namespace relish::detail

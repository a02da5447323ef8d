// Keys of a query: the function's signature (FnTraits), and how its arguments become a dense
// memo id (KeyStore: none, one entity handle, or plain values interned).
#pragma once

#include <cstdint>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "relish/detail/ids.hpp"
#include "relish/detail/intern_table.hpp"
#include "relish/detail/names.hpp"
#include "relish/detail/runtime.hpp"

namespace relish::detail {

template <class Fn>
struct FnTraits;
template <class R, class D, class... A>
struct FnTraits<R (*)(D&, A...)> {
  using Db = D;
  using Value = R;
  using Args = std::tuple<std::remove_cvref_t<A>...>;
};

// How a query's arguments become a dense key id (and a stamp, for handle keys).
template <class Args>
struct KeyStore;

template <>
struct KeyStore<std::tuple<>> {  // no arguments: one memo, id 0
  std::pair<std::uint32_t, std::uint32_t> key_of() { return {0, 0}; }
  template <class Db, class F>
  decltype(auto) invoke(Db& db, std::uint32_t, std::uint32_t, F&& f) const {
    return f(db);
  }
  std::string describe(const Runtime*, std::uint32_t) const { return ""; }
  void memory(IngredientMemory&) const {}
};

template <class H>
  requires IsHandle<H>
struct KeyStore<std::tuple<H>> {  // one entity handle: its index is the memo id
  std::pair<std::uint32_t, std::uint32_t> key_of(const H& h) { return {h.index(), h.stamp()}; }
  template <class Db, class F>
  decltype(auto) invoke(Db& db, std::uint32_t id, std::uint32_t stamp, F&& f) const {
    return f(db, H::from_raw(id, stamp));
  }
  std::string describe(const Runtime* rt, std::uint32_t id) const {
    return debug_string(H::from_raw(id, 0), rt);
  }
  void memory(IngredientMemory&) const {}
};

template <class... A>
struct KeyStore<std::tuple<A...>> {  // plain values: interned automatically
  InternTable<std::tuple<A...>> table;
  std::pair<std::uint32_t, std::uint32_t> key_of(const A&... a) {
    auto [id, inserted] =
        table.intern(std::tuple<const A&...>(a...), [&] { return std::tuple<A...>(a...); });
    return {id, 0};
  }
  template <class Db, class F>
  decltype(auto) invoke(Db& db, std::uint32_t id, std::uint32_t, F&& f) const {
    return std::apply([&](const A&... a) -> decltype(auto) { return f(db, a...); }, table[id]);
  }
  std::string describe(const Runtime* rt, std::uint32_t id) const {
    const auto* k = table.get(id);
    return k ? debug_string(*k, rt) : "?";
  }
  void memory(IngredientMemory& out) const { table.memory(out); }
};

template <class Args>
struct KeyedOnEntity : std::false_type {};
template <class H>
struct KeyedOnEntity<std::tuple<H>> : std::bool_constant<IsHandle<H>> {};

}  // namespace relish::detail

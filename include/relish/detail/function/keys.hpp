// Keys of a query: the function's signature (FnTraits: a function or a captureless lambda),
// and how its arguments become a dense memo id (KeyStore: none, one entity handle, or plain
// values interned).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include "relish/detail/ids.hpp"
#include "relish/detail/intern_table.hpp"
#include "relish/detail/names.hpp"
#include "relish/detail/runtime.hpp"

namespace relish::detail {

// The shape of a callable used as a query function (or a cycle policy's Initial, Recover,
// Fallback): a function pointer, or a captureless lambda, i.e. a class whose one
// non-template `operator() const` gives the signature.
enum class Shape : std::uint8_t {
  function,        // R (*)(P...), noexcept or not
  lambda,          // a class with R operator()(P...) const
  mutable_lambda,  // a class with a non-const operator()
  untyped_lambda,  // a class without a single non-template operator() (auto parameters)
  other,           // not callable
};

template <Shape S, class R, class... P>
struct SignatureParts {
  static constexpr Shape shape = S;
  using Result = R;
  using Params = std::tuple<P...>;
};

template <class M>
struct CallOperator : SignatureParts<Shape::untyped_lambda, void> {};
template <class L, class R, class... P>
struct CallOperator<R (L::*)(P...) const> : SignatureParts<Shape::lambda, R, P...> {};
template <class L, class R, class... P>
struct CallOperator<R (L::*)(P...) const noexcept> : SignatureParts<Shape::lambda, R, P...> {};
template <class L, class R, class... P>
struct CallOperator<R (L::*)(P...)> : SignatureParts<Shape::mutable_lambda, R, P...> {};
template <class L, class R, class... P>
struct CallOperator<R (L::*)(P...) noexcept> : SignatureParts<Shape::mutable_lambda, R, P...> {};

template <class Fn>
struct SignatureOf : SignatureParts<Shape::other, void> {};
template <class R, class... P>
struct SignatureOf<R (*)(P...)> : SignatureParts<Shape::function, R, P...> {};
template <class R, class... P>
struct SignatureOf<R (*)(P...) noexcept> : SignatureParts<Shape::function, R, P...> {};
template <class L>
concept ClassType = std::is_class_v<L>;
template <class L>
concept HasOneCallOperator = ClassType<L> && requires { &L::operator(); };
template <ClassType L>
struct SignatureOf<L> : SignatureParts<Shape::untyped_lambda, void> {};
template <HasOneCallOperator L>
struct SignatureOf<L> : CallOperator<decltype(&L::operator())> {};

template <class Params>
struct FirstAndRest {
  using First = void;
  using Rest = std::tuple<>;
};
template <class P0, class... P>
struct FirstAndRest<std::tuple<P0, P...>> {
  using First = P0;
  using Rest = std::tuple<P...>;
};

template <class Tuple>
struct KeysOf;
template <class... A>
struct KeysOf<std::tuple<A...>> {
  using type = std::tuple<std::remove_cvref_t<A>...>;
};

// A query function `V f(Db&, Keys...)`: Db, V and the keys (by value). Defined for any F so
// that checks.hpp can say what is wrong with a bad one; Query is built only from a good one.
template <class Fn>
struct FnTraits {
  using Signature = SignatureOf<std::remove_cvref_t<Fn>>;
  using Params = typename Signature::Params;
  using First = typename FirstAndRest<Params>::First;  // void if there is none
  using KeyParams = typename FirstAndRest<Params>::Rest;

  using Db = std::remove_reference_t<First>;
  using Value = typename Signature::Result;
  using Args = typename KeysOf<KeyParams>::type;
};

// The name a query's memos are described by, until the query gives its own: the function's
// name, or for a lambda its closure type's ("<lambda(Db&, File)>" with g++).
template <auto F>
constexpr std::string_view query_function_name() {
  using L = std::remove_cvref_t<decltype(F)>;
  if constexpr (std::is_class_v<L>) {
    std::string_view n = type_name<L>();
    for (std::string_view marker : {std::string_view("<lambda"), std::string_view("(lambda")})
      if (auto at = n.find(marker); at != std::string_view::npos) return n.substr(at);
    return n;
  } else {
    return query_name<F>();  // the function's, without a trailing "_fn"
  }
}

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

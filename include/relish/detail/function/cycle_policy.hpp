// Cycle policies: what a query's Cycle parameter means (NoCycleRecovery, Fixpoint with its
// Initial / Recover / max iterations, CycleFallback), and the ids of fixpoint rounds. The
// iteration itself is in fixpoint.hpp.
#pragma once

#include <atomic>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "relish/detail/ids.hpp"
#include "relish/query_options.hpp"

namespace relish::detail {

template <class C>
struct CycleTraits {
  static constexpr int kind = 0;  // no recovery: a cycle is a CycleError
};
template <auto Initial, auto Recover, std::uint32_t Max>
struct CycleTraits<Fixpoint<Initial, Recover, Max>> {
  static constexpr int kind = 1;
  static constexpr std::uint32_t max_iterations = Max;
};
template <auto Fallback>
struct CycleTraits<CycleFallback<Fallback>> {
  static constexpr int kind = 2;
};

// Ids of fixpoint rounds (see MemoExtra::round); 0 is never one.
inline std::uint32_t next_round_id() noexcept {
  static std::atomic<std::uint32_t> counter{0};
  for (;;)
    if (std::uint32_t r = counter.fetch_add(1, std::memory_order_relaxed) + 1) return r;
}

template <class C>
struct CycleInitial;
template <auto Initial, auto Recover, std::uint32_t Max>
struct CycleInitial<Fixpoint<Initial, Recover, Max>> {
  template <class Db, class... A>
  static auto value(Db& db, const A&... a) {
    return Initial(db, a...);
  }
};
template <class C>
struct CycleFallbackValue;
template <auto Fallback>
struct CycleFallbackValue<CycleFallback<Fallback>> {
  template <class Db, class... A>
  static auto value(Db& db, const A&... a) {
    return Fallback(db, a...);
  }
};
// The value the next fixpoint round starts from: Recover(db, value, iteration, keys...) if
// the query gave one, else the value itself.
template <class C>
struct CycleRecover {
  template <class Db, class V, class Keys>
  static V apply(Db&, V&& v, std::uint32_t, DatabaseKey, std::uint32_t, Keys&) {
    return std::move(v);
  }
};
template <auto Initial, auto Recover, std::uint32_t Max>
  requires(!std::is_null_pointer_v<decltype(Recover)>)
struct CycleRecover<Fixpoint<Initial, Recover, Max>> {
  template <class Db, class V, class Keys>
  static V apply(Db& db, V&& v, std::uint32_t iteration, DatabaseKey key, std::uint32_t stamp,
                 Keys& keys) {
    return keys.invoke(db, key.key, stamp, [&](Db& d, const auto&... a) -> V {
      return Recover(d, static_cast<const V&>(v), iteration, a...);
    });
  }
};

}  // namespace relish::detail

// dataflow: fixpoint iteration over cycles, in the shape of salsa's benches/dataflow.rs.
//
// A toy dataflow analysis. A `Use` of a variable lists its reaching `Def`s; a `Def` is
// `base + increment` (base: a Use) or just `increment`. Types are Bottom, a finite set of
// integers, or Top. Both queries are fixpoint heads starting from Bottom; the recovery
// function widens a set to Top once a head has iterated more than 4 times, so a loop that
// keeps adding to x is answered with Top instead of running into the iteration bound.
//
//   infer_use(u) = join of infer_def(d) over u's reaching defs
//   infer_def(d) = infer_use(d.base) + {d.increment}   (element-wise sums), or {d.increment}
//
// converge_diverge (salsa: dataflow::converge_diverge): two variables, each defined before a
// loop (= 0) and in it from the other (x = y + inc_x, y = x + 0), so use_x and use_y form one
// cycle through defx1 and defy1. inc_x = 0 converges to {0}; inc_x = 1 grows {0}, {0,1}, ...
// until widened to Top.
//
// converge_diverge_nested (salsa: nested::converge_diverge_nested): five variables,
//   x0 = x1 + x2 + x3 + x4,  x1 = x0 + x2 + x3 + x4,  x2 = x0 + x1 + x3 + x4,
//   x3 = x0 + x1 + x3 + x4,  x4 = 0
// (x3 reads itself instead of x2, exactly as in salsa's graph, kept for comparable figures).
// The uses form overlapping cycles (x3 also a self-loop), all entered through x0.
//
// Cases (one iteration each):
//   converge_diverge_edit     salsa's measured loop: on a warm database, set inc_x = 0, fetch
//                             use_x and use_y ({0}), set inc_x = 1, fetch both (Top). Two
//                             writes and two cycle re-iterations, the writes timed, as in salsa.
//   converge_diverge_cold/N   a fresh database (built untimed), fetch use_x and use_y with
//                             inc_x = N: 0 converges, 1 diverges and is widened.
//   converge_diverge_verify   a write to a def outside the cycle, then fetch both: the cycle is
//                             deep-verified without iterating (nothing executes).
//   nested_cold               salsa's measured loop: a fresh database, fetch infer_def(x0).
//   nested_edit               on a warm database, set x0's increment to 1 (every set grows:
//                             Top) and fetch infer_def(x0), then back to 0 ({0}) and fetch.
//   cycle_nested_deep         salsa's cycle_nested_deep shape, one thread: a -> b -> c, c reads
//                             d, e, b and a, d -> e -> c, b = min(c + 1, 3); a fresh database,
//                             fetch a (3). Nested heads iterate as one component.
// The counters `executed` and `validated` are one iteration's query executions and deep
// verifications, counted in an untimed pass after the timed loop.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <optional>
#include <vector>

#include <relish/relish.hpp>

#include "../common/counters.hpp"

namespace {

using relish_bench::count_one_iteration;

struct DefData;
using Def = relish::Input<DefData>;
struct UseData {
  std::vector<Def> reaching_definitions;
};
using Use = relish::Input<UseData>;
struct DefData {
  std::optional<Use> base;  // none: `0 + increment`
  std::size_t increment = 0;
};

struct Db : relish::Database {};

// Bottom < any set < Top. `values` is sorted and unique, and empty unless kind == values.
struct Type {
  enum class Kind : std::uint8_t { bottom, values, top };
  Kind kind = Kind::bottom;
  std::vector<std::size_t> values;
  friend bool operator==(const Type&, const Type&) = default;

  static Type bottom() { return {}; }
  static Type top() { return {Kind::top, {}}; }
  static Type of(std::vector<std::size_t> v) { return {Kind::values, std::move(v)}; }
};

Type join(const Type& a, const Type& b) {
  if (b.kind == Type::Kind::bottom) return a;
  if (a.kind == Type::Kind::bottom) return b;
  if (a.kind == Type::Kind::top || b.kind == Type::Kind::top) return Type::top();
  std::vector<std::size_t> out;
  out.reserve(a.values.size() + b.values.size());
  std::set_union(a.values.begin(), a.values.end(), b.values.begin(), b.values.end(),
                 std::back_inserter(out));
  return Type::of(std::move(out));
}

// Every a + b. Bottom absorbs (nothing reaches yet), then Top.
Type add(const Type& a, const Type& b) {
  if (a.kind == Type::Kind::bottom || b.kind == Type::Kind::bottom) return Type::bottom();
  if (a.kind == Type::Kind::top || b.kind == Type::Kind::top) return Type::top();
  std::vector<std::size_t> out;
  out.reserve(a.values.size() * b.values.size());
  for (std::size_t x : a.values)
    for (std::size_t y : b.values) out.push_back(x + y);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return Type::of(std::move(out));
}

// Salsa's cycle_recover: a set still changing after more than 4 rounds becomes Top.
Type widen(const Type& t, std::uint32_t iteration) {
  return t.kind == Type::Kind::values && iteration > 4 ? Type::top() : t;
}

Type infer_use_fn(Db& db, Use u);
Type infer_def_fn(Db& db, Def d);
Type use_initial(Db&, Use) { return Type::bottom(); }
Type def_initial(Db&, Def) { return Type::bottom(); }
Type use_recover(Db&, const Type& t, std::uint32_t iteration, Use) { return widen(t, iteration); }
Type def_recover(Db&, const Type& t, std::uint32_t iteration, Def) { return widen(t, iteration); }
inline constexpr relish::Query<infer_use_fn, relish::Options{},
                               relish::Fixpoint<use_initial, use_recover>>
    infer_use;
inline constexpr relish::Query<infer_def_fn, relish::Options{},
                               relish::Fixpoint<def_initial, def_recover>>
    infer_def;

Type infer_use_fn(Db& db, Use u) {
  Type t = Type::bottom();
  for (Def d : u.get(db, &UseData::reaching_definitions)) t = join(t, infer_def(db, d));
  return t;
}

Type infer_def_fn(Db& db, Def d) {
  const Type inc = Type::of({d.get(db, &DefData::increment)});
  const std::optional<Use>& base = d.get(db, &DefData::base);
  return base ? add(infer_use(db, *base), inc) : inc;
}

// ---- converge_diverge -------------------------------------------------------------------

struct Loop {
  Db db;
  Def defx0, defy0, defx1, defy1;
  Use use_x, use_y;
  Def unrelated;  // read by no query: the edit of the verify case

  explicit Loop(std::size_t inc_x) {
    defx0 = Def::create(db, {.base = std::nullopt, .increment = 0});
    defy0 = Def::create(db, {.base = std::nullopt, .increment = 0});
    defx1 = Def::create(db, {.base = std::nullopt, .increment = inc_x});
    defy1 = Def::create(db, {.base = std::nullopt, .increment = 0});
    use_x = Use::create(db, {.reaching_definitions = {defx0, defx1}});
    use_y = Use::create(db, {.reaching_definitions = {defy0, defy1}});
    unrelated = Def::create(db, {.base = std::nullopt, .increment = 0});
    // The loop closes through inputs set after creation (a use needs its defs first).
    defx1.set(db, &DefData::base, std::optional<Use>(use_y));
    defy1.set(db, &DefData::base, std::optional<Use>(use_x));
  }

  // Fetches both uses; false if either is not `expected`.
  bool fetch_both(const Type& expected) {
    const bool ok = infer_use(db, use_x) == expected;
    return infer_use(db, use_y) == expected && ok;
  }
};

const Type kZero = Type::of({0});

void BM_relish_converge_diverge_edit(benchmark::State& state) {
  Loop lp(0);
  lp.fetch_both(kZero);  // warm, as salsa's setup
  auto step = [&] {
    lp.defx1.set(lp.db, &DefData::increment, std::size_t{0});
    const bool converged = lp.fetch_both(kZero);
    lp.defx1.set(lp.db, &DefData::increment, std::size_t{1});
    return lp.fetch_both(Type::top()) && converged;
  };
  for (auto _ : state) {
    if (!step()) {
      state.SkipWithError("unexpected fixpoint");
      return;
    }
  }
  count_one_iteration(state, lp.db, step);
}
BENCHMARK(BM_relish_converge_diverge_edit);

void BM_relish_converge_diverge_cold(benchmark::State& state) {
  const std::size_t inc_x = static_cast<std::size_t>(state.range(0));
  const Type expected = inc_x == 0 ? kZero : Type::top();
  for (auto _ : state) {
    state.PauseTiming();
    auto lp = std::make_unique<Loop>(inc_x);
    state.ResumeTiming();
    const bool ok = lp->fetch_both(expected);
    state.PauseTiming();
    lp.reset();
    state.ResumeTiming();
    if (!ok) {
      state.SkipWithError("unexpected fixpoint");
      return;
    }
  }
  Loop lp(inc_x);
  count_one_iteration(state, lp.db, [&] { lp.fetch_both(expected); });
}
BENCHMARK(BM_relish_converge_diverge_cold)->Arg(0)->Arg(1);

void BM_relish_converge_diverge_verify(benchmark::State& state) {
  Loop lp(0);
  lp.fetch_both(kZero);
  std::size_t k = 0;
  auto step = [&] {
    lp.unrelated.set(lp.db, &DefData::increment, ++k);
    return lp.fetch_both(kZero);
  };
  for (auto _ : state) {
    if (!step()) {
      state.SkipWithError("unexpected fixpoint");
      return;
    }
  }
  count_one_iteration(state, lp.db, step);  // executed = 0
}
BENCHMARK(BM_relish_converge_diverge_verify);

// ---- converge_diverge_nested --------------------------------------------------------------

struct Nested {
  Db db;
  Def x[5];

  Nested() {
    for (Def& d : x) d = Def::create(db, {.base = std::nullopt, .increment = 0});
    const Use u0 = Use::create(db, {.reaching_definitions = {x[1], x[2], x[3], x[4]}});
    const Use u1 = Use::create(db, {.reaching_definitions = {x[0], x[2], x[3], x[4]}});
    const Use u2 = Use::create(db, {.reaching_definitions = {x[0], x[1], x[3], x[4]}});
    const Use u3 = Use::create(db, {.reaching_definitions = {x[0], x[1], x[3], x[4]}});
    x[0].set(db, &DefData::base, std::optional<Use>(u0));
    x[1].set(db, &DefData::base, std::optional<Use>(u1));
    x[2].set(db, &DefData::base, std::optional<Use>(u2));
    x[3].set(db, &DefData::base, std::optional<Use>(u3));
  }
};

void BM_relish_nested_cold(benchmark::State& state) {
  for (auto _ : state) {
    state.PauseTiming();
    auto n = std::make_unique<Nested>();
    state.ResumeTiming();
    const bool ok = infer_def(n->db, n->x[0]) == kZero;
    state.PauseTiming();
    n.reset();
    state.ResumeTiming();
    if (!ok) {
      state.SkipWithError("unexpected fixpoint");
      return;
    }
  }
  Nested n;
  count_one_iteration(state, n.db, [&] { (void)infer_def(n.db, n.x[0]); });
}
BENCHMARK(BM_relish_nested_cold);

void BM_relish_nested_edit(benchmark::State& state) {
  Nested n;
  (void)infer_def(n.db, n.x[0]);
  auto step = [&] {
    n.x[0].set(n.db, &DefData::increment, std::size_t{1});
    const bool diverged = infer_def(n.db, n.x[0]) == Type::top();
    n.x[0].set(n.db, &DefData::increment, std::size_t{0});
    return infer_def(n.db, n.x[0]) == kZero && diverged;
  };
  for (auto _ : state) {
    if (!step()) {
      state.SkipWithError("unexpected fixpoint");
      return;
    }
  }
  count_one_iteration(state, n.db, step);
}
BENCHMARK(BM_relish_nested_edit);

// ---- cycle_nested_deep ----------------------------------------------------------------------

struct DeepDb : relish::Database {};
unsigned deep_zero(DeepDb&) { return 0; }
unsigned deep_a_fn(DeepDb&);
unsigned deep_b_fn(DeepDb&);
unsigned deep_c_fn(DeepDb&);
unsigned deep_d_fn(DeepDb&);
unsigned deep_e_fn(DeepDb&);
using DeepFixpoint = relish::Fixpoint<deep_zero>;
inline constexpr relish::Query<deep_a_fn, relish::Options{.name = "a"}, DeepFixpoint> deep_a;
inline constexpr relish::Query<deep_b_fn, relish::Options{.name = "b"}, DeepFixpoint> deep_b;
inline constexpr relish::Query<deep_c_fn, relish::Options{.name = "c"}, DeepFixpoint> deep_c;
inline constexpr relish::Query<deep_d_fn, relish::Options{.name = "d"}, DeepFixpoint> deep_d;
inline constexpr relish::Query<deep_e_fn, relish::Options{.name = "e"}, DeepFixpoint> deep_e;
unsigned deep_a_fn(DeepDb& db) { return deep_b(db); }
unsigned deep_b_fn(DeepDb& db) { return std::min(deep_c(db) + 1, 3u); }
unsigned deep_c_fn(DeepDb& db) {
  const unsigned d = deep_d(db), e = deep_e(db), b = deep_b(db), a = deep_a(db);
  return std::max({d, e, b, a});
}
unsigned deep_d_fn(DeepDb& db) { return deep_e(db); }
unsigned deep_e_fn(DeepDb& db) { return deep_c(db); }

void BM_relish_cycle_nested_deep(benchmark::State& state) {
  for (auto _ : state) {
    state.PauseTiming();
    auto db = std::make_unique<DeepDb>();
    state.ResumeTiming();
    const bool ok = deep_a(*db) == 3;
    state.PauseTiming();
    db.reset();
    state.ResumeTiming();
    if (!ok) {
      state.SkipWithError("unexpected fixpoint");
      return;
    }
  }
  DeepDb db;
  count_one_iteration(state, db, [&] { (void)deep_a(db); });
}
BENCHMARK(BM_relish_cycle_nested_deep);

}  // namespace

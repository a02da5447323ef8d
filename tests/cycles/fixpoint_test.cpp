// Fixpoint iteration over cycles: Salsa's dataflow shapes (converge / diverge-and-widen), a
// recursive type alias resolved the way a type checker would, fallback values, the iteration
// bound, and incremental behaviour after edits (event log).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "../common/event_log.hpp"

namespace {

using relish_test::EventLog;
using relish_test::Log;

// ---- dataflow: values are finite sets of integers, or Top -------------------------------

struct Value {
  bool top = false;
  std::set<std::int64_t> values;
  friend bool operator==(const Value&, const Value&) = default;
  static Value of(std::initializer_list<std::int64_t> v) { return Value{false, v}; }
  static Value any() { return Value{true, {}}; }
  Value join(const Value& o) const {
    if (top || o.top) return any();
    Value r = *this;
    r.values.insert(o.values.begin(), o.values.end());
    return r;
  }
  Value plus(std::int64_t k) const {
    if (top) return any();
    Value r;
    for (auto v : values) r.values.insert(v + k);
    return r;
  }
};

// A loop `x = start; while ...: x = x + step`, as two definitions of x:
//   def0: x = start      def1: x = use + step      use = def0 | def1   (the loop header)
struct LoopData {
  std::int64_t start = 0;
  std::int64_t step = 1;
};
using Loop = relish::Input<LoopData>;

struct Db : relish::Database {};

Value use_fn(Db& db, Loop l);
Value def1_fn(Db& db, Loop l);
Value use_initial(Db&, Loop) { return Value{}; }  // bottom: the empty set
// After 4 rounds without converging, widen to Top (Salsa's converge_diverge).
Value use_recover(Db&, const Value& v, std::uint32_t iteration, Loop) {
  return iteration > 4 ? Value::any() : v;
}
inline constexpr relish::Query<use_fn, relish::Options{},
                               relish::Fixpoint<use_initial, use_recover>>
    use;
inline constexpr relish::Query<def1_fn> def1;

Value use_fn(Db& db, Loop l) {
  return Value::of({l.get(db, &LoopData::start)}).join(def1(db, l));
}
Value def1_fn(Db& db, Loop l) { return use(db, l).plus(l.get(db, &LoopData::step)); }

// A reader outside the cycle.
std::size_t width_fn(Db& db, Loop l) {
  const Value v = use(db, l);
  return v.top ? 1000 : v.values.size();
}
inline constexpr relish::Query<width_fn> width;

TEST_CASE("a cycle whose values stop changing converges", "[cycles][fixpoint]") {
  Db db;
  Loop l = Loop::create(db, {.start = 7, .step = 0});  // x = 7; while: x = x + 0
  CHECK(use(db, l) == Value::of({7}));
  CHECK(def1(db, l) == Value::of({7}));
  CHECK(width(db, l) == 1);
}

TEST_CASE("a diverging cycle is widened by its recovery function", "[cycles][fixpoint]") {
  Db db;
  Loop l = Loop::create(db, {.start = 0, .step = 1});  // x = 0; while: x = x + 1
  CHECK(use(db, l) == Value::any());
  CHECK(def1(db, l) == Value::any());
  CHECK(width(db, l) == 1000);
}

TEST_CASE("a cycle that comes back to a query without a policy is headed by one with a policy",
          "[cycles][fixpoint]") {
  Db db;
  Loop l = Loop::create(db, {.start = 7, .step = 0});
  // Entered through def1, the cycle comes back to def1, which has no policy. use, on the way,
  // has one: relish unwinds to def1 (its execution and use's are abandoned), computes use
  // first, as the head (two rounds, def1 a participant in each), and def1 is then done. In
  // Salsa the re-entered query heads the cycle, and def1 would panic.
  EventLog log(db);
  CHECK(def1(db, l) == Value::of({7}));
  CHECK(log.executed() == Log{"def1(Loop#0)", "use(Loop#0)",                   // abandoned
                              "use(Loop#0)", "def1(Loop#0)",                   // round 0
                              "use(Loop#0)", "def1(Loop#0)"});                 // round 1
  log.take();
  CHECK(use(db, l) == Value::of({7}));
  CHECK(log.executed() == Log{});
  // The same values as entering through use.
  Db fresh;
  Loop f = Loop::create(fresh, {.start = 7, .step = 0});
  CHECK(use(fresh, f) == Value::of({7}));
  CHECK(def1(fresh, f) == Value::of({7}));
  // After an edit, reading def1 first re-heads the cycle again.
  l.set(db, &LoopData::start, 3);
  CHECK(def1(db, l) == Value::of({3}));
  CHECK(use(db, l) == Value::of({3}));
}

TEST_CASE("a cycle is verified without iterating when nothing it read changed",
          "[cycles][fixpoint][incremental]") {
  Db db;
  Loop l = Loop::create(db, {.start = 7, .step = 0});
  Loop other = Loop::create(db, {.start = 1, .step = 1});
  CHECK(width(db, l) == 1);
  EventLog log(db);
  other.set(db, &LoopData::start, 2);
  CHECK(width(db, l) == 1);
  CHECK(log.executed().empty());
  CHECK(log.accepted() == Log{"width(Loop#0)"});  // outside the edit's cone
}

TEST_CASE("a changed cycle re-iterates, and backdates when its fixpoint is unchanged",
          "[cycles][fixpoint][incremental]") {
  Db db;
  Loop l = Loop::create(db, {.start = 0, .step = 1});
  CHECK(width(db, l) == 1000);
  EventLog log(db);
  l.set(db, &LoopData::step, 2);  // still diverges: the head's value stays Top
  CHECK(width(db, l) == 1000);
  const Log executed = log.executed();
  CHECK(std::count(executed.begin(), executed.end(), "use(Loop#0)") >= 2);
  CHECK(std::count(executed.begin(), executed.end(), "width(Loop#0)") == 0);
  const Log backdated = log.backdated();
  CHECK(std::find(backdated.begin(), backdated.end(), "use(Loop#0)") != backdated.end());

  log.take();
  l.set(db, &LoopData::step, 0);  // now converges to {0}
  CHECK(use(db, l) == Value::of({0}));
  CHECK(width(db, l) == 1);
  const Log after = log.executed();
  CHECK(std::count(after.begin(), after.end(), "width(Loop#0)") == 1);
}

TEST_CASE("incremental results equal from-scratch ones over edits", "[cycles][fixpoint]") {
  Db db;
  Loop l = Loop::create(db, {.start = 3, .step = 0});
  const std::int64_t steps[] = {0, 1, 0, 2, 0, 0, 5, 0};
  for (std::int64_t step : steps) {
    l.set(db, &LoopData::step, step);
    l.set(db, &LoopData::start, step + 3);
    Db fresh;
    Loop f = Loop::create(fresh, {.start = step + 3, .step = step});
    CHECK(use(db, l) == use(fresh, f));
    CHECK(def1(db, l) == def1(fresh, f));
    CHECK(width(db, l) == width(fresh, f));
  }
}

// ---- the iteration bound ----------------------------------------------------------------

std::int64_t count_up_fn(Db& db, Loop l);
std::int64_t count_up_initial(Db&, Loop) { return 0; }
inline constexpr relish::Query<count_up_fn, relish::Options{},
                               relish::Fixpoint<count_up_initial, nullptr, 10>>
    count_up;
std::int64_t count_up_fn(Db& db, Loop l) { return count_up(db, l) + l.get(db, &LoopData::step); }

TEST_CASE("a fixpoint that never converges hits the bound with a CycleError",
          "[cycles][fixpoint]") {
  Db db;
  Loop l = Loop::create(db, {.start = 0, .step = 1});
  CHECK(relish_test::message_of<relish::CycleError>([&] { count_up(db, l); }) ==
        "relish: cycle detected: count_up(Loop#0) did not converge after 10 fixpoint "
        "iterations");
  l.set(db, &LoopData::step, 0);  // database still usable; now it converges at once
  CHECK(count_up(db, l) == 0);
}

// ---- fallback ---------------------------------------------------------------------------

int depth_fn(Db& db, Loop l);
int depth_fallback(Db&, Loop) { return -1; }
inline constexpr relish::Query<depth_fn, relish::Options{}, relish::CycleFallback<depth_fallback>>
    depth;
int depth_fn(Db& db, Loop l) {
  if (l.get(db, &LoopData::step) == 0) return 0;
  return depth(db, l) + 1;  // a cycle: takes the fallback without iterating
}

TEST_CASE("a fallback query takes its fallback value when part of a cycle", "[cycles]") {
  Db db;
  Loop l = Loop::create(db, {.start = 0, .step = 1});
  CHECK(depth(db, l) == -1);
  l.set(db, &LoopData::step, 0);
  CHECK(depth(db, l) == 0);
}

// ---- a recursive type alias, resolved the way a type checker would -----------------------

// `type A = B | int`, `type B = A | str`: each alias is a union of names; resolving A
// means resolving B, which needs A again. The fixpoint starts from Never (the empty union).
struct ModuleData {
  std::vector<std::pair<std::string, std::vector<std::string>>> aliases;  // name -> members
};
using Module = relish::Input<ModuleData>;

struct UnionData {
  std::vector<std::string> members;  // sorted builtin names
  friend bool operator==(const UnionData&, const UnionData&) = default;
};
using Union = relish::Interned<UnionData>;

Union resolve_fn(Db& db, Module m, std::string name);
Union resolve_initial(Db& db, Module, std::string) { return Union::intern(db, {}); }
inline constexpr relish::Query<resolve_fn, relish::Options{},
                               relish::Fixpoint<resolve_initial>>
    resolve_alias;
Union resolve_fn(Db& db, Module m, std::string name) {
  std::set<std::string> out;
  for (const auto& [alias, members] : m.get(db, &ModuleData::aliases)) {
    if (alias != name) continue;
    for (const std::string& member : members) {
      const bool is_alias =
          std::any_of(m.get(db, &ModuleData::aliases).begin(),
                      m.get(db, &ModuleData::aliases).end(),
                      [&](const auto& a) { return a.first == member; });
      if (is_alias) {
        for (const auto& s : resolve_alias(db, m, member).get(db, &UnionData::members))
          out.insert(s);
      } else {
        out.insert(member);
      }
    }
  }
  return Union::intern(db, {std::vector<std::string>(out.begin(), out.end())});
}

TEST_CASE("a recursive type alias resolves to the union of its members", "[cycles][fixpoint]") {
  Db db;
  Module m = Module::create(
      db, {.aliases = {{"A", {"B", "int"}}, {"B", {"A", "str"}}, {"C", {"A", "bytes"}}}});
  const Union a = resolve_alias(db, m, "A");
  CHECK(a.get(db, &UnionData::members) == std::vector<std::string>{"int", "str"});
  CHECK(resolve_alias(db, m, "B") == a);  // same members, same interned handle
  CHECK(resolve_alias(db, m, "C").get(db, &UnionData::members) ==
        std::vector<std::string>{"bytes", "int", "str"});

  m.set(db, &ModuleData::aliases,
        std::vector<std::pair<std::string, std::vector<std::string>>>{
            {"A", {"B", "int"}}, {"B", {"A", "float"}}, {"C", {"A", "bytes"}}});
  CHECK(resolve_alias(db, m, "A").get(db, &UnionData::members) ==
        std::vector<std::string>{"float", "int"});
  CHECK(resolve_alias(db, m, "C").get(db, &UnionData::members) ==
        std::vector<std::string>{"bytes", "float", "int"});
}

}  // namespace

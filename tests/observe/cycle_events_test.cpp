// The events for tracing around a fixpoint cycle: each new round of the head is announced by
// will_iterate_cycle (detail: the round's iteration, from 1), between the end of one round's
// execution and the start of the next; verifications are spans (will_verify .. did_verify).
#include <catch2/catch.hpp>
#include <relish/relish.hpp>

#include <algorithm>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "../common/event_log.hpp"

namespace {

using relish_test::Log;

struct Value {
  bool top = false;
  std::set<std::int64_t> values;
  friend bool operator==(const Value&, const Value&) = default;
  Value join(const Value& o) const {
    if (top || o.top) return Value{true, {}};
    Value r = *this;
    r.values.insert(o.values.begin(), o.values.end());
    return r;
  }
  Value plus(std::int64_t k) const {
    if (top) return *this;
    Value r;
    for (auto v : values) r.values.insert(v + k);
    return r;
  }
};

// x = start; while ...: x = x + step   (the loop header `use` is the cycle head)
struct LoopData {
  std::int64_t start = 0;
  std::int64_t step = 1;
};
using Loop = relish::Input<LoopData>;
struct Db : relish::Database {};

Value use_fn(Db& db, Loop l);
Value def1_fn(Db& db, Loop l);
Value use_initial(Db&, Loop) { return Value{}; }
Value use_recover(Db&, const Value& v, std::uint32_t iteration, Loop) {
  return iteration > 2 ? Value{true, {}} : v;
}
inline constexpr relish::Query<use_fn, relish::Options{.name = "use"},
                               relish::Fixpoint<use_initial, use_recover>>
    use;
inline constexpr relish::Query<def1_fn, relish::Options{.name = "def1"}> def1;
Value use_fn(Db& db, Loop l) {
  return Value{false, {l.get(db, &LoopData::start)}}.join(def1(db, l));
}
Value def1_fn(Db& db, Loop l) { return use(db, l).plus(l.get(db, &LoopData::step)); }

// "kind key" for the kinds a trace uses, with the detail where it means something.
Log record(Db& db, const std::vector<relish::Event>& events) {
  Log out;
  for (const relish::Event& e : events) {
    std::string s = std::string(relish::to_string(e.kind)) + " " + relish_test::describe(db, e.key);
    if (e.kind == relish::EventKind::will_iterate_cycle || e.kind == relish::EventKind::did_verify)
      s += " " + std::to_string(e.detail);
    out.push_back(s);
  }
  return out;
}

}  // namespace

TEST_CASE("events: will_iterate_cycle announces each new round of a fixpoint head",
          "[observe][cycles]") {
  Db db;
  Loop l = Loop::create(db, {.start = 7, .step = 0});  // converges in the second round
  std::vector<relish::Event> events;
  db.on_event([&](const relish::Event& e) {
    if (e.kind != relish::EventKind::did_set_input) events.push_back(e);
  });
  CHECK(use(db, l) == Value{false, {7}});
  CHECK(record(db, events) == Log{
                                  "will_execute use(Loop#0)",
                                  "will_execute def1(Loop#0)",
                                  "did_execute def1(Loop#0)",
                                  "did_execute use(Loop#0)",
                                  "will_iterate_cycle use(Loop#0) 1",
                                  "will_execute use(Loop#0)",
                                  "will_execute def1(Loop#0)",
                                  "did_execute def1(Loop#0)",
                                  "did_execute use(Loop#0)",
                              });

  // Diverging: rounds 1, 2 and 3 (Recover widens to Top after the third), then Top again.
  events.clear();
  l.set(db, &LoopData::step, 1);
  CHECK(use(db, l).top);
  Log iterations;
  for (const std::string& s : record(db, events))
    if (s.starts_with("will_iterate_cycle")) iterations.push_back(s);
  CHECK(iterations == Log{"will_iterate_cycle use(Loop#0) 1", "will_iterate_cycle use(Loop#0) 2",
                          "will_iterate_cycle use(Loop#0) 3"});
  // The head was verified first: inside its span, def1's verification found `step` changed
  // ("changed" is 2) and re-ran def1, which met the head and started its round 0 early.
  const Log all = record(db, events);
  REQUIRE(all.size() >= 4);
  CHECK(all[0] == "will_verify use(Loop#0)");
  CHECK(all[1] == "will_verify def1(Loop#0)");
  CHECK(all[2] == "did_verify def1(Loop#0) 2");
  CHECK(all[3] == "will_execute def1(Loop#0)");
  CHECK(std::count(all.begin(), all.end(), "did_verify use(Loop#0) 2") == 1);
  db.on_event({});
}

TEST_CASE("events: an EventLog leaves the tracing events out unless asked", "[observe][events]") {
  Db db;
  Loop l = Loop::create(db, {.start = 7, .step = 0});
  {
    relish_test::EventLog log(db);
    use(db, l);
    CHECK(log.take() == Log{"will_execute use(Loop#0)", "will_execute def1(Loop#0)",
                            "will_execute use(Loop#0)", "will_execute def1(Loop#0)"});
  }
  relish_test::EventLog log(db, relish_test::EventLog::Record::everything);
  l.set(db, &LoopData::start, 7);  // the same value: a new revision, nothing changes
  use(db, l);
  CHECK(log.take() ==
        Log{"did_set_input Loop#0.start", "will_verify use(Loop#0)", "did_verify use(Loop#0)",
            "will_execute use(Loop#0)", "will_verify def1(Loop#0)", "did_verify def1(Loop#0)",
            "will_execute def1(Loop#0)", "did_execute def1(Loop#0)", "did_execute use(Loop#0)",
            "will_iterate_cycle use(Loop#0)", "will_execute use(Loop#0)",
            "will_execute def1(Loop#0)", "did_execute def1(Loop#0)", "did_backdate def1(Loop#0)",
            "did_backdate use(Loop#0)", "did_execute use(Loop#0)"});
}

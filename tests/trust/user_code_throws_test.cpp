// Whatever user code throws (a query's operator==, heap_size, a Fixpoint's Recover, an event
// callback), every exit path of an execution pops its frame, no wrong memo survives, and a
// write is all-or-nothing. Ports of ../shared/repro/audit/{eq_throw_frame_leak,
// evict_throw_stale}.cpp and ../shared/repro/fixpoint/recover_reads_lost.cpp.
#include <stdexcept>
#include <string>

#include <catch2/catch.hpp>
#include <relish/relish.hpp>

#include "../common/event_log.hpp"

namespace {

using relish_test::EventLog;
using relish_test::Log;

struct D {
  int v = 0;
};
using In = relish::Input<D>;
struct Db : relish::Database {};

struct TData {
  int x;
};
using T = relish::Tracked<TData>;
struct NameData {
  int n;
};
using Name = relish::Interned<NameData>;
using Acc = relish::Accumulator<int>;

// The thread's state after a failure: top-level misuse is still caught, and a value interned
// at top level is never reclaimed.
void check_thread_state_is_clean(Db& db) {
  CHECK_THROWS_AS(T::create(db, {1}), relish::MisuseError);
  CHECK_THROWS_AS(Acc::push(db, 1), relish::MisuseError);
  Name n = Name::intern(db, {42});
  In other = In::create(db, {0});
  other.set(db, &D::v, 1);
  other.set(db, &D::v, 2);
  CHECK_NOTHROW(n.get(db));
}

struct Picky {
  int v = 0;
  friend bool operator==(const Picky& a, const Picky& b) {
    if (a.v == 13 || b.v == 13) throw std::runtime_error("cannot compare 13");
    return a.v == b.v;
  }
};
Picky picky_fn(Db& db, In i) { return Picky{i.get(db, &D::v) == 0 ? 13 : 14}; }
inline constexpr relish::Query<picky_fn> picky;

TEST_CASE("trust: an operator== that throws while backdating leaves no frame and no memo",
          "[trust]") {
  Db db;
  Name::set_reclaim_after(db, 1);
  In i = In::create(db, {0});
  CHECK(picky(db, i).v == 13);
  i.set(db, &D::v, 1);
  CHECK_THROWS_WITH(picky(db, i), "cannot compare 13");
  check_thread_state_is_clean(db);
  // No memo was left: the query runs again, and now compares fine.
  EventLog log(db);
  i.set(db, &D::v, 2);
  CHECK(picky(db, i).v == 14);
  CHECK(log.executed() == Log{"picky(D#0)"});
}

// A value whose heap_size throws for 13.
struct Heavy {
  int v = 0;
  friend bool operator==(const Heavy&, const Heavy&) = default;
  friend std::size_t relish_heap_size(const Heavy& h) {
    if (h.v == 13) throw std::runtime_error("heap_size failed");
    return 64;
  }
};
Heavy heavy_fn(Db& db, In i) { return Heavy{i.get(db, &D::v)}; }
inline constexpr relish::Query<heavy_fn, relish::Options{.byte_budget = 1 << 20}> heavy;

TEST_CASE("trust: a heap_size that throws while a value is stored leaves no frame and no memo",
          "[trust]") {
  Db db;
  In i = In::create(db, {13});
  CHECK_THROWS_WITH(heavy(db, i), "heap_size failed");
  check_thread_state_is_clean(db);
  i.set(db, &D::v, 5);
  CHECK(heavy(db, i).v == 5);
}

int plus_fn(Db& db, In i) { return i.get(db, &D::v) + 100; }
inline constexpr relish::Query<plus_fn, relish::Options{.byte_budget = 1}> plus_budget;

Heavy heavy_plus_fn(Db& db, In i) { return Heavy{i.get(db, &D::v) + 100}; }
inline constexpr relish::Query<heavy_plus_fn, relish::Options{.byte_budget = 1}> heavy_plus;

TEST_CASE("trust: a write is all-or-nothing when eviction throws as the revision starts",
          "[trust]") {
  Db db;
  In a = In::create(db, {1});
  In evicted = In::create(db, {-87});  // heavy_plus(evicted) = 13: its heap_size throws
  CHECK(heavy_plus(db, a).v == 101);
  CHECK_THROWS(heavy_plus(db, evicted));  // stores nothing, no harm
  In c = In::create(db, {7});
  (void)c;
  // A value whose heap_size throws is measured when the next revision evicts: set throws it,
  // but the write happened and the field knows it changed.
  In third = In::create(db, {-90});
  Heavy h13 = heavy_plus(db, third);  // 10: fine
  CHECK(h13.v == 10);
  third.set(db, &D::v, -87);  // third's memo re-runs only when asked
  CHECK_THROWS(heavy_plus(db, third));
  a.set(db, &D::v, 7);
  CHECK(a.get(db, &D::v) == 7);
  CHECK(heavy_plus(db, a).v == 107);
}

// The same with a did_evict callback that throws: set rethrows it, once the write is complete.
TEST_CASE("trust: a throwing did_evict callback does not lose the write", "[trust]") {
  Db db;
  In a = In::create(db, {1});
  CHECK(plus_budget(db, a) == 101);
  db.on_event([](const relish::Event& e) {
    if (e.kind == relish::EventKind::did_evict) throw std::runtime_error("callback failed");
  });
  CHECK_THROWS_WITH(a.set(db, &D::v, 7), "callback failed");
  db.on_event({});
  CHECK(a.get(db, &D::v) == 7);
  CHECK(plus_budget(db, a) == 107);
  a.set(db, &D::v, 8);
  CHECK(plus_budget(db, a) == 108);
}

// An event callback that throws does not interrupt the engine's bookkeeping: the outermost
// relish call rethrows it once its work is consistent.
int twice_fn(Db& db, In i) { return 2 * i.get(db, &D::v); }
inline constexpr relish::Query<twice_fn> twice;
int quad_fn(Db& db, In i) { return 2 * twice(db, i); }
inline constexpr relish::Query<quad_fn> quad;

TEST_CASE("trust: an event callback that throws is rethrown by the outermost call", "[trust]") {
  Db db;
  In i = In::create(db, {1});
  db.on_event([](const relish::Event& e) {
    if (e.kind == relish::EventKind::did_execute) throw std::runtime_error("observer failed");
  });
  CHECK_THROWS_WITH(quad(db, i), "observer failed");
  db.on_event({});
  check_thread_state_is_clean(db);
  EventLog log(db);
  CHECK(quad(db, i) == 4);  // the memos were stored: verified, not re-run
  CHECK(log.executed().empty());
}

// ---- Fixpoint: Recover reads are dependencies; a Recover that throws ----

struct FixDb : relish::Database {
  In limit;
  In fail;
};
int grow_fn(FixDb& db);
int grow_initial(FixDb&) { return 0; }
int grow_recover(FixDb& db, const int& v, std::uint32_t) {
  if (db.fail.get(db, &D::v)) throw std::runtime_error("recover failed");
  return std::min(v, db.limit.get(db, &D::v));  // a widening that reads an input
}
inline constexpr relish::Query<grow_fn, relish::Options{},
                               relish::Fixpoint<grow_initial, grow_recover>>
    grow;
int grow_fn(FixDb& db) { return std::min(grow(db) + 1, 100); }

TEST_CASE("trust: what a Fixpoint's Recover reads is a dependency; a Recover that throws "
          "leaves no frame",
          "[trust][fixpoint]") {
  FixDb db;
  db.limit = In::create(db, {7});
  db.fail = In::create(db, {0});
  // Rounds give 1, 2, ...; Recover caps them at the limit, and 8 capped to 7 is the value
  // the round started from: converged on 7.
  CHECK(grow(db) == 7);
  db.limit.set(db, &D::v, 9);  // read only by Recover
  CHECK(grow(db) == 9);
  db.fail.set(db, &D::v, 1);
  CHECK_THROWS_WITH(grow(db), "recover failed");
  CHECK_THROWS_AS(relish::Tracked<TData>::create(db, {1}), relish::MisuseError);
  db.fail.set(db, &D::v, 0);
  CHECK(grow(db) == 9);
}

}  // namespace

// The engine does not trust user code to rethrow. A query may catch anything, but an
// execution that saw one of the engine's control exceptions (cancellation, a cycle, a restart
// of verification) never stores its result: it is rethrown at the query's boundary. And
// whatever escapes a read is a dependency of the reader first, so a caller that catches an
// error and returns a fallback re-runs when the callee's inputs change.
// Ports of ../shared/repro/audit/{cancelled_swallowed,cycle_error_caught}.cpp and more.
#include <atomic>
#include <stdexcept>
#include <thread>

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

// ---- cancellation swallowed by catch (const std::exception&) and catch (...) ----

struct CancelDb : relish::Database {
  In a, b;
  std::atomic<bool> started{false};
  std::atomic<bool> wait_for_write{true};
};

int dep_fn(CancelDb& db) { return db.a.get(db, &D::v); }
inline constexpr relish::Query<dep_fn> dep;

int swallowing_fn(CancelDb& db) {
  db.started = true;
  if (db.wait_for_write.exchange(false))
    while (!db.runtime().cancellation_pending()) std::this_thread::yield();
  try {
    return dep(db) * 10;
  } catch (...) {  // "log and fall back": swallows relish::Cancelled too
    return -1;
  }
}
inline constexpr relish::Query<swallowing_fn> swallowing;

TEST_CASE("trust: a query that swallows Cancelled stores nothing, and sees later writes",
          "[trust][concurrency]") {
  CancelDb db;
  db.a = In::create(db, {1});
  db.b = In::create(db, {0});
  std::atomic<int> outcome{0};  // 1: Cancelled reached the caller, 2: a value (wrong)
  std::thread t([&] {
    try {
      (void)swallowing(db);
      outcome = 2;
    } catch (const relish::Cancelled&) {
      outcome = 1;
    }
  });
  while (!db.started) std::this_thread::yield();
  db.b.set(db, &D::v, 1);  // an unrelated write cancels the running query
  t.join();
  CHECK(outcome == 1);
  db.a.set(db, &D::v, 2);
  CHECK(swallowing(db) == 20);
  db.a.set(db, &D::v, 3);
  CHECK(swallowing(db) == 30);
}

TEST_CASE("trust: relish::Cancelled is not a std::exception", "[trust]") {
  STATIC_REQUIRE(!std::is_base_of_v<std::exception, relish::Cancelled>);
  CHECK(std::string(relish::Cancelled().what()).find("cancelled") != std::string::npos);
}

// ---- a CycleError caught inside the cycle ----

struct LinkDb : relish::Database {
  In link;
};
int cyc_b_fn(LinkDb& db);
inline constexpr relish::Query<cyc_b_fn> cyc_b;
int cyc_a_fn(LinkDb& db) { return db.link.get(db, &D::v) ? cyc_b(db) + 1 : 0; }
inline constexpr relish::Query<cyc_a_fn> cyc_a;
int cyc_b_fn(LinkDb& db) {
  try {
    return cyc_a(db) + 1;
  } catch (const relish::CycleError&) {  // a natural way to "handle" a cycle
    return -1;
  }
}

TEST_CASE("trust: a cycle participant that catches the CycleError cannot memoize a value",
          "[trust]") {
  LinkDb db;
  db.link = In::create(db, {1});
  // The error reaches the caller of the cycle: the catch inside it is not a way around it.
  CHECK_THROWS_AS(cyc_a(db), relish::CycleError);
  CHECK_THROWS_AS(cyc_b(db), relish::CycleError);
  db.link.set(db, &D::v, 0);  // the cycle is gone
  CHECK(cyc_a(db) == 0);
  CHECK(cyc_b(db) == 1);  // from scratch: a = 0, b = 1

  LinkDb fresh;
  fresh.link = In::create(fresh, {0});
  CHECK(cyc_b(fresh) == 1);
}

// ---- an ordinary error caught by the caller ----

struct ErrDb : relish::Database {
  In in;
};
int picky_fn(ErrDb& db) {
  const int v = db.in.get(db, &D::v);
  if (v % 2) throw std::runtime_error("odd");
  return v;
}
inline constexpr relish::Query<picky_fn> picky;
int tolerant_fn(ErrDb& db) {
  try {
    return picky(db);
  } catch (const std::runtime_error&) {
    return -1;
  }
}
inline constexpr relish::Query<tolerant_fn> tolerant;

TEST_CASE("trust: a caller that catches a callee's error depends on the callee", "[trust]") {
  ErrDb db;
  db.in = In::create(db, {1});
  CHECK(tolerant(db) == -1);
  EventLog log(db);
  db.in.set(db, &D::v, 4);
  CHECK(tolerant(db) == 4);
  CHECK(log.executed() == Log{"tolerant()", "picky()"});
  CHECK(db.dependencies(tolerant.key(db)) == std::vector<relish::DatabaseKey>{picky.key(db)});
}

// ---- a restart of verification swallowed by catch (...) ----

struct RestartDb : relish::Database {
  In in;
  In flag;
};
int outer_fn(RestartDb& db);
inline constexpr relish::Query<outer_fn> outer;
int inner_fn(RestartDb& db) {
  const int v = db.in.get(db, &D::v);
  if (!db.flag.get(db, &D::v)) return v;
  try {
    return outer(db) + v;  // outer is being verified up the stack: the engine restarts it
  } catch (...) {
    return -5;
  }
}
inline constexpr relish::Query<inner_fn> inner;
int outer_fn(RestartDb& db) { return inner(db) + 1; }

TEST_CASE("trust: a re-run that swallows the engine's restart with catch (...) stores nothing",
          "[trust]") {
  RestartDb db;
  db.in = In::create(db, {1});
  db.flag = In::create(db, {0});
  CHECK(outer(db) == 2);
  db.flag.set(db, &D::v, 1);  // inner now reads outer: a cycle without recovery
  // Verifying outer re-runs inner, which needs outer: the engine restarts outer's
  // verification, and inner's swallowed restart must not leave inner = -5 behind. From
  // scratch, the same graph is a CycleError; so it is here.
  CHECK_THROWS_AS(outer(db), relish::CycleError);
  CHECK_THROWS_AS(inner(db), relish::CycleError);
  RestartDb fresh;
  fresh.in = In::create(fresh, {1});
  fresh.flag = In::create(fresh, {1});
  CHECK_THROWS_AS(outer(fresh), relish::CycleError);
  // And once the cycle is gone, both are right.
  db.flag.set(db, &D::v, 0);
  CHECK(outer(db) == 2);
  CHECK(inner(db) == 1);
}

}  // namespace

// A query that hands work to a helper thread which sets an input, and joins it, waits for a
// write that waits for it: ../shared/repro/audit/mt_set_from_helper_thread.cpp. relish cannot
// see that the query waits for that thread (it waits in std::thread::join, outside relish), so
// it cannot tell this deadlock from a long query that reads nothing. With
// Database::set_write_wait_limit, the write gives up with a WriteTimeoutError naming the
// query, having written nothing; without one, a write waits for slow queries, as before.
#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include <catch2/catch.hpp>
#include <relish/relish.hpp>

#include "support.hpp"

namespace {

using namespace std::chrono_literals;

struct D {
  int v = 0;
};
using In = relish::Input<D>;
struct Db : relish::Database {
  In a, b;
  std::string helper_error;  // what the helper's set threw
  bool helper_wrote = false;
  std::atomic<bool> slow_started{false};
  std::chrono::milliseconds slow_for{0};
};

std::atomic<int> helper_runs{0};
int hands_off_fn(Db& db) {
  ++helper_runs;
  const int x = db.a.get(db, &D::v);
  std::thread helper([&] {
    try {
      db.b.set(db, &D::v, 1);
      db.helper_wrote = true;
    } catch (const relish::WriteTimeoutError& e) {
      db.helper_error = e.what();
    }
  });
  helper.join();
  return x;
}
inline constexpr relish::Query<hands_off_fn> hands_off;

// Reads nothing for a while: a write must wait (or time out) until it returns.
int slow_fn(Db& db) {
  const int x = db.a.get(db, &D::v);
  db.slow_started = true;
  std::this_thread::sleep_for(db.slow_for);
  return x;
}
inline constexpr relish::Query<slow_fn> slow;

}  // namespace

TEST_CASE("write wait limit: a query joining a helper thread that writes gets a typed error, "
          "not a deadlock",
          "[concurrency][trust]") {
  relish_conc::Watchdog dog("helper-thread write", 20s);
  Db db;
  db.a = In::create(db, {1});
  db.b = In::create(db, {0});
  db.set_write_wait_limit(100ms);
  helper_runs = 0;
  CHECK(hands_off(db) == 1);
  INFO(db.helper_error);
  CHECK_FALSE(db.helper_wrote);
  CHECK(db.helper_error.find("cannot set") != std::string::npos);
  CHECK(db.helper_error.find("running query hands_off") != std::string::npos);
  // Nothing was written, and the database works on: the memo is right, and a write from
  // outside every query goes through (b was not read by the query: no re-run).
  CHECK(db.b.get(db, &D::v) == 0);
  const relish::Revision before = db.current_revision();
  db.b.set(db, &D::v, 5);
  CHECK(db.current_revision() == before + 1);
  CHECK(hands_off(db) == 1);
  CHECK(helper_runs == 1);
  db.a.set(db, &D::v, 2);  // the helper times out again when the query re-runs
  CHECK(hands_off(db) == 2);
  CHECK(helper_runs == 2);
  CHECK(db.b.get(db, &D::v) == 5);
}

TEST_CASE("write wait limit: a write gives up on a slow query, writing nothing; without a limit "
          "it waits",
          "[concurrency][trust]") {
  relish_conc::Watchdog dog("slow query write", 20s);
  Db db;
  db.a = In::create(db, {1});
  db.b = In::create(db, {0});
  db.slow_for = 400ms;
  db.set_write_wait_limit(20ms);
  std::atomic<int> got{-1};
  std::thread reader([&] { got = slow(db); });
  relish_conc::await_flag(db.slow_started, "slow query started");
  const relish::Revision before = db.current_revision();
  try {
    db.a.set(db, &D::v, 7);
    FAIL("the write should have timed out");
  } catch (const relish::WriteTimeoutError& e) {
    CHECK(std::string(e.what()).find("cannot set") != std::string::npos);
    CHECK(std::string(e.what()).find("running query slow") != std::string::npos);
  }
  // A batch write is the same write.
  CHECK_THROWS_AS(db.write([&] { db.b.set(db, &D::v, 3); }), relish::WriteTimeoutError);
  CHECK(db.current_revision() == before);
  reader.join();
  CHECK(got == 1);
  CHECK(db.a.get(db, &D::v) == 1);
  CHECK(db.b.get(db, &D::v) == 0);

  // No limit: the write waits for the query to finish (it reads nothing after the write
  // started, so it is not cancelled) and then goes through.
  db.set_write_wait_limit(std::nullopt);
  db.slow_started = false;
  db.a.set(db, &D::v, 2);
  std::thread reader2([&] { got = slow(db); });
  relish_conc::await_flag(db.slow_started, "slow query started again");
  db.a.set(db, &D::v, 8);
  reader2.join();
  CHECK(got == 2);
  CHECK(slow(db) == 8);

  // A zero limit never waits: with nobody inside, a write goes through at once.
  db.set_write_wait_limit(0ms);
  db.a.set(db, &D::v, 9);
  CHECK(slow(db) == 9);
}

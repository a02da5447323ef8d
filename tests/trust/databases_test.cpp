// Reading one database from inside a query (or a read) of another is a MisuseError: two
// threads doing it in opposite directions would each own the memo the other waits for, in
// runtimes whose wait-for graphs cannot see each other (port of
// ../shared/repro/audit/cross_db_deadlock.cpp).
#include <atomic>
#include <string>
#include <thread>

#include <catch2/catch.hpp>
#include <relish/relish.hpp>

namespace {

struct D {
  int v = 0;
};
using In = relish::Input<D>;
struct Db : relish::Database {
  In in;
  Db* other = nullptr;
  std::atomic<int>* arrived = nullptr;
};

int q2_fn(Db& db);
int q1_fn(Db& db) {
  if (db.arrived) {
    db.arrived->fetch_add(1);
    while (db.arrived->load() < 2) std::this_thread::yield();
  }
  return db.in.get(db, &D::v) + q2_fn(*db.other);
}
inline constexpr relish::Query<q1_fn> q1;
int q2_body(Db& db) { return db.in.get(db, &D::v) + (db.other ? q1(*db.other) : 0); }
inline constexpr relish::Query<q2_body> q2;
int q2_fn(Db& db) { return q2(db); }

TEST_CASE("trust: a query of one database reading another is a MisuseError", "[trust]") {
  Db a, b;
  a.in = In::create(a, {1});
  b.in = In::create(b, {2});
  a.other = &b;
  CHECK_THROWS_AS(q1(a), relish::MisuseError);
  // Reading the other database at top level, between queries, is fine.
  b.other = nullptr;
  CHECK(q2(b) == 2);
  CHECK(b.in.get(b, &D::v) == 2);
  {
    relish::ReadScope read(a);
    CHECK_THROWS_AS(b.in.get(b, &D::v), relish::MisuseError);
  }
}

TEST_CASE("trust: two threads reading two databases in opposite directions do not deadlock",
          "[trust][concurrency]") {
  Db a, b;
  a.in = In::create(a, {1});
  b.in = In::create(b, {2});
  a.other = &b;
  b.other = &a;
  std::atomic<int> arrived{0};
  a.arrived = &arrived;
  std::atomic<int> misuse{0};
  auto run = [&](Db& db, bool first) {
    try {
      (void)(first ? q1(db) : q2(db));
    } catch (const relish::MisuseError&) {
      ++misuse;
    }
  };
  std::thread t1([&] { run(a, true); });
  std::thread t2([&] {
    arrived.fetch_add(1);
    run(b, false);
  });
  t1.join();
  t2.join();
  CHECK(misuse == 2);
}

}  // namespace

// Batch writes (Database::write): every write inside one call is one revision, with one
// exclusive access and one run of the revision hooks.
#include <catch2/catch.hpp>
#include <relish/relish.hpp>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "../common/event_log.hpp"

namespace {

using relish_test::EventLog;
using relish_test::Log;

struct NumData {
  std::uint64_t value;
};
using Num = relish::Input<NumData>;
struct Db : relish::Database {};

std::uint64_t leaf_fn(Db& db, Num n) { return n.get(db, &NumData::value); }
inline constexpr relish::Query<leaf_fn> leaf;
std::uint64_t sum_fn(Db& db, Num a, Num b) { return leaf(db, a) + leaf(db, b); }
inline constexpr relish::Query<sum_fn> sum;

}  // namespace

TEST_CASE("a batch of writes is one revision: what read several of them runs once",
          "[invalidation][batch]") {
  Db db;
  Num a = Num::create(db, {1}), b = Num::create(db, {2}), c = Num::create(db, {3});
  CHECK(sum(db, a, b) == 3);
  CHECK(sum(db, b, c) == 5);
  const relish::Revision before = db.current_revision();
  EventLog log(db);
  db.write([&] {
    a.set(db, &NumData::value, 10);
    b.set(db, &NumData::value, 20);
    a.set(db, &NumData::value, 11);  // the last write of a field wins
  });
  CHECK(db.current_revision() == before + 1);
  // Marked once, by three writes: a.value (counted at each of its writes), b.value, both
  // leaves, both sums.
  CHECK(db.runtime().marked_by_last_write() == 7);
  CHECK(log.take() == Log{"did_set_input Num#0.value", "did_set_input Num#1.value",
                          "did_set_input Num#0.value"});
  CHECK(sum(db, a, b) == 31);
  CHECK(sum(db, b, c) == 23);
  CHECK(log.executed() == Log{"leaf(Num#0)", "sum(Num#0, Num#1)",
                              "leaf(Num#1)", "sum(Num#1, Num#2)"});
  CHECK(log.accepted() == Log{"leaf(Num#2)"});

  // An empty batch starts no revision.
  db.write([] {});
  CHECK(db.current_revision() == before + 1);
}

TEST_CASE("a batch raises every durability one of its writes changed", "[invalidation][batch]") {
  Db db;
  db.runtime().set_pull_only_for_testing(true);  // the durability shortcut is what is tested
  Num low = Num::create(db, {1});
  Num high = Num::create(db, {2}, relish::Durability::high);
  CHECK(leaf(db, high) == 2);
  CHECK(leaf(db, low) == 1);
  EventLog log(db);
  db.write([&] {
    low.set(db, &NumData::value, 5);    // starts the revision, low durability
    high.set(db, &NumData::value, 7);   // later: the high memos may not take the shortcut
  });
  CHECK(leaf(db, high) == 7);
  CHECK(leaf(db, low) == 5);
  CHECK(log.executed() == Log{"leaf(Num#1)", "leaf(Num#0)"});
}

TEST_CASE("inside a batch, queries are a MisuseError and nested batches join it",
          "[invalidation][batch]") {
  Db db;
  Num a = Num::create(db, {1}), b = Num::create(db, {2});
  CHECK(leaf(db, a) == 1);
  const relish::Revision before = db.current_revision();
  db.write([&] {
    CHECK_THROWS_AS(leaf(db, a), relish::MisuseError);
    CHECK_THROWS_AS(a.get(db, &NumData::value), relish::MisuseError);
    a.set(db, &NumData::value, 3);
    db.write([&] { b.set(db, &NumData::value, 4); });
    Num c = Num::create(db, {5});  // creating inputs is allowed
    (void)c;
  });
  CHECK(db.current_revision() == before + 1);
  CHECK(leaf(db, a) == 3);
  CHECK(leaf(db, b) == 4);
}

TEST_CASE("edits that throw leave what they wrote as one revision, and the database usable",
          "[invalidation][batch]") {
  Db db;
  Num a = Num::create(db, {1}), b = Num::create(db, {2});
  CHECK(sum(db, a, b) == 3);
  const relish::Revision before = db.current_revision();
  CHECK_THROWS_AS(db.write([&] {
                    a.set(db, &NumData::value, 10);
                    throw std::runtime_error("edit failed");
                  }),
                  std::runtime_error);
  CHECK(db.current_revision() == before + 1);
  CHECK(sum(db, a, b) == 12);
  b.set(db, &NumData::value, 3);  // an ordinary write afterwards
  CHECK(sum(db, a, b) == 13);
  db.write([&] { b.set(db, &NumData::value, 4); });
  CHECK(sum(db, a, b) == 14);
}

TEST_CASE("an event callback's exception in a batch reaches the writer when the batch ends",
          "[invalidation][batch]") {
  Db db;
  Num a = Num::create(db, {1}), b = Num::create(db, {2});
  CHECK(sum(db, a, b) == 3);
  int sets = 0;
  db.on_event([&](const relish::Event& e) {
    if (e.kind == relish::EventKind::did_set_input && ++sets == 1)
      throw std::runtime_error("observer failed");
  });
  bool after_first = false;
  CHECK_THROWS_AS(db.write([&] {
                    a.set(db, &NumData::value, 10);
                    after_first = true;  // not interrupted: the batch finishes its edits
                    b.set(db, &NumData::value, 20);
                  }),
                  std::runtime_error);
  CHECK(after_first);
  db.on_event({});
  CHECK(sum(db, a, b) == 30);
}

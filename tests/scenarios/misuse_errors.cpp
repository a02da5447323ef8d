// Misuse is a clear error, never undefined behaviour: setting or creating an input inside a
// query, a handle from another database, a default-constructed handle.
#include <catch2/catch.hpp>
#include <relish/relish.hpp>

#include <cstdint>
#include <string>

#include "../common/event_log.hpp"

namespace {

using Catch::Matchers::Contains;
using relish_test::EventLog;
using relish_test::Log;
using relish_test::message_of;

struct NumData {
  std::uint64_t value;
};
using Num = relish::Input<NumData>;
struct Db : relish::Database {};

std::uint64_t setter_fn(Db& db, Num n) {
  n.set(db, &NumData::value, 5);
  return 0;
}
inline constexpr relish::Query<setter_fn> setter;

std::uint64_t creator_fn(Db& db, Num n) {
  Num::create(db, {.value = n.get(db, &NumData::value)});
  return 0;
}
inline constexpr relish::Query<creator_fn> creator;

std::uint64_t leaf_fn(Db& db, Num n) { return n.get(db, &NumData::value) + 1; }
inline constexpr relish::Query<leaf_fn> leaf;

}  // namespace

TEST_CASE("setting an input inside a query is a MisuseError naming the query", "[scenario]") {
  Db db;
  Num n = Num::create(db, {.value = 1});
  const relish::Revision before = db.current_revision();

  const std::string msg = message_of<relish::MisuseError>([&] { setter(db, n); });
  CHECK_THAT(msg, Contains("setter(Num#0)") && Contains("Num#0.value"));
  CHECK(db.current_revision() == before);  // no revision was started
  CHECK(n.get(db, &NumData::value) == 1);

  CHECK_THAT(message_of<relish::MisuseError>([&] { creator(db, n); }),
             Contains("creator(Num#0)"));

  // The database is still usable, and the failed queries left no memo.
  EventLog log(db);
  n.set(db, &NumData::value, 2);
  CHECK(leaf(db, n) == 3);
  CHECK_THROWS_AS(setter(db, n), relish::MisuseError);
  CHECK(log.executed() == Log{"leaf(Num#0)", "setter(Num#0)"});
}

TEST_CASE("a handle used with another database is a MisuseError", "[scenario]") {
  Db db1;
  Db db2;
  Num n1 = Num::create(db1, {.value = 1});

  // db2 has no NumData at all yet.
  CHECK_THAT(message_of<relish::MisuseError>([&] { n1.get(db2, &NumData::value); }),
             Contains("another database"));

  // db2 has a record at the same index: it must not be read through db1's handle.
  Num n2 = Num::create(db2, {.value = 2});
  REQUIRE(n1.index() == n2.index());
  CHECK_THAT(message_of<relish::MisuseError>([&] { n1.get(db2, &NumData::value); }),
             Contains("another database"));
  CHECK_THAT(message_of<relish::MisuseError>([&] { n1.set(db2, &NumData::value, 7); }),
             Contains("another database"));
  CHECK_THAT(message_of<relish::MisuseError>([&] { leaf(db2, n1); }),
             Contains("another database"));
  CHECK_THAT(message_of<relish::MisuseError>([&] { n2.get(db1, &NumData::value); }),
             Contains("another database"));

  // Both databases are unharmed.
  CHECK(leaf(db1, n1) == 2);
  CHECK(leaf(db2, n2) == 3);
  CHECK(n2.get(db2, &NumData::value) == 2);
}

TEST_CASE("a default-constructed handle is a StaleHandleError", "[scenario]") {
  Db db;
  Num real = Num::create(db, {.value = 1});
  Num null;
  CHECK(null.is_null());

  CHECK_THAT(message_of<relish::StaleHandleError>([&] { null.get(db, &NumData::value); }),
             Contains("null handle"));
  CHECK_THAT(message_of<relish::StaleHandleError>([&] { null.set(db, &NumData::value, 1); }),
             Contains("null handle"));
  CHECK_THROWS_AS(leaf(db, null), relish::StaleHandleError);

  // The null handle's failed query did not disturb the real one at the same index.
  CHECK(leaf(db, real) == 2);
  CHECK_THROWS_AS(leaf(db, null), relish::StaleHandleError);
  CHECK(leaf(db, real) == 2);
}

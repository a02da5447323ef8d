// Verification checks dependencies in the order they were read and stops at the first one
// that changed: a later dependency may not be read at all by the re-execution, so it must
// not be re-run (or even validated) on the way.
#include <catch2/catch.hpp>
#include <relish/relish.hpp>

#include <cstdint>

#include "../common/event_log.hpp"

namespace {

using relish_test::EventLog;
using relish_test::Log;

struct NumData {
  std::uint64_t value;
};
using Num = relish::Input<NumData>;
struct Db : relish::Database {
  Num b;
};

std::uint64_t read_a_fn(Db& db, Num n) { return n.get(db, &NumData::value); }
inline constexpr relish::Query<read_a_fn> read_a;

std::uint64_t read_b_fn(Db& db, Num n) { return n.get(db, &NumData::value) * 10; }
inline constexpr relish::Query<read_b_fn> read_b;

// Reads A, then B only when A is non-zero.
std::uint64_t root_fn(Db& db, Num a_input) {
  const std::uint64_t a = read_a(db, a_input);
  return a == 0 ? 0 : a + read_b(db, db.b);
}
inline constexpr relish::Query<root_fn> root;

}  // namespace

TEST_CASE("verification stops at the first changed dependency", "[scenario]") {
  Db db;
  Num a = Num::create(db, {.value = 1});
  db.b = Num::create(db, {.value = 5});
  CHECK(root(db, a) == 51);
  EventLog log(db);

  // A changes so that B is no longer read; B changes too, but nobody needs it now.
  a.set(db, &NumData::value, 0);
  db.b.set(db, &NumData::value, 6);
  log.clear();
  CHECK(root(db, a) == 0);
  CHECK(log.take() == Log{"will_execute read_a(Num#0)", "will_execute root(Num#0)"});

  // Only A unchanged and B changed: A is validated first, then B re-runs.
  a.set(db, &NumData::value, 2);
  CHECK(root(db, a) == 62);
  db.b.set(db, &NumData::value, 7);
  log.clear();
  CHECK(root(db, a) == 72);
  CHECK(log.take() == Log{"did_accept_clean read_a(Num#0)",
                          "will_execute read_b(Num#1)", "will_execute root(Num#0)"});
}

// A query that depends on itself without cycle recovery is a CycleError naming every query
// of the cycle with its key; nothing is left half-done and the database stays usable.
#include <catch2/catch.hpp>
#include <relish/relish.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "../common/event_log.hpp"

namespace {

using relish_test::EventLog;
using relish_test::Log;
using relish_test::strip_anonymous;

struct NumData {
  std::uint64_t value;
};
using Num = relish::Input<NumData>;
struct Db : relish::Database {};

std::uint64_t odd_fn(Db& db, Num n);
inline constexpr relish::Query<odd_fn> odd;

// even reads odd only while value > 0; odd always reads even: a cycle iff value > 0.
std::uint64_t even_fn(Db& db, Num n) {
  return n.get(db, &NumData::value) > 0 ? odd(db, n) + 1 : 0;
}
inline constexpr relish::Query<even_fn> even;

std::uint64_t odd_fn(Db& db, Num n) { return even(db, n) + 1; }

std::vector<std::string> cycle_of(const relish::CycleError& e) {
  std::vector<std::string> out;
  for (const auto& s : e.cycle()) out.push_back(strip_anonymous(s));
  return out;
}

}  // namespace

TEST_CASE("a cycle is an error naming its queries and keys", "[scenario]") {
  Db db;
  Num n = Num::create(db, {.value = 1});

  for (int attempt = 0; attempt < 2; ++attempt) {  // the same error again: nothing stuck
    INFO("attempt " << attempt);
    try {
      even(db, n);
      FAIL("no CycleError");
    } catch (const relish::CycleError& e) {
      CHECK(cycle_of(e) == Log{"even(Num#0)", "odd(Num#0)", "even(Num#0)"});
      CHECK(strip_anonymous(e.what()) ==
            "relish: cycle detected: even(Num#0) -> odd(Num#0) -> "
            "even(Num#0)");
    }
  }

  // Entering the cycle elsewhere names it from there.
  try {
    odd(db, n);
    FAIL("no CycleError");
  } catch (const relish::CycleError& e) {
    CHECK(cycle_of(e) == Log{"odd(Num#0)", "even(Num#0)", "odd(Num#0)"});
  }

  // Break the cycle: both queries work, and ran afresh (the failed runs left no memo).
  EventLog log(db);
  n.set(db, &NumData::value, 0);
  log.clear();
  CHECK(odd(db, n) == 1);
  CHECK(even(db, n) == 0);
  CHECK(log.take() == Log{"will_execute odd(Num#0)", "will_execute even(Num#0)"});
}

TEST_CASE("a cycle closed while verifying old memos is an error too", "[scenario]") {
  Db db;
  Num n = Num::create(db, {.value = 0});
  CHECK(odd(db, n) == 1);  // odd -> even, no cycle yet

  n.set(db, &NumData::value, 5);  // verifying odd re-runs even, which now reads odd
  try {
    odd(db, n);
    FAIL("no CycleError");
  } catch (const relish::CycleError& e) {
    CHECK(cycle_of(e) == Log{"odd(Num#0)", "even(Num#0)", "odd(Num#0)"});
  }
  CHECK_THROWS_AS(even(db, n), relish::CycleError);

  n.set(db, &NumData::value, 0);
  CHECK(odd(db, n) == 1);
  CHECK(even(db, n) == 0);
}

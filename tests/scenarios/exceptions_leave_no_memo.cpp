// A query that throws leaves no memo: the exception reaches the caller unchanged, the next
// call runs the function again, and once the input is fixed the right value comes back.
#include <catch2/catch.hpp>
#include <relish/relish.hpp>

#include <cstdint>
#include <stdexcept>

#include "../common/event_log.hpp"

namespace {

using relish_test::EventLog;
using relish_test::Log;

struct FractionData {
  std::uint64_t numerator;
  std::uint64_t denominator;
};
using Fraction = relish::Input<FractionData>;
struct Db : relish::Database {};

std::uint64_t quotient_fn(Db& db, Fraction f) {
  const std::uint64_t d = f.get(db, &FractionData::denominator);
  if (d == 0) throw std::domain_error("division by zero");
  return f.get(db, &FractionData::numerator) / d;
}
inline constexpr relish::Query<quotient_fn> quotient;

std::uint64_t rounded_up_fn(Db& db, Fraction f) { return quotient(db, f) + 1; }
inline constexpr relish::Query<rounded_up_fn> rounded_up;

}  // namespace

TEST_CASE("a query that throws re-runs on the next call", "[scenario]") {
  Db db;
  Fraction f = Fraction::create(db, {.numerator = 10, .denominator = 0});
  EventLog log(db);

  for (int attempt = 0; attempt < 2; ++attempt) {  // same revision: no memo, so it re-runs
    INFO("attempt " << attempt);
    CHECK_THROWS_AS(rounded_up(db, f), std::domain_error);
    CHECK(log.take() == Log{"will_execute rounded_up(Fraction#0)",
                            "will_execute quotient(Fraction#0)"});
  }
  CHECK_THROWS_WITH(quotient(db, f), "division by zero");
  CHECK(log.take() == Log{"will_execute quotient(Fraction#0)"});

  f.set(db, &FractionData::denominator, 2);
  log.clear();
  CHECK(rounded_up(db, f) == 6);
  CHECK(log.take() == Log{"will_execute rounded_up(Fraction#0)",
                          "will_execute quotient(Fraction#0)"});

  // From now on it is an ordinary memo.
  f.set(db, &FractionData::numerator, 11);
  log.clear();
  CHECK(rounded_up(db, f) == 6);
  CHECK(log.take() == Log{"will_execute quotient(Fraction#0)",
                          "did_backdate quotient(Fraction#0)",
                          "did_validate_memoized_value rounded_up(Fraction#0)"});
}

TEST_CASE("a memo that starts throwing is dropped, then rebuilt", "[scenario]") {
  Db db;
  Fraction f = Fraction::create(db, {.numerator = 10, .denominator = 5});
  CHECK(rounded_up(db, f) == 3);
  EventLog log(db);

  f.set(db, &FractionData::denominator, 0);
  log.clear();
  // Verifying rounded_up re-runs quotient, which throws: that is a change, so rounded_up
  // re-runs (its own code could catch the error) and meets the error there.
  CHECK_THROWS_AS(rounded_up(db, f), std::domain_error);
  CHECK(log.take() == Log{"will_execute quotient(Fraction#0)",
                          "will_execute rounded_up(Fraction#0)",
                          "will_execute quotient(Fraction#0)"});
  CHECK_THROWS_AS(rounded_up(db, f), std::domain_error);  // the old value is not served
  CHECK(log.take() == Log{"will_execute rounded_up(Fraction#0)",
                          "will_execute quotient(Fraction#0)"});

  // Back to the old denominator: nothing can be reused (the memos are gone), both re-run.
  f.set(db, &FractionData::denominator, 5);
  log.clear();
  CHECK(rounded_up(db, f) == 3);
  CHECK(log.take() == Log{"will_execute rounded_up(Fraction#0)",
                          "will_execute quotient(Fraction#0)"});
}

// A query that re-runs and produces the value it had before is backdated: the queries that
// read it are validated, not re-run.
#include <catch2/catch.hpp>
#include <relish/relish.hpp>

#include <cstdint>
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

std::uint64_t parity_fn(Db& db, Num n) { return n.get(db, &NumData::value) % 2; }
inline constexpr relish::Query<parity_fn> parity;

std::string label_fn(Db& db, Num n) { return parity(db, n) ? "odd" : "even"; }
inline constexpr relish::Query<label_fn> label;

std::size_t label_length_fn(Db& db, Num n) { return label(db, n).size(); }
inline constexpr relish::Query<label_length_fn> label_length;

}  // namespace

TEST_CASE("an equal re-computed value is backdated and its readers are not re-run",
          "[scenario]") {
  Db db;
  Num n = Num::create(db, {.value = 1});
  EventLog log(db);

  CHECK(label_length(db, n) == 3);
  CHECK(log.take() == Log{"will_execute label_length(Num#0)",
                          "will_execute label(Num#0)",
                          "will_execute parity(Num#0)"});

  n.set(db, &NumData::value, 3);  // parity unchanged
  log.clear();
  CHECK(label_length(db, n) == 3);
  CHECK(log.take() == Log{"will_execute parity(Num#0)",
                          "did_backdate parity(Num#0)",
                          "did_validate_memoized_value label(Num#0)",
                          "did_validate_memoized_value label_length(Num#0)"});

  n.set(db, &NumData::value, 4);  // parity changes, and so does the label; its length too
  log.clear();
  CHECK(label_length(db, n) == 4);
  CHECK(log.take() == Log{"will_execute parity(Num#0)",
                          "will_execute label(Num#0)",
                          "will_execute label_length(Num#0)"});

  n.set(db, &NumData::value, 3);  // back to "odd": each reader re-runs when it is read
  log.clear();
  CHECK(label(db, n) == "odd");
  CHECK(log.take() == Log{"will_execute parity(Num#0)",
                          "will_execute label(Num#0)"});
  CHECK(label_length(db, n) == 3);
  CHECK(log.take() == Log{"will_execute label_length(Num#0)"});
}

TEST_CASE("backdating happens in the middle of a chain too", "[scenario]") {
  Db db;
  Num n = Num::create(db, {.value = 2});
  CHECK(label_length(db, n) == 4);
  EventLog log(db);

  n.set(db, &NumData::value, 3);  // parity and label change, the length ("odd") does too
  n.set(db, &NumData::value, 5);  // two writes between reads: still one re-run each
  log.clear();
  CHECK(label_length(db, n) == 3);
  CHECK(log.take() == Log{"will_execute parity(Num#0)",
                          "will_execute label(Num#0)",
                          "will_execute label_length(Num#0)"});

  n.set(db, &NumData::value, 7);
  log.clear();
  CHECK(label_length(db, n) == 3);
  CHECK(log.backdated() == Log{"parity(Num#0)"});
  CHECK(log.executed() == Log{"parity(Num#0)"});
}

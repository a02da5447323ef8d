// A `no_eq` query is never compared with its old value: every re-run counts as a change, so
// its readers re-run. A reader with equality stops the propagation again.
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
inline constexpr relish::Query<parity_fn, relish::Options{.no_eq = true}> parity;

std::string label_fn(Db& db, Num n) { return parity(db, n) ? "odd" : "even"; }
inline constexpr relish::Query<label_fn> label;

std::size_t label_length_fn(Db& db, Num n) { return label(db, n).size(); }
inline constexpr relish::Query<label_length_fn> label_length;

// A value type with no operator== at all: only no_eq makes it a legal query value.
struct Opaque {
  std::uint64_t payload;
  bool operator==(const Opaque&) const = delete;
};
Opaque opaque_fn(Db& db, Num n) { return Opaque{n.get(db, &NumData::value) / 10}; }
inline constexpr relish::Query<opaque_fn, relish::Options{.returns = relish::Returns::ref,
                                                           .no_eq = true}>
    opaque;

std::uint64_t opaque_reader_fn(Db& db, Num n) { return opaque(db, n).payload; }
inline constexpr relish::Query<opaque_reader_fn> opaque_reader;

}  // namespace

TEST_CASE("a no_eq query always counts as changed when it re-runs", "[scenario]") {
  Db db;
  Num n = Num::create(db, {.value = 1});
  CHECK(label_length(db, n) == 3);
  EventLog log(db);

  n.set(db, &NumData::value, 3);  // parity's value is the same, but it is not compared
  log.clear();
  CHECK(label_length(db, n) == 3);
  CHECK(log.take() == Log{"will_execute parity(Num#0)",
                          "will_execute label(Num#0)",
                          "did_backdate label(Num#0)",
                          "did_validate_memoized_value label_length(Num#0)"});
}

TEST_CASE("a no_eq query may return a type without operator==", "[scenario]") {
  Db db;
  Num n = Num::create(db, {.value = 41});
  CHECK(opaque_reader(db, n) == 4);
  EventLog log(db);

  n.set(db, &NumData::value, 42);  // same payload
  log.clear();
  CHECK(opaque_reader(db, n) == 4);
  CHECK(log.take() == Log{"will_execute opaque(Num#0)",
                          "will_execute opaque_reader(Num#0)",
                          "did_backdate opaque_reader(Num#0)"});
}

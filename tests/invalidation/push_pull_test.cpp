// Push-pull invalidation: a write marks the memos that may depend on what it changed (its
// cone, through the reverse edges); only those are verified deeply, every other memo from an
// earlier revision is accepted in O(1) (did_accept_clean). Each case of ../shared/push-pull.md
// with its exact event log.
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
std::uint64_t mid_fn(Db& db, Num n) { return leaf(db, n) * 2; }
inline constexpr relish::Query<mid_fn> mid;
std::uint64_t top_fn(Db& db, Num n) { return mid(db, n) + 1; }
inline constexpr relish::Query<top_fn> top;

std::uint64_t sum_fn(Db& db, Num a, Num b) { return leaf(db, a) + leaf(db, b); }
inline constexpr relish::Query<sum_fn> sum;

std::uint64_t parity_fn(Db& db, Num n) { return n.get(db, &NumData::value) % 2; }
inline constexpr relish::Query<parity_fn> parity;
std::uint64_t parity_plus_fn(Db& db, Num n) { return parity(db, n) + 10; }
inline constexpr relish::Query<parity_plus_fn> parity_plus;

}  // namespace

TEST_CASE("a memo outside every write's cone is accepted without looking at what it read",
          "[invalidation]") {
  Db db;
  // The test build checks every acceptance against a full walk (RELISH_CHECK_ACCEPTANCE).
  CHECK(db.runtime().checks_acceptance());
  Num a = Num::create(db, {1}), b = Num::create(db, {2});
  CHECK(top(db, a) == 3);
  CHECK(top(db, b) == 5);
  EventLog log(db);

  a.set(db, &NumData::value, 4);
  CHECK(db.runtime().marked_by_last_write() == 4);  // a.value, leaf, mid, top of a
  CHECK(top(db, b) == 5);
  CHECK(log.take() == Log{"did_set_input Num#0.value", "did_accept_clean top(Num#1)"});
  CHECK(top(db, a) == 9);
  CHECK(log.take() == Log{"will_execute leaf(Num#0)", "will_execute mid(Num#0)",
                          "will_execute top(Num#0)"});
  // Verified in this revision: hits, no event.
  CHECK(top(db, b) == 5);
  CHECK(log.take().empty());
}

TEST_CASE("a marked memo stops the walk, and cones of several writes accumulate",
          "[invalidation]") {
  Db db;
  Num a = Num::create(db, {1}), b = Num::create(db, {2});
  CHECK(top(db, a) == 3);
  CHECK(top(db, b) == 5);
  EventLog log(db);

  a.set(db, &NumData::value, 4);
  CHECK(db.runtime().marked_by_last_write() == 4);
  a.set(db, &NumData::value, 5);  // its cone is marked already
  CHECK(db.runtime().marked_by_last_write() == 1);
  b.set(db, &NumData::value, 6);
  CHECK(db.runtime().marked_by_last_write() == 4);
  log.clear();
  CHECK(top(db, a) == 11);
  CHECK(top(db, b) == 13);
  CHECK(log.executed() == Log{"leaf(Num#0)", "mid(Num#0)", "top(Num#0)",
                              "leaf(Num#1)", "mid(Num#1)", "top(Num#1)"});
  // Marks are gone once verified: the next write marks them again.
  a.set(db, &NumData::value, 7);
  CHECK(db.runtime().marked_by_last_write() == 4);
}

TEST_CASE("inside the cone, clean dependencies are accepted in O(1) and backdating still cuts",
          "[invalidation]") {
  Db db;
  Num a = Num::create(db, {1}), b = Num::create(db, {2});
  CHECK(sum(db, a, b) == 3);
  CHECK(parity_plus(db, a) == 11);
  EventLog log(db);

  a.set(db, &NumData::value, 3);  // parity unchanged
  log.clear();
  CHECK(sum(db, a, b) == 5);
  CHECK(log.take() == Log{"will_execute leaf(Num#0)", "will_execute sum(Num#0, Num#1)",
                          "did_accept_clean leaf(Num#1)"});
  CHECK(parity_plus(db, a) == 11);
  CHECK(log.take() == Log{"will_execute parity(Num#0)", "did_backdate parity(Num#0)",
                          "did_validate_memoized_value parity_plus(Num#0)"});
}

TEST_CASE("an input set to an equal value still marks its readers (sets are not compared)",
          "[invalidation]") {
  Db db;
  Num a = Num::create(db, {1});
  CHECK(top(db, a) == 3);
  EventLog log(db);
  a.set(db, &NumData::value, 1);
  CHECK(db.runtime().marked_by_last_write() == 4);
  log.clear();
  CHECK(top(db, a) == 3);
  CHECK(log.take() == Log{"will_execute leaf(Num#0)", "did_backdate leaf(Num#0)",
                          "did_validate_memoized_value mid(Num#0)",
                          "did_validate_memoized_value top(Num#0)"});
}

namespace {
std::uint64_t lru_leaf_fn(Db& db, Num n) { return n.get(db, &NumData::value) + 100; }
inline constexpr relish::Query<lru_leaf_fn, relish::Options{.lru = 1}> lru_leaf;
}  // namespace

TEST_CASE("a clean memo whose value was evicted re-runs on read without being verified",
          "[invalidation]") {
  Db db;
  Num a = Num::create(db, {1}), b = Num::create(db, {2});
  CHECK(lru_leaf(db, a) == 101);
  CHECK(lru_leaf(db, b) == 102);
  Num other = Num::create(db, {0});
  other.set(db, &NumData::value, 1);  // a new revision: the LRU keeps only lru_leaf(b)
  REQUIRE_FALSE(decltype(lru_leaf)::ingredient(db).has_value(a.index()));
  EventLog log(db);
  CHECK(lru_leaf(db, a) == 101);
  CHECK(log.take() == Log{"did_accept_clean lru_leaf(Num#0)",
                          "will_execute lru_leaf(Num#0)"});
}

namespace {
struct ItemData {
  Num source;  // identity
  relish::TrackedField<std::uint64_t> size;
};
using Item = relish::Tracked<ItemData>;

Item make_item_fn(Db& db, Num n) { return Item::create(db, {.source = n, .size = {n.get(db, &NumData::value)}}); }
inline constexpr relish::Query<make_item_fn> make_item;
// Reads only the tracked field: its one way to learn of a change is through the creator.
std::uint64_t item_size_fn(Db& db, Item item) { return item.get(db, &ItemData::size) * 10; }
inline constexpr relish::Query<item_size_fn> item_size;
}  // namespace

TEST_CASE("readers of a tracked struct's field are in the cone of the query that creates it",
          "[invalidation]") {
  Db db;
  Num n = Num::create(db, {1});
  const Item item = make_item(db, n);
  CHECK(item_size(db, item) == 10);
  EventLog log(db);
  n.set(db, &NumData::value, 2);
  CHECK(db.runtime().marked_by_last_write() == 3);  // n.value, make_item, item_size
  log.clear();
  CHECK(item_size(db, item) == 20);  // the handle of the last revision still names it
  CHECK(log.executed() == Log{"make_item(Num#0)", "item_size(Item#0)"});
}

namespace {
std::uint64_t fails_fn(Db& db, Num n) {
  const std::uint64_t v = n.get(db, &NumData::value);
  if (v % 2) throw std::runtime_error("odd");
  return v;
}
inline constexpr relish::Query<fails_fn> fails;
std::int64_t safe_fn(Db& db, Num n) {
  try {
    return static_cast<std::int64_t>(fails(db, n));
  } catch (const std::runtime_error&) {
    return -1;
  }
}
inline constexpr relish::Query<safe_fn> safe;
}  // namespace

TEST_CASE("a memo that read a query which failed is verified at every write, as pull would",
          "[invalidation]") {
  Db db;
  Num n = Num::create(db, {1}), unrelated = Num::create(db, {0});
  CHECK(safe(db, n) == -1);  // fails(n) threw on its first run: it has no dependencies
  EventLog log(db);
  unrelated.set(db, &NumData::value, 1);
  log.clear();
  CHECK(safe(db, n) == -1);
  CHECK(log.executed() == Log{"safe(Num#0)", "fails(Num#0)"});
  n.set(db, &NumData::value, 2);
  log.clear();
  CHECK(safe(db, n) == 2);
  CHECK(log.executed() == Log{"safe(Num#0)", "fails(Num#0)"});
  unrelated.set(db, &NumData::value, 2);  // now it succeeded: clean again
  log.clear();
  CHECK(safe(db, n) == 2);
  CHECK(log.take() == Log{"did_accept_clean safe(Num#0)"});
}

TEST_CASE("the pull-only testing mode verifies every memo deeply and gives the same answers",
          "[invalidation]") {
  Db db;
  Num a = Num::create(db, {1}), b = Num::create(db, {2});
  CHECK(top(db, b) == 5);
  db.runtime().set_pull_only_for_testing(true);
  EventLog log(db);
  a.set(db, &NumData::value, 4);
  log.clear();
  CHECK(top(db, b) == 5);
  CHECK(log.validated() == Log{"leaf(Num#1)", "mid(Num#1)", "top(Num#1)"});
  db.runtime().set_pull_only_for_testing(false);
  a.set(db, &NumData::value, 5);
  log.clear();
  CHECK(top(db, b) == 5);
  CHECK(log.take() == Log{"did_accept_clean top(Num#1)"});
}

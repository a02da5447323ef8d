// Per-query LRU: values beyond the capacity (or the byte budget) are dropped at revision
// boundaries, least recently used (by revision) first; their dependency records stay, so
// dependents verify without re-running, and an evicted value is recomputed only when asked for
// (keeping its old changed_at: dependents still do not re-run).
#include <catch2/catch.hpp>
#include <relish/relish.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "../common/event_log.hpp"

namespace {

using relish_test::EventLog;
using relish_test::Log;

struct NumData {
  std::uint64_t value;
  std::uint64_t other = 0;
};
using Num = relish::Input<NumData>;

struct UnrelatedData {
  std::uint64_t value;
};
using Unrelated = relish::Input<UnrelatedData>;

struct Db : relish::Database {};

// value / 10, so some edits re-compute an equal value.
std::uint64_t lru_fn(Db& db, Num n) { return n.get(db, &NumData::value) / 10; }
inline constexpr relish::Query<lru_fn, relish::Options{.lru = 3}> lru;

std::uint64_t dep_fn(Db& db, Num n) { return lru(db, n) + 1; }
inline constexpr relish::Query<dep_fn> dep;

// Not bounded at declaration; bounded at run time with set_lru.
std::uint64_t plain_fn(Db& db, Num n) { return n.get(db, &NumData::value) * 3; }
inline constexpr relish::Query<plain_fn> plain;

// Values of ~1 KiB each (sizeof(std::string) + 1001 bytes on the heap).
std::string big_fn(Db& db, Num n) {
  return std::string(1000, static_cast<char>('a' + n.get(db, &NumData::value) % 26));
}
inline constexpr relish::Query<big_fn, relish::Options{.byte_budget = 5000}> big;
inline constexpr relish::Query<big_fn> big_unbounded;

// Misuse: eviction from inside a query.
std::uint64_t evicting_fn(Db& db, Num) {
  db.trigger_lru_eviction();
  return 0;
}
inline constexpr relish::Query<evicting_fn> evicting;

struct Fixture {
  Db db;
  std::vector<Num> nums;
  Unrelated unrelated = Unrelated::create(db, {.value = 0});
  explicit Fixture(std::uint64_t n) {
    for (std::uint64_t i = 0; i < n; ++i) nums.push_back(Num::create(db, {.value = i * 10}));
  }
  // A write no query depends on: a revision boundary and nothing else.
  void unrelated_edit() {
    unrelated.set(db, &UnrelatedData::value, unrelated.get(db, &UnrelatedData::value) + 1);
  }
};

std::string key(const char* fn, std::uint32_t i) {
  return std::string(fn) + "(Num#" + std::to_string(i) + ")";
}

const relish::IngredientMemory& report_of(const relish::MemoryReport& r, const char* part) {
  for (const auto& m : r.ingredients)
    if (m.name.find(part) != std::string::npos) return m;
  FAIL("no ingredient named like " << part);
  return r.total;
}

}  // namespace

TEST_CASE("LRU eviction keeps dependents green after an unrelated edit", "[memory][lru]") {
  Fixture fx(5);
  for (std::uint32_t i = 0; i < 5; ++i) CHECK(dep(fx.db, fx.nums[i]) == i + 1);
  REQUIRE(decltype(lru)::ingredient(fx.db).lru_capacity() == 3);

  EventLog log(fx.db);
  fx.unrelated_edit();  // revision boundary: 5 values, capacity 3
  CHECK(log.of_kind(relish::EventKind::did_evict) == Log{key("lru", 0), key("lru", 1)});
  CHECK_FALSE(decltype(lru)::ingredient(fx.db).has_value(fx.nums[0].index()));
  CHECK_FALSE(decltype(lru)::ingredient(fx.db).has_value(fx.nums[1].index()));
  CHECK(decltype(lru)::ingredient(fx.db).has_value(fx.nums[2].index()));
  log.clear();

  // The evicted memos' dependency records are kept: dependents are current (outside the
  // edit's cone: accepted without looking at the evicted memos); nothing re-executes, and the
  // evicted values stay evicted.
  for (std::uint32_t i = 0; i < 5; ++i) CHECK(dep(fx.db, fx.nums[i]) == i + 1);
  CHECK(log.executed().empty());
  CHECK(log.accepted().size() == 5);
  CHECK_FALSE(decltype(lru)::ingredient(fx.db).has_value(fx.nums[0].index()));

  const relish::MemoryReport r = relish::memory_report(fx.db);
  CHECK(report_of(r, "lru").entries == 5);
  CHECK(report_of(r, "lru").values == 3);
}

TEST_CASE("an evicted value is recomputed on demand and keeps its changed_at",
          "[memory][lru]") {
  Fixture fx(5);
  for (std::uint32_t i = 0; i < 5; ++i) dep(fx.db, fx.nums[i]);
  fx.unrelated_edit();  // evicts lru(0), lru(1)

  EventLog log(fx.db);
  CHECK(lru(fx.db, fx.nums[0]) == 0);  // asked for: recomputed
  CHECK(log.take() == Log{"did_accept_clean " + key("lru", 0),
                          "will_execute " + key("lru", 0)});
  CHECK(lru(fx.db, fx.nums[0]) == 0);  // now a hit
  CHECK(log.take().empty());

  // The recomputed value counts as unchanged since the old revision: after another boundary
  // its dependent verifies without re-running.
  fx.unrelated_edit();
  log.clear();
  CHECK(dep(fx.db, fx.nums[0]) == 1);
  CHECK(log.executed().empty());

  // A real change to the evicted memo's input re-runs it; with the old value gone it cannot be
  // compared, so even an equal result counts as a change (as in salsa) and the dependent
  // re-runs, then backdates itself.
  fx.nums[1].set(fx.db, &NumData::value, 11);  // 11 / 10 == 1: an equal value
  log.clear();
  CHECK(dep(fx.db, fx.nums[1]) == 2);
  CHECK(log.executed() == Log{key("lru", 1), key("dep", 1)});
  CHECK(log.backdated() == Log{key("dep", 1)});

  // The same edit on a memo that still holds its value backdates at the LRU query. (lru(2)
  // was evicted at the last boundary but one; asking for it brings it back.)
  CHECK(lru(fx.db, fx.nums[2]) == 2);
  fx.nums[2].set(fx.db, &NumData::value, 21);
  log.clear();
  REQUIRE(decltype(lru)::ingredient(fx.db).has_value(fx.nums[2].index()));
  CHECK(dep(fx.db, fx.nums[2]) == 3);
  CHECK(log.executed() == Log{key("lru", 2)});
  CHECK(log.backdated() == Log{key("lru", 2)});
}

TEST_CASE("LRU evicts the least recently used (by revision) first", "[memory][lru]") {
  Fixture fx(5);
  EventLog log(fx.db);
  // Revision A: 0, 1, 2 used.
  for (std::uint32_t i : {0u, 1u, 2u}) lru(fx.db, fx.nums[i]);
  fx.unrelated_edit();  // 3 values: nothing evicted
  CHECK(log.of_kind(relish::EventKind::did_evict).empty());
  // Revision B: 3, 4 computed, 0 used again.
  for (std::uint32_t i : {3u, 4u, 0u}) lru(fx.db, fx.nums[i]);
  log.clear();
  fx.unrelated_edit();  // 5 values: 1 and 2 (last used in A) go; 0 stays
  CHECK(log.of_kind(relish::EventKind::did_evict) == Log{key("lru", 1), key("lru", 2)});

  // Revision C: only 4 used. At the next boundary 0, 3, 4 are live (3 <= capacity): none go.
  lru(fx.db, fx.nums[4]);
  log.clear();
  fx.unrelated_edit();
  CHECK(log.of_kind(relish::EventKind::did_evict).empty());

  // Revision D: 1 recomputed -> 4 live; the least recent (0 and 3, tie broken by key) goes.
  lru(fx.db, fx.nums[1]);
  log.clear();
  fx.unrelated_edit();
  CHECK(log.of_kind(relish::EventKind::did_evict) == Log{key("lru", 0)});
}

TEST_CASE("set_lru changes the capacity at run time", "[memory][lru]") {
  Fixture fx(10);
  for (auto n : fx.nums) plain(fx.db, n);
  EventLog log(fx.db);
  fx.unrelated_edit();  // unbounded: nothing goes
  CHECK(log.of_kind(relish::EventKind::did_evict).empty());

  plain.set_lru(fx.db, 4);
  CHECK(log.of_kind(relish::EventKind::did_evict).empty());  // applied at the next boundary
  fx.unrelated_edit();
  CHECK(log.of_kind(relish::EventKind::did_evict).size() == 6);
  CHECK(relish::memory_report(fx.db).ingredients.size() > 0);
  CHECK(report_of(relish::memory_report(fx.db), "plain").values == 4);

  // Every value back, then unbounded again: nothing goes.
  for (auto n : fx.nums) CHECK(plain(fx.db, n) == n.get(fx.db, &NumData::value) * 3);
  plain.set_lru(fx.db, 0);
  log.clear();
  fx.unrelated_edit();
  CHECK(log.of_kind(relish::EventKind::did_evict).empty());
  CHECK(report_of(relish::memory_report(fx.db), "plain").values == 10);

  // A declared capacity can be raised too.
  lru.set_lru(fx.db, 8);
  for (auto n : fx.nums) lru(fx.db, n);
  log.clear();
  fx.unrelated_edit();
  CHECK(log.of_kind(relish::EventKind::did_evict).size() == 2);
}

TEST_CASE("trigger_lru_eviction applies the capacity without a new revision",
          "[memory][lru]") {
  Fixture fx(6);
  for (auto n : fx.nums) dep(fx.db, n);
  const relish::Revision before = fx.db.current_revision();
  EventLog log(fx.db);
  fx.db.trigger_lru_eviction();
  CHECK(fx.db.current_revision() == before);
  CHECK(log.of_kind(relish::EventKind::did_evict).size() == 3);
  CHECK(report_of(relish::memory_report(fx.db), "lru").values == 3);

  // In the same revision an evicted value is simply recomputed when asked for; its
  // dependent is still verified in this revision and does not re-run.
  log.clear();
  CHECK(dep(fx.db, fx.nums[0]) == 1);
  CHECK(log.take().empty());
  CHECK(lru(fx.db, fx.nums[0]) == 0);
  CHECK(log.executed() == Log{key("lru", 0)});

  // Not allowed inside a query.
  const std::string message =
      relish_test::message_of<relish::MisuseError>([&] { evicting(fx.db, fx.nums[0]); });
  INFO(message);
  CHECK(message.find("cannot trigger LRU eviction") != std::string::npos);
  CHECK(lru(fx.db, fx.nums[1]) == 1);  // the database stays usable
}

TEST_CASE("a byte budget keeps the values' bytes under the budget", "[memory][lru]") {
  Fixture fx(10);
  for (auto n : fx.nums) CHECK(big(fx.db, n).size() == 1000);
  auto before = report_of(relish::memory_report(fx.db), "big");
  CHECK(before.values == 10);
  CHECK(before.value_bytes() > 10 * 1000);

  EventLog log(fx.db);
  fx.unrelated_edit();
  const auto after = report_of(relish::memory_report(fx.db), "big");
  CHECK(after.value_bytes() <= 5000);
  CHECK(after.values == 4);  // 4 * (32 + 1001) <= 5000 < 5 * 1033
  CHECK(log.of_kind(relish::EventKind::did_evict) ==
        Log{key("big", 0), key("big", 1), key("big", 2), key("big", 3),
            key("big", 4), key("big", 5)});

  // Budget raised at run time: everything recomputed fits.
  big.set_byte_budget(fx.db, 20000);
  for (auto n : fx.nums) big(fx.db, n);
  fx.unrelated_edit();
  CHECK(report_of(relish::memory_report(fx.db), "big").values == 10);
}

// Guarded: fails today. A byte budget set at run time on a query declared without one does not
// count the values computed before it was set (their sizes are only measured at execution
// while a budget is on), so nothing is evicted at the next boundary.
TEST_CASE("a byte budget set at run time counts values computed before it",
          "[memory][lru]") {
  Fixture fx(10);
  for (auto n : fx.nums) big_unbounded(fx.db, n);
  big_unbounded.set_byte_budget(fx.db, 5000);
  fx.unrelated_edit();
  const auto after = report_of(relish::memory_report(fx.db), "big");
  CHECK(after.value_bytes() <= 5000);
}

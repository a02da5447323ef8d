// relish::ReclaimBudget: Reclaimable values under one byte budget, reclaimed within a revision.
// A value stored past the budget clears the least recently loaded others; their next load_or
// recomputes them; a Ref held keeps its value; no query re-runs for it. The multi-threaded
// case runs under ThreadSanitizer (`relish_tests "[reclaimable]"`).
#include <catch2/catch.hpp>
#include <relish/relish.hpp>

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "../common/event_log.hpp"

namespace {

using relish_test::EventLog;
using relish_test::Log;

using Blob = std::vector<char>;
constexpr std::size_t kBlob = 1000;

Blob blob(char c) { return Blob(kBlob, c); }

// What a budget charges for one blob: its box (with the reference count) and its heap.
std::size_t charge_of_one() {
  relish::ReclaimBudget probe(std::size_t{1} << 30);
  relish::Reclaimable<Blob> r(probe, blob('x'));
  return probe.bytes_held();
}

}  // namespace

TEST_CASE("a budget clears the least recently loaded values", "[reclaimable][budget]") {
  const std::size_t one = charge_of_one();
  REQUIRE(one >= kBlob);
  relish::ReclaimBudget budget(5 * one);  // room for five
  std::vector<relish::Reclaimable<Blob>> slots;
  for (int i = 0; i < 20; ++i) {
    slots.emplace_back(budget, blob(static_cast<char>('a' + i)));
    CHECK(budget.bytes_held() <= budget.limit());
    (void)slots[0].load();  // slot 0 is in use all along: never the one cleared
  }
  CHECK_FALSE(slots[0].is_cleared());
  CHECK_FALSE(slots.back().is_cleared());  // just stored
  int kept = 0;
  for (const auto& s : slots) kept += !s.is_cleared();
  CHECK(kept == 5);
  CHECK(budget.reclaimed() == 15);
  CHECK(budget.bytes_held() == 5 * one);
}

TEST_CASE("a reclaimed value is recomputed by load_or, and a held Ref keeps it",
          "[reclaimable][budget]") {
  const std::size_t one = charge_of_one();
  relish::ReclaimBudget budget(2 * one);
  relish::Reclaimable<Blob> a(budget, blob('a'));
  relish::Reclaimable<Blob> b(budget, blob('b'));
  const relish::Ref<Blob> held = a.load();          // a is in use: marked
  relish::Reclaimable<Blob> c(budget, blob('c'));  // over: the hand passes a, takes b
  CHECK(b.is_cleared());
  CHECK_FALSE(a.is_cleared());
  CHECK_FALSE(c.is_cleared());
  a.clear();
  CHECK(held->size() == kBlob);
  CHECK((*held)[0] == 'a');  // alive through the Ref
  int computes = 0;
  const relish::Ref<Blob> again = b.load_or([&] {
    ++computes;
    return blob('B');
  });
  CHECK(computes == 1);
  CHECK((*again)[0] == 'B');
  CHECK(budget.bytes_held() == 2 * one);
  CHECK(budget.reclaimed() == 1);
  (void)b.load_or([&] {
    ++computes;
    return blob('?');
  });
  CHECK(computes == 1);  // still there
}

TEST_CASE("values that go, or are cleared, leave the budget", "[reclaimable][budget]") {
  const std::size_t one = charge_of_one();
  relish::ReclaimBudget budget(100 * one);
  {
    std::vector<relish::Reclaimable<Blob>> slots;
    for (int i = 0; i < 10; ++i) slots.emplace_back(budget, blob('x'));
    CHECK(budget.bytes_held() == 10 * one);
    slots[3].clear();
    CHECK(budget.bytes_held() == 9 * one);
    slots[4].store(blob('y'));  // replaced: charged once
    CHECK(budget.bytes_held() == 9 * one);
  }
  CHECK(budget.bytes_held() == 0);
  relish::Reclaimable<Blob> r(budget, blob('z'));
  budget.set_limit(0);  // clears what it holds now
  CHECK(r.is_cleared());
  CHECK(budget.bytes_held() == 0);
}

namespace {

struct TextData {
  std::string text;
};
using Text = relish::Input<TextData>;

struct Db : relish::Database {
  relish::ReclaimBudget asts{0};  // set per test
  std::atomic<int> parses{0};
};

struct Parsed {
  Text text;
  relish::Reclaimable<Blob> ast;
  relish::Ref<Blob> load(Db& db) const {
    return ast.load_or([&] {
      db.parses++;
      return Blob(text.get(db, &TextData::text).begin(), text.get(db, &TextData::text).end());
    });
  }
};

inline constexpr relish::Query<
    [](Db& db, Text t) {
      db.parses++;
      const std::string& s = t.get(db, &TextData::text);
      return Parsed{t, relish::Reclaimable<Blob>(db.asts, Blob(s.begin(), s.end()))};
    },
    relish::Options{.name = "parsed", .returns = relish::Returns::ref, .no_eq = true}>
    parsed;

inline constexpr relish::Query<[](Db& db, Text t) {
  return static_cast<std::uint64_t>(parsed(db, t).load(db)->size());
}, relish::Options{.name = "length"}> length;

}  // namespace

TEST_CASE("a query's values are reclaimed within a revision, no query re-runs",
          "[reclaimable][budget]") {
  Db db;
  std::vector<Text> texts;
  for (int i = 0; i < 50; ++i) texts.push_back(Text::create(db, {std::string(kBlob + i, 'p')}));
  db.asts.set_limit(8 * charge_of_one());
  std::uint64_t total = 0;
  for (Text t : texts) total += length(db, t);
  CHECK(db.parses == 50);  // a cold pass under the budget parses each once
  CHECK(db.asts.bytes_held() <= db.asts.limit());
  CHECK(db.asts.reclaimed() >= 40);
  // The same revision: the memos stand, cleared values are re-parsed on demand.
  EventLog log(db);
  std::uint64_t again = 0;
  for (Text t : texts) again += parsed(db, t).load(db)->size();
  CHECK(again == total);
  CHECK(log.executed() == Log{});
  CHECK(db.parses > 50);
  CHECK(db.asts.bytes_held() <= db.asts.limit());
}

TEST_CASE("a budget shared by threads that load, store and clear", "[reclaimable][budget]") {
  const std::size_t one = charge_of_one();
  relish::ReclaimBudget budget(6 * one);
  std::vector<relish::Reclaimable<Blob>> slots;
  for (int i = 0; i < 32; ++i) slots.emplace_back(budget);
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int k = 0; k < 2000; ++k) {
        const std::size_t i = static_cast<std::size_t>((k * 7 + t * 13) % 32);
        const char want = static_cast<char>('a' + i % 26);
        if (k % 97 == 0) {
          slots[i].clear();
        } else if (k % 31 == 0) {
          slots[i].store(blob(want));
        } else {
          const relish::Ref<Blob> r = slots[i].load_or([&] { return blob(want); });
          if (r->size() != kBlob || (*r)[0] != want || (*r)[kBlob - 1] != want) bad++;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(bad == 0);
  CHECK(budget.reclaimed() > 0);
  // Racing stores and sweeps may over-count a value until the hand takes it again, never
  // under-count: what the slots hold is within what the budget says.
  std::size_t held = 0;
  for (const auto& s : slots) held += s.is_cleared() ? 0 : one;
  CHECK(held <= budget.bytes_held());
  slots.clear();
  CHECK(budget.bytes_held() == 0);
}

// Review of ReclaimBudget: a budgeted value holding a Reclaimable of the same budget was
// charged for the inner value as well (twice in all), and kept that charge after the inner
// slot was cleared.
namespace {
struct Outer {
  relish::Reclaimable<Blob> inner;
};
}  // namespace

TEST_CASE("a budgeted value counts an inner budgeted slot's value once, in that slot",
          "[reclaimable][budget]") {
  const std::size_t one = charge_of_one();
  relish::ReclaimBudget budget(std::size_t{1} << 30);
  relish::Reclaimable<Outer> outer(budget, Outer{relish::Reclaimable<Blob>(budget, blob('x'))});
  const std::size_t held = budget.bytes_held();
  CHECK(held >= one);
  CHECK(held < one + 512);  // the outer value: its box and the inner handle, not the blob
  outer.load()->inner.clear();
  CHECK(budget.bytes_held() == held - one);
}

// Review: the mark a slot's previous value earned by being loaded survived a store, so a new
// value never read outlived another never-read one.
TEST_CASE("a stored value enters unmarked, whatever its slot's previous value was",
          "[reclaimable][budget]") {
  const std::size_t one = charge_of_one();
  relish::ReclaimBudget budget(2 * one);
  relish::Reclaimable<Blob> a(budget, blob('a'));
  relish::Reclaimable<Blob> c(budget, blob('c'));  // stored, never read
  (void)a.load();                                   // a's old value read
  a.store(blob('A'));                               // a's new value: stored, never read
  relish::Reclaimable<Blob> d(budget, blob('d'));   // over budget: the first unmarked goes
  CHECK(a.is_cleared());
  CHECK_FALSE(c.is_cleared());
  CHECK_FALSE(d.is_cleared());
}

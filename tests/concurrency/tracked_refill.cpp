// A query whose value the LRU evicted is refilled (its dependencies verified unchanged) while
// another thread reads the tracked structs it created, current in this revision: the refill
// leaves their fields as they are (equal by purity). It used to assign them again, NoEq
// fields included: a data race with the reader (ThreadSanitizer: test.sh tsan), and a NoEq
// field counted as changed in a revision where it had been read as current.
#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <relish/relish.hpp>

#include "../common/event_log.hpp"

namespace {

struct SourceData {
  std::uint32_t count;
};
using Source = relish::Input<SourceData>;
struct UnrelatedData {
  int v;
};
using Unrelated = relish::Input<UnrelatedData>;

struct ItemData {
  std::uint32_t index;                                       // identity
  relish::TrackedField<std::string, relish::NoEq> text;      // rewritten on every execution
};
using Item = relish::Tracked<ItemData>;

struct Db : relish::Database {};

std::vector<Item> items_fn(Db& db, Source s) {
  std::vector<Item> out;
  const std::uint32_t n = s.get(db, &SourceData::count);
  for (std::uint32_t i = 0; i < n; ++i)
    out.push_back(Item::create(db, {.index = i, .text = std::string(64, char('a' + i % 26))}));
  return out;
}
// LRU 1: of two sources' items, the one used least recently is evicted at a revision boundary.
inline constexpr relish::Query<items_fn, relish::Options{.lru = 1}> items;

std::size_t text_size_fn(Db& db, Item it) { return it.get(db, &ItemData::text).size(); }
inline constexpr relish::Query<text_size_fn> text_size;

}  // namespace

TEST_CASE("a refilled query leaves the fields of the structs it re-creates alone",
          "[concurrency][tracked]") {
  Db db;
  Source a = Source::create(db, {200});
  Source b = Source::create(db, {1});
  Unrelated u = Unrelated::create(db, {0});
  const std::vector<Item> made = items(db, a);  // copied: the value goes with eviction
  (void)items(db, b);                           // a's value is now the least recently used
  for (Item it : made) CHECK(text_size(db, it) == 64);
  u.set(db, &UnrelatedData::v, 1);  // a new revision: a's value is evicted
  // Bring a's structs up to date in this revision: the creator is verified, not re-run.
  relish_test::EventLog log(db);
  CHECK(made[0].get(db, &ItemData::text).size() == 64);
  CHECK(log.executed().empty());
  log.take();

  std::atomic<bool> read_once{false};
  std::atomic<bool> refilled{false};
  std::size_t wrong = 0;
  std::thread reader([&] {
    do {
      for (Item it : made)
        if (it.get(db, &ItemData::text).size() != 64) ++wrong;
      read_once.store(true, std::memory_order_relaxed);  // no happens-before on purpose
    } while (!refilled.load(std::memory_order_relaxed));
  });
  while (!read_once.load(std::memory_order_relaxed)) std::this_thread::yield();
  const std::vector<Item> again = items(db, a);  // the evicted value, refilled
  refilled.store(true, std::memory_order_relaxed);
  reader.join();
  CHECK(wrong == 0);
  CHECK(again == made);
  CHECK(log.executed() == relish_test::Log{"items(Source#0)"});  // it was a refill
  // The NoEq field read as current in this revision stays so: no reader of it re-runs.
  log.take();
  for (Item it : made) CHECK(text_size(db, it) == 64);
  CHECK(log.executed().empty());
}

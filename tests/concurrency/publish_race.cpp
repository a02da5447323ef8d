// A memo is written whole before it is published. A thread that read its verified revision
// just before another thread re-executed and published it goes on to accept it without a
// claim (accept_unclaimed), reading its fields: none of them may be written after the
// publishing store. Threads walk the same keys in the same order after each edit, so that
// they meet on memos being re-executed. Run under ThreadSanitizer by test.sh tsan.
//
// Found by CI's ThreadSanitizer run of cycle_fuzz.cpp (once in many runs): the list of tracked
// structs an execution created was swapped in after the memo was published, also when both
// lists were empty, and accept_unclaimed read it.
#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <relish/relish.hpp>

#include "support.hpp"

namespace {

struct Cell {
  int v = 0;
};
using In = relish::Input<Cell>;
struct Db : relish::Database {
  std::vector<In> in;
};

// A byte budget gives every memo its extras (value_bytes), where the created list lives.
int leaf_fn(Db& db, std::uint32_t i) { return db.in[i].get(db, &Cell::v) % 7; }
inline constexpr relish::Query<leaf_fn, relish::Options{.name = "leaf", .byte_budget = 1 << 20}>
    leaf;

// Creates a tracked struct when its input is odd: the created list changes between runs.
struct Made {
  int v = 0;
  bool operator==(const Made&) const = default;
};
using Thing = relish::Tracked<Made>;
int maker_fn(Db& db, std::uint32_t i) {
  const int v = db.in[i].get(db, &Cell::v);
  if (v % 2 == 0) return 0;
  return Thing::create(db, Made{v}).get(db, &Made::v) % 5;
}
inline constexpr relish::Query<maker_fn, relish::Options{.name = "maker"}> maker;

}  // namespace

TEST_CASE("a published memo is not written after publishing", "[concurrency][publish]") {
  constexpr std::uint32_t kKeys = 64;
  constexpr int kThreads = 4;
  relish_conc::Watchdog dog("publish race");
  Db db;
  for (std::uint32_t i = 0; i < kKeys; ++i) db.in.push_back(In::create(db, {static_cast<int>(i)}));
  std::atomic<long> wrong{0};
  for (int edit = 0; edit < 40; ++edit) {
    std::vector<std::thread> threads;
    for (int k = 0; k < kThreads; ++k) {
      threads.emplace_back([&, k] {
        for (int pass = 0; pass < 3; ++pass) {
          for (std::uint32_t i = 0; i < kKeys; ++i) {
            const int v = static_cast<int>(i) + edit;  // what the last edit wrote
            if (leaf(db, i) != v % 7) ++wrong;
            const std::uint32_t j = (i + static_cast<std::uint32_t>(k)) % kKeys;
            const int w = static_cast<int>(j) + edit;
            if (maker(db, j) != (w % 2 == 0 ? 0 : w % 5)) ++wrong;
            dog.tick();
          }
        }
      });
    }
    for (auto& t : threads) t.join();
    // Every input changes: every memo re-executes in the next revision.
    db.write([&] {
      for (std::uint32_t i = 0; i < kKeys; ++i)
        db.in[i].set(db, &Cell::v, static_cast<int>(i) + edit + 1);
    });
  }
  CHECK(wrong == 0);
}

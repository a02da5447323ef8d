// Setting an input inside a query is a relish::MisuseError, also while other threads are
// running queries; the failed attempt neither writes nor cancels anybody.
#include <catch2/catch.hpp>
#include <relish/relish.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "../common/event_log.hpp"
#include "support.hpp"

namespace {

using namespace std::chrono_literals;
using Catch::Contains;

struct NumData {
  std::uint64_t value;
};
using Num = relish::Input<NumData>;
struct Db : relish::Database {
  Num target;  // what `sneaky` tries to set
};

std::uint64_t leaf_fn(Db& db, Num n) { return n.get(db, &NumData::value) * 2; }
inline constexpr relish::Query<leaf_fn> leaf;

std::uint64_t busy_fn(Db& db, std::uint32_t i) {
  std::uint64_t h = i;
  for (int k = 0; k < 200; ++k) h = h * 31 + leaf(db, db.target) + k;
  return h;
}
inline constexpr relish::Query<busy_fn> busy;

// Tries to set an input from inside a query; lets the MisuseError escape.
std::uint64_t sneaky_fn(Db& db, std::uint32_t attempt) {
  const std::uint64_t v = db.target.get(db, &NumData::value);
  db.target.set(db, &NumData::value, v + attempt + 1);
  return v;
}
inline constexpr relish::Query<sneaky_fn> sneaky;

}  // namespace

TEST_CASE("setting an input inside a query is a MisuseError while other threads run queries",
          "[concurrency]") {
  relish_conc::Watchdog dog("misuse under load", 10s);
  Db db;
  db.target = Num::create(db, {.value = 4});
  const relish::Revision rev = db.current_revision();

  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> reads{0}, cancelled{0};
  std::vector<std::string> errors(3);
  std::vector<std::thread> others;
  for (int t = 0; t < 3; ++t) {
    others.emplace_back([&, t] {
      std::uint32_t i = 0;
      while (!stop.load()) {
        try {
          busy(db, i++ % 64);
          ++reads;
          dog.tick();
        } catch (const relish::Cancelled&) {
          ++cancelled;
        } catch (const std::exception& e) {
          errors[t] = e.what();
          return;
        }
      }
    });
  }
  REQUIRE(relish_conc::spin_until([&] { return reads.load() > 100; }));

  std::vector<std::string> messages;
  for (std::uint32_t attempt = 0; attempt < 20; ++attempt) {
    messages.push_back(relish_test::message_of<relish::MisuseError>(
        [&] { sneaky(db, attempt); }));
    dog.tick();
  }
  const std::uint64_t reads_before_stop = reads.load();
  stop = true;
  for (auto& t : others) t.join();

  for (const std::string& m : messages) {
    CHECK_THAT(m, Contains("cannot set") && Contains("sneaky(") &&
                      Contains("only allowed between queries"));
  }
  for (const std::string& e : errors) CHECK(e == "");
  CHECK(cancelled.load() == 0);  // no write happened, so nobody was cancelled
  CHECK(db.current_revision() == rev);
  CHECK(db.target.get(db, &NumData::value) == 4);
  CHECK(reads_before_stop > 100);

  // The failed queries left no memo; a legal write still works and everything follows it.
  db.target.set(db, &NumData::value, 5);
  CHECK(leaf(db, db.target) == 10);
  CHECK(relish_test::message_of<relish::MisuseError>([&] { sneaky(db, 0); }) != "<no exception>");
}

// Cancellation tokens (Salsa's CancellationToken): another thread cancels one thread's
// queries without a write. The cancelled queries throw Cancelled with reason `token` and
// leave no memo; queries on other threads, and the database, are untouched. A write's
// cancellation says `pending_write`.
#include <catch2/catch.hpp>
#include <relish/relish.hpp>

#include <atomic>
#include <cstdint>
#include <future>
#include <optional>
#include <thread>

#include "support.hpp"

namespace {

struct NumData {
  std::uint64_t value;
};
using Num = relish::Input<NumData>;
struct Db : relish::Database {};

std::atomic<bool> hold{false};
std::atomic<bool> started{false};
std::atomic<int> runs{0};

// Reads its input, then loops (checking for cancellation) while `hold` is set.
std::uint64_t slow_fn(Db& db, Num n) {
  ++runs;
  const std::uint64_t v = n.get(db, &NumData::value);
  started = true;
  while (hold.load(std::memory_order_relaxed)) db.check_cancelled();
  return v * 2;
}
inline constexpr relish::Query<slow_fn> slow;

std::uint64_t quick_fn(Db& db, Num n) { return n.get(db, &NumData::value) + 1; }
inline constexpr relish::Query<quick_fn> quick;

std::uint64_t outer_fn(Db& db, Num n) { return slow(db, n) + 1; }
inline constexpr relish::Query<outer_fn> outer;

}  // namespace

TEST_CASE("a cancellation token cancels its thread's queries, nothing else",
          "[concurrency][cancellation][parity]") {
  relish_conc::Watchdog dog("cancellation tokens");
  Db db;
  Num n = Num::create(db, {.value = 5});
  Num m = Num::create(db, {.value = 7});
  hold = true;
  started = false;
  runs = 0;

  std::promise<relish::CancellationToken> token_out;
  std::optional<relish::Cancelled::Reason> worker_saw;
  std::uint64_t worker_value = 0;
  std::thread worker([&] {
    token_out.set_value(db.cancellation_token());
    try {
      worker_value = outer(db, n);
    } catch (const relish::Cancelled& c) {
      worker_saw = c.reason();
    }
    // The token stays cancelled on this thread: the next query that runs throws too...
    try {
      (void)quick(db, m);
      worker_value = 1;
    } catch (const relish::Cancelled&) {
      worker_value = 2;
    }
  });
  relish::CancellationToken token = token_out.get_future().get();
  relish_conc::await_flag(started, "slow started");
  // Another thread's queries run meanwhile (no write: nothing waits for the worker).
  CHECK(quick(db, n) == 6);
  CHECK_FALSE(token.is_cancelled());
  token.cancel();
  worker.join();
  hold = false;

  REQUIRE(worker_saw.has_value());
  CHECK(*worker_saw == relish::Cancelled::Reason::token);
  CHECK(worker_value == 2);
  CHECK(db.current_revision() == 1);  // no write happened
  // ...and the cancelled executions left no memo: asked again, slow runs afresh.
  CHECK(db.node_info(slow.key(db, n)).kind == relish::NodeInfo::Kind::none);
  CHECK(db.node_info(outer.key(db, n)).kind == relish::NodeInfo::Kind::none);
  CHECK(outer(db, n) == 11);
  CHECK(runs == 2);

  // A new token on a thread starts clean.
  std::thread again([&] {
    relish::CancellationToken t = db.cancellation_token();
    worker_value = quick(db, n);
  });
  again.join();
  CHECK(worker_value == 6);
}

TEST_CASE("a write's cancellation reports pending_write", "[concurrency][cancellation][parity]") {
  relish_conc::Watchdog dog("pending write reason");
  Db db;
  Num n = Num::create(db, {.value = 5});
  hold = true;
  started = false;
  std::optional<relish::Cancelled::Reason> saw;
  std::thread worker([&] {
    relish::CancellationToken t = db.cancellation_token();  // not cancelled
    try {
      (void)slow(db, n);
    } catch (const relish::Cancelled& c) {
      saw = c.reason();
    }
  });
  relish_conc::await_flag(started, "slow started");
  n.set(db, &NumData::value, 6);  // waits until the worker unwound
  hold = false;
  worker.join();
  REQUIRE(saw.has_value());
  CHECK(*saw == relish::Cancelled::Reason::pending_write);
  CHECK(slow(db, n) == 12);
}

// The tracing events of threads: will_block_on when another thread holds the memo (detail: that
// thread), and did_cancel for each execution and verification a write's cancellation unwinds,
// innermost first, each before the end of its span.
#include <catch2/catch.hpp>
#include <relish/relish.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "../common/event_log.hpp"
#include "support.hpp"

namespace {

using namespace std::chrono_literals;
using relish_test::Log;

struct NumData {
  std::uint64_t value;
  std::uint64_t rounds;
};
using Num = relish::Input<NumData>;
struct Db : relish::Database {};

std::atomic<bool> hold{false};     // slow keeps reading while set
std::atomic<bool> started{false};  // slow is running

std::uint64_t slow_fn(Db& db, Num n) {
  std::uint64_t v = n.get(db, &NumData::value);
  started = true;
  while (hold.load(std::memory_order_relaxed)) v = n.get(db, &NumData::value);
  return v + n.get(db, &NumData::rounds);
}
inline constexpr relish::Query<slow_fn, relish::Options{.name = "slow"}> slow;

std::uint64_t outer_fn(Db& db, Num n) { return slow(db, n) + 1; }
inline constexpr relish::Query<outer_fn, relish::Options{.name = "outer"}> outer;

// Events of some kinds, from every thread, as "kind key".
class Recorder {
 public:
  Recorder(Db& db, std::vector<relish::EventKind> kinds) : db_(db), kinds_(std::move(kinds)) {
    db.on_event([this](const relish::Event& e) {
      for (relish::EventKind k : kinds_) {
        if (e.kind != k) continue;
        std::lock_guard<std::mutex> lock(mu_);
        log_.push_back(std::string(relish::to_string(e.kind)) + " " +
                       relish_test::describe(db_, e.key));
        details_.push_back(e.detail);
      }
    });
  }
  ~Recorder() { db_.on_event({}); }
  Log log() const {
    std::lock_guard<std::mutex> lock(mu_);
    return log_;
  }
  std::vector<std::uint32_t> details() const {
    std::lock_guard<std::mutex> lock(mu_);
    return details_;
  }

 private:
  Db& db_;
  std::vector<relish::EventKind> kinds_;
  mutable std::mutex mu_;
  Log log_;
  std::vector<std::uint32_t> details_;
};

bool cancelled(const std::function<void()>& f) {
  try {
    f();
  } catch (const relish::Cancelled&) {
    return true;
  }
  return false;
}

}  // namespace

TEST_CASE("events: will_block_on names the memo and the thread that holds it",
          "[concurrency][observe]") {
  relish_conc::Watchdog dog("will_block_on", 10s);
  Db db;
  Num n = Num::create(db, {.value = 2, .rounds = 0});  // this thread is thread 1 in db
  using K = relish::EventKind;
  Recorder rec(db, {K::will_block_on});
  hold = true;
  started = false;
  std::uint64_t a = 0, b = 0;
  std::thread holder([&] { a = slow(db, n); });  // thread 2: claims slow(Num#0)
  REQUIRE(relish_conc::spin_until([] { return started.load(); }));
  std::thread waiter([&] { b = slow(db, n); });  // thread 3: waits for it
  const bool blocked = relish_conc::spin_until([&] { return !rec.log().empty(); });
  hold = false;
  holder.join();
  waiter.join();
  dog.tick();
  REQUIRE(blocked);
  CHECK(a == 2);
  CHECK(b == 2);
  CHECK(rec.log() == Log{"will_block_on slow(Num#0)"});
  CHECK(rec.details() == std::vector<std::uint32_t>{2});
}

TEST_CASE("events: did_cancel for each execution a write unwinds, innermost first",
          "[concurrency][observe]") {
  relish_conc::Watchdog dog("did_cancel", 10s);
  Db db;
  Num n = Num::create(db, {.value = 2, .rounds = 0});
  using K = relish::EventKind;
  {
    Recorder rec(db, {K::will_execute, K::did_execute, K::did_cancel});
    hold = true;
    started = false;
    bool was_cancelled = false;
    std::thread t([&] { was_cancelled = cancelled([&] { outer(db, n); }); });
    REQUIRE(relish_conc::spin_until([] { return started.load(); }));
    std::this_thread::sleep_for(2ms);
    n.set(db, &NumData::value, 3);  // cancels, waits for the thread to unwind
    t.join();
    dog.tick();
    CHECK(was_cancelled);
    CHECK(rec.log() == Log{"will_execute outer(Num#0)", "will_execute slow(Num#0)",
                           "did_cancel slow(Num#0)", "did_execute slow(Num#0)",
                           "did_cancel outer(Num#0)", "did_execute outer(Num#0)"});
  }
  hold = false;
  CHECK(outer(db, n) == 4);

  // Cancelled while verifying: outer's verification re-runs slow (rounds changed), and the
  // write unwinds both the execution and the verification around it.
  n.set(db, &NumData::rounds, 1);
  Recorder rec(db, {K::will_verify, K::did_verify, K::will_execute, K::did_execute, K::did_cancel});
  hold = true;
  started = false;
  bool was_cancelled = false;
  std::thread t([&] { was_cancelled = cancelled([&] { outer(db, n); }); });
  REQUIRE(relish_conc::spin_until([] { return started.load(); }));
  std::this_thread::sleep_for(2ms);
  n.set(db, &NumData::value, 5);
  t.join();
  dog.tick();
  CHECK(was_cancelled);
  CHECK(rec.log() == Log{"will_verify outer(Num#0)", "will_verify slow(Num#0)",
                         "did_verify slow(Num#0)", "will_execute slow(Num#0)",
                         "did_cancel slow(Num#0)", "did_execute slow(Num#0)",
                         "did_cancel outer(Num#0)", "did_verify outer(Num#0)"});
  const std::vector<std::uint32_t> d = rec.details();
  REQUIRE(d.size() == 8);
  CHECK(d[2] == static_cast<std::uint32_t>(relish::VerifyEnd::changed));
  CHECK(d[7] == static_cast<std::uint32_t>(relish::VerifyEnd::unwound));
  hold = false;
}

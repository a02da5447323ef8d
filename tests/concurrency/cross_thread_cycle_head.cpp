// The head of a cycle that threads enter at different queries does not depend on scheduling.
// Two threads each claim one query of a cycle, then need the other's: one of them must make
// way so that the cycle runs on one thread, and the one that makes way decides where the
// cycle closes (at the memo it waited for). relish chooses it by the cycle's queries, not by
// which thread came last: the cycle closes at a query with a policy (Fixpoint or
// CycleFallback) if it has one, then at the first by name and key. Each test forces both
// orders (either thread blocks first, the other finds the cycle) and expects the same values.
#include <catch2/catch.hpp>
#include <relish/relish.hpp>

#include <atomic>
#include <chrono>
#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <thread>

#include "support.hpp"

namespace {

using namespace std::chrono_literals;

struct Db : relish::Database {};

struct CapData {
  std::int64_t cap = 5;
};
using Cap = relish::Input<CapData>;

// The schedule: while `armed`, the first execution of each query announces itself and waits
// for the other's, so each thread owns one query; then the thread named `late` waits until the
// other one is blocked on it before it asks for the other's memo, so `late` finds the cycle.
std::atomic<bool> armed{false};
std::atomic<int> entered{0};
std::atomic<int> blocked{0};
std::atomic<int> late{0};  // 1: the thread entering at the first query, 2: at the second

void await_at_least(const std::atomic<int>& n, int want, const char* what) {
  if (!relish_conc::spin_until([&] { return n.load() >= want; }, std::chrono::seconds(5)))
    throw std::runtime_error(std::string("timed out waiting until ") + what);
}

void meet(int me) {
  if (!armed.load()) return;
  entered.fetch_add(1);
  await_at_least(entered, 2, "both queries entered");
  if (late.load() == me) await_at_least(blocked, 1, "the other thread blocked");
}

void arm(Db& db, int late_thread) {
  armed = true;
  entered = 0;
  blocked = 0;
  late = late_thread;
  db.on_event([](const relish::Event& e) {
    if (e.kind == relish::EventKind::will_block_on) blocked.fetch_add(1);
  });
}

struct Outcome {
  std::int64_t value = -1;
  std::string error;
};

template <class Q>
std::thread run_into(Outcome& out, const Q& q, Db& db, Cap c) {
  return std::thread([&out, &q, &db, c] {
    try {
      out.value = q(db, c);
    } catch (const std::exception& e) {
      out.error = e.what();
    }
  });
}

// ---- a fixpoint head and a query without a policy ------------------------------------------
//
// plain = min(head + 1, cap); head = plain, from 0: both settle on cap. Entered at both, the
// cycle must close at `head` on whichever thread runs it. (Entered at `plain` alone, it comes
// back to `plain`, which has no policy, and relish heads it at `head` too: close_cycle.)

std::int64_t zero(Db&, Cap) { return 0; }
std::int64_t plain_fn(Db& db, Cap c);
std::int64_t head_fn(Db& db, Cap c);
inline constexpr relish::Query<plain_fn> plain;
inline constexpr relish::Query<head_fn, relish::Options{}, relish::Fixpoint<zero>> head;

std::int64_t plain_fn(Db& db, Cap c) {
  meet(1);
  return std::min(head(db, c) + 1, c.get(db, &CapData::cap));
}
std::int64_t head_fn(Db& db, Cap c) {
  meet(2);
  return plain(db, c);
}

// ---- two fallback queries --------------------------------------------------------------------
//
// Where the cycle closes decides the values. Both recover, so it closes at the first by name:
// `first`, on every schedule; the values are those of the cycle entered at `first` alone.

std::int64_t hundred(Db&, Cap) { return 100; }
std::int64_t two_hundred(Db&, Cap) { return 200; }
std::int64_t first_fn(Db& db, Cap c);
std::int64_t second_fn(Db& db, Cap c);
inline constexpr relish::Query<first_fn, relish::Options{}, relish::CycleFallback<hundred>> first;
inline constexpr relish::Query<second_fn, relish::Options{}, relish::CycleFallback<two_hundred>>
    second;

std::int64_t first_fn(Db& db, Cap c) {
  meet(1);
  return second(db, c) + 1;
}
std::int64_t second_fn(Db& db, Cap c) {
  meet(2);
  return first(db, c) + 10 + c.get(db, &CapData::cap);
}

template <class Q1, class Q2>
void run_both(Db& db, Cap c, const Q1& q1, const Q2& q2, int late_thread, Outcome& o1,
              Outcome& o2) {
  arm(db, late_thread);
  std::thread t1 = run_into(o1, q1, db, c);
  std::thread t2 = run_into(o2, q2, db, c);
  t1.join();
  t2.join();
  armed = false;
  db.on_event({});
}

}  // namespace

TEST_CASE("a cycle two threads enter at a fixpoint query and at a plain one converges, "
          "whichever thread finds it",
          "[concurrency][cycles]") {
  relish_conc::Watchdog dog("cycle head across threads", 10s);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const int late_thread = 1 + attempt % 2;  // either thread finds the cycle
    CAPTURE(attempt, late_thread);
    Db db;
    Cap c = Cap::create(db, {.cap = 5});
    Outcome op, oh;
    run_both(db, c, plain, head, late_thread, op, oh);
    dog.tick();
    CHECK(op.error == "");
    CHECK(oh.error == "");
    CHECK(op.value == 5);
    CHECK(oh.value == 5);
    // The memos are final and follow an edit.
    c.set(db, &CapData::cap, 3);
    CHECK(plain(db, c) == 3);
    CHECK(head(db, c) == 3);
  }
}

TEST_CASE("where a cycle of threads closes does not depend on which thread finds it",
          "[concurrency][cycles]") {
  relish_conc::Watchdog dog("fallback head across threads", 10s);
  // The single-threaded answer with the cycle entered at `first`.
  std::int64_t want_first = 0, want_second = 0;
  {
    Db db;
    Cap c = Cap::create(db, {.cap = 5});
    want_first = first(db, c);
    want_second = second(db, c);
  }
  {  // entered at `second`, the values differ: the head matters
    Db db;
    Cap c = Cap::create(db, {.cap = 5});
    const std::int64_t s = second(db, c);
    const std::int64_t f = first(db, c);
    REQUIRE((s != want_second || f != want_first));
  }
  for (int attempt = 0; attempt < 10; ++attempt) {
    const int late_thread = 1 + attempt % 2;
    CAPTURE(attempt, late_thread);
    Db db;
    Cap c = Cap::create(db, {.cap = 5});
    Outcome o1, o2;
    run_both(db, c, first, second, late_thread, o1, o2);
    dog.tick();
    CHECK(o1.error == "");
    CHECK(o2.error == "");
    CHECK(o1.value == want_first);
    CHECK(o2.value == want_second);
  }
}

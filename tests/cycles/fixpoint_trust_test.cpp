// Fixpoint iteration that user code cannot break: a head reached while it is being verified,
// an iteration abandoned by an exception, an Initial that reads its own head, a widening that
// maps back, tracked structs created in early rounds. Ports of ../shared/repro/fixpoint/
// {early_start_empty_provisional,abandoned_iteration_reused,widening_never_converges,
// struct_from_round0_deleted,recover_reads_lost}.cpp and ../shared/repro/audit/
// fixpoint_initial_recursion.cpp. The ASan build runs them with _GLIBCXX_ASSERTIONS.
#include <algorithm>
#include <optional>
#include <stdexcept>

#include <catch2/catch.hpp>
#include <relish/relish.hpp>

#include "../common/event_log.hpp"

namespace {

struct Db : relish::Database {};
struct D {
  int v = 0;
};
using In = relish::Input<D>;

// ---- a head reached while it is being verified (the cycle appears with an edit) ----

int early_initial(Db&, In) { return 255; }
int early_a_fn(Db& db, In in);
int early_b_fn(Db& db, In in);
inline constexpr relish::Query<early_a_fn, relish::Options{}, relish::Fixpoint<early_initial>>
    early_a;
inline constexpr relish::Query<early_b_fn> early_b;
int early_a_fn(Db& db, In in) { return early_b(db, in); }
int early_b_fn(Db& db, In in) { return in.get(db, &D::v) ? early_a(db, in) : 30; }

TEST_CASE("fixpoint: a cycle that appears while its head is being verified", "[fixpoint][trust]") {
  Db db;
  In in = In::create(db, {0});
  CHECK(early_a(db, in) == 30);
  in.set(db, &D::v, 1);  // now a -> b -> a
  CHECK(early_a(db, in) == 255);
  CHECK(early_b(db, in) == 255);
  in.set(db, &D::v, 0);
  CHECK(early_a(db, in) == 30);
}

// ---- an iteration abandoned by an exception, then started again ----

bool g_fail_once = true;
int zero(Db&) { return 0; }
int ab_a_fn(Db& db);
int ab_b_fn(Db& db);
inline constexpr relish::Query<ab_a_fn, relish::Options{}, relish::Fixpoint<zero>> ab_a;
inline constexpr relish::Query<ab_b_fn> ab_b;
int ab_a_fn(Db& db) {
  const int x = ab_b(db);
  if (g_fail_once) {
    g_fail_once = false;
    throw std::runtime_error("boom");
  }
  return x;
}
int ab_b_fn(Db& db) { return std::min(ab_a(db) + 1, 3); }

TEST_CASE("fixpoint: an iteration abandoned by an exception leaves nothing for the next one",
          "[fixpoint][trust]") {
  Db db;
  g_fail_once = true;
  CHECK_THROWS_WITH(ab_a(db), "boom");
  CHECK(ab_a(db) == 3);
  CHECK(ab_b(db) == 3);
}

// ---- an Initial that calls its own head ----

int rec_head_fn(Db& db);
int rec_initial(Db& db);
inline constexpr relish::Query<rec_head_fn, relish::Options{}, relish::Fixpoint<rec_initial>>
    rec_head;
int rec_initial(Db& db) { return rec_head(db) - 1; }  // misuse: Initial reads the head
int rec_head_fn(Db& db) { return rec_head(db) < 3 ? rec_head(db) + 1 : 3; }

TEST_CASE("fixpoint: an Initial that reads its own head is a CycleError, not a stack overflow",
          "[fixpoint][trust]") {
  Db db;
  CHECK_THROWS_AS(rec_head(db), relish::CycleError);
  CHECK_THROWS_AS(relish::Tracked<D>::create(db, {1}), relish::MisuseError);  // no frame left
}

// ---- convergence judged after Recover ----

constexpr int kTooMany = -1;
int wide_initial(Db&) { return 0; }
int wide_recover(Db&, const int& v, std::uint32_t iteration) {
  return iteration > 4 ? kTooMany : v;
}
int wide_fn(Db& db);
inline constexpr relish::Query<wide_fn, relish::Options{},
                               relish::Fixpoint<wide_initial, wide_recover>>
    wide;
int wide_fn(Db& db) {  // b = max(20, succ_or_zero(b))
  const int prev = wide(db);
  const int c = prev == kTooMany ? 0 : prev + 1;
  return std::max(c, 20);
}

TEST_CASE("fixpoint: convergence is judged on the value Recover hands to the next round",
          "[fixpoint][trust]") {
  Db db;
  CHECK(wide(db) == kTooMany);
}

// ---- tracked structs created in round 0 and returned in the final value ----

struct TD {
  int v;
};
using T = relish::Tracked<TD>;
std::optional<T> st_initial(Db&, In) { return std::nullopt; }
std::optional<T> st_head_fn(Db& db, In in);
inline constexpr relish::Query<st_head_fn, relish::Options{}, relish::Fixpoint<st_initial>>
    st_head;
T st_part_fn(Db& db, In in) {
  const std::optional<T> prev = st_head(db, in);
  return prev ? *prev : T::create(db, {1 + in.get(db, &D::v)});  // create once, then reuse
}
inline constexpr relish::Query<st_part_fn> st_part;
std::optional<T> st_head_fn(Db& db, In in) { return st_part(db, in); }

TEST_CASE("fixpoint: a tracked struct from an early round in the final value stays alive",
          "[fixpoint][trust]") {
  Db db;
  In in = In::create(db, {0});
  const std::optional<T> t = st_head(db, in);
  REQUIRE(t);
  CHECK(t->get(db, &TD::v) == 1);
  CHECK(st_part(db, in).get(db, &TD::v) == 1);
  // After an edit the whole component re-runs; what it returns is alive again.
  in.set(db, &D::v, 4);
  const std::optional<T> u = st_head(db, in);
  REQUIRE(u);
  CHECK(u->get(db, &TD::v) == 5);
}

// ../shared/repro/fixpoint/inner_head_diverges.cpp (failed before the component iteration:
// "c() did not converge after 200 fixpoint iterations"). c <-> d is nested in a <-> b and
// has no fixpoint of its own while a is held at 0 (c = a + d + 1, d = c); Salsa's per-SCC
// iteration gives a = 1: c makes one pass per round of a, and a's next round no longer
// reads c.
unsigned ih_zero(Db&) { return 0; }
unsigned ih_a_fn(Db&);
unsigned ih_b_fn(Db&);
unsigned ih_c_fn(Db&);
unsigned ih_d_fn(Db&);
using IhFixpoint = relish::Fixpoint<ih_zero>;
inline constexpr relish::Query<ih_a_fn, relish::Options{.name = "a"}, IhFixpoint> ih_a;
inline constexpr relish::Query<ih_b_fn, relish::Options{.name = "b"}, IhFixpoint> ih_b;
inline constexpr relish::Query<ih_c_fn, relish::Options{.name = "c"}, IhFixpoint> ih_c;
inline constexpr relish::Query<ih_d_fn, relish::Options{.name = "d"}, IhFixpoint> ih_d;
unsigned ih_a_fn(Db& db) {
  const unsigned x = ih_b(db);
  return x < 1 ? ih_c(db) : x;
}
unsigned ih_b_fn(Db& db) { return ih_a(db); }
unsigned ih_c_fn(Db& db) { return ih_a(db) + ih_d(db) + 1; }
unsigned ih_d_fn(Db& db) { return ih_c(db); }

TEST_CASE("fixpoint: nested cycles iterate as one component (an inner head that diverges "
          "alone)",
          "[fixpoint][trust]") {
  Db db;
  relish_test::EventLog log(db);
  CHECK(ih_a(db) == 1);
  // c is read in round 0 only: its value was never final, and it is dropped.
  CHECK(db.node_info(ih_c.key(db)).kind == relish::NodeInfo::Kind::none);
  CHECK(log.executed().size() <= 8);
}

}  // namespace

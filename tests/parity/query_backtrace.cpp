// Query backtraces (Salsa's Backtrace::capture): the stack of active queries, readable, from
// inside a query (Database::backtrace) and on every relish::Error that leaves a query.
#include <catch2/catch.hpp>
#include <relish/relish.hpp>

#include <string>
#include <vector>

namespace {

using Strings = std::vector<std::string>;

struct ExprData {
  int value;
};
using Expr = relish::Input<ExprData>;
struct Db : relish::Database {
  Strings seen;
};

class TypeError : public relish::Error {
 public:
  using relish::Error::Error;
};

int leaf_fn(Db& db, Expr e) {
  db.seen = db.backtrace();
  const int v = e.get(db, &ExprData::value);
  if (v < 0) throw TypeError("negative literal " + std::to_string(v));
  return v;
}
inline constexpr relish::Query<leaf_fn> leaf;

int middle_fn(Db& db, Expr e) { return leaf(db, e) * 2; }
inline constexpr relish::Query<middle_fn> middle;

int top_fn(Db& db, Expr e) { return middle(db, e) + 1; }
inline constexpr relish::Query<top_fn> top;

int loop_fn(Db& db, Expr e);
inline constexpr relish::Query<loop_fn> loop;
int loop_fn(Db& db, Expr e) { return loop(db, e); }

int loop_caller_fn(Db& db, Expr e) { return loop(db, e) + 1; }
inline constexpr relish::Query<loop_caller_fn> loop_caller;

}  // namespace

TEST_CASE("a backtrace lists the active queries, innermost first", "[parity][backtrace]") {
  Db db;
  Expr e = Expr::create(db, {.value = 3});
  CHECK(db.backtrace().empty());  // outside every query
  CHECK(top(db, e) == 7);
  CHECK(db.seen == Strings{"leaf(Expr#0)", "middle(Expr#0)", "top(Expr#0)"});
}

TEST_CASE("an error leaving a query carries the backtrace of where it was thrown",
          "[parity][backtrace]") {
  Db db;
  Expr e = Expr::create(db, {.value = -1});
  try {
    (void)top(db, e);
    FAIL("no error");
  } catch (const TypeError& err) {
    CHECK(std::string(err.what()) == "relish: negative literal -1");
    CHECK(err.backtrace() == Strings{"leaf(Expr#0)", "middle(Expr#0)", "top(Expr#0)"});
    CHECK(err.backtrace_string() ==
          "  0: leaf(Expr#0)\n  1: middle(Expr#0)\n  2: top(Expr#0)\n");
  }
  // The engine's own errors too: a cycle, with the path it closed and who called it.
  try {
    (void)loop_caller(db, e);
    FAIL("no cycle");
  } catch (const relish::CycleError& err) {
    CHECK(err.cycle() == Strings{"loop(Expr#0)", "loop(Expr#0)"});
    CHECK(err.backtrace() == Strings{"loop(Expr#0)", "loop_caller(Expr#0)"});
  }
  // Thrown outside every query: no backtrace.
  try {
    Expr stale;
    (void)stale.get(db, &ExprData::value);
  } catch (const relish::StaleHandleError& err) {
    CHECK(err.backtrace().empty());
  }
}

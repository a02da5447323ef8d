// What an event callback may do: look at the event and call Database::describe. Entering the
// database from a callback (a query, a read, a write) is a MisuseError, never a deadlock or a
// relocked mutex; what a callback throws reaches the caller of the outermost relish call.
// Port of ../shared/repro/audit/callback_reentry.cpp (its four modes).
#include <optional>
#include <string>

#include <catch2/catch.hpp>
#include <relish/relish.hpp>

namespace {

struct D {
  int v = 0;
};
using In = relish::Input<D>;
struct Db : relish::Database {
  In in;
};

int read_fn(Db& db) { return db.in.get(db, &D::v); }
inline constexpr relish::Query<read_fn, relish::Options{.lru = 1}> read_in;
int other_fn(Db& db, int k) { return db.in.get(db, &D::v) + k; }
inline constexpr relish::Query<other_fn, relish::Options{.lru = 1}> other;

// Installs a callback that runs `action` on the first event of `kind` and records the error.
template <class Action>
void on_first(Db& db, relish::EventKind kind, std::optional<std::string>& error, Action action) {
  db.on_event([&db, kind, &error, action, fired = false](const relish::Event& e) mutable {
    if (e.kind != kind || fired) return;
    fired = true;
    try {
      action(db);
    } catch (const relish::MisuseError& m) {
      error = m.what();
    }
  });
}

TEST_CASE("trust: a query from a did_set_input callback is a MisuseError", "[trust]") {
  Db db;
  db.in = In::create(db, {1});
  std::optional<std::string> error;
  on_first(db, relish::EventKind::did_set_input, error, [](Db& d) { (void)read_in(d); });
  db.in.set(db, &D::v, 2);
  REQUIRE(error);
  CHECK(error->find("event callback") != std::string::npos);
  db.on_event({});
  CHECK(read_in(db) == 2);
}

TEST_CASE("trust: a write from a did_set_input callback is a MisuseError", "[trust]") {
  Db db;
  db.in = In::create(db, {1});
  std::optional<std::string> error;
  on_first(db, relish::EventKind::did_set_input, error, [](Db& d) { d.in.set(d, &D::v, 5); });
  db.in.set(db, &D::v, 2);
  REQUIRE(error);
  CHECK(error->find("from an event callback") != std::string::npos);
  db.on_event({});
  CHECK(db.in.get(db, &D::v) == 2);
  db.in.set(db, &D::v, 3);  // the write lock was not left held
  CHECK(read_in(db) == 3);
}

TEST_CASE("trust: a query from a did_evict callback during trigger_lru_eviction is a "
          "MisuseError",
          "[trust]") {
  Db db;
  db.in = In::create(db, {1});
  (void)other(db, 1);
  (void)other(db, 2);
  std::optional<std::string> error;
  on_first(db, relish::EventKind::did_evict, error, [](Db& d) { (void)read_in(d); });
  db.trigger_lru_eviction();
  REQUIRE(error);
  db.on_event({});
  CHECK(other(db, 1) == 2);
}

TEST_CASE("trust: a query called from its own will_execute callback is a MisuseError",
          "[trust]") {
  Db db;
  db.in = In::create(db, {1});
  std::optional<std::string> error;
  on_first(db, relish::EventKind::will_execute, error, [](Db& d) { (void)read_in(d); });
  CHECK(read_in(db) == 1);
  REQUIRE(error);
  db.on_event({});
}

TEST_CASE("trust: an exception a callback lets through surfaces from the outermost call",
          "[trust]") {
  Db db;
  db.in = In::create(db, {1});
  db.on_event([&db](const relish::Event& e) {
    if (e.kind == relish::EventKind::will_execute) (void)read_in(db);  // MisuseError escapes
  });
  CHECK_THROWS_AS(read_in(db), relish::MisuseError);
  db.on_event({});
  CHECK(read_in(db) == 1);  // the memo itself was stored
}

}  // namespace

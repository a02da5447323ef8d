// A memo that depends only on high-durability inputs is validated in O(1) after a
// low-durability write: its dependencies are not walked, so nothing below it is validated.
#include <catch2/catch.hpp>
#include <relish/relish.hpp>

#include <cstdint>

#include "../common/event_log.hpp"

namespace {

using relish_test::EventLog;
using relish_test::Log;

struct NumData {
  std::uint64_t value;
};
using Num = relish::Input<NumData>;
struct Db : relish::Database {};

std::uint64_t stdlib_size_fn(Db& db, Num n) { return n.get(db, &NumData::value) * 2; }
inline constexpr relish::Query<stdlib_size_fn> stdlib_size;

std::uint64_t stdlib_root_fn(Db& db, Num n) { return stdlib_size(db, n) + 1; }
inline constexpr relish::Query<stdlib_root_fn> stdlib_root;

std::uint64_t user_fn(Db& db, Num n) { return n.get(db, &NumData::value); }
inline constexpr relish::Query<user_fn> user;

}  // namespace

// With push-pull invalidation, a low write marks nothing that depends on high inputs only: such
// memos are accepted in O(1) (did_accept_clean), as the shortcut promises, and more (the
// shortcut itself only serves in the pull-only testing mode).
TEST_CASE("after a low write, a high-durability memo validates without walking its deps",
          "[scenario]") {
  Db db;
  Num lib = Num::create(db, {.value = 10}, relish::Durability::high);
  Num file = Num::create(db, {.value = 1}, relish::Durability::low);
  EventLog log(db);

  CHECK(stdlib_root(db, lib) == 21);
  CHECK(user(db, file) == 1);
  CHECK(log.take() == Log{"will_execute stdlib_root(Num#0)",
                          "will_execute stdlib_size(Num#0)",
                          "will_execute user(Num#1)"});

  file.set(db, &NumData::value, 2);
  log.clear();
  CHECK(stdlib_root(db, lib) == 21);
  CHECK(log.take() == Log{"did_accept_clean stdlib_root(Num#0)"});
  CHECK(user(db, file) == 2);
  CHECK(log.take() == Log{"will_execute user(Num#1)"});

  // The intermediate query, read on its own later, takes the shortcut as well.
  CHECK(stdlib_size(db, lib) == 20);
  CHECK(log.take() == Log{"did_accept_clean stdlib_size(Num#0)"});

  // A high write walks the dependencies as usual.
  lib.set(db, &NumData::value, 11);
  log.clear();
  CHECK(stdlib_root(db, lib) == 23);
  CHECK(log.take() == Log{"will_execute stdlib_size(Num#0)",
                          "will_execute stdlib_root(Num#0)"});
}

TEST_CASE("lowering an input's durability turns the shortcut off for its readers",
          "[scenario]") {
  Db db;
  Num lib = Num::create(db, {.value = 10}, relish::Durability::high);
  Num file = Num::create(db, {.value = 1}, relish::Durability::low);
  CHECK(stdlib_root(db, lib) == 21);
  EventLog log(db);

  // Same value, lower durability: the readers re-run, and may not claim the old change
  // revision (they now depend on a low input), so nothing is backdated.
  lib.set(db, &NumData::value, 10, relish::Durability::low);
  log.clear();
  CHECK(stdlib_root(db, lib) == 21);
  CHECK(log.take() == Log{"will_execute stdlib_size(Num#0)",
                          "will_execute stdlib_root(Num#0)"});

  // Now a low write elsewhere would mean a full walk of the dependencies for the durability
  // shortcut; with push-pull, `file` has no reader here, so nothing is marked.
  file.set(db, &NumData::value, 2);
  log.clear();
  CHECK(stdlib_root(db, lib) == 21);
  CHECK(log.take() == Log{"did_accept_clean stdlib_root(Num#0)"});
  db.runtime().set_pull_only_for_testing(true);
  file.set(db, &NumData::value, 5);
  log.clear();
  CHECK(stdlib_root(db, lib) == 21);
  CHECK(log.take() == Log{"did_validate_memoized_value stdlib_size(Num#0)",
                          "did_validate_memoized_value stdlib_root(Num#0)"});
  db.runtime().set_pull_only_for_testing(false);

  // Raising it again: one re-run (an equal value with a higher durability backdates).
  lib.set(db, &NumData::value, 10, relish::Durability::high);
  log.clear();
  CHECK(stdlib_root(db, lib) == 21);
  CHECK(log.take() == Log{"will_execute stdlib_size(Num#0)",
                          "did_backdate stdlib_size(Num#0)",
                          "did_validate_memoized_value stdlib_root(Num#0)"});
  // stdlib_size is high again and takes the shortcut. (The root, only validated, may still
  // remember the low durability it had; either way nothing re-runs.)
  file.set(db, &NumData::value, 3);
  log.clear();
  CHECK(stdlib_root(db, lib) == 21);
  CHECK(log.executed().empty());
  CHECK(log.take() == Log{"did_accept_clean stdlib_root(Num#0)"});
  CHECK(stdlib_size(db, lib) == 20);
  CHECK(log.executed().empty());
}

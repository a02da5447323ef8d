// Durability::never_change (Salsa's NEVER_CHANGE): such a field cannot be set again, a memo
// that read only never-change inputs is never verified again (not even in O(1): no event),
// and a memo that read them and others verifies only the others.
#include <catch2/catch.hpp>
#include <relish/relish.hpp>

#include <string>

#include "../common/event_log.hpp"

namespace {

using relish::Durability;
using relish_test::EventLog;
using relish_test::Log;

struct BuiltinsData {
  std::string names;  // "len print range", a vendored stub that ships with the tool
};
using Builtins = relish::Input<BuiltinsData>;
struct FileData {
  std::string text;
};
using File = relish::Input<FileData>;

struct Db : relish::Database {
  Builtins builtins;
};

std::size_t builtin_count_fn(Db& db, Builtins b) {
  std::size_t n = 1;
  for (char c : b.get(db, &BuiltinsData::names)) n += c == ' ';
  return n;
}
inline constexpr relish::Query<builtin_count_fn> builtin_count;

std::size_t score_fn(Db& db, File f) {
  return builtin_count(db, db.builtins) * 100 + f.get(db, &FileData::text).size();
}
inline constexpr relish::Query<score_fn> score;

int answer_fn(Db&) { return 42; }  // reads nothing: as final as a never-change input
inline constexpr relish::Query<answer_fn> answer;

void run(bool pull_only) {
  Db db;
  db.runtime().set_pull_only_for_testing(pull_only);
  db.builtins = Builtins::create(db, {.names = "len print range"}, Durability::never_change);
  File f = File::create(db, {.text = "x"});
  File other = File::create(db, {.text = "y"}, Durability::high);
  EventLog log(db);

  CHECK(score(db, f) == 301);
  CHECK(answer(db) == 42);
  CHECK(log.executed() == Log{"score(File#0)", "builtin_count(Builtins#0)", "answer()"});

  // Writes of every durability: the final memos are not looked at, not even in O(1).
  other.set(db, &FileData::text, "yy");
  f.set(db, &FileData::text, "xyz");
  log.clear();
  CHECK(builtin_count(db, db.builtins) == 3);
  CHECK(answer(db) == 42);
  CHECK(log.take().empty());
  CHECK(db.node_info(score.key(db, f)).durability == Durability::low);
  CHECK(db.node_info(builtin_count.key(db, db.builtins)).durability == Durability::never_change);

  // A memo that read both verifies (and here re-runs for) the volatile part only.
  CHECK(score(db, f) == 303);
  CHECK(log.take() == Log{"will_execute score(File#0)"});

  // Setting a never-change field is a typed error naming it, and changes nothing.
  CHECK_THROWS_AS(db.builtins.set(db, &BuiltinsData::names, "len"), relish::ImmutableInputError);
  CHECK_THROWS_WITH(db.builtins.set(db, &BuiltinsData::names, "len"),
                    "relish: cannot set Builtins#0.names: it has durability never_change");
  CHECK(db.builtins.get(db, &BuiltinsData::names) == "len print range");
  CHECK_THROWS_AS(db.builtins.remove(db), relish::ImmutableInputError);

  // A field may be made final by its last set; after that it is immutable too.
  other.set(db, &FileData::text, "final", Durability::never_change);
  CHECK_THROWS_AS(other.set(db, &FileData::text, "again"), relish::ImmutableInputError);
  CHECK(other.get(db, &FileData::text) == "final");
}

}  // namespace

TEST_CASE("never_change inputs: immutable, and memos on them are never verified again",
          "[parity][durability]") {
  SECTION("push-pull") { run(false); }
  SECTION("pull-only") { run(true); }
}

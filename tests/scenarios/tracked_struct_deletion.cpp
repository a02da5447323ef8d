// Tracked structs that the creating query does not re-create are deleted: did_discard, reading
// them throws StaleHandleError, memos keyed on them are dropped (asked again, they re-execute
// and throw rather than return the old value), and their slot is reused by a later entity
// with a new generation, which the old handle never reaches.
#include <catch2/catch.hpp>
#include <relish/relish.hpp>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "../common/event_log.hpp"


namespace {

using relish_test::EventLog;
using relish_test::Log;

struct FileData {
  std::string text;  // "a=1 b=2": one definition per word
  std::uint32_t unrelated = 0;
};
using File = relish::Input<FileData>;

struct DefinitionData {
  File file;
  std::string name;
  relish::TrackedField<std::int64_t> value;
};
using Definition = relish::Tracked<DefinitionData>;

struct Db : relish::Database {};

std::vector<Definition> definitions_fn(Db& db, File f) {
  std::vector<Definition> out;
  const std::string& text = f.get(db, &FileData::text);
  for (std::size_t i = text.find_first_not_of(' '); i != std::string::npos;) {
    const std::size_t end = std::min(text.find(' ', i), text.size());
    const std::string w = text.substr(i, end - i);
    const auto eq = w.find('=');
    out.push_back(Definition::create(
        db, {.file = f, .name = w.substr(0, eq), .value = std::stoll(w.substr(eq + 1))}));
    i = text.find_first_not_of(' ', end);
  }
  return out;
}
inline constexpr relish::Query<definitions_fn> definitions;

std::string def_name_fn(Db& db, Definition d) { return d.get(db, &DefinitionData::name); }
inline constexpr relish::Query<def_name_fn> def_name;

std::int64_t def_value_fn(Db& db, Definition d) { return d.get(db, &DefinitionData::value); }
inline constexpr relish::Query<def_value_fn> def_value;

// A memo keyed on a definition that reads nothing of it (only its identity as a key).
std::uint32_t def_slot_fn(Db&, Definition d) { return d.index(); }
inline constexpr relish::Query<def_slot_fn> def_slot;

}  // namespace

TEST_CASE("tracked: entities not re-created are deleted, and so are memos keyed on them",
          "[scenario]") {
  Db db;
  File f = File::create(db, {.text = "a=1 b=2 c=3"});
  EventLog log(db);

  const std::vector<Definition> defs = definitions(db, f);
  REQUIRE(defs.size() == 3);
  const Definition a = defs[0], b = defs[1], c = defs[2];
  for (const Definition& d : defs) {
    (void)def_name(db, d);
    (void)def_value(db, d);
    (void)def_slot(db, d);
  }
  log.clear();

  // c is gone from the source: the re-run does not create it, so it is deleted.
  f.set(db, &FileData::text, "a=1 b=2");
  log.clear();
  CHECK(definitions(db, f) == std::vector<Definition>{a, b});
  CHECK(log.take() ==
        Log{"will_execute definitions(File#0)", "did_discard Definition#2"});

  CHECK(relish_test::message_of<relish::StaleHandleError>(
            [&] { (void)c.get(db, &DefinitionData::name); }) ==
        "relish: tracked struct Definition#2 was deleted: its creating query ran "
        "again without creating it");
  CHECK_THROWS_AS(c.get(db, &DefinitionData::value), relish::StaleHandleError);
  // Its memos cannot be reused: a query keyed on a dead handle is an error before anything
  // runs, even one that reads nothing of the entity.
  CHECK_THROWS_AS(def_value(db, c), relish::StaleHandleError);
  CHECK_THROWS_AS(def_slot(db, c), relish::StaleHandleError);
  CHECK(log.take().empty());
  // The survivors are untouched.
  CHECK(def_name(db, a) == "a");
  CHECK(def_value(db, b) == 2);
  CHECK(log.take() == Log{"did_validate_memoized_value def_name(Definition#0)",
                          "did_validate_memoized_value def_value(Definition#1)"});

  // The memos keyed on c that nobody asked for are dropped by the next revision.
  f.set(db, &FileData::unrelated, 1u);
  CHECK_FALSE(def_name.ingredient(db).has_value(c.index()));
  CHECK_FALSE(def_slot.ingredient(db).has_value(c.index()));
  CHECK(def_name.ingredient(db).has_value(a.index()));
  CHECK(def_slot.ingredient(db).has_value(b.index()));
  CHECK_THROWS_AS(def_name(db, c), relish::StaleHandleError);
}

TEST_CASE("tracked: a deleted entity's slot is reused with a new generation", "[scenario]") {
  Db db;
  File f = File::create(db, {.text = "a=1 b=2 c=3"});
  const std::vector<Definition> defs = definitions(db, f);
  REQUIRE(defs.size() == 3);
  const Definition c = defs[2];
  CHECK(def_value(db, c) == 3);
  CHECK(def_slot(db, c) == 2);

  f.set(db, &FileData::text, "a=1 b=2");
  CHECK(definitions(db, f).size() == 2);

  // A new definition takes c's slot: same index, another generation, another handle.
  EventLog log(db);
  f.set(db, &FileData::text, "a=1 b=2 d=9");
  log.clear();
  const std::vector<Definition> now = definitions(db, f);
  REQUIRE(now.size() == 3);
  const Definition d = now[2];
  CHECK(d.index() == c.index());
  CHECK(d != c);
  CHECK(d.get(db, &DefinitionData::name) == "d");
  CHECK_THROWS_AS(c.get(db, &DefinitionData::name), relish::StaleHandleError);
  // Memos of the slot's previous entity are not handed to the new one.
  CHECK(def_value(db, d) == 9);
  CHECK(def_name(db, d) == "d");
  CHECK(def_slot(db, d) == 2);
  CHECK(log.take() == Log{"will_execute definitions(File#0)",
                          "will_execute def_value(Definition#2)",
                          "will_execute def_name(Definition#2)",
                          "will_execute def_slot(Definition#2)"});
  // Re-creating "c" now gives yet another entity: c's handle stays dead.
  f.set(db, &FileData::text, "a=1 b=2 d=9 c=3");
  const std::vector<Definition> later = definitions(db, f);
  REQUIRE(later.size() == 4);
  CHECK(later[2] == d);
  CHECK(later[3] != c);
  CHECK(later[3].get(db, &DefinitionData::value) == 3);
  CHECK_THROWS_AS(c.get(db, &DefinitionData::name), relish::StaleHandleError);
}

// A slot is reused only from the revision after the deletion (a memo keyed on the deleted
// entity may have handed out a reference, valid until the next write); the new entity then
// keeps its memos: the drop queued for the old one does not touch them.
TEST_CASE("tracked: a new entity reusing a deleted entity's slot keeps its memos", "[scenario]") {
  Db db;
  File f = File::create(db, {.text = "a=1"});
  File g = File::create(db, {.text = "x=5"});
  const Definition a = definitions(db, f)[0];
  CHECK(def_value(db, a) == 1);
  CHECK(definitions(db, g).size() == 1);

  // In one revision: f's re-run deletes a (slot 0); g's re-run creates y, in a fresh slot.
  f.set(db, &FileData::text, "");
  g.set(db, &FileData::text, "x=5 y=6");
  CHECK(definitions(db, f).empty());
  const Definition y = definitions(db, g)[1];
  CHECK(y.index() != a.index());
  CHECK(def_value(db, y) == 6);

  // Next revision: z takes slot 0, with a new generation.
  g.set(db, &FileData::text, "x=5 y=6 z=7");
  const Definition z = definitions(db, g)[2];
  CHECK(z.index() == a.index());
  CHECK(z != a);
  CHECK(def_value(db, z) == 7);
  CHECK_THROWS_AS(def_value(db, a), relish::StaleHandleError);

  relish_test::EventLog log(db);
  g.set(db, &FileData::unrelated, 1u);  // unrelated: z's value memo is still good
  log.clear();
  CHECK(definitions(db, g)[2] == z);
  CHECK(def_value(db, z) == 7);
  CHECK(log.take() == Log{"did_accept_clean definitions(File#1)",
                          "did_accept_clean def_value(Definition#0)"});
}

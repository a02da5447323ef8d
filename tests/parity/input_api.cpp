// Salsa's input conveniences: singleton inputs, setters that return the old value, and a
// durability per field at creation (ty's File: a durable path, a volatile text).
#include <catch2/catch.hpp>
#include <relish/relish.hpp>

#include <optional>
#include <string>

#include "../common/event_log.hpp"

namespace {

using relish::Durability;
using relish_test::EventLog;
using relish_test::Log;

struct SettingsData {
  int python_version = 311;
  bool strict = false;
};
using Settings = relish::Input<SettingsData, relish::Singleton>;

struct FileData {
  std::string path;
  std::string text;
};
using File = relish::Input<FileData>;

struct Db : relish::Database {};

// A setting read without passing a handle around; a default until the settings exist.
int version_fn(Db& db) {
  std::optional<Settings> s = Settings::try_instance(db);
  return s ? s->get(db, &SettingsData::python_version) : 300;
}
inline constexpr relish::Query<version_fn> version;

std::string extension_fn(Db& db, File f) {
  const std::string& p = f.get(db, &FileData::path);
  return p.substr(p.rfind('.') + 1);
}
inline constexpr relish::Query<extension_fn> extension;

}  // namespace

TEST_CASE("a singleton input: created once, found without a handle", "[parity][singleton]") {
  Db db;
  CHECK_THROWS_WITH(Settings::instance(db),
                    "relish: singleton input Settings was not created: call create(db, value) "
                    "first");
  EventLog log(db);
  CHECK(version(db) == 300);

  // Creating it is a write: the query that found none re-runs.
  Settings s = Settings::create(db, {.python_version = 312});
  CHECK(Settings::instance(db) == s);
  log.clear();
  CHECK(version(db) == 312);
  CHECK(log.executed() == Log{"version()"});

  CHECK_THROWS_WITH(Settings::create(db, {}),
                    "relish: singleton input Settings already exists: create it once, then set "
                    "its fields");
  log.clear();
  CHECK(version(db) == 312);
  CHECK(log.executed().empty());

  // Fields are tracked one by one, as on any input.
  Settings::instance(db).set(db, &SettingsData::strict, true);
  log.clear();
  CHECK(version(db) == 312);
  CHECK(log.executed().empty());
  CHECK(Settings::instance(db).set(db, &SettingsData::python_version, 313) == 312);
  CHECK(version(db) == 313);
}

TEST_CASE("set returns the old value", "[parity]") {
  Db db;
  File f = File::create(db, {.path = "a.py", .text = "x = 1"});
  std::string old = f.set(db, &FileData::text, "x = 2");
  CHECK(old == "x = 1");
  CHECK(f.set(db, &FileData::text, std::string("x = 3"), Durability::medium) == "x = 2");
  CHECK(f.get(db, &FileData::text) == "x = 3");
}

TEST_CASE("durability per field at creation", "[parity][durability]") {
  Db db;
  db.runtime().set_pull_only_for_testing(true);  // to see the durability shortcut itself
  File f = File::create(db, {.path = "lib/os.py", .text = "import sys"}, Durability::low,
                        relish::field_durability(&FileData::path, Durability::high));
  CHECK(db.node_info(relish::DatabaseKey{File::ingredient(db).first_index(), f.index()})
            .durability == Durability::high);
  CHECK(db.node_info(relish::DatabaseKey{File::ingredient(db).first_index() + 1, f.index()})
            .durability == Durability::low);
  CHECK(extension(db, f) == "py");
  CHECK(db.node_info(extension.key(db, f)).durability == Durability::high);

  // Typing in the file (a low write): what read only its path is validated by the
  // durability shortcut, its dependencies not walked (a walk would not re-run it either).
  EventLog log(db);
  f.set(db, &FileData::text, "import os");
  CHECK(extension(db, f) == "py");
  CHECK(log.take() == Log{"did_set_input File#0.text",
                          "did_validate_memoized_value extension(File#0)"});
  // Moving the file (a high write) does re-run it.
  f.set(db, &FileData::path, std::string("lib/os.pyi"));
  CHECK(extension(db, f) == "pyi");
  CHECK(log.executed() == Log{"extension(File#0)"});
}

// Removing an input (Salsa's open issue 345): a new revision; the memos keyed on it and their
// values are freed; queries that read it re-run; its handle is stale from then on.
#include <catch2/catch.hpp>
#include <relish/relish.hpp>

#include <memory>
#include <string>
#include <vector>

#include "../common/event_log.hpp"

namespace {

using relish_test::EventLog;
using relish_test::Log;

struct FileData {
  std::string path;
  std::string text;
};
using File = relish::Input<FileData>;
struct ProjectData {
  std::vector<File> files;
};
using Project = relish::Input<ProjectData>;
struct Db : relish::Database {};

std::weak_ptr<const std::string> last_parse;  // to see a memo's value freed

std::shared_ptr<const std::string> parse_fn(Db& db, File f) {
  auto p = std::make_shared<const std::string>("ast of " + f.get(db, &FileData::text));
  last_parse = p;
  return p;
}
inline constexpr relish::Query<parse_fn> parse;

std::size_t total_fn(Db& db, Project p) {
  std::size_t n = 0;
  for (File f : p.get(db, &ProjectData::files)) n += parse(db, f)->size();
  return n;
}
inline constexpr relish::Query<total_fn> total;

// Reads the first file's text without being keyed on it.
std::string first_path_fn(Db& db, Project p) {
  return p.get(db, &ProjectData::files).front().get(db, &FileData::path);
}
inline constexpr relish::Query<first_path_fn> first_path;

}  // namespace

TEST_CASE("removing an input frees its memos and re-runs its readers", "[parity][removal]") {
  Db db;
  File a = File::create(db, {.path = "a.py", .text = "x"});
  File b = File::create(db, {.path = "b.py", .text = "yy"});
  Project p = Project::create(db, {.files = {a, b}});
  CHECK(total(db, p) == 2 * std::string("ast of ").size() + 3);
  CHECK(first_path(db, p) == "a.py");
  std::weak_ptr<const std::string> b_ast = last_parse;
  REQUIRE(!b_ast.expired());
  const relish::DatabaseKey parse_b = parse.key(db, b);
  const relish::Revision before = db.current_revision();

  EventLog log(db);
  db.write([&] {  // the editor deletes b.py: the project forgets it, the file goes
    p.set(db, &ProjectData::files, std::vector<File>{a});
    b.remove(db);
  });
  CHECK(db.current_revision() == before + 1);
  CHECK(log.take() == Log{"did_set_input Project#0.files", "did_remove_input File#1.path"});
  CHECK(b_ast.expired());  // the memo's value is freed
  CHECK(db.node_info(parse_b).kind == relish::NodeInfo::Kind::none);

  CHECK(total(db, p) == std::string("ast of ").size() + 1);
  CHECK(log.executed() == Log{"total(Project#0)"});  // parse(a) is reused
  log.clear();

  // The handle is stale: reading it, or a query keyed on it, is a typed error.
  CHECK_THROWS_AS(b.get(db, &FileData::text), relish::StaleHandleError);
  CHECK_THROWS_WITH(parse(db, b), "relish: input File#1 was removed");
  CHECK_THROWS_AS(b.remove(db), relish::StaleHandleError);
  CHECK_THROWS_AS(b.set(db, &FileData::text, "zz"), relish::StaleHandleError);

  // A query that read a removed input (not keyed on it) re-runs, and meets the stale handle.
  a.remove(db);
  log.clear();
  CHECK_THROWS_AS(first_path(db, p), relish::StaleHandleError);
  CHECK(log.executed() == Log{"first_path(Project#0)"});

  // New inputs get new slots; the memory report counts live inputs only.
  File c = File::create(db, {.path = "c.py", .text = "zzz"});
  CHECK(c.index() == 2);
  p.set(db, &ProjectData::files, std::vector<File>{c});
  CHECK(first_path(db, p) == "c.py");
  CHECK(File::ingredient(db).size() == 3);
}

TEST_CASE("removing an input is a write: not inside a query", "[parity][removal]") {
  Db db;
  File a = File::create(db, {.path = "a.py", .text = "x"});
  static File victim;
  victim = a;
  static constexpr auto remover = relish::query([](Db& d, int) {
    victim.remove(d);
    return 0;
  });
  CHECK_THROWS_AS(remover(db, 1), relish::MisuseError);
  CHECK(a.get(db, &FileData::text) == "x");  // still there
}

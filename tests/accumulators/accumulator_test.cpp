// Accumulators: values pushed by a query and everything it read, in execution order, each
// query once; correct incrementally (memos reused without re-running keep contributing).
#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <vector>

#include "../common/event_log.hpp"

namespace {

using relish_test::EventLog;
using relish_test::Log;

struct Diagnostic {
  std::string message;
  friend bool operator==(const Diagnostic&, const Diagnostic&) = default;
};
using Diagnostics = relish::Accumulator<Diagnostic>;
struct Note {
  int n;
};
using Notes = relish::Accumulator<Note>;

struct FileData {
  std::string text;
  std::vector<std::string> imports;
};
using File = relish::Input<FileData>;

struct Db : relish::Database {
  std::vector<File> files;
};

std::size_t check_line(Db& db, File f, std::size_t line);
std::size_t check_file_fn(Db& db, File f);
inline constexpr relish::Query<check_line> line_check;
inline constexpr relish::Query<check_file_fn> check_file;

// The file whose text starts with `name` (a stand-in for module resolution).
std::optional<File> resolve_fn(Db& db, std::string name) {
  for (File g : db.files)
    if (g.get(db, &FileData::text).starts_with(name)) return g;
  return std::nullopt;
}
inline constexpr relish::Query<resolve_fn> resolve;

// Every line containing "bad" is a diagnostic; returns the number of such lines.
std::size_t check_line(Db& db, File f, std::size_t line) {
  const std::string& text = f.get(db, &FileData::text);
  std::size_t start = 0;
  for (std::size_t i = 0; i < line; ++i) start = text.find('\n', start) + 1;
  const std::string l = text.substr(start, text.find('\n', start) - start);
  if (l.find("bad") != std::string::npos) {
    Diagnostics::push(db, {"line " + std::to_string(line) + ": " + l});
    return 1;
  }
  return 0;
}

std::size_t check_file_fn(Db& db, File f) {
  Diagnostics::push(db, {"checking"});
  Notes::push(db, {1});
  const std::string& text = f.get(db, &FileData::text);
  std::size_t lines = 1, bad = 0;
  for (char c : text) lines += c == '\n';
  for (std::size_t i = 0; i < lines; ++i) bad += line_check(db, f, i);
  for (const std::string& imported : f.get(db, &FileData::imports))
    if (std::optional<File> g = resolve(db, imported)) bad += check_file(db, *g);
  Diagnostics::push(db, {"done"});
  return bad;
}

std::vector<std::string> messages(const std::vector<Diagnostic>& d) {
  std::vector<std::string> out;
  for (const auto& x : d) out.push_back(x.message);
  return out;
}

TEST_CASE("accumulated values come in execution order, each query once", "[accumulator]") {
  Db db;
  File lib = File::create(db, {.text = "lib\nbad lib line", .imports = {}});
  File app = File::create(db, {.text = "app\nok\nbad app", .imports = {"lib", "lib"}});
  db.files = {lib, app};
  CHECK(messages(relish::accumulated<Diagnostics>(db, check_file, app)) ==
        std::vector<std::string>{"checking", "line 2: bad app", "checking", "line 1: bad lib line",
                                 "done", "done"});
  CHECK(relish::accumulated<Notes>(db, check_file, app).size() == 2);
  CHECK(messages(relish::accumulated<Diagnostics>(db, line_check, app, std::size_t{2})) ==
        std::vector<std::string>{"line 2: bad app"});
}

TEST_CASE("memos reused without re-running keep contributing", "[accumulator][incremental]") {
  Db db;
  File lib = File::create(db, {.text = "lib\nbad lib line", .imports = {}});
  File app = File::create(db, {.text = "app\nok\nbad app", .imports = {"lib"}});
  db.files = {lib, app};
  CHECK(relish::accumulated<Diagnostics>(db, check_file, app).size() == 6);

  EventLog log(db);
  // An edit to lib that keeps its number of bad lines: check_file(lib) re-runs and backdates,
  // check_file(app) is reused, yet the new message shows up.
  lib.set(db, &FileData::text, std::string("lib\nbad lib LINE"));
  CHECK(messages(relish::accumulated<Diagnostics>(db, check_file, app)) ==
        std::vector<std::string>{"checking", "line 2: bad app", "checking", "line 1: bad lib LINE",
                                 "done", "done"});
  const Log executed = log.executed();
  CHECK(std::find(executed.begin(), executed.end(), "check_file(File#1)") ==
        executed.end());

  // Fixing the bad line removes its diagnostic.
  lib.set(db, &FileData::text, std::string("lib\nfine"));
  CHECK(messages(relish::accumulated<Diagnostics>(db, check_file, app)) ==
        std::vector<std::string>{"checking", "line 2: bad app", "checking", "done", "done"});
}

TEST_CASE("pushing outside a query is a MisuseError", "[accumulator]") {
  Db db;
  CHECK_THROWS_AS(Diagnostics::push(db, {"x"}), relish::MisuseError);
}

// accumulated() skips memos with no values pushed below them (a per-memo flag, as salsa's
// accumulated_inputs). The flag must never say "none" while there are some: a re-run whose
// value is equal but that starts pushing is not backdated, so its readers re-run and learn it.
struct PushData {
  int value;
  bool push;
};
using PushIn = relish::Input<PushData>;
int pushing_leaf_fn(Db& db, PushIn in) {
  if (in.get(db, &PushData::push)) Diagnostics::push(db, {"leaf"});
  return in.get(db, &PushData::value) > 0 ? 1 : 0;
}
inline constexpr relish::Query<pushing_leaf_fn> pushing_leaf;
int pushing_mid_fn(Db& db, PushIn in) { return pushing_leaf(db, in) + 1; }
inline constexpr relish::Query<pushing_mid_fn> pushing_mid;
int pushing_top_fn(Db& db, PushIn in) { return pushing_mid(db, in) + 1; }
inline constexpr relish::Query<pushing_top_fn> pushing_top;

TEST_CASE("a re-run that starts pushing values is seen by accumulated() of its readers",
          "[accumulator][incremental]") {
  Db db;
  PushIn in = PushIn::create(db, {.value = 1, .push = false});
  CHECK(relish::accumulated<Diagnostics>(db, pushing_top, in).empty());
  EventLog log(db);
  in.set(db, &PushData::push, true);  // the leaf's value stays 1
  CHECK(relish::accumulated<Diagnostics>(db, pushing_top, in) == std::vector<Diagnostic>{{"leaf"}});
  CHECK(log.executed() == Log{"pushing_leaf(Push#0)", "pushing_mid(Push#0)",
                              "pushing_top(Push#0)"});
  CHECK(log.backdated().empty());
  log.clear();
  in.set(db, &PushData::value, 2);  // pushes still, value equal: backdated as usual
  CHECK(relish::accumulated<Diagnostics>(db, pushing_top, in) == std::vector<Diagnostic>{{"leaf"}});
  CHECK(log.executed() == Log{"pushing_leaf(Push#0)"});
  log.clear();
  in.set(db, &PushData::push, false);  // stops pushing: the readers' flags stay (harmless)
  CHECK(relish::accumulated<Diagnostics>(db, pushing_top, in).empty());
  CHECK(log.executed() == Log{"pushing_leaf(Push#0)"});
  in.set(db, &PushData::push, true);  // and starts again
  CHECK(relish::accumulated<Diagnostics>(db, pushing_top, in) == std::vector<Diagnostic>{{"leaf"}});
}

// accumulated() inside a query (issue 12, point 6; ../shared/repro/fixpoint/
// accumulated_in_query_stale.cpp). The query depends on what the walk collects: every memo
// the walk looks at is a dependency through its accumulated values (a node of its own,
// changed when the memo's pushes or reads change), so a memo below that re-runs, pushes
// other values and backdates its value still re-runs the caller.
struct SrcData {
  std::string text;
};
using Src = relish::Input<SrcData>;
int lint_leaf_fn(Db& db, Src s) {
  if (s.get(db, &SrcData::text) != "0") Diagnostics::push(db, {"bad " + s.get(db, &SrcData::text)});
  return 0;
}
inline constexpr relish::Query<lint_leaf_fn> lint_leaf;
int lint_fn(Db& db, Src s) { return lint_leaf(db, s); }  // pushes nothing itself
inline constexpr relish::Query<lint_fn> lint;
std::size_t direct_count_fn(Db& db, Src s) {
  return relish::accumulated<Diagnostics>(db, lint_leaf, s).size();
}
inline constexpr relish::Query<direct_count_fn> direct_count;
std::vector<Diagnostic> deep_fn(Db& db, Src s) { return relish::accumulated<Diagnostics>(db, lint, s); }
inline constexpr relish::Query<deep_fn> deep;

// Regression (failed at 9481c03: count stayed 0, the memo of the query calling accumulated()
// depended only on the callee's unchanged value).
TEST_CASE("accumulated() inside a query sees the values of a callee that backdated",
          "[accumulator][incremental]") {
  Db db;
  Src s = Src::create(db, {"0"});
  CHECK(direct_count(db, s) == 0);
  CHECK(deep(db, s).empty());
  s.set(db, &SrcData::text, std::string("a"));
  CHECK(relish::accumulated<Diagnostics>(db, lint_leaf, s).size() == 1);
  CHECK(direct_count(db, s) == 1);
  CHECK(deep(db, s) == std::vector<Diagnostic>{{"bad a"}});
  EventLog log(db);
  s.set(db, &SrcData::text, std::string("b"));  // other values, both queries still return 0
  CHECK(deep(db, s) == std::vector<Diagnostic>{{"bad b"}});
  CHECK(direct_count(db, s) == 1);
  // lint_leaf backdates (its value is 0), so lint is reused; the two queries calling
  // accumulated() re-run, through the accumulated values of the memos their walk looked at.
  CHECK(log.executed() == Log{"lint_leaf(Src#0)", "deep(Src#0)", "direct_count(Src#0)"});
  log.clear();
  s.set(db, &SrcData::text, std::string("b"));  // the same values: backdated, nothing else runs
  CHECK(deep(db, s) == std::vector<Diagnostic>{{"bad b"}});
  CHECK(direct_count(db, s) == 1);
  CHECK(log.executed() == Log{"lint_leaf(Src#0)"});
  CHECK(log.backdated() == Log{"lint_leaf(Src#0)"});
}

}  // namespace

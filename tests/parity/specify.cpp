// specify (Salsa's #[salsa::tracked(specify)]): the query that creates a tracked struct sets
// the value of a query keyed on it instead of that query running. The value follows the
// creator: specified equal again, readers do not re-run; not specified again, the memo goes
// and the query runs itself. Anywhere else, or twice, is a typed error.
#include <catch2/catch.hpp>
#include <relish/relish.hpp>

#include <string>
#include <vector>

#include "../common/event_log.hpp"

namespace {

using relish_test::EventLog;
using relish_test::Log;

struct ModuleData {
  std::string source;  // "name:type name:type ..."; a type "?" is left to inference
};
using Module = relish::Input<ModuleData>;
struct DefData {
  std::string name;
};
using Def = relish::Tracked<DefData>;
struct Db : relish::Database {};

// The declared type of a definition; runs only when the parser did not specify it.
std::string declared_type_fn(Db& db, Def d) { return "inferred:" + d.get(db, &DefData::name); }
inline constexpr relish::Query<declared_type_fn, relish::Options{.specify = true}> declared_type;

std::vector<Def> definitions_fn(Db& db, Module m) {
  std::vector<Def> defs;
  const std::string& src = m.get(db, &ModuleData::source);
  std::size_t i = 0;
  while (i < src.size()) {
    std::size_t end = src.find(' ', i);
    if (end == std::string::npos) end = src.size();
    const std::string item = src.substr(i, end - i);
    i = end + 1;
    if (item.empty()) continue;
    const std::size_t colon = item.find(':');
    Def d = Def::create(db, {.name = item.substr(0, colon)});
    const std::string type = item.substr(colon + 1);
    if (type != "?") declared_type.specify(db, d, type);
    defs.push_back(d);
  }
  return defs;
}
inline constexpr relish::Query<definitions_fn> definitions;

std::string signature_fn(Db& db, Def d) { return d.get(db, &DefData::name) + ": " + declared_type(db, d); }
inline constexpr relish::Query<signature_fn> signature;

std::string summary_fn(Db& db, Module m) {
  std::string out;
  for (Def d : definitions(db, m)) out += signature(db, d) + "; ";
  return out;
}
inline constexpr relish::Query<summary_fn> summary;

// Misuse: specifying a struct this query did not create.
std::string thief_fn(Db& db, Module m) {
  Def d = definitions(db, m).front();
  declared_type.specify(db, d, "stolen");
  return "";
}
inline constexpr relish::Query<thief_fn> thief;

struct TwiceData {
  int n;
};
std::vector<Def> twice_fn(Db& db, Module m) {
  Def d = Def::create(db, {.name = m.get(db, &ModuleData::source)});
  declared_type.specify(db, d, "a");
  declared_type.specify(db, d, "b");
  return {d};
}
inline constexpr relish::Query<twice_fn> twice;

void run(bool pull_only) {
  Db db;
  db.runtime().set_pull_only_for_testing(pull_only);
  Module m = Module::create(db, {.source = "x:int y:?"});
  EventLog log(db);
  CHECK(summary(db, m) == "x: int; y: inferred:y; ");
  CHECK(log.executed() == Log{"summary(Module#0)", "definitions(Module#0)", "signature(Def#0)",
                              "signature(Def#1)", "declared_type(Def#1)"});
  CHECK(log.of_kind(relish::EventKind::did_specify) == Log{"declared_type(Def#0)"});

  // The creator re-runs and specifies an equal value: signature(x) does not re-run.
  m.set(db, &ModuleData::source, "x:int y:?  ");
  log.clear();
  CHECK(summary(db, m) == "x: int; y: inferred:y; ");
  CHECK(log.executed() == Log{"definitions(Module#0)"});

  // A different value: its readers re-run.
  m.set(db, &ModuleData::source, "x:str y:?");
  log.clear();
  CHECK(summary(db, m) == "x: str; y: inferred:y; ");
  CHECK(log.executed() == Log{"definitions(Module#0)", "signature(Def#0)", "summary(Module#0)"});

  // No longer specified: the memo goes and the query runs itself.
  m.set(db, &ModuleData::source, "x:? y:?");
  log.clear();
  CHECK(summary(db, m) == "x: inferred:x; y: inferred:y; ");
  CHECK(log.executed() == Log{"definitions(Module#0)", "signature(Def#0)",
                              "declared_type(Def#0)", "summary(Module#0)"});

  // Specified again after running itself.
  m.set(db, &ModuleData::source, "x:float y:?");
  log.clear();
  CHECK(summary(db, m) == "x: float; y: inferred:y; ");
  CHECK(log.of_kind(relish::EventKind::did_specify) == Log{"declared_type(Def#0)"});

  // Misuse.
  CHECK_THROWS_WITH(thief(db, m),
                    Catch::Contains("only the query that created its key (definitions(Module#0))"));
  CHECK_THROWS_WITH(twice(db, m), Catch::Contains("was specified twice by twice(Module#0)"));
  const Def x = definitions(db, m).front();
  CHECK_THROWS_WITH(declared_type.specify(db, x, "top"), Catch::Contains("outside a query"));
  CHECK(declared_type(db, x) == "float");
}

}  // namespace

TEST_CASE("specify: the creator sets a query's value, which follows the creator",
          "[parity][specify]") {
  SECTION("push-pull") { run(false); }
  SECTION("pull-only") { run(true); }
}

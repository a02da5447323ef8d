// Tracked structs after the seed's `Definition`: identity fields (file, scope, name), a NoEq
// tracked `kind` (the AST node: it counts as changed on every re-parse) and an Eq tracked
// `value`. Re-running the creating query keeps every handle; readers of identity fields and of
// `value` are not disturbed by the ever-changing `kind`, and `value` set to an equal value
// keeps its old revision (its readers are verified, not re-run).
#include <catch2/catch.hpp>
#include <relish/relish.hpp>

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "../common/event_log.hpp"

namespace {

using relish_test::EventLog;
using relish_test::Log;

struct FileData {
  std::string text;  // "a=1 b=2": one definition per word
};
using File = relish::Input<FileData>;

struct DefinitionKind {  // stands in for an AST node
  std::uint32_t offset = 0;
  friend bool operator==(const DefinitionKind&, const DefinitionKind&) = default;
};

struct DefinitionData {
  File file;  // identity fields...
  std::uint32_t scope = 0;
  std::string name;
  relish::TrackedField<DefinitionKind, relish::NoEq> kind;  // ...and tracked fields
  relish::TrackedField<std::int64_t> value;
  bool is_reexported = false;
};
using Definition = relish::Tracked<DefinitionData>;

struct Db : relish::Database {};

// The words of `text` with their offsets.
std::vector<std::pair<std::string, std::uint32_t>> words_of(const std::string& text) {
  std::vector<std::pair<std::string, std::uint32_t>> out;
  for (std::size_t i = text.find_first_not_of(' '); i != std::string::npos;) {
    const std::size_t end = std::min(text.find(' ', i), text.size());
    out.emplace_back(text.substr(i, end - i), static_cast<std::uint32_t>(i));
    i = text.find_first_not_of(' ', end);
  }
  return out;
}

std::vector<Definition> definitions_fn(Db& db, File f) {
  std::vector<Definition> out;
  for (const auto& [w, offset] : words_of(f.get(db, &FileData::text))) {
    const auto eq = w.find('=');
    out.push_back(Definition::create(db, {.file = f,
                                          .scope = 0,
                                          .name = w.substr(0, eq),
                                          .kind = DefinitionKind{offset},
                                          .value = std::stoll(w.substr(eq + 1)),
                                          .is_reexported = w[0] != '_'}));
  }
  return out;
}
inline constexpr relish::Query<definitions_fn> definitions;

std::string def_name_fn(Db& db, Definition d) { return d.get(db, &DefinitionData::name); }
inline constexpr relish::Query<def_name_fn> def_name;

std::uint32_t def_offset_fn(Db& db, Definition d) {
  return d.get(db, &DefinitionData::kind).offset;
}
inline constexpr relish::Query<def_offset_fn> def_offset;

std::int64_t def_value_fn(Db& db, Definition d) { return d.get(db, &DefinitionData::value); }
inline constexpr relish::Query<def_value_fn> def_value;

// Type-checks a file: its definitions first, then a query per definition.
std::string check_file(Db& db, File f) {
  std::string out;
  for (Definition d : definitions(db, f)) {  // one statement per query: a fixed order
    out += def_name(db, d);
    out += "@" + std::to_string(def_offset(db, d));
    out += "=" + std::to_string(def_value(db, d)) + " ";
  }
  return out;
}

}  // namespace

TEST_CASE(
    "tracked: a NoEq field changes on every re-run without invalidating other readers; "
    "an Eq field backdates",
    "[scenario]") {
  Db db;
  File f = File::create(db, {.text = "a=1 b=2"});
  EventLog log(db);

  CHECK(check_file(db, f) == "a@0=1 b@4=2 ");
  const std::vector<Definition> defs = definitions(db, f);
  REQUIRE(defs.size() == 2);
  CHECK(log.take() == Log{"will_execute definitions(File#0)",
                          "will_execute def_name(Definition#0)",
                          "will_execute def_offset(Definition#0)",
                          "will_execute def_value(Definition#0)",
                          "will_execute def_name(Definition#1)",
                          "will_execute def_offset(Definition#1)",
                          "will_execute def_value(Definition#1)"});

  // b's value changes. The parse re-runs and re-creates both definitions with the same
  // handles, so its result backdates. `kind` (NoEq) counts as changed for both: their offset
  // readers re-run (and backdate). a's value is equal: its reader is verified, not re-run.
  f.set(db, &FileData::text, "a=1 b=5");
  log.clear();
  CHECK(check_file(db, f) == "a@0=1 b@4=5 ");
  CHECK(definitions(db, f) == defs);
  CHECK(log.take() == Log{"will_execute definitions(File#0)",
                          "did_backdate definitions(File#0)",
                          "did_validate_memoized_value def_name(Definition#0)",
                          "will_execute def_offset(Definition#0)",
                          "did_backdate def_offset(Definition#0)",
                          "did_validate_memoized_value def_value(Definition#0)",
                          "did_validate_memoized_value def_name(Definition#1)",
                          "will_execute def_offset(Definition#1)",
                          "did_backdate def_offset(Definition#1)",
                          "will_execute def_value(Definition#1)"});

  // Only whitespace moves: same identities, same values, new offsets. Only the offset readers
  // re-run; every identity and value reader is verified.
  f.set(db, &FileData::text, "a=1  b=5");
  log.clear();
  CHECK(check_file(db, f) == "a@0=1 b@5=5 ");
  CHECK(log.executed() == Log{"definitions(File#0)", "def_offset(Definition#0)",
                              "def_offset(Definition#1)"});
  CHECK(log.backdated() == Log{"definitions(File#0)", "def_offset(Definition#0)"});
  CHECK(log.validated() == Log{"def_name(Definition#0)", "def_value(Definition#0)",
                               "def_name(Definition#1)", "def_value(Definition#1)"});

  // Field reads outside queries see the new values through the same handles.
  CHECK(defs[1].get(db, &DefinitionData::kind) == DefinitionKind{5});
  CHECK(defs[1].get(db, &DefinitionData::value) == 5);
  CHECK(defs[1].get(db, &DefinitionData::is_reexported));
  CHECK(defs[0].get(db, &DefinitionData::file) == f);
}

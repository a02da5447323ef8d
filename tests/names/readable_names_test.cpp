// Names people can read: events, errors, cycle paths and the memory report name a query by
// the user's choice (Options::name, else its function without a trailing "_fn"), an entity by
// its struct without namespaces or a trailing "Data" ("SourceFile#0"), or by the user's
// relish_debug of its data, and a field by its name in the struct.
//
// The types live in a named namespace, and the messages are compared as relish writes them
// (not through the event log's clean-up of test namespaces).
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include <relish/relish.hpp>

namespace an {

struct SourceFileData {
  std::string path;
  std::string text;
  std::uint32_t permissions = 0644;
};
using SourceFile = relish::Input<SourceFileData>;

// An entity the user names: "Module(json)" rather than "Module#0".
struct ModuleData {
  std::string name;
  std::uint32_t version = 0;
};
using Module = relish::Input<ModuleData>;
std::string relish_debug(const ModuleData& m) { return "Module(" + m.name + ")"; }

struct DefData {
  std::string name;
  relish::TrackedField<std::uint64_t> size;
};
using Def = relish::Tracked<DefData>;
std::string relish_debug(const DefData& d) { return "Def(" + d.name + ")"; }

struct UnionData {
  std::vector<std::uint32_t> members;
};
using Union = relish::Interned<UnionData>;

struct Span {  // a plain key value
  std::uint32_t begin;
  std::uint32_t end;
  bool operator==(const Span&) const = default;
  template <class H>
  friend H AbslHashValue(H h, const Span& s) {
    return H::combine(std::move(h), s.begin, s.end);
  }
};

struct Db : relish::Database {};

std::uint64_t parse_fn(Db& db, SourceFile f) { return f.get(db, &SourceFileData::text).size(); }
// The user's name wins over the function's.
inline constexpr relish::Query<parse_fn, relish::Options{.name = "parsed_module"}> parse;

std::uint64_t module_size_fn(Db& db, Module m) { return m.get(db, &ModuleData::name).size(); }
inline constexpr relish::Query<module_size_fn> module_size;

Def definition_fn(Db& db, Module m) {
  return Def::create(db, {.name = m.get(db, &ModuleData::name), .size = {7}});
}
inline constexpr relish::Query<definition_fn> definition;

std::uint64_t def_size_fn(Db& db, Def d) { return d.get(db, &DefData::size); }
inline constexpr relish::Query<def_size_fn> def_size;

std::uint64_t slice_fn(Db& db, SourceFile f, Span s) {
  return f.get(db, &SourceFileData::text).substr(s.begin, s.end - s.begin).size();
}
inline constexpr relish::Query<slice_fn> slice;

std::uint64_t union_size_fn(Db& db, Union u) { return u.get(db, &UnionData::members).size(); }
inline constexpr relish::Query<union_size_fn> union_size;

// A cycle through two queries, one keyed on a named entity.
std::uint64_t ping_fn(Db& db, SourceFile f);
std::uint64_t pong_fn(Db& db, Module m);
inline constexpr relish::Query<ping_fn> ping;
inline constexpr relish::Query<pong_fn> pong;
inline Module the_module;
std::uint64_t ping_fn(Db& db, SourceFile) { return pong(db, the_module); }
inline SourceFile the_file;
std::uint64_t pong_fn(Db& db, Module) { return ping(db, the_file); }

// Sets an input from inside a query: a MisuseError.
std::uint64_t sneaky_set_fn(Db& db, SourceFile f) {
  f.set(db, &SourceFileData::permissions, 0600u);
  return 0;
}
inline constexpr relish::Query<sneaky_set_fn, relish::Options{.name = "sneaky"}> sneaky_set;

// Records "<event> <Database::describe(key)>", as relish writes it.
void log_events(Db& db, std::vector<std::string>& log) {
  db.on_event([&db, &log](const relish::Event& e) {
    using K = relish::EventKind;
    if (e.kind != K::did_execute && e.kind != K::will_verify && e.kind != K::did_verify)
      log.push_back(std::string(relish::to_string(e.kind)) + " " + db.describe(e.key));
  });
}

template <class E, class F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return "<no exception>";
}

}  // namespace an

TEST_CASE("names: field names come from the struct, entity names drop namespace and Data",
          "[names]") {
  using relish::detail::field_names;
  STATIC_REQUIRE(field_names<an::SourceFileData>[0] == "path");
  STATIC_REQUIRE(field_names<an::SourceFileData>[2] == "permissions");
  STATIC_REQUIRE(field_names<an::DefData>[1] == "size");
  STATIC_REQUIRE(relish::detail::entity_name<an::SourceFileData>() == "SourceFile");
  STATIC_REQUIRE(relish::detail::entity_name<an::Span>() == "Span");
  STATIC_REQUIRE(relish::detail::query_name<&an::module_size_fn>() == "module_size");
  STATIC_REQUIRE(relish::Options{.name = "x", .lru = 3}.name.view() == "x");
  CHECK(relish::detail::field_suffix<an::UnionData>(0) == ".members");
  CHECK(relish::detail::field_suffix<an::UnionData>(5) == ".field5");  // no such field
}

TEST_CASE("names: events name the query, the entity and the field", "[names]") {
  an::Db db;
  auto f = an::SourceFile::create(db, {.path = "a.py", .text = "x = 1"});
  auto m = an::Module::create(db, {.name = "json"});
  std::vector<std::string> log;
  an::log_events(db, log);

  an::parse(db, f);
  an::module_size(db, m);
  an::slice(db, f, an::Span{1, 3});
  an::def_size(db, an::definition(db, m));
  an::union_size(db, an::Union::intern(db, {.members = {1, 2}}));
  CHECK(log == std::vector<std::string>{
                   "will_execute parsed_module(SourceFile#0)",
                   "will_execute module_size(Module(json))",
                   "will_execute slice(SourceFile#0, Span{1, 3})",
                   "will_execute definition(Module(json))",
                   "will_execute def_size(Def(json))",
                   "will_execute union_size(Union#0)",
               });

  log.clear();
  f.set(db, &an::SourceFileData::text, "x = 22");
  m.set(db, &an::ModuleData::version, 2u);
  CHECK(log == std::vector<std::string>{"did_set_input SourceFile#0.text",
                                        "did_set_input Module(json).version"});

  // A dependency on a tracked field names the field.
  const auto deps = db.dependencies(an::def_size.key(db, an::definition(db, m)));
  REQUIRE(deps.size() == 1);
  CHECK(db.describe(deps[0]) == "Def(json).size");
  // A handle alone, with no database at hand, prints as today.
  CHECK(m.debug_name() == "Module#0");
}

TEST_CASE("names: a cycle error names its path", "[names]") {
  an::Db db;
  an::the_file = an::SourceFile::create(db, {.path = "a.py", .text = ""});
  an::the_module = an::Module::create(db, {.name = "os"});
  CHECK(an::message_of<relish::CycleError>([&] { an::ping(db, an::the_file); }) ==
        "relish: cycle detected: ping(SourceFile#0) -> pong(Module(os)) -> ping(SourceFile#0)");
}

TEST_CASE("names: misuse and bad-handle errors name the entity and the field", "[names]") {
  an::Db db;
  auto f = an::SourceFile::create(db, {.path = "a.py", .text = ""});
  CHECK(an::message_of<relish::MisuseError>([&] { an::sneaky_set(db, f); }) ==
        "relish: cannot set SourceFile#0.permissions while query sneaky(SourceFile#0) is "
        "running: only allowed between queries");

  an::Db other;
  CHECK(an::message_of<relish::MisuseError>([&] { f.get(other, &an::SourceFileData::text); }) ==
        "relish: handle SourceFile#0 belongs to another database");
  CHECK(an::message_of<relish::StaleHandleError>([&] {
          an::SourceFile{}.get(db, &an::SourceFileData::text);
        }) == "relish: null handle SourceFile#0 (default-constructed)");
}

TEST_CASE("names: memory report rows use the query's and the entity's names", "[names]") {
  an::Db db;
  auto f = an::SourceFile::create(db, {.path = "a.py", .text = "x = 1"});
  an::parse(db, f);
  an::union_size(db, an::Union::intern(db, {.members = {1}}));
  const relish::MemoryReport r = relish::memory_report(db);
  std::vector<std::string> names;
  for (const auto& row : r.ingredients) names.push_back(row.name);
  std::sort(names.begin(), names.end());
  names.erase(std::remove(names.begin(), names.end(), "(reverse edges)"), names.end());
  CHECK(names == std::vector<std::string>{"SourceFile", "Union", "parsed_module", "union_size"});
  const std::string table = r.to_table();
  CHECK(table.find("\nparsed_module ") != std::string::npos);
  CHECK(table.find("\nSourceFile ") != std::string::npos);
}

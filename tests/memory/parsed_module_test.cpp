// The seed's whole parsed_module pattern (examples/memory/pymod.hpp): source_text with
// equality, parsed_module (returns ref, no_eq, lru 200) holding its AST in a Reclaimable slot
// that can be cleared mid-revision and re-parsed by load(), semantic_index (no_eq) and
// extraction queries returning shared_ptr clones that backdate by pointer.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "../../examples/memory/pymod.hpp"
#include "../common/event_log.hpp"

namespace {

using pymod::Db;
using pymod::File;
using pymod::FileData;
using pymod::NodeKind;
using relish_test::EventLog;
using relish_test::Log;

const char* const kSource = R"(import os
from collections import OrderedDict, defaultdict as dd
# a comment

VERSION = 3

def helper(a, b):
    """A docstring
    over two lines: def not_a_function():
    """
    total = a + b
    return total

class Greeter(Base):
    greeting = "hi"

    def greet(self, name):
        message = greeting + name
        print(message)
        return message

main()
)";

// A file of `n` functions, each with one local: one scope per function.
std::string synthetic(std::uint32_t seed, std::uint32_t functions = 4) {
  std::string s = "import mod" + std::to_string(seed % 7) + "\n";
  for (std::uint32_t f = 0; f < functions; ++f) {
    s += "def f" + std::to_string(f) + "(x):\n";
    s += "    y" + std::to_string(f) + " = x + " + std::to_string(seed) + "\n";
    s += "    return y" + std::to_string(f) + "\n";
  }
  return s;
}

std::string key(const char* fn, File f) {
  return std::string(fn) + "(File#" + std::to_string(f.index()) + ")";
}

std::int64_t live_asts() { return pymod::LiveAst::count().load(); }

}  // namespace

TEST_CASE("pymod: the toy parser builds nested blocks", "[memory][parsed_module]") {
  const pymod::Ast ast = pymod::parse(kSource);
  REQUIRE(ast.body.size() == 6);  // import, from, VERSION, def helper, class Greeter, main()
  CHECK(ast.body[0]->kind == NodeKind::import);
  CHECK(ast.body[0]->name == "os");
  CHECK(ast.body[1]->kind == NodeKind::import_from);
  CHECK(ast.body[1]->name == "collections");
  CHECK(ast.body[1]->names == std::vector<std::string>{"OrderedDict", "dd"});
  CHECK(ast.body[2]->kind == NodeKind::assign);
  CHECK(ast.body[2]->name == "VERSION");
  const pymod::Node& helper = *ast.body[3];
  CHECK(helper.kind == NodeKind::function_def);
  CHECK(helper.names == std::vector<std::string>{"a", "b"});
  REQUIRE(helper.body.size() == 3);  // the docstring is one expression statement
  CHECK(helper.body[0]->kind == NodeKind::expr);
  CHECK(helper.body[2]->kind == NodeKind::return_);
  const pymod::Node& greeter = *ast.body[4];
  CHECK(greeter.kind == NodeKind::class_def);
  REQUIRE(greeter.body.size() == 2);
  CHECK(greeter.body[1]->name == "greet");
  CHECK(greeter.body[1]->body.size() == 3);
  CHECK(ast.body[5]->kind == NodeKind::expr);
  CHECK(ast.nodes == 14);
  CHECK(pymod::parse(kSource) == ast);
  CHECK_FALSE(pymod::parse(std::string(kSource) + "x = 1\n") == ast);
  CHECK(relish::heap_size(ast) > 13 * sizeof(pymod::Node));
}

TEST_CASE("pymod: semantic index, extraction queries and the memory report",
          "[memory][parsed_module]") {
  Db db;
  File f = File::create(db, {.path = "m.py", .text = kSource});
  const pymod::SemanticIndex& index = pymod::semantic_index(db, f);
  REQUIRE(index.scopes.size() == 4);  // module, helper, Greeter, greet
  CHECK(pymod::scope_count(db, f) == 4);
  CHECK(pymod::place_table(db, f, 0).symbols ==
        std::vector<std::string>{"Greeter", "OrderedDict", "VERSION", "dd", "helper", "os"});
  CHECK(pymod::place_table(db, f, 3).symbols == std::vector<std::string>{"message"});
  CHECK(pymod::imported_modules(db, f).modules ==
        std::vector<std::string>{"collections", "os"});
  CHECK(&pymod::place_table(db, f, 1) == index.place_tables[1].get());  // a clone, not a copy

  // The tables are held by semantic_index and place_table memos: counted once.
  for (std::uint32_t s = 0; s < 4; ++s) pymod::symbol_count(db, f, s);
  const relish::MemoryReport r = relish::memory_report(db);
  std::size_t tables_alone = 0;
  for (const auto& t : index.place_tables) tables_alone += relish::heap_size(t);
  std::size_t index_heap = 0, place_heap = 0;
  for (const auto& m : r.ingredients) {
    if (m.name == "semantic_index") index_heap = m.value_heap_bytes;
    if (m.name == "place_table") place_heap = m.value_heap_bytes;
  }
  // semantic_index registered first, so the report walks it first and charges it for the
  // tables; the place_table memos hold the same allocations and add nothing.
  CHECK(index_heap == relish::heap_size(index));
  CHECK(index_heap > tables_alone);
  CHECK(place_heap == 0);
}

TEST_CASE("pymod: clearing the AST mid-revision re-parses on load with an equal result",
          "[memory][parsed_module]") {
  Db db;
  File f = File::create(db, {.path = "m.py", .text = kSource});
  const std::int64_t base = live_asts();
  const pymod::ParsedModule& pm = pymod::parsed_module(db, f);
  CHECK(db.parses == 1);
  const relish::Ref<pymod::Ast> first = pm.load(db);
  CHECK(db.parses == 1);
  CHECK(pm.load(db) == first);  // same allocation while not cleared

  const std::size_t heap_before = relish::memory_report(db).total.value_heap_bytes;
  EventLog log(db);
  pm.clear();
  CHECK(pm.is_cleared());
  CHECK(live_asts() == base + 1);  // `first` still holds it
  CHECK(first->body.size() == 6);
  // With our Ref gone the AST is freed and the memory report shows the drop.
  {
    const relish::Ref<pymod::Ast> second = pm.load(db);  // re-parse on demand
    CHECK(db.parses == 2);
    CHECK(db.reparses == 1);
    CHECK_FALSE(second == first);  // a new allocation...
    CHECK(*second == *first);      // ...with the same contents
    CHECK(pm.load(db) == second);
    pm.clear();
  }
  const relish::Ref<pymod::Ast> keep_first = first;
  CHECK(live_asts() == base + 1);
  CHECK(relish::memory_report(db).total.value_heap_bytes < heap_before);

  // Downstream queries in the same revision load the AST again (once) and agree with it.
  CHECK(pymod::scope_count(db, f) == 4);
  CHECK(db.reparses == 2);
  CHECK(pymod::place_table(db, f, 3).symbols == std::vector<std::string>{"message"});
  // No query ran twice: the re-parse happened inside ParsedModule::load, not the engine.
  CHECK(log.executed() == Log{"scope_count(File#0)",
                              "semantic_index(File#0)",
                              "place_table(File#0, 3)"});

  // The same memo (the parsed_module query was not re-run) after a revision boundary.
  f.set(db, &FileData::permissions, 0644u);
  log.clear();
  CHECK(&pymod::parsed_module(db, f) == &pm);
  CHECK(log.executed().empty());
  CHECK(*pm.load(db) == *keep_first);
}

TEST_CASE("pymod: per-field, equality and pointer backdating", "[memory][parsed_module]") {
  Db db;
  File f = File::create(db, {.path = "m.py", .text = kSource});
  for (std::uint32_t s = 0; s < 4; ++s) pymod::symbol_count(db, f, s);
  EventLog log(db);

  // Permissions: nothing read them.
  f.set(db, &FileData::permissions, 0600u);
  log.clear();
  for (std::uint32_t s = 0; s < 4; ++s) pymod::symbol_count(db, f, s);
  CHECK(log.executed().empty());

  // The same text again: source_text re-runs, is equal, and stops everything there.
  f.set(db, &FileData::text, std::string(kSource));
  log.clear();
  for (std::uint32_t s = 0; s < 4; ++s) pymod::symbol_count(db, f, s);
  CHECK(log.executed() == Log{key("source_text", f)});
  CHECK(log.backdated() == Log{key("source_text", f)});

  // An expression inside greet changes: the AST and the index are rebuilt (no_eq), but every
  // scope's symbols are the same, the builder reuses the tables, the extractions backdate by
  // pointer and no reader re-runs.
  std::string edited = kSource;
  edited.replace(edited.find("greeting + name"), 15, "name + greeting");
  const pymod::PlaceTable* greet_table = &pymod::place_table(db, f, 3);
  f.set(db, &FileData::text, edited);
  log.clear();
  for (std::uint32_t s = 0; s < 4; ++s) pymod::symbol_count(db, f, s);
  CHECK(log.executed() == Log{key("source_text", f), key("parsed_module", f),
                              key("semantic_index", f),
                              "place_table(File#0, 0)",
                              "place_table(File#0, 1)",
                              "place_table(File#0, 2)",
                              "place_table(File#0, 3)"});
  CHECK(log.backdated().size() == 4);  // the four place tables
  CHECK(&pymod::place_table(db, f, 3) == greet_table);

  // A new local in greet: only that scope's reader re-runs.
  edited.replace(edited.find("print(message)"), 14, "extra = message");
  f.set(db, &FileData::text, edited);
  log.clear();
  for (std::uint32_t s = 0; s < 4; ++s) pymod::symbol_count(db, f, s);
  CHECK(pymod::symbol_count(db, f, 3) == 2);
  const Log ran = log.executed();
  CHECK(std::count(ran.begin(), ran.end(), "symbol_count(File#0, 3)") == 1);
  CHECK(std::count_if(ran.begin(), ran.end(), [](const std::string& s) {
          return s.starts_with("symbol_count");
        }) == 1);
}

TEST_CASE("pymod: LRU 200 over 300 files bounds the live ASTs after a revision boundary",
          "[memory][parsed_module]") {
  const std::int64_t base = live_asts();
  {
    Db db;
    std::vector<File> files;
    for (std::uint32_t i = 0; i < 300; ++i) {
      // Appended, not "f" + to_string(i) + ".py": GCC 12 at -O3 warns on that with a false
      // -Wstringop-overflow (its bug 105651) once File::create is inlined.
      std::string path = "f";
      path += std::to_string(i);
      path += ".py";
      files.push_back(File::create(db, {.path = std::move(path), .text = synthetic(i)}));
    }
    for (File f : files) CHECK(pymod::scope_count(db, f) == 5);
    CHECK(live_asts() == base + 300);  // eviction waits for a revision boundary
    CHECK(db.parses == 300);

    EventLog log(db);
    files[0].set(db, &FileData::permissions, 0644u);  // a boundary, no text changed
    CHECK(log.of_kind(relish::EventKind::did_evict).size() == 100);
    CHECK(live_asts() == base + 200);
    const relish::MemoryReport r = relish::memory_report(db);
    for (const auto& m : r.ingredients) {
      if (m.name == "parsed_module") {
        CHECK(m.entries == 300);
        CHECK(m.values == 200);
      }
    }

    // Everything downstream still verifies: no parse, no re-execution.
    log.clear();
    for (File f : files) CHECK(pymod::scope_count(db, f) == 5);
    CHECK(log.executed().empty());
    CHECK(db.parses == 300);
    CHECK(live_asts() == base + 200);

    // Edit one file whose AST was evicted: only its chain re-runs (one parse).
    files[5].set(db, &FileData::text, synthetic(5, 5));
    log.clear();
    for (File f : files) pymod::scope_count(db, f);
    CHECK(pymod::scope_count(db, files[5]) == 6);
    CHECK(log.executed() == Log{key("source_text", files[5]), key("parsed_module", files[5]),
                                key("semantic_index", files[5]),
                                key("scope_count", files[5])});
    CHECK(db.parses == 301);
    CHECK(live_asts() <= base + 201);

    // Clearing every reclaimable AST in the revision (memory pressure) frees them all.
    for (File f : files)
      if (decltype(pymod::parsed_module)::ingredient(db).has_value(f.index()))
        pymod::parsed_module(db, f).clear();
    CHECK(live_asts() == base);
    CHECK(pymod::parsed_module(db, files[250]).load(db)->body.size() == 5);  // re-parsed
    CHECK(db.reparses == 1);
  }
  CHECK(live_asts() == base);
}

// The seed's "wrapper pattern" without the wrapper: ty interns a `ModuleNameIngredient` by hand
// so that `resolve_module_query` can be keyed on a plain `ModuleName` and a mode. In relish the
// query takes the plain struct (no operator==, no hash, no registration) and relish interns it.
#include <catch2/catch.hpp>
#include <relish/relish.hpp>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "../common/event_log.hpp"

namespace {

using relish_test::EventLog;
using relish_test::Log;

enum class ModuleResolveMode : std::uint8_t { stubs_allowed, stubs_not_allowed };

// A plain value: hashed and compared field by field.
struct ModuleName {
  std::string name;
  ModuleResolveMode mode = ModuleResolveMode::stubs_allowed;
};

struct FileData {
  std::string path;
  std::string text;  // one imported module name per word
};
using File = relish::Input<FileData>;

struct SearchPathData {
  std::vector<std::string> files;  // "os.py", "os.pyi", "json.py"...
  std::uint32_t unrelated = 0;
};
using SearchPath = relish::Input<SearchPathData>;

struct Module {
  std::string path;
  friend bool operator==(const Module&, const Module&) = default;
};

struct Db : relish::Database {
  SearchPath search_path;
};

bool exists(Db& db, const std::string& path) {
  const auto& files = db.search_path.get(db, &SearchPathData::files);
  return std::find(files.begin(), files.end(), path) != files.end();
}

std::optional<Module> resolve_module_query_fn(Db& db, ModuleName name) {
  if (name.mode == ModuleResolveMode::stubs_allowed && exists(db, name.name + ".pyi"))
    return Module{name.name + ".pyi"};
  if (exists(db, name.name + ".py")) return Module{name.name + ".py"};
  return std::nullopt;
}
inline constexpr relish::Query<resolve_module_query_fn> resolve_module_query;

// Fallback relative to the importing file's directory (keyed on a handle and a plain value).
std::optional<Module> desperately_resolve_module_fn(Db& db, File importing_file, ModuleName name) {
  const std::string& path = importing_file.get(db, &FileData::path);
  const std::string dir = path.substr(0, path.rfind('/') + 1);
  if (exists(db, dir + name.name + ".py")) return Module{dir + name.name + ".py"};
  return std::nullopt;
}
inline constexpr relish::Query<desperately_resolve_module_fn> desperately_resolve_module;

// The public API: a plain function taking the plain name, as in the seed.
std::optional<Module> resolve_module(Db& db, File importing_file, const ModuleName& name) {
  if (auto m = resolve_module_query(db, name)) return m;
  return desperately_resolve_module(db, importing_file, name);
}

std::vector<std::optional<Module>> imports_of_fn(Db& db, File f) {
  std::vector<std::optional<Module>> out;
  std::istringstream words(f.get(db, &FileData::text));
  for (std::string w; words >> w;) out.push_back(resolve_module(db, f, ModuleName{w}));
  return out;
}
inline constexpr relish::Query<imports_of_fn> imports_of;

}  // namespace

TEST_CASE("resolve_module is keyed on a plain ModuleName, interned automatically", "[scenario]") {
  Db db;
  db.search_path =
      SearchPath::create(db, {.files = {"os.py", "os.pyi", "json.py", "pkg/helper.py"}});
  File main = File::create(db, {.path = "pkg/main.py", .text = "os json"});
  EventLog log(db);

  CHECK(resolve_module(db, main, ModuleName{"os"}) == Module{"os.pyi"});
  CHECK(log.take() == Log{"will_execute resolve_module_query(ModuleName{\"os\", 0})"});

  // The same name, built afresh: the same interned key, the same memo.
  ModuleName os{"o"};
  os.name += "s";
  CHECK(resolve_module(db, main, os) == Module{"os.pyi"});
  CHECK(resolve_module(db, main, ModuleName{"os", ModuleResolveMode::stubs_allowed}) ==
        Module{"os.pyi"});
  CHECK(log.take().empty());

  // The mode is part of the key.
  CHECK(resolve_module(db, main, ModuleName{"os", ModuleResolveMode::stubs_not_allowed}) ==
        Module{"os.py"});
  CHECK(log.take() == Log{"will_execute resolve_module_query(ModuleName{\"os\", 1})"});

  // Not found on the search path: the fallback, keyed on (File, ModuleName).
  CHECK(resolve_module(db, main, ModuleName{"helper"}) == Module{"pkg/helper.py"});
  CHECK(resolve_module(db, main, ModuleName{"helper"}) == Module{"pkg/helper.py"});
  CHECK(resolve_module(db, main, ModuleName{"missing"}) == std::nullopt);
  CHECK(log.take() ==
        Log{"will_execute resolve_module_query(ModuleName{\"helper\", 0})",
            "will_execute desperately_resolve_module(File#0, ModuleName{\"helper\", 0})",
            "will_execute resolve_module_query(ModuleName{\"missing\", 0})",
            "will_execute desperately_resolve_module(File#0, ModuleName{\"missing\", "
            "0})"});
}

TEST_CASE("re-running an importer with the same module names hits the resolve memos",
          "[scenario]") {
  Db db;
  db.search_path = SearchPath::create(db, {.files = {"os.py", "json.py"}});
  File main = File::create(db, {.path = "main.py", .text = "os json"});
  EventLog log(db);

  CHECK(imports_of(db, main) ==
        std::vector<std::optional<Module>>{Module{"os.py"}, Module{"json.py"}});
  CHECK(log.take() == Log{"will_execute imports_of(File#0)",
                          "will_execute resolve_module_query(ModuleName{\"os\", 0})",
                          "will_execute resolve_module_query(ModuleName{\"json\", 0})"});

  // The file is edited; the names it imports are the same: the importer re-runs, resolution
  // does not (each memo is accepted, once, under the same interned key: outside the cone).
  main.set(db, &FileData::text, "json os os");
  log.clear();
  CHECK(imports_of(db, main) ==
        std::vector<std::optional<Module>>{Module{"json.py"}, Module{"os.py"}, Module{"os.py"}});
  CHECK(log.take() ==
        Log{"will_execute imports_of(File#0)",
            "did_accept_clean resolve_module_query(ModuleName{\"json\", 0})",
            "did_accept_clean resolve_module_query(ModuleName{\"os\", 0})"});

  // The search path changes without changing the result: resolution re-runs and backdates,
  // so the importer is not re-run.
  db.search_path.set(db, &SearchPathData::files,
                     std::vector<std::string>{"os.py", "json.py", "sys.py"});
  log.clear();
  CHECK(imports_of(db, main).size() == 3);
  CHECK(log.take() == Log{"will_execute resolve_module_query(ModuleName{\"json\", 0})",
                          "did_backdate resolve_module_query(ModuleName{\"json\", 0})",
                          "will_execute resolve_module_query(ModuleName{\"os\", 0})",
                          "did_backdate resolve_module_query(ModuleName{\"os\", 0})",
                          "did_validate_memoized_value imports_of(File#0)"});
}

// The pyscope example's core (examples/pyscope/pyscope.hpp) on a small package held in memory:
// tokenizer and parser basics, the diagnostics, interned types, incremental answers after
// edits equal to from-scratch ones, a body-only edit re-running only what it must (the
// extraction queries backdate by pointer), and the reclaimable AST re-parsing after clear().
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "../../examples/pyscope/pyscope.hpp"

namespace {

using pyscope::Diagnostic;
using pyscope::File;
using pysyntax::NodeKind;
using pysyntax::Tok;

using Strings = std::vector<std::string>;

const char* const kInit =
    "from .util import helper\n"
    "from . import models\n";

const char* const kUtil =
    "import sys\n"                             // 1
    "import missing_mod\n"                     // 2
    "from app.models import Model, Missing\n"  // 3
    "LIMIT = 10\n"                             // 4
    "def helper(xs):\n"                        // 5
    "    total = 0\n"                          // 6
    "    for item in xs:\n"                    // 7
    "        total += item\n"                  // 8
    "    return total + LIMIT\n"               // 9
    "\n"                                       // 10
    "def broken():\n"                          // 11
    "    print(undefined_name)\n"              // 12
    "    y = 1\n"                              // 13
    "    return z\n"                           // 14
    "def early():\n"                           // 15
    "    print(v)\n"                           // 16
    "    v = 1\n"                              // 17
    "count = 3\n"                              // 18
    "count()\n";                               // 19

const char* const kModels =
    "class Model:\n"                                             // 1
    "    kind = 'model'\n"                                       // 2
    "    def describe(self):\n"                                  // 3
    "        return f'{self.kind}: {Model.__name__} {LIMIT}'\n"  // 4
    "def make():\n"                                              // 5
    "    return [Model() for _ in range(3)]\n"                   // 6
    "mixed = 1\n"                                                // 7
    "mixed = 'one'\n";                                           // 8

pyscope::FileData file(std::string path, std::string text) {
  return pyscope::FileData{std::move(path), std::move(text), 0644u, 0};
}

void load_fixture(pyscope::Db& db) {
  pyscope::LoadOptions opt;
  opt.roots = {"/fx"};
  pyscope::load(db,
                {file("/fx/app/__init__.py", kInit), file("/fx/app/util.py", kUtil),
                 file("/fx/app/models.py", kModels)},
                opt);
}

File F(pyscope::Db& db, const std::string& path) {
  const auto f = pyscope::find_file(db, path);
  REQUIRE(f.has_value());
  return *f;
}

Strings render(const std::vector<Diagnostic>& ds) {
  Strings out;
  for (const auto& d : ds) out.push_back(std::to_string(d.line) + " " + d.code + ": " + d.message);
  return out;
}

// Every analyzed file's diagnostics, from a fresh database loaded with db's current files.
std::vector<std::vector<Diagnostic>> from_scratch(pyscope::Db& db) {
  pyscope::Db fresh;
  pyscope::load(fresh, pyscope::current_files(db), pyscope::load_options_of(db));
  return pyscope::diagnose_all(fresh, fresh.analyzed, 1);
}

bool contains(const Strings& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

}  // namespace

TEST_CASE("pyscope: the tokenizer handles strings, comments, continuations and indentation",
          "[pyscope]") {
  const std::string src =
      "def f(a,\n"
      "      b):  # a comment\n"
      "    s = '''one\n"
      "two''' + f\"{a!r:>{b}}\" + rb'\\x00'\n"
      "    t = 1 + \\\n"
      "        2\n"
      "\n"
      "    # only a comment\n"
      "    return s\n"
      "x = 0x_ff if True else 1.5e-3j\n";
  std::vector<pysyntax::SyntaxError> errors;
  const auto toks = pysyntax::tokenize(src, errors);
  CHECK(errors.empty());
  auto count = [&](Tok k) {
    return std::count_if(toks.begin(), toks.end(), [&](auto& t) { return t.kind == k; });
  };
  CHECK(count(Tok::indent) == 1);
  CHECK(count(Tok::dedent) == 1);
  CHECK(count(Tok::newline) ==
        5);  // def, s = ..., t = ..., return, x = ...: no blank/comment lines
  Strings strings;
  for (const auto& t : toks)
    if (t.kind == Tok::string) strings.push_back(src.substr(t.begin, t.end - t.begin));
  CHECK(strings == Strings{"'''one\ntwo'''", "f\"{a!r:>{b}}\"", "rb'\\x00'"});
  const auto triple =
      std::find_if(toks.begin(), toks.end(), [](auto& t) { return t.kind == Tok::string; });
  CHECK(triple->line == 3);
  CHECK(triple->end_line == 4);
  CHECK((toks[toks.size() - 1].kind == Tok::end));

  errors.clear();
  pysyntax::tokenize("s = 'unterminated\nx = 1\n", errors);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].line == 1);
}

TEST_CASE("pyscope: the parser builds the AST and recovers from syntax errors", "[pyscope]") {
  const pysyntax::Ast ast = pysyntax::parse(
      "import a.b as c, d\n"
      "from ..pkg import (x as y, z)\n"
      "@decorator(1)\n"
      "async def f(p, /, q: int = 2, *args, r, **kw) -> 'T':\n"
      "    global g\n"
      "    async with open(p) as fh, (lambda: 0)():\n"
      "        if (n := len(q)) > 1: return [i for i in range(n) if i]\n"
      "    match p:\n"
      "        case {'k': v, **rest} | [v, *rest] if v: pass\n"
      "        case Point(x=0, y=yy) as pt: pass\n"
      "class C(Base, metaclass=M):\n"
      "    attr: int = 1\n"
      "    x += {k: v for k, v in d.items()}\n"
      "try:\n    pass\nexcept* (A, B) as e:\n    del e\nfinally:\n    pass\n");
  CHECK(ast.errors.empty());
  auto count = [&](NodeKind k) {
    return std::count_if(ast.nodes.begin(), ast.nodes.end(), [&](auto& n) { return n.kind == k; });
  };
  CHECK(count(NodeKind::function_def) == 1);
  CHECK(count(NodeKind::class_def) == 1);
  CHECK(count(NodeKind::lambda) == 1);
  CHECK(count(NodeKind::comprehension) == 2);
  CHECK(count(NodeKind::match_case) == 2);
  CHECK(count(NodeKind::named_expr) == 2);  // the walrus and the `as pt` pattern
  CHECK(count(NodeKind::alias) == 4);
  CHECK(count(NodeKind::ann_assign) == 1);
  CHECK(count(NodeKind::aug_assign) == 1);
  const auto from = std::find_if(ast.nodes.begin(), ast.nodes.end(),
                                 [](auto& n) { return n.kind == NodeKind::import_from; });
  CHECK(ast.str(from->name) == "pkg");
  CHECK(from->aux == 2);

  const pysyntax::Ast bad = pysyntax::parse("def f(x) pass\n    pass\ny = 2\nz = = 1\nw = 3\n");
  CHECK(bad.errors.size() == 2);
  // Statements after the errors are still there.
  std::size_t names = 0;
  for (const auto& n : bad.nodes)
    if (n.kind == NodeKind::name && (bad.str(n.name) == "w")) ++names;
  CHECK(names == 1);
}

TEST_CASE("pyscope: diagnostics and types on the fixture", "[pyscope]") {
  pyscope::Db db;
  load_fixture(db);
  REQUIRE(db.analyzed.size() == 3);

  CHECK(render(pyscope::file_diagnostics(db, F(db, "/fx/app/util.py"))) ==
        Strings{
            "2 unresolved-import: Cannot resolve imported module `missing_mod`",
            "3 unresolved-import: Module `app.models` has no member `Missing`",
            "12 unresolved-reference: Name `undefined_name` is not defined",
            "14 unresolved-reference: Name `z` is not defined",
            "16 used-before-def: `v` is used before it is assigned (UnboundLocalError)",
            "19 call-non-callable: `count` of type `int` is not callable",
        });
  CHECK(render(pyscope::file_diagnostics(db, F(db, "/fx/app/models.py"))) ==
        Strings{"4 unresolved-reference: Name `LIMIT` is not defined"});  // in an f-string
  CHECK(pyscope::file_diagnostics(db, F(db, "/fx/app/__init__.py")).empty());

  const File util = F(db, "/fx/app/util.py");
  const File models = F(db, "/fx/app/models.py");
  auto type = [&](File f, std::uint32_t scope, const std::string& name) {
    return pyscope::display(db, pyscope::symbol_type(db, pyscope::ScopeId{f, scope}, name));
  };
  CHECK(type(util, 0, "LIMIT") == "int");
  CHECK(type(util, 0, "helper") == "def helper");
  CHECK(type(util, 0, "sys") == "<module 'sys'>");
  CHECK(type(util, 0, "Model") == "Unknown");  // from-imports are not followed
  CHECK(type(models, 0, "Model") == "<class 'Model'>");
  CHECK(type(models, 0, "mixed") == "int | str");
  // Interned: the same type is the same handle.
  CHECK(pyscope::symbol_type(db, pyscope::ScopeId{util, 0}, "count") ==
        pyscope::symbol_type(db, pyscope::ScopeId{util, 0}, "LIMIT"));

  const pyscope::SemanticIndex& index = pyscope::semantic_index(db, models);
  REQUIRE(index.scopes.size() == 5);  // module, Model, describe, make, <listcomp>
  CHECK(index.scopes[4].kind == pyscope::ScopeKind::comprehension);
  CHECK(index.scopes[4].parent == 3);

  CHECK(
      pyscope::resolve_module(db, pyscope::ModuleName{"app.util"}) ==
      std::optional<pyscope::ModuleEntry>(pyscope::ModuleEntry{pyscope::ModuleKind::source, util}));
  CHECK(pyscope::resolve_module(db, pyscope::ModuleName{"app"})->kind ==
        pyscope::ModuleKind::package);
  CHECK_FALSE(pyscope::resolve_module(db, pyscope::ModuleName{"nope"}));
}

TEST_CASE("pyscope: incremental diagnostics equal from-scratch ones after edits", "[pyscope]") {
  pyscope::Db db;
  load_fixture(db);
  const File util = F(db, "/fx/app/util.py");
  const File models = F(db, "/fx/app/models.py");
  const File init = F(db, "/fx/app/__init__.py");
  auto all = [&] { return pyscope::diagnose_all(db, db.analyzed, 1); };
  auto check = [&] { CHECK(all() == from_scratch(db)); };
  check();

  SECTION("body, import and text edits") {
    const auto sites = pyscope::function_sites(db, util);
    REQUIRE(sites.size() == 3);
    pyscope::edit_body(db, util, sites[1], pyscope::BodyEdit::undefined, 7);
    CHECK(contains(render(pyscope::file_diagnostics(db, util)),
                   "15 unresolved-reference: Name `pyscope_undefined_7` is not defined"));
    check();
    pyscope::add_import(db, models, "nowhere");
    check();
    pyscope::set_text(db, models, std::string(kModels) + "LIMIT = 5\n");  // defined, late
    CHECK(pyscope::file_diagnostics(db, models).empty());
    check();
    pyscope::set_text(db, util, std::string(kUtil) + "def broken(): pass\n");
    check();
  }
  SECTION("renaming a module breaks its importers, renaming it back fixes them") {
    pyscope::rename_file(db, util, "/fx/app/utils.py");
    CHECK(render(pyscope::file_diagnostics(db, init)) ==
          Strings{"1 unresolved-import: Cannot resolve imported module `app.util`"});
    check();
    pyscope::rename_file(db, util, "/fx/app/util.py");
    CHECK(pyscope::file_diagnostics(db, init).empty());
    check();
  }
  SECTION("a member removed from a module is reported in its importers") {
    pyscope::set_text(db, models, "class Other: pass\n");
    CHECK(contains(render(pyscope::file_diagnostics(db, util)),
                   "3 unresolved-import: Module `app.models` has no member `Model`"));
    check();
  }
}

TEST_CASE(
    "pyscope: a body-only edit re-runs its file's parse and index, and no reader of an "
    "unchanged scope",
    "[pyscope]") {
  pyscope::Db db;
  load_fixture(db);
  const File util = F(db, "/fx/app/util.py");
  const File init = F(db, "/fx/app/__init__.py");
  pyscope::diagnose_all(db, db.analyzed, 1);
  const pyscope::PlaceTable* helper_table = &pyscope::place_table(db, pyscope::ScopeId{util, 1});

  pyscope::EventCounter counter;
  counter.attach(db);
  counter.record_executed(true);
  const auto sites = pyscope::function_sites(db, util);
  REQUIRE(sites[0].name == "helper");
  pyscope::edit_body(db, util, sites[0], pyscope::BodyEdit::pass, 1);  // appends `pass`
  pyscope::diagnose_all(db, db.analyzed, 1);

  const Strings ran = counter.executed(db);
  auto ran_query = [&](const std::string& prefix) {
    return std::count_if(ran.begin(), ran.end(), [&](auto& s) { return s.rfind(prefix, 0) == 0; });
  };
  const auto index = pyscope::semantic_index(db, util).scopes.size();
  CHECK(index == 4);  // module, helper, broken, early
  // The edited file is re-parsed and re-indexed; no other file is.
  CHECK(ran_query("parsed_module(") == 1);
  CHECK(ran_query("semantic_index(") == 1);
  CHECK(contains(ran, db.describe(pyscope::semantic_index.key(db, util))));
  // Every extraction re-ran... and backdated: the builder reused every scope's allocation
  // (`pass` changes no table; scopes after helper moved, but their lines are relative).
  CHECK(ran_query("place_table(") == 4);
  CHECK(ran_query("use_def_map(") == 4);
  const auto counts = counter.by_query(db);
  CHECK(counts.at("place_table").backdated == 4);
  CHECK(counts.at("use_def_map").backdated == 3);  // the module scope's uses below moved
  CHECK(&pyscope::place_table(db, pyscope::ScopeId{util, 1}) == helper_table);  // same allocation
  // So only the module scope's diagnostics re-ran; helper's, broken's and early's did not,
  // nor did the importer's (it reads util's module place table, which backdated).
  CHECK(ran_query("scope_diagnostics(") == 1);
  CHECK(contains(ran, db.describe(pyscope::scope_diagnostics.key(db, pyscope::ScopeId{util, 0}))));
  CHECK_FALSE(contains(ran, db.describe(pyscope::file_diagnostics.key(db, init))));
  CHECK(ran_query("resolve_module(") == 0);
  CHECK(ran_query("module_index(") == 0);
  // The definitions' NoEq `kind` changed, so the types read from them re-ran, and backdated.
  CHECK(counts.at("infer_definition_type").executed ==
        counts.at("infer_definition_type").backdated);
  CHECK(render(pyscope::file_diagnostics(db, util)).size() == 6);
}

TEST_CASE("pyscope: a cleared reclaimable AST is re-parsed on load", "[pyscope]") {
  pyscope::Db db;
  load_fixture(db);
  const File util = F(db, "/fx/app/util.py");
  pyscope::file_diagnostics(db, util);
  const std::uint64_t parses = db.parses.load();

  const pyscope::ParsedModule& pm = pyscope::parsed_module(db, util);
  const relish::Ref<pysyntax::Ast> held = pm.load(db);
  const std::size_t nodes = held->nodes.size();
  pm.clear();
  CHECK(pm.ast.is_cleared());
  CHECK(held->nodes.size() == nodes);  // a holder keeps the old AST alive
  CHECK(db.parses.load() == parses);

  const relish::Ref<pysyntax::Ast> again = pm.load(db);  // re-parsed on demand
  CHECK(db.parses.load() == parses + 1);
  CHECK(again->nodes.size() == nodes);
  CHECK_FALSE(again == held);   // a new allocation
  CHECK(pm.load(db) == again);  // and kept in the slot
  // Nothing downstream re-ran: the memo is the same, only its slot was refilled.
  pyscope::EventCounter counter;
  counter.attach(db);
  pyscope::file_diagnostics(db, util);
  CHECK(counter.total(db).executed == 0);
}

TEST_CASE("pyscope: a project and its library: first-party first, one module index per root",
          "[pyscope]") {
  pyscope::Db db;
  pyscope::LoadOptions opt;
  opt.roots = {"/proj", "/lib"};  // the project, then the standard library
  pyscope::load(
      db,
      {file("/proj/main.py",
            "import re\nimport codecs\nfrom pkg import thing\nfrom shadow import mine\n"),
       file("/proj/shadow.py", "mine = 1\n"), file("/lib/re.py", "def compile(p): pass\n"),
       file("/lib/codecs.py", ""), file("/lib/pkg/__init__.py", "from .core import thing\n"),
       file("/lib/pkg/core.py", "thing = 1\n"), file("/lib/shadow.py", "theirs = 1\n")},
      opt);
  REQUIRE(db.analyzed.size() == 2);
  const File main = F(db, "/proj/main.py");
  // `shadow` is the project's (first-party first, as ty): it has `mine`.
  CHECK(pyscope::diagnose_all(db, db.analyzed, 1) == std::vector<std::vector<Diagnostic>>{{}, {}});
  // The library's index read only library inputs: high durability. The project's is low.
  REQUIRE(db.search_path.size() == 2);
  CHECK(db.node_info(pyscope::module_index.key(db, db.search_path[1])).durability ==
        relish::Durability::high);
  CHECK(db.node_info(pyscope::module_index.key(db, db.search_path[0])).durability ==
        relish::Durability::low);

  // A rename in the project re-runs the project's index, not the library's.
  pyscope::EventCounter counter;
  counter.attach(db);
  counter.record_executed(true);
  pyscope::rename_file(db, F(db, "/proj/shadow.py"), "/proj/shadow2.py");
  CHECK(render(pyscope::file_diagnostics(db, main)) ==
        Strings{"4 unresolved-import: Module `shadow` has no member `mine`"});  // the library's
  const Strings ran = counter.executed(db);
  CHECK(contains(ran, db.describe(pyscope::module_index.key(db, db.search_path[0]))));
  CHECK(std::count_if(ran.begin(), ran.end(),
                      [](const std::string& s) { return s.rfind("module_index(", 0) == 0; }) == 1);
  CHECK(pyscope::diagnose_all(db, db.analyzed, 1) == from_scratch(db));
}

TEST_CASE("pyscope: a project inside the standard library still imports the rest of it",
          "[pyscope]") {
  pyscope::Db db;
  pyscope::LoadOptions opt;
  opt.roots = {"/lib", "/lib"};  // the project's modules are named from the library's root
  opt.project_dir = "/lib/pkg";
  pyscope::load(db,
                {file("/lib/re.py", "def compile(p): pass\n"),
                 file("/lib/pkg/__init__.py", "import re\nfrom .core import thing\n"),
                 file("/lib/pkg/core.py", "from . import helpers\nthing = 1\n"),
                 file("/lib/pkg/helpers.py", "import pkg.core\n")},
                opt);
  CHECK(db.analyzed.size() == 3);  // pkg's files, loaded once
  CHECK(db.files.size() == 4);
  CHECK(pyscope::diagnose_all(db, db.analyzed, 1) ==
        std::vector<std::vector<Diagnostic>>{{}, {}, {}});
  CHECK(pyscope::module_info(db, F(db, "/lib/pkg/core.py")).name == "pkg.core");
}

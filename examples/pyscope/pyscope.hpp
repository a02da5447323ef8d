// pyscope: a small Python analyzer built on relish, shaped like ty's query pipeline.
//
// The core of the `pyscope` example, in a header so that tests can drive it on files held in
// memory. The pipeline is the one in /work/shared/seeds (ty on Salsa), query by query:
//
//   File (input)            path, text (nullopt: read from disk), permissions, revision
//   SearchRoot (input)      one root of the search path (project, stdlib, site-packages):
//                           its directory and files. Project inputs are low durability,
//                           library ones high (ty: Project LOW, library search paths HIGH)
//   source_text(file)       the text; equality on, so an unchanged text stops everything below
//   parsed_module(file)     ParsedModule{file, Reclaimable<Ast>}: no_eq, returns ref, LRU 200;
//                           the AST can be cleared mid-revision and is re-parsed on load()
//   semantic_index(file)    scopes, and per scope a shared_ptr<PlaceTable> and a
//                           shared_ptr<UseDefMap>; definitions are Tracked<DefinitionData>.
//                           no_eq: it re-runs on every edit of the file, but a scope whose
//                           content is unchanged keeps its previous allocation...
//   place_table(scope)      ...so these extraction queries (returns deref) backdate by pointer
//   use_def_map(scope)      and nothing that read an unchanged scope re-runs
//   module_index(root)      module name -> file, for one search root (project, stdlib,
//                           site-packages): reads only that root's paths, so a library
//                           root's index is high durability and a project rename leaves it
//   resolve_module(name)    keyed by a plain ModuleName struct, interned by relish; walks the
//                           roots first-party first
//   infer_definition_type(definition), symbol_type(scope, name)
//                           Interned types: int, str, None, modules, functions, classes, unions
//   scope_diagnostics(scope)  lines relative to the scope, so a scope that only moved is equal
//   file_diagnostics(file)  the file's diagnostics: syntax errors, unresolved imports (and
//                           missing members of imported modules), unresolved references,
//                           names used before their definition, calls of non-callable values
//
// Queries are `pyscope::<name>`; their functions are `pyscope::fn::<name>`, so that events and
// Database::describe name them "semantic_index(File#3)".
//
// Loading: SearchPaths::discover finds the project's standard library and site-packages,
// load_workspace scans and loads them (each file once); load() takes files held in memory.
//
// Threads: any number of threads may call file_diagnostics on one Db (diagnose_all does).
// Edits (set_text, rename) happen between queries.
#pragma once

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include <relish/relish.hpp>
#ifdef PYSCOPE_AST_HEAP
#include <mimalloc.h>
#endif

#include "absl/container/flat_hash_map.h"
#include "python_syntax.hpp"

namespace pyscope {

using pysyntax::Ast;
using pysyntax::Node;
using pysyntax::NodeKind;

// ---------------------------------------------------------------------------------------
// Inputs and the database
// ---------------------------------------------------------------------------------------

// ty's `File`: set from outside, one dependency per field.
struct FileData {
  std::string path;                          // absolute, e.g. "/usr/lib/python3.11/json/decoder.py"
  std::optional<std::string> text;           // the editor's text; nullopt: read `path` from disk
  std::optional<std::uint32_t> permissions;  // read by no query: setting it invalidates nothing
  std::uint64_t revision = 0;                // bumped when the file changed on disk
};
using File = relish::Input<FileData>;

// One root of the module search path, as ty has them: the project (first-party), the
// standard library, site-packages. Module names of its files are relative to `path`. The
// listing is set once (files are never added or removed; a rename sets a File's path and the
// file stays in its root). Created with the durability of its files: low for the project,
// high for the library, so module_index(root) of a library root is high too.
enum class RootKind : std::uint8_t { project, stdlib, site_packages };
inline const char* to_string(RootKind k) {
  switch (k) {
    case RootKind::project:
      return "project";
    case RootKind::stdlib:
      return "stdlib";
    case RootKind::site_packages:
      return "site-packages";
  }
  return "?";
}
struct SearchRootData {
  std::string path;
  RootKind kind = RootKind::project;
  std::vector<File> files;
};
using SearchRoot = relish::Input<SearchRootData>;

struct PlaceTable;
struct UseDefMap;

namespace detail {
// The previous tables of each file, so that the semantic index builder can hand out the same
// allocation for a scope whose content did not change (what makes place_table backdate).
// Holds no information a query could observe beyond pointer identity.
struct ScopeTables {
  std::vector<std::shared_ptr<const PlaceTable>> place_tables;
  std::vector<std::shared_ptr<const UseDefMap>> use_def_maps;
};
class ReuseCache {
 public:
  ScopeTables get(File f) {
    std::lock_guard lock(mu_);
    auto it = by_file_.find(f);
    return it == by_file_.end() ? ScopeTables{} : it->second;
  }
  void put(File f, ScopeTables t) {
    std::lock_guard lock(mu_);
    by_file_[f] = std::move(t);
  }

 private:
  std::mutex mu_;
  absl::flat_hash_map<File, ScopeTables> by_file_;
};
}  // namespace detail

struct Db : relish::Database {
  // The module search path in resolution order (first-party first, as ty): the project's
  // root, then the standard library, then site-packages. `roots` holds their paths (fixed).
  std::vector<SearchRoot> search_path;
  std::vector<std::string> roots;
  // Modules compiled into the interpreter, and extension modules (lib-dynload/*.so): they
  // resolve, but have no Python source. Fixed after load().
  std::vector<std::string> builtin_modules;
  std::vector<std::string> extension_modules;
  // The same files as the workspace, for code outside queries.
  std::vector<File> files;
  // The project's files (and site-packages' when they are analyzed too): the ones whose
  // diagnostics are reported.
  std::vector<File> analyzed;
  std::vector<std::uint32_t> file_roots;  // per file (as `files`): its root in search_path
  std::string project_dir;                // the analyzed directory
  bool analyze_site_packages = false;
  // How many times a module was parsed (a cleared AST re-parsed counts too).
  std::atomic<std::uint64_t> parses{0};
  // The bytes of ASTs held at once, within a revision too: past it, the least recently
  // loaded ASTs are cleared and re-parsed when next loaded (ty clears each file's AST once
  // it is checked). A cold pass over 11,659 files would otherwise hold all of them.
  relish::ReclaimBudget ast_budget{std::size_t{64} << 20};
  detail::ReuseCache reuse;

  // The path of a file, read outside any query.
  const std::string& path(File f) { return f.get(*this, &FileData::path); }
};

// ---------------------------------------------------------------------------------------
// source_text and parsed_module
// ---------------------------------------------------------------------------------------

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

namespace fn {
// The editor's text if there is one, else the file on disk (as of `revision`).
inline std::string source_text(Db& db, File file) {
  if (const auto& text = file.get(db, &FileData::text)) return *text;
  file.get(db, &FileData::revision);  // re-read when the file changed on disk
  return read_file(file.get(db, &FileData::path));
}
}  // namespace fn
// Equality on: a re-read or re-set text that is unchanged backdates, and nothing re-parses.
inline constexpr relish::Query<fn::source_text, relish::Options{.returns = relish::Returns::ref}>
    source_text;

#ifdef PYSCOPE_AST_HEAP
// The pyscope executable (linked with mimalloc) allocates ASTs in a mimalloc heap of their
// own, one per thread: their pages hold nothing else, so ASTs freed by eviction or by the AST
// budget free whole pages that go back to the system, instead of leaving holes between the
// memos allocated meanwhile.
inline mi_heap_t* ast_heap() {  // this thread's
  thread_local mi_heap_t* const heap = mi_heap_new();
  return heap;
}
class AstHeapScope {
 public:
  AstHeapScope() : previous_(mi_heap_set_default(ast_heap())) {}
  ~AstHeapScope() { mi_heap_set_default(previous_); }
  AstHeapScope(const AstHeapScope&) = delete;
  AstHeapScope& operator=(const AstHeapScope&) = delete;

 private:
  mi_heap_t* previous_;
};
#else
struct AstHeapScope {};
#endif

// The parse itself, separate so that a cleared AST can be re-parsed (ty's parsed_module_impl).
inline Ast parse_module_impl(Db& db, File file) {
  const std::string& text = source_text(db, file);
  db.parses.fetch_add(1, std::memory_order_relaxed);
  [[maybe_unused]] const AstHeapScope in_ast_heap;  // the parse only: source_text may run queries
  return pysyntax::parse(text);
}

// ty's ParsedModule: the AST in a slot that can be cleared within a revision (memory pressure)
// and is re-parsed on the next load(); whoever holds a Ref keeps the old AST alive.
struct ParsedModule {
  File file;
  relish::Reclaimable<Ast> ast;

  relish::Ref<Ast> load(Db& db) const {
    return ast.load_or([&] { return parse_module_impl(db, file); });
  }
  void clear() const { ast.clear(); }
};

namespace fn {
inline ParsedModule parsed_module(Db& db, File file) {
  return ParsedModule{file, relish::Reclaimable<Ast>(db.ast_budget, parse_module_impl(db, file))};
}
}  // namespace fn
// ASTs change on every edit and are expensive to compare: no_eq. At most 200 kept across
// revisions (their dependency records stay, so dependents still verify cheaply).
inline constexpr relish::Query<
    fn::parsed_module, relish::Options{.returns = relish::Returns::ref, .no_eq = true, .lru = 200}>
    parsed_module;

// ---------------------------------------------------------------------------------------
// The semantic index: scopes, place tables, use-def maps, definitions
// ---------------------------------------------------------------------------------------

enum class ScopeKind : std::uint8_t { module, class_, function, lambda, comprehension };

inline const char* to_string(ScopeKind k) {
  switch (k) {
    case ScopeKind::module:
      return "module";
    case ScopeKind::class_:
      return "class";
    case ScopeKind::function:
      return "function";
    case ScopeKind::lambda:
      return "lambda";
    case ScopeKind::comprehension:
      return "comprehension";
  }
  return "?";
}

// A scope of a file: the key of the per-scope queries. A plain struct: relish interns it.
struct ScopeId {
  File file;
  std::uint32_t index = 0;  // preorder; 0 is the module scope
};

inline constexpr std::uint32_t kNoScope = 0xFFFFFFFFu;
inline constexpr std::uint32_t kNoLoop = 0xFFFFFFFFu;

// Symbol flags.
inline constexpr std::uint16_t kBound = 1;  // bound in this scope (assigned, def, import...)
inline constexpr std::uint16_t kUsed = 2;   // read in this scope
inline constexpr std::uint16_t kParameter = 4;
inline constexpr std::uint16_t kGlobal = 8;          // `global x` here
inline constexpr std::uint16_t kNonlocal = 16;       // `nonlocal x` here
inline constexpr std::uint16_t kDeclared = 32;       // local without a binding: `x: int`, `del x`
inline constexpr std::uint16_t kBoundInNested = 64;  // module scope: bound through `global x`
inline constexpr std::uint16_t kSubmodule = 128;     // an __init__ bound it by importing `.x`

struct Symbol {
  std::string name;
  std::uint16_t flags = 0;
  friend bool operator==(const Symbol&, const Symbol&) = default;
};

struct StarImport {
  std::string module;  // as written (without the leading dots)
  std::uint32_t level = 0;
  friend bool operator==(const StarImport&, const StarImport&) = default;
};

// The names of one scope. No line numbers: a scope that only moved has an equal table.
struct PlaceTable {
  ScopeKind kind = ScopeKind::module;
  std::string name;  // "f", "C", "<lambda>", "<listcomp>"...
  std::uint32_t parent = kNoScope;
  std::vector<Symbol> symbols;  // in order of first appearance
  std::vector<StarImport> star_imports;
  // Module scope: some code in the file calls globals() (and may define any name with it).
  bool dynamic_globals = false;
  // Indices into `symbols`, sorted by name (derived from `symbols`): 4 bytes a symbol, where a
  // hash map from a copy of each name took ten times that, over 1.3M symbols on a big corpus.
  std::vector<std::uint32_t> by_name;

  const Symbol* find(std::string_view n) const {
    const std::uint32_t i = index_of(n);
    return i == kNoScope ? nullptr : &symbols[i];
  }
  std::uint32_t index_of(std::string_view n) const {
    auto it = std::lower_bound(by_name.begin(), by_name.end(), n, [&](std::uint32_t i, std::string_view k) {
      return std::string_view(symbols[i].name) < k;
    });
    return it != by_name.end() && symbols[*it].name == n ? *it : kNoScope;
  }
  // Fills `by_name` and gives the vectors back their spare capacity (the table is final).
  void finish() {
    symbols.shrink_to_fit();
    star_imports.shrink_to_fit();
    by_name.resize(symbols.size());
    for (std::uint32_t i = 0; i < by_name.size(); ++i) by_name[i] = i;
    std::sort(by_name.begin(), by_name.end(),
              [&](std::uint32_t a, std::uint32_t b) { return symbols[a].name < symbols[b].name; });
  }
  friend bool operator==(const PlaceTable& a, const PlaceTable& b) {
    return a.kind == b.kind && a.name == b.name && a.parent == b.parent && a.symbols == b.symbols &&
           a.star_imports == b.star_imports && a.dynamic_globals == b.dynamic_globals;
  }
};

enum class DefKind : std::uint8_t {
  assignment,
  augmented,
  annotated,
  import,
  import_from,
  function,
  class_,
  parameter,
  for_target,
  with_target,
  except_handler,
  comprehension,
  named_expr,
  match_capture,
};

// What the right-hand side of a binding is, as far as a syntactic look tells.
enum class ValueHint : std::uint8_t {
  unknown,
  none,
  bool_,
  int_,
  float_,
  complex,
  str,
  bytes,
  list,
  dict,
  set,
  tuple,
  lambda
};

// The AST-derived part of a definition: changes on every re-parse (NoEq tracked field).
struct DefinitionKind {
  DefKind kind = DefKind::assignment;
  ValueHint value = ValueHint::unknown;
  std::string detail;  // imported module / qualified name of a def or class
  std::uint32_t line = 0;
};

// ty's Definition: identity = (file, scope, name) plus relish's occurrence counter; `kind` is
// a NoEq tracked field, so a re-parse updates it without invalidating readers of the rest.
struct DefinitionData {
  File file;
  std::uint32_t scope = 0;
  std::string name;
  relish::TrackedField<DefinitionKind, relish::NoEq> kind;
};
using Definition = relish::Tracked<DefinitionData>;

struct DefinitionSite {
  std::uint32_t symbol = 0;
  std::uint32_t seq = 0;   // order of events within the scope
  std::uint32_t line = 0;  // relative to the scope's first line
  Definition definition;
  friend bool operator==(const DefinitionSite&, const DefinitionSite&) = default;
};

inline constexpr std::uint8_t kLazy = 1;    // in an annotation: not evaluated in order
inline constexpr std::uint8_t kCalled = 2;  // `name(...)`
inline constexpr std::uint8_t kDel = 4;     // `del name`

struct UseSite {
  std::uint32_t symbol = 0;
  std::uint32_t seq = 0;
  std::uint32_t line = 0;        // relative to the scope's first line
  std::uint32_t loop = kNoLoop;  // outermost enclosing loop in this scope
  std::uint8_t flags = 0;
  friend bool operator==(const UseSite&, const UseSite&) = default;
};

struct LoopRange {  // the seqs of a loop's body: a definition there reaches uses before it
  std::uint32_t begin = 0, end = 0;
  friend bool operator==(const LoopRange&, const LoopRange&) = default;
};

struct ImportSite {
  std::string module;  // as written, without leading dots ("" for `from . import x`)
  std::string member;  // "" for `import m`, "*" for a star import
  std::uint32_t level = 0;
  std::uint32_t line = 0;  // relative to the scope's first line
  bool guarded = false;    // inside a try block: a failure is expected to be handled
  bool first = true;       // the first name of its statement (reports a missing module once)
  friend bool operator==(const ImportSite&, const ImportSite&) = default;
};

// Where each name of a scope is defined and read, in order.
struct UseDefMap {
  std::vector<DefinitionSite> definitions;
  std::vector<UseSite> uses;
  std::vector<LoopRange> loops;
  std::vector<ImportSite> imports;
  void finish() {  // the map is final: no spare capacity
    definitions.shrink_to_fit();
    uses.shrink_to_fit();
    loops.shrink_to_fit();
    imports.shrink_to_fit();
  }
  friend bool operator==(const UseDefMap&, const UseDefMap&) = default;
};

struct ScopeInfo {
  ScopeKind kind = ScopeKind::module;
  std::string name;
  std::uint32_t parent = kNoScope;
  std::uint32_t start_line = 0;  // lines of the scope's tables are relative to this one
};

struct SemanticIndex {
  std::vector<ScopeInfo> scopes;
  std::vector<std::shared_ptr<const PlaceTable>> place_tables;
  std::vector<std::shared_ptr<const UseDefMap>> use_def_maps;
  std::vector<pysyntax::SyntaxError> syntax_errors;
};

namespace detail {

inline ValueHint hint_of(const Ast& ast, std::uint32_t id) {
  using pysyntax::Comp;
  using pysyntax::Const;
  if (id == pysyntax::kNone) return ValueHint::unknown;
  const Node& n = ast[id];
  switch (n.kind) {
    case NodeKind::constant:
      switch (static_cast<Const>(n.flags)) {
        case Const::none:
          return ValueHint::none;
        case Const::true_:
        case Const::false_:
          return ValueHint::bool_;
        case Const::int_:
          return ValueHint::int_;
        case Const::float_:
          return ValueHint::float_;
        case Const::complex:
          return ValueHint::complex;
        case Const::str:
          return ValueHint::str;
        case Const::bytes:
          return ValueHint::bytes;
        case Const::ellipsis:
          return ValueHint::unknown;
      }
      return ValueHint::unknown;
    case NodeKind::fstring:
      return ValueHint::str;
    case NodeKind::list:
      return ValueHint::list;
    case NodeKind::dict:
      return ValueHint::dict;
    case NodeKind::set:
      return ValueHint::set;
    case NodeKind::tuple:
      return ValueHint::tuple;
    case NodeKind::lambda:
      return ValueHint::lambda;
    case NodeKind::comprehension:
      switch (static_cast<Comp>(n.flags)) {
        case Comp::list:
          return ValueHint::list;
        case Comp::set:
          return ValueHint::set;
        case Comp::dict:
          return ValueHint::dict;
        case Comp::generator:
          return ValueHint::unknown;
      }
      return ValueHint::unknown;
    default:
      return ValueHint::unknown;
  }
}

// Walks a module's AST once, building every scope's tables and creating the definitions.
class IndexBuilder {
 public:
  IndexBuilder(Db& db, File file, const Ast& ast, bool is_package)
      : db_(db), file_(file), ast_(ast), is_package_(is_package) {}

  SemanticIndex build() {
    open_scope(ScopeKind::module, "", 0);
    for (std::uint32_t s : ast_.kids(ast_[ast_.root])) stmt(s);
    close_scope();

    // Hand out the previous allocation for every scope whose tables are unchanged.
    const ScopeTables previous = db_.reuse.get(file_);
    SemanticIndex index;
    ScopeTables now;
    index.scopes.reserve(scopes_.size());
    index.place_tables.reserve(scopes_.size());
    index.use_def_maps.reserve(scopes_.size());
    for (std::uint32_t i = 0; i < scopes_.size(); ++i) {
      Scope& s = scopes_[i];
      s.table.finish();
      s.map.finish();
      index.scopes.push_back(s.info);
      std::shared_ptr<const PlaceTable> table;
      if (i < previous.place_tables.size() && *previous.place_tables[i] == s.table) {
        table = previous.place_tables[i];
      } else {
        table = std::make_shared<const PlaceTable>(std::move(s.table));
      }
      std::shared_ptr<const UseDefMap> map;
      if (i < previous.use_def_maps.size() && *previous.use_def_maps[i] == s.map) {
        map = previous.use_def_maps[i];
      } else {
        map = std::make_shared<const UseDefMap>(std::move(s.map));
      }
      index.place_tables.push_back(table);
      index.use_def_maps.push_back(map);
    }
    now.place_tables = index.place_tables;
    now.use_def_maps = index.use_def_maps;
    db_.reuse.put(file_, std::move(now));
    index.syntax_errors = ast_.errors;
    return index;
  }

 private:
  struct Scope {
    ScopeInfo info;
    PlaceTable table;
    UseDefMap map;
    std::string qualname;
    absl::flat_hash_map<std::string, std::uint32_t> symbol_of;  // table.symbols by name
    std::uint32_t seq = 0;
    std::vector<std::uint32_t> open_loops;  // indices into map.loops
    int try_depth = 0;
  };

  Scope& cur() { return scopes_[stack_.back()]; }
  std::uint32_t cur_index() const { return stack_.back(); }
  std::uint32_t rel(const Scope& s, std::uint32_t line) const {
    return line >= s.info.start_line ? line - s.info.start_line : 0;
  }

  void open_scope(ScopeKind kind, std::string name, std::uint32_t start_line) {
    Scope s;
    s.info.kind = kind;
    s.info.name = name;
    s.info.parent = stack_.empty() ? kNoScope : stack_.back();
    s.info.start_line = start_line;
    s.table.kind = kind;
    s.table.name = name;
    s.table.parent = s.info.parent;
    if (!stack_.empty() && kind != ScopeKind::module) {
      const std::string& outer = cur().qualname;
      s.qualname = outer.empty() ? name : outer + "." + name;
    }
    scopes_.push_back(std::move(s));
    stack_.push_back(static_cast<std::uint32_t>(scopes_.size() - 1));
  }
  void close_scope() { stack_.pop_back(); }

  std::uint32_t symbol(Scope& s, std::string_view name) {
    auto [it, inserted] = s.symbol_of.try_emplace(
        std::string(name), static_cast<std::uint32_t>(s.table.symbols.size()));
    if (inserted) s.table.symbols.push_back(Symbol{std::string(name), 0});
    return it->second;
  }

  void use(std::string_view name, std::uint32_t line, std::uint8_t flags) {
    if (name == "globals") scopes_[0].table.dynamic_globals = true;
    Scope& s = cur();
    const std::uint32_t sym = symbol(s, name);
    s.table.symbols[sym].flags |= kUsed;
    const std::uint32_t loop = s.open_loops.empty() ? kNoLoop : s.open_loops.front();
    s.map.uses.push_back(UseSite{sym, s.seq++, rel(s, line), loop, flags});
  }

  void bind(std::string_view name, std::uint32_t line, DefKind kind, ValueHint value,
            std::string detail = {}) {
    // A walrus in a comprehension binds in the enclosing function (PEP 572).
    std::uint32_t target = cur_index();
    if (kind == DefKind::named_expr) {
      for (std::size_t k = stack_.size(); k-- > 0;) {
        target = stack_[k];
        if (scopes_[target].info.kind != ScopeKind::comprehension) break;
      }
    }
    Scope& s = scopes_[target];
    const std::uint32_t sym = symbol(s, name);
    Symbol& symbol_ref = s.table.symbols[sym];
    if ((symbol_ref.flags & kGlobal) && target != 0) {
      Scope& module = scopes_[0];
      module.table.symbols[symbol(module, name)].flags |= kBoundInNested;
      return;
    }
    if (symbol_ref.flags & kNonlocal) return;  // rebinds the enclosing function's variable
    symbol_ref.flags |= kBound;
    const Definition d = Definition::create(
        db_, DefinitionData{.file = file_,
                            .scope = target,
                            .name = std::string(name),
                            .kind = DefinitionKind{kind, value, std::move(detail), line}});
    s.map.definitions.push_back(DefinitionSite{sym, s.seq++, rel(s, line), d});
  }

  void flag(std::string_view name, std::uint16_t flags) {
    Scope& s = cur();
    s.table.symbols[symbol(s, name)].flags |= flags;
  }

  std::string_view str(std::uint32_t id) const { return ast_.str(id); }
  std::uint32_t child(const Node& n, std::uint32_t i) const { return ast_.child(n, i); }

  void block(std::uint32_t id) {
    if (id == pysyntax::kNone) return;
    for (std::uint32_t s : ast_.kids(ast_[id])) stmt(s);
  }

  std::uint32_t begin_loop() {
    Scope& s = cur();
    const auto loop = static_cast<std::uint32_t>(s.map.loops.size());
    s.map.loops.push_back(LoopRange{s.seq, 0});
    s.open_loops.push_back(loop);
    return loop;
  }
  void end_loop(std::uint32_t loop) {
    Scope& s = cur();
    s.map.loops[loop].end = s.seq;
    s.open_loops.pop_back();
  }

  // Defaults and annotations are evaluated in the scope that contains the def or lambda.
  void parameters_outside(std::uint32_t args_id) {
    for (std::uint32_t a : ast_.kids(ast_[args_id])) {
      const Node& arg = ast_[a];
      if (std::uint32_t ann = child(arg, 0); ann != pysyntax::kNone) expr(ann, kLazy);
      if (std::uint32_t def = child(arg, 1); def != pysyntax::kNone) expr(def, 0);
    }
  }
  void parameters_inside(std::uint32_t args_id) {
    for (std::uint32_t a : ast_.kids(ast_[args_id])) {
      const Node& arg = ast_[a];
      bind(str(arg.name), arg.line, DefKind::parameter, ValueHint::unknown);
      flag(str(arg.name), kParameter);
    }
  }

  void stmt(std::uint32_t id) {
    const Node& n = ast_[id];
    switch (n.kind) {
      case NodeKind::function_def: {
        for (std::uint32_t d : ast_.kids(n, 3)) expr(d, 0);
        parameters_outside(child(n, 0));
        if (std::uint32_t r = child(n, 1); r != pysyntax::kNone) expr(r, kLazy);
        const std::string name(str(n.name));
        const std::string qualname = cur().qualname.empty() ? name : cur().qualname + "." + name;
        bind(name, n.line, DefKind::function, ValueHint::unknown, qualname);
        open_scope(ScopeKind::function, name, n.line);
        parameters_inside(child(n, 0));
        block(child(n, 2));
        close_scope();
        break;
      }
      case NodeKind::class_def: {
        for (std::uint32_t d : ast_.kids(n, 2)) expr(d, 0);
        for (std::uint32_t b : ast_.kids(ast_[child(n, 1)])) expr(b, 0);
        const std::string name(str(n.name));
        const std::string qualname = cur().qualname.empty() ? name : cur().qualname + "." + name;
        open_scope(ScopeKind::class_, name, n.line);
        block(child(n, 0));
        close_scope();
        bind(name, n.line, DefKind::class_, ValueHint::unknown, qualname);
        break;
      }
      case NodeKind::return_:
      case NodeKind::expr_stmt:
        if (std::uint32_t v = child(n, 0); v != pysyntax::kNone) expr(v, 0);
        break;
      case NodeKind::delete_:
        for (std::uint32_t t : ast_.kids(n)) {
          const Node& tn = ast_[t];
          if (tn.kind == NodeKind::name) {
            use(str(tn.name), tn.line, kDel);
            flag(str(tn.name), kDeclared);
          } else {
            expr(t, 0);
          }
        }
        break;
      case NodeKind::assign: {
        const std::uint32_t value = child(n, n.count - 1);
        expr(value, 0);
        const ValueHint hint = hint_of(ast_, value);
        for (std::uint32_t k = 0; k + 1 < n.count; ++k)
          target(child(n, k), DefKind::assignment, hint);
        break;
      }
      case NodeKind::aug_assign: {
        const Node& t = ast_[child(n, 0)];
        if (t.kind == NodeKind::name) use(str(t.name), t.line, 0);
        expr(child(n, 1), 0);
        if (t.kind == NodeKind::name) {
          bind(str(t.name), t.line, DefKind::augmented, ValueHint::unknown);
        } else {
          expr(child(n, 0), 0);
        }
        break;
      }
      case NodeKind::ann_assign: {
        expr(child(n, 1), kLazy);
        const std::uint32_t value = child(n, 2);
        if (value != pysyntax::kNone) expr(value, 0);
        const Node& t = ast_[child(n, 0)];
        if (t.kind != NodeKind::name) {
          expr(child(n, 0), 0);
        } else if (value != pysyntax::kNone) {
          bind(str(t.name), t.line, DefKind::annotated, hint_of(ast_, value));
        } else {
          flag(str(t.name), kDeclared);
        }
        break;
      }
      case NodeKind::for_: {
        expr(child(n, 1), 0);
        const std::uint32_t loop = begin_loop();
        target(child(n, 0), DefKind::for_target, ValueHint::unknown);
        block(child(n, 2));
        end_loop(loop);
        block(child(n, 3));
        break;
      }
      case NodeKind::while_: {
        const std::uint32_t loop = begin_loop();
        expr(child(n, 0), 0);
        block(child(n, 1));
        end_loop(loop);
        block(child(n, 2));
        break;
      }
      case NodeKind::if_:
        expr(child(n, 0), 0);
        block(child(n, 1));
        block(child(n, 2));
        break;
      case NodeKind::with_:
        for (std::uint32_t item : ast_.kids(n, 1)) {
          const Node& it = ast_[item];
          expr(child(it, 0), 0);
          if (std::uint32_t t = child(it, 1); t != pysyntax::kNone)
            target(t, DefKind::with_target, ValueHint::unknown);
        }
        block(child(n, 0));
        break;
      case NodeKind::match:
        expr(child(n, 0), 0);
        for (std::uint32_t c : ast_.kids(n, 1)) {
          const Node& mc = ast_[c];
          pattern(child(mc, 0));
          if (std::uint32_t g = child(mc, 1); g != pysyntax::kNone) expr(g, 0);
          block(child(mc, 2));
        }
        break;
      case NodeKind::raise:
      case NodeKind::assert_:
        for (std::uint32_t k : ast_.kids(n))
          if (k != pysyntax::kNone) expr(k, 0);
        break;
      case NodeKind::try_: {
        ++cur().try_depth;
        block(child(n, 0));
        --cur().try_depth;
        for (std::uint32_t h : ast_.kids(n, 3)) {
          const Node& hn = ast_[h];
          if (std::uint32_t t = child(hn, 0); t != pysyntax::kNone) expr(t, 0);
          if (hn.name != pysyntax::kNoName)
            bind(str(hn.name), hn.line, DefKind::except_handler, ValueHint::unknown);
          block(child(hn, 1));
        }
        block(child(n, 1));
        block(child(n, 2));
        break;
      }
      case NodeKind::import:
        for (std::uint32_t a : ast_.kids(n)) {
          const Node& alias = ast_[a];
          const std::string full(str(alias.name));
          Scope& s = cur();
          s.map.imports.push_back(
              ImportSite{full, "", 0, rel(s, alias.line), s.try_depth > 0, true});
          if (alias.aux != pysyntax::kNoName) {
            bind(str(alias.aux), alias.line, DefKind::import, ValueHint::unknown, full);
          } else {
            const std::string top = full.substr(0, full.find('.'));
            bind(top, alias.line, DefKind::import, ValueHint::unknown, top);
          }
        }
        break;
      case NodeKind::import_from: {
        const std::string module(str(n.name));
        if (is_package_ && n.aux == 1 && !module.empty() && stack_.size() == 1) {
          // Importing a submodule sets it as an attribute of the package: this namespace.
          const std::string sub = module.substr(0, module.find('.'));
          bind(sub, n.line, DefKind::import, ValueHint::unknown, sub);
          flag(sub, kSubmodule);
        }
        for (std::uint32_t a : ast_.kids(n)) {
          const Node& alias = ast_[a];
          const std::string member(str(alias.name));
          Scope& s = cur();
          s.map.imports.push_back(ImportSite{module, member, n.aux, rel(s, alias.line),
                                             s.try_depth > 0, a == ast_.child(n, 0)});
          if (member == "*") {
            cur().table.star_imports.push_back(StarImport{module, n.aux});
            continue;
          }
          const std::string bound = alias.aux != pysyntax::kNoName ? std::string(str(alias.aux)) : member;
          bind(bound, alias.line, DefKind::import_from, ValueHint::unknown,
               std::string(n.aux, '.') + module + (module.empty() ? "" : ".") + member);
          // `from . import x` in a package's __init__: x is a submodule, and this binding
          // must not count as the package defining x (the import would satisfy itself).
          if (is_package_ && n.aux == 1 && module.empty() && stack_.size() == 1 &&
              alias.aux == pysyntax::kNoName)
            flag(bound, kSubmodule);
        }
        break;
      }
      case NodeKind::global:
        for (std::uint32_t k : ast_.kids(n)) flag(str(ast_[k].name), kGlobal);
        break;
      case NodeKind::nonlocal:
        for (std::uint32_t k : ast_.kids(n)) flag(str(ast_[k].name), kNonlocal);
        break;
      default:
        break;  // pass, break, continue
    }
  }

  // An assignment target: names are bound, attribute/subscript parts are read.
  void target(std::uint32_t id, DefKind kind, ValueHint hint) {
    const Node& n = ast_[id];
    switch (n.kind) {
      case NodeKind::name:
        bind(str(n.name), n.line, kind, hint);
        break;
      case NodeKind::tuple:
      case NodeKind::list:
        for (std::uint32_t k : ast_.kids(n)) target(k, kind, ValueHint::unknown);
        break;
      case NodeKind::starred:
        target(child(n, 0), kind, ValueHint::list);
        break;
      default:
        expr(id, 0);
    }
  }

  // A match pattern: bare names capture (except `_`), dotted names and class names are read.
  void pattern(std::uint32_t id) {
    if (id == pysyntax::kNone) return;
    const Node& n = ast_[id];
    switch (n.kind) {
      case NodeKind::name:
        if (str(n.name) != "_")
          bind(str(n.name), n.line, DefKind::match_capture, ValueHint::unknown);
        break;
      case NodeKind::named_expr:  // pattern `as` name
        pattern(child(n, 1));
        bind(str(ast_[child(n, 0)].name), n.line, DefKind::match_capture, ValueHint::unknown);
        break;
      case NodeKind::call:
        expr(child(n, 0), 0);
        for (std::uint32_t a : ast_.kids(n, 1)) {
          const Node& an = ast_[a];
          pattern(an.kind == NodeKind::keyword ? child(an, 0) : a);
        }
        break;
      case NodeKind::dict:
        for (std::uint32_t k = 0; k + 1 < n.count; k += 2) {
          if (child(n, k) != pysyntax::kNone) expr(child(n, k), 0);
          pattern(child(n, k + 1));
        }
        break;
      case NodeKind::tuple:
      case NodeKind::list:
      case NodeKind::operation:  // `a | b`
        for (std::uint32_t k : ast_.kids(n)) pattern(k);
        break;
      case NodeKind::starred:
        pattern(child(n, 0));
        break;
      default:
        expr(id, 0);  // literals, dotted value patterns
    }
  }

  void expr(std::uint32_t id, std::uint8_t flags) {
    if (id == pysyntax::kNone) return;
    const Node& n = ast_[id];
    switch (n.kind) {
      case NodeKind::name:
        if (n.flags == pysyntax::Ctx::store) {
          bind(str(n.name), n.line, DefKind::assignment, ValueHint::unknown);
        } else {
          use(str(n.name), n.line, flags);
        }
        break;
      case NodeKind::call: {
        const Node& f = ast_[child(n, 0)];
        if (f.kind == NodeKind::name) {
          use(str(f.name), f.line, static_cast<std::uint8_t>(flags | kCalled));
        } else {
          expr(child(n, 0), flags);
        }
        for (std::uint32_t a : ast_.kids(n, 1)) expr(a, flags);
        break;
      }
      case NodeKind::lambda:
        parameters_outside(child(n, 0));
        open_scope(ScopeKind::lambda, "<lambda>", n.line);
        parameters_inside(child(n, 0));
        expr(child(n, 1), 0);
        close_scope();
        break;
      case NodeKind::comprehension: {
        // The first iterable is evaluated outside; everything else in the new scope.
        const std::uint32_t first_for = child(n, n.aux);
        expr(child(ast_[first_for], 1), flags);
        static constexpr const char* kNames[] = {"<listcomp>", "<setcomp>", "<dictcomp>",
                                                 "<genexpr>"};
        open_scope(ScopeKind::comprehension, kNames[n.flags & 3], n.line);
        for (std::uint32_t k = n.aux; k < n.count; ++k) {
          const Node& f = ast_[child(n, k)];
          if (k != n.aux) expr(child(f, 1), 0);
          target(child(f, 0), DefKind::comprehension, ValueHint::unknown);
          for (std::uint32_t c : ast_.kids(f, 2)) expr(c, 0);
        }
        for (std::uint32_t k = 0; k < n.aux; ++k) expr(child(n, k), 0);
        close_scope();
        break;
      }
      case NodeKind::named_expr: {
        expr(child(n, 1), flags);
        const Node& t = ast_[child(n, 0)];
        bind(str(t.name), t.line, DefKind::named_expr, hint_of(ast_, child(n, 1)));
        break;
      }
      default:
        for (std::uint32_t k : ast_.kids(n)) expr(k, flags);
    }
  }

  Db& db_;
  File file_;
  const Ast& ast_;
  bool is_package_;  // an __init__.py: `from .sub import x` also binds `sub`
  std::vector<Scope> scopes_;
  std::vector<std::uint32_t> stack_;
};

}  // namespace detail

namespace fn {
inline SemanticIndex semantic_index(Db& db, File file) {
  const relish::Ref<Ast> ast = pyscope::parsed_module(db, file).load(db);
  const bool is_package = file.get(db, &FileData::path).ends_with("/__init__.py");
  return detail::IndexBuilder(db, file, *ast, is_package).build();
}
}  // namespace fn
// Enormous and rebuilt on every edit of the file: no_eq (its parts backdate by pointer).
inline constexpr relish::Query<fn::semantic_index,
                               relish::Options{.returns = relish::Returns::ref, .no_eq = true}>
    semantic_index;

namespace fn {
inline std::shared_ptr<const PlaceTable> place_table(Db& db, ScopeId scope) {
  const SemanticIndex& index = pyscope::semantic_index(db, scope.file);
  if (scope.index >= index.place_tables.size()) {  // a scope that no longer exists
    static const auto kEmpty = std::make_shared<const PlaceTable>();
    return kEmpty;
  }
  return index.place_tables[scope.index];
}
inline std::shared_ptr<const UseDefMap> use_def_map(Db& db, ScopeId scope) {
  const SemanticIndex& index = pyscope::semantic_index(db, scope.file);
  if (scope.index >= index.use_def_maps.size()) {
    static const auto kEmpty = std::make_shared<const UseDefMap>();
    return kEmpty;
  }
  return index.use_def_maps[scope.index];
}
}  // namespace fn
// The fine-grained extraction queries: the same allocation as before backdates, so readers of
// an unchanged scope do not re-run.
inline constexpr relish::Query<fn::place_table, relish::Options{.returns = relish::Returns::deref}>
    place_table;
inline constexpr relish::Query<fn::use_def_map, relish::Options{.returns = relish::Returns::deref}>
    use_def_map;

// ---------------------------------------------------------------------------------------
// Types: interned, so equal types are the same 8-byte handle
// ---------------------------------------------------------------------------------------

enum class TypeKind : std::uint8_t { unknown, none, instance, module, function, class_, union_ };

struct TypeData;
using Type = relish::Interned<TypeData>;

struct TypeData {
  TypeKind kind = TypeKind::unknown;
  std::string name;            // "int" for an instance, the module, function or class name
  std::vector<Type> elements;  // a union's members, sorted by display name
};

inline Type make_type(Db& db, TypeKind kind, std::string name = {}) {
  return Type::intern(db, TypeData{kind, std::move(name), {}});
}

inline std::string display(Db& db, Type t) {
  const TypeData& d = t.get(db);
  switch (d.kind) {
    case TypeKind::unknown:
      return "Unknown";
    case TypeKind::none:
      return "None";
    case TypeKind::instance:
      return d.name;
    case TypeKind::module:
      return "<module '" + d.name + "'>";
    case TypeKind::function:
      return "def " + d.name;
    case TypeKind::class_:
      return "<class '" + d.name + "'>";
    case TypeKind::union_: {
      std::string out;
      for (Type e : d.elements) out += (out.empty() ? "" : " | ") + display(db, e);
      return out;
    }
  }
  return "?";
}

// The union of `types`: flattened, without duplicates, in display order; one type is itself.
inline Type union_of(Db& db, const std::vector<Type>& types) {
  std::vector<std::pair<std::string, Type>> members;
  auto add = [&](Type t) {
    for (const auto& [_, m] : members)
      if (m == t) return;
    members.emplace_back(display(db, t), t);
  };
  for (Type t : types) {
    const TypeData& d = t.get(db);
    if (d.kind == TypeKind::union_) {
      for (Type e : d.elements) add(e);
    } else {
      add(t);
    }
  }
  if (members.empty()) return make_type(db, TypeKind::unknown);
  if (members.size() == 1) return members[0].second;
  std::sort(members.begin(), members.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  TypeData u{TypeKind::union_, {}, {}};
  for (const auto& [_, m] : members) u.elements.push_back(m);
  return Type::intern(db, std::move(u));
}

inline bool is_callable(Db& db, Type t) {
  const TypeData& d = t.get(db);
  switch (d.kind) {
    case TypeKind::unknown:
    case TypeKind::function:
    case TypeKind::class_:
      return true;
    case TypeKind::union_:
      return std::any_of(d.elements.begin(), d.elements.end(),
                         [&](Type e) { return is_callable(db, e); });
    default:
      return false;
  }
}

namespace fn {
// Reads the definition's NoEq `kind`: re-runs whenever its file is re-indexed, and backdates
// when the type is the same handle.
inline Type infer_definition_type(Db& db, Definition definition) {
  const DefinitionKind& k = definition.get(db, &DefinitionData::kind);
  switch (k.kind) {
    case DefKind::function:
      return make_type(db, TypeKind::function, k.detail);
    case DefKind::class_:
      return make_type(db, TypeKind::class_, k.detail);
    case DefKind::import:
      return make_type(db, TypeKind::module, k.detail);
    case DefKind::assignment:
    case DefKind::annotated:
    case DefKind::named_expr:
      switch (k.value) {
        case ValueHint::none:
          return make_type(db, TypeKind::none);
        case ValueHint::bool_:
          return make_type(db, TypeKind::instance, "bool");
        case ValueHint::int_:
          return make_type(db, TypeKind::instance, "int");
        case ValueHint::float_:
          return make_type(db, TypeKind::instance, "float");
        case ValueHint::complex:
          return make_type(db, TypeKind::instance, "complex");
        case ValueHint::str:
          return make_type(db, TypeKind::instance, "str");
        case ValueHint::bytes:
          return make_type(db, TypeKind::instance, "bytes");
        case ValueHint::list:
          return make_type(db, TypeKind::instance, "list");
        case ValueHint::dict:
          return make_type(db, TypeKind::instance, "dict");
        case ValueHint::set:
          return make_type(db, TypeKind::instance, "set");
        case ValueHint::tuple:
          return make_type(db, TypeKind::instance, "tuple");
        case ValueHint::lambda:
          return make_type(db, TypeKind::function, "<lambda>");
        case ValueHint::unknown:
          break;
      }
      break;
    default:
      break;
  }
  return make_type(db, TypeKind::unknown);
}
}  // namespace fn
inline constexpr relish::Query<fn::infer_definition_type> infer_definition_type;

namespace fn {
// The union of the types of every definition of `name` in `scope`.
inline Type symbol_type(Db& db, ScopeId scope, const std::string& name) {
  const PlaceTable& table = pyscope::place_table(db, scope);
  const std::uint32_t sym = table.index_of(name);
  if (sym == kNoScope) return make_type(db, TypeKind::unknown);
  std::vector<Type> types;
  for (const DefinitionSite& d : pyscope::use_def_map(db, scope).definitions)
    if (d.symbol == sym) types.push_back(pyscope::infer_definition_type(db, d.definition));
  if (table.symbols[sym].flags & kBoundInNested) types.push_back(make_type(db, TypeKind::unknown));
  return union_of(db, types);
}
}  // namespace fn
inline constexpr relish::Query<fn::symbol_type> symbol_type;

// ---------------------------------------------------------------------------------------
// Module resolution
// ---------------------------------------------------------------------------------------

enum class ModuleKind : std::uint8_t { source, package, namespace_package, builtin, extension };

struct ModuleEntry {
  ModuleKind kind = ModuleKind::source;
  File file;  // null for namespace packages, builtin and extension modules
  friend bool operator==(const ModuleEntry&, const ModuleEntry&) = default;
};

// The plain key of resolve_module: relish interns it (no wrapper ingredient by hand).
struct ModuleName {
  std::string name;  // "json.decoder"
};

// One search root's modules: name -> entry, a package before a module before a namespace
// package (a directory above some module) within the root.
struct ModuleIndex {
  absl::flat_hash_map<std::string, ModuleEntry> modules;
  friend bool operator==(const ModuleIndex&, const ModuleIndex&) = default;
};

// "json.decoder" for "<root>/json/decoder.py", "json" for "<root>/json/__init__.py".
struct ModuleInfo {
  std::string name;         // empty if the file is under no root, or not importable
  bool is_package = false;  // an __init__.py
  std::uint32_t root = 0;   // index into Db::roots
  friend bool operator==(const ModuleInfo&, const ModuleInfo&) = default;
};

inline bool is_identifier(std::string_view s) {
  if (s.empty() || !pysyntax::detail::is_ident_start(static_cast<unsigned char>(s[0])))
    return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return pysyntax::detail::is_ident_char(static_cast<unsigned char>(c));
  });
}

inline bool is_under(std::string_view path, std::string_view dir) {
  return path.size() > dir.size() + 1 && path.compare(0, dir.size(), dir) == 0 &&
         path[dir.size()] == '/';
}

// The module a file under `root` is, relative to it.
inline ModuleInfo module_info_in(std::string_view root, std::string_view path) {
  if (!is_under(path, root)) return {};
  std::string_view rel = path.substr(root.size() + 1);
  if (rel.size() < 4 || rel.substr(rel.size() - 3) != ".py") return {};
  rel.remove_suffix(3);
  ModuleInfo info;
  std::size_t start = 0;
  while (start <= rel.size()) {
    const std::size_t slash = std::min(rel.find('/', start), rel.size());
    const std::string_view part = rel.substr(start, slash - start);
    if (slash == rel.size() && part == "__init__") {
      info.is_package = true;
      break;
    }
    if (!is_identifier(part)) return {};
    if (!info.name.empty()) info.name += '.';
    info.name.append(part);
    start = slash + 1;
  }
  if (info.name.empty()) return {};
  return info;
}

// Relative to the innermost root that contains the file (site-packages inside a stdlib tree
// names its modules from site-packages); of equal roots, the first.
inline ModuleInfo module_info_of(const std::vector<std::string>& roots, std::string_view path) {
  std::uint32_t best = 0;
  bool found = false;
  for (std::uint32_t r = 0; r < roots.size(); ++r)
    if (is_under(path, roots[r]) && (!found || roots[r].size() > roots[best].size())) {
      best = r;
      found = true;
    }
  if (!found) return {};
  ModuleInfo info = module_info_in(roots[best], path);
  info.root = best;
  return info;
}

namespace fn {
inline ModuleInfo module_info(Db& db, File file) {
  return module_info_of(db.roots, file.get(db, &FileData::path));
}

// The modules of one search root. Reads only that root's listing and its files' paths: a
// library root's index is high durability, and a rename in the project re-runs only the
// project's index.
inline ModuleIndex module_index(Db& db, SearchRoot root) {
  ModuleIndex index;
  absl::flat_hash_map<std::string, std::uint8_t> rank;
  auto offer = [&](const std::string& name, ModuleEntry e, std::uint8_t r) {
    auto [it, inserted] = rank.try_emplace(name, r);
    if (!inserted && it->second <= r) return;
    it->second = r;
    index.modules[name] = e;
  };
  const std::string& base = root.get(db, &SearchRootData::path);
  for (const File f : root.get(db, &SearchRootData::files)) {
    const ModuleInfo info = module_info_in(base, f.get(db, &FileData::path));
    if (info.name.empty()) continue;
    offer(info.name, {info.is_package ? ModuleKind::package : ModuleKind::source, f},
          info.is_package ? 0 : 1);
    // Every directory above is at least a namespace package.
    for (std::size_t dot = info.name.rfind('.'); dot != std::string::npos;
         dot = info.name.rfind('.', dot - 1)) {
      offer(info.name.substr(0, dot), {ModuleKind::namespace_package, {}}, 2);
      if (dot == 0) break;
    }
  }
  return index;
}

}  // namespace fn
inline constexpr relish::Query<fn::module_info> module_info;
// Re-runs when a path of its root changes (a rename); resolve_module memos then re-run and
// backdate unless their answer changed.
inline constexpr relish::Query<fn::module_index, relish::Options{.returns = relish::Returns::ref}>
    module_index;

namespace fn {
// Python's search order: builtin modules, then a regular package or module in the first
// root that has one (first-party first: a project module shadows a library one, as in ty),
// then extension modules, then the first root's namespace package. Reads the indices of the
// roots up to the one that answers (the project's always: it comes first).
inline std::optional<ModuleEntry> resolve_module(Db& db, const ModuleName& name) {
  if (std::find(db.builtin_modules.begin(), db.builtin_modules.end(), name.name) !=
      db.builtin_modules.end())
    return ModuleEntry{ModuleKind::builtin, {}};
  std::optional<ModuleEntry> namespace_package;
  for (const SearchRoot root : db.search_path) {
    const ModuleIndex& index = pyscope::module_index(db, root);
    auto it = index.modules.find(name.name);
    if (it == index.modules.end()) continue;
    if (it->second.kind != ModuleKind::namespace_package) return it->second;
    if (!namespace_package) namespace_package = it->second;
  }
  if (std::find(db.extension_modules.begin(), db.extension_modules.end(), name.name) !=
      db.extension_modules.end())
    return ModuleEntry{ModuleKind::extension, {}};
  return namespace_package;
}
}  // namespace fn
inline constexpr relish::Query<fn::resolve_module> resolve_module;

// The absolute module an import in `file` names, or nullopt for a relative import that goes
// above the top-level package.
inline std::optional<std::string> absolute_module(Db& db, File file, const std::string& module,
                                                  std::uint32_t level) {
  if (level == 0) return module;
  const ModuleInfo info = module_info(db, file);
  std::string package = info.name;
  if (!info.is_package) {
    const auto dot = package.rfind('.');
    package = dot == std::string::npos ? std::string() : package.substr(0, dot);
  }
  for (std::uint32_t k = 1; k < level; ++k) {
    if (package.empty()) return std::nullopt;
    const auto dot = package.rfind('.');
    package = dot == std::string::npos ? std::string() : package.substr(0, dot);
  }
  if (package.empty()) return std::nullopt;
  return module.empty() ? package : package + "." + module;
}

// ---------------------------------------------------------------------------------------
// Diagnostics
// ---------------------------------------------------------------------------------------

struct Diagnostic {
  std::uint32_t line = 0;
  std::string code;  // "unresolved-import", "unresolved-reference", ...
  std::string message;
  friend bool operator==(const Diagnostic&, const Diagnostic&) = default;
  friend bool operator<(const Diagnostic& a, const Diagnostic& b) {
    return std::tie(a.line, a.code, a.message) < std::tie(b.line, b.code, b.message);
  }
};

inline bool is_builtin_name(std::string_view name) {
  static const absl::flat_hash_map<std::string_view, bool> kNames = [] {
    absl::flat_hash_map<std::string_view, bool> m;
    for (std::string_view n :
         {"ArithmeticError", "AssertionError", "AttributeError", "BaseException",
          "BaseExceptionGroup", "BlockingIOError", "BrokenPipeError", "BufferError", "BytesWarning",
          "ChildProcessError", "ConnectionAbortedError", "ConnectionError",
          "ConnectionRefusedError", "ConnectionResetError", "DeprecationWarning", "EOFError",
          "Ellipsis", "EncodingWarning", "EnvironmentError", "Exception", "ExceptionGroup", "False",
          "FileExistsError", "FileNotFoundError", "FloatingPointError", "FutureWarning",
          "GeneratorExit", "IOError", "ImportError", "ImportWarning", "IndentationError",
          "IndexError", "InterruptedError", "IsADirectoryError", "KeyError", "KeyboardInterrupt",
          "LookupError", "MemoryError", "ModuleNotFoundError", "NameError", "None",
          "NotADirectoryError", "NotImplemented", "NotImplementedError", "OSError", "OverflowError",
          "PendingDeprecationWarning", "PermissionError", "ProcessLookupError", "RecursionError",
          "ReferenceError", "ResourceWarning", "RuntimeError", "RuntimeWarning",
          "StopAsyncIteration", "StopIteration", "SyntaxError", "SyntaxWarning", "SystemError",
          "SystemExit", "TabError", "TimeoutError", "True", "TypeError", "UnboundLocalError",
          "UnicodeDecodeError", "UnicodeEncodeError", "UnicodeError", "UnicodeTranslateError",
          "UnicodeWarning", "UserWarning", "ValueError", "Warning", "ZeroDivisionError",
          "__build_class__", "__debug__", "__doc__", "__import__", "__loader__", "__name__",
          "__package__", "__spec__", "abs", "aiter", "all", "anext", "any", "ascii", "bin", "bool",
          "breakpoint", "bytearray", "bytes", "callable", "chr", "classmethod", "compile",
          "complex", "copyright", "credits", "delattr", "dict", "dir", "divmod", "enumerate",
          "eval", "exec", "exit", "filter", "float", "format", "frozenset", "getattr", "globals",
          "hasattr", "hash", "help", "hex", "id", "input", "int", "isinstance", "issubclass",
          "iter", "len", "license", "list", "locals", "map", "max", "memoryview", "min", "next",
          "object", "oct", "open", "ord", "pow", "print", "property", "quit", "range", "repr",
          "reversed", "round", "set", "setattr", "slice", "sorted", "staticmethod", "str", "sum",
          "super", "tuple", "type", "vars", "zip",
          // module attributes every module has
          "__file__", "__builtins__", "__cached__", "__path__", "__annotations__", "__dict__"})
      m.emplace(n, true);
    return m;
  }();
  return kNames.contains(name);
}

namespace detail {

// Where a name read in a scope is bound.
struct Resolution {
  enum Kind { unresolved, scope, builtin, unknown } kind = unresolved;
  std::uint32_t at = kNoScope;  // the scope, for kind `scope`
};

inline bool binds_locally(const Symbol& s) {
  return (s.flags & (kBound | kParameter | kDeclared)) && !(s.flags & (kGlobal | kNonlocal));
}

// Does a module (resolved) define `member`, or have a submodule of that name?
inline bool module_has_member(Db& db, const ModuleEntry& m, const std::string& module,
                              const std::string& member);

inline bool is_module_attribute(std::string_view name) {
  for (std::string_view n : {"__doc__", "__file__", "__name__", "__spec__", "__loader__",
                             "__package__", "__path__", "__dict__", "__builtins__", "__cached__"})
    if (name == n) return true;
  return false;
}

// Can `import name` succeed? A module, or an attribute of a parent module that is one at run
// time (os.py sets sys.modules["os.path"]: `import os.path` works without os/path.py).
inline bool importable(Db& db, const std::string& name) {
  if (resolve_module(db, ModuleName{name})) return true;
  const auto dot = name.rfind('.');
  if (dot == std::string::npos) return false;
  const auto parent = resolve_module(db, ModuleName{name.substr(0, dot)});
  if (!parent || (parent->kind != ModuleKind::source && parent->kind != ModuleKind::package))
    return false;
  const PlaceTable& t = place_table(db, ScopeId{parent->file, 0});
  const Symbol* s = t.find(name.substr(dot + 1));
  return s && (s->flags & kBound) && !(s->flags & kSubmodule);
}

// Names a star import brings into the module scope: is `name` among them? (unknown when
// the imported module cannot be read)
inline bool star_provides(Db& db, File file, const PlaceTable& module_table,
                          const std::string& name, bool& unknown) {
  for (const StarImport& star : module_table.star_imports) {
    const auto target = absolute_module(db, file, star.module, star.level);
    if (!target) continue;
    const auto m = resolve_module(db, ModuleName{*target});
    if (!m) continue;
    if (m->kind != ModuleKind::source && m->kind != ModuleKind::package) {
      unknown = true;
      continue;
    }
    const PlaceTable& t = place_table(db, ScopeId{m->file, 0});
    if (!t.star_imports.empty() || t.dynamic_globals) unknown = true;
    if (const Symbol* s = t.find(name);
        s && !name.starts_with("_") && (s->flags & (kBound | kBoundInNested | kDeclared)))
      return true;
  }
  return false;
}

// Looks `name` up from scope `from` outwards (class scopes are skipped above the first).
inline Resolution resolve_name(Db& db, File file, std::uint32_t from, const PlaceTable& table,
                               const std::string& name) {
  std::uint32_t at = from;
  const PlaceTable* t = &table;
  bool first = true;
  bool force_global = false;
  for (;;) {
    const bool is_module = t->kind == ScopeKind::module;
    if (const Symbol* s = t->find(name)) {
      if (s->flags & kGlobal) force_global = true;
      if (is_module && (s->flags & (kBound | kDeclared | kBoundInNested)))
        return {Resolution::scope, at};
      if (!is_module && !force_global && binds_locally(*s) &&
          (first || t->kind != ScopeKind::class_))
        return {Resolution::scope, at};
    }
    if (is_module) {
      if (is_builtin_name(name)) return {Resolution::builtin};
      bool unknown = t->dynamic_globals;
      if (star_provides(db, file, *t, name, unknown)) return {Resolution::unknown};
      if (unknown) return {Resolution::unknown};
      return {};
    }
    at = force_global ? 0 : t->parent;
    if (at == kNoScope) return {};
    t = &place_table(db, ScopeId{file, at});
    first = false;
  }
}

}  // namespace detail

namespace fn {
// The diagnostics of one scope, with lines relative to the scope's first line: a scope that
// only moved (an edit above it) has equal diagnostics, and its readers see no change.
inline std::vector<Diagnostic> scope_diagnostics(Db& db, ScopeId scope) {
  const PlaceTable& table = pyscope::place_table(db, scope);
  const UseDefMap& map = pyscope::use_def_map(db, scope);
  std::vector<Diagnostic> out;
  const bool function_like = table.kind == ScopeKind::function || table.kind == ScopeKind::lambda ||
                             table.kind == ScopeKind::comprehension;

  // Definitions of each symbol, by seq.
  std::vector<std::vector<std::uint32_t>> def_seqs(table.symbols.size());
  for (const DefinitionSite& d : map.definitions) def_seqs[d.symbol].push_back(d.seq);

  for (const UseSite& u : map.uses) {
    const Symbol& sym = table.symbols[u.symbol];
    const std::string& name = sym.name;
    detail::Resolution where;
    if (detail::binds_locally(sym) && !(u.flags & kLazy)) {
      const auto& seqs = def_seqs[u.symbol];
      bool defined_before = !seqs.empty() && seqs.front() < u.seq;
      if (!defined_before && u.loop != kNoLoop) {  // a later definition in the same loop
        const LoopRange& loop = map.loops[u.loop];
        defined_before = std::any_of(seqs.begin(), seqs.end(),
                                     [&](std::uint32_t s) { return s > u.seq && s < loop.end; });
      }
      if (defined_before) {
        where = {detail::Resolution::scope, scope.index};
      } else if (!function_like && table.kind == ScopeKind::module &&
                 (sym.flags & kBoundInNested)) {
        where = {detail::Resolution::unknown};
      } else if (!function_like) {
        // Module and class bodies fall back to the enclosing names and the builtins.
        where = table.parent == kNoScope
                    ? (is_builtin_name(name) ? detail::Resolution{detail::Resolution::builtin}
                                             : detail::Resolution{})
                    : detail::resolve_name(
                          db, scope.file, table.parent,
                          pyscope::place_table(db, ScopeId{scope.file, table.parent}), name);
        if (where.kind == detail::Resolution::unresolved) {
          out.push_back({u.line, "used-before-def",
                         "`" + name + "` is used before its definition in this scope"});
          continue;
        }
      } else {
        out.push_back({u.line, "used-before-def",
                       "`" + name + "` is used before it is assigned (UnboundLocalError)"});
        continue;
      }
    } else {
      where = detail::resolve_name(db, scope.file, scope.index, table, name);
      if (where.kind == detail::Resolution::unresolved) {
        out.push_back({u.line, "unresolved-reference", "Name `" + name + "` is not defined"});
        continue;
      }
    }
    if ((u.flags & kCalled) && where.kind == detail::Resolution::scope) {
      const Type t = pyscope::symbol_type(db, ScopeId{scope.file, where.at}, name);
      if (!is_callable(db, t)) {
        out.push_back({u.line, "call-non-callable",
                       "`" + name + "` of type `" + display(db, t) + "` is not callable"});
      }
    }
  }

  for (const ImportSite& imp : map.imports) {
    if (imp.guarded || (imp.module == "__future__" && imp.level == 0)) continue;
    const auto target = absolute_module(db, scope.file, imp.module, imp.level);
    if (!imp.first && (!target || !pyscope::resolve_module(db, ModuleName{*target})))
      continue;  // the statement's first name reported it
    if (!target) {
      out.push_back({imp.line, "unresolved-import",
                     "Relative import `" + std::string(imp.level, '.') + imp.module +
                         "` goes beyond the top-level package"});
      continue;
    }
    const auto m = pyscope::resolve_module(db, ModuleName{*target});
    if (!m) {
      if (!detail::importable(db, *target))
        out.push_back(
            {imp.line, "unresolved-import", "Cannot resolve imported module `" + *target + "`"});
      continue;
    }
    if (imp.member.empty() || imp.member == "*") continue;
    if (!detail::module_has_member(db, *m, *target, imp.member)) {
      out.push_back({imp.line, "unresolved-import",
                     "Module `" + *target + "` has no member `" + imp.member + "`"});
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());  // one per `from m import a, b`
  return out;
}
}  // namespace fn
inline constexpr relish::Query<fn::scope_diagnostics,
                               relish::Options{.returns = relish::Returns::ref}>
    scope_diagnostics;

inline bool detail::module_has_member(Db& db, const ModuleEntry& m, const std::string& module,
                                      const std::string& member) {
  if (m.kind == ModuleKind::builtin || m.kind == ModuleKind::extension) return true;  // no source
  if (m.kind != ModuleKind::namespace_package) {
    const PlaceTable& t = place_table(db, ScopeId{m.file, 0});
    if (const Symbol* s = t.find(member);
        s && (s->flags & (kBound | kBoundInNested | kDeclared)) && !(s->flags & kSubmodule))
      return true;  // (a submodule the package imports is looked up as a module, below)
    // A module-level __getattr__, globals() or a star import can provide any name.
    if (!t.star_imports.empty() || t.dynamic_globals) return true;
    if (is_module_attribute(member)) return true;
    if (const Symbol* g = t.find("__getattr__"); g && (g->flags & kBound)) return true;
  }
  return resolve_module(db, ModuleName{module + "." + member}).has_value();
}

namespace fn {
// All diagnostics of a file, sorted by line.
inline std::vector<Diagnostic> file_diagnostics(Db& db, File file) {
  const SemanticIndex& index = pyscope::semantic_index(db, file);
  std::vector<Diagnostic> out;
  for (const auto& e : index.syntax_errors) out.push_back({e.line, "syntax-error", e.message});
  for (std::uint32_t i = 0; i < index.scopes.size(); ++i) {
    const std::uint32_t base = index.scopes[i].start_line;
    for (const Diagnostic& d : pyscope::scope_diagnostics(db, ScopeId{file, i}))
      out.push_back({d.line + base, d.code, d.message});
  }
  std::sort(out.begin(), out.end());
  return out;
}
}  // namespace fn
inline constexpr relish::Query<fn::file_diagnostics,
                               relish::Options{.returns = relish::Returns::ref}>
    file_diagnostics;

// ---------------------------------------------------------------------------------------
// Loading, running, edits
// ---------------------------------------------------------------------------------------

// Modules compiled into CPython 3.11 (sys.builtin_module_names on Debian), and a few more
// that exist without a file.
inline std::vector<std::string> default_builtin_modules() {
  return {"_abc", "_ast", "_bisect", "_blake2", "_codecs", "_collections", "_csv", "_datetime",
          "_elementtree", "_functools", "_heapq", "_imp", "_io", "_locale", "_md5", "_opcode",
          "_operator", "_pickle", "_posixsubprocess", "_random", "_sha1", "_sha256", "_sha3",
          "_sha512", "_signal", "_socket", "_sre", "_stat", "_statistics", "_string", "_struct",
          "_symtable", "_thread", "_tokenize", "_tracemalloc", "_warnings", "_weakref", "array",
          "atexit", "binascii", "builtins", "cmath", "errno", "faulthandler", "fcntl", "gc", "grp",
          "itertools", "marshal", "math", "posix", "pwd", "pyexpat", "select", "spwd", "sys",
          "syslog", "time", "unicodedata", "xxsubtype", "zlib",
          // always there at run time: the main module and the frozen import machinery
          "__main__", "_frozen_importlib", "_frozen_importlib_external"};
}

struct LoadOptions {
  // The search path in resolution order: roots[0] is the project's root (module names of its
  // files are relative to it), then the standard library, then site-packages. A directory may
  // appear twice: for a project inside the standard library, roots[0] and roots[1] are both
  // the library's directory (the project lists the files under project_dir, the library the
  // rest).
  std::vector<std::string> roots;
  // Per root; if missing: roots[0] project, roots[1] stdlib, the rest site-packages.
  std::vector<RootKind> kinds;
  std::string project_dir;             // the analyzed directory; empty: roots[0]
  bool analyze_site_packages = false;  // report the site-packages roots' diagnostics too
  // The root of each file, by index into roots (kNoRoot: none); empty: by path, the innermost
  // root that contains the file (roots[0] only for files under project_dir).
  std::vector<std::uint32_t> file_roots;
  std::vector<std::string> builtin_modules = default_builtin_modules();
  std::vector<std::string> extension_modules;  // e.g. from <stdlib>/lib-dynload
  // Durability of the library's files (the standard library changes rarely). Analyzed files
  // are low, like ty's project files.
  relish::Durability library_durability = relish::Durability::high;
};
inline constexpr std::uint32_t kNoRoot = 0xFFFFFFFFu;

inline RootKind root_kind(const LoadOptions& opt, std::size_t r) {
  if (r < opt.kinds.size()) return opt.kinds[r];
  return r == 0 ? RootKind::project : r == 1 ? RootKind::stdlib : RootKind::site_packages;
}

// Creates one File per entry, and one SearchRoot per root listing its files. The project's
// files (and site-packages' when analyze_site_packages) are the analyzed ones: low
// durability. The others are the library's: library_durability, and so are their roots.
inline void load(Db& db, std::vector<FileData> files, const LoadOptions& opt) {
  db.roots = opt.roots;
  db.builtin_modules = opt.builtin_modules;
  db.extension_modules = opt.extension_modules;
  db.project_dir = opt.project_dir.empty() ? db.roots.at(0) : opt.project_dir;
  db.analyze_site_packages = opt.analyze_site_packages;
  const std::size_t n_roots = db.roots.size();
  auto analyzed_root = [&](std::size_t r) {
    const RootKind k = root_kind(opt, r);
    return k == RootKind::project || (opt.analyze_site_packages && k == RootKind::site_packages);
  };
  auto root_of = [&](std::size_t i, const std::string& path) {
    if (!opt.file_roots.empty()) return opt.file_roots.at(i);
    std::uint32_t best = kNoRoot;
    for (std::uint32_t r = 0; r < n_roots; ++r) {
      if (!is_under(path, db.roots[r])) continue;
      if (root_kind(opt, r) == RootKind::project && db.project_dir != db.roots[r] &&
          !is_under(path, db.project_dir))
        continue;
      if (best == kNoRoot || db.roots[r].size() > db.roots[best].size()) best = r;
    }
    return best;
  };
  std::vector<std::vector<File>> listed(n_roots);
  for (std::size_t i = 0; i < files.size(); ++i) {
    const std::uint32_t r = root_of(i, files[i].path);
    const bool analyzed = r != kNoRoot && analyzed_root(r);
    const File f = File::create(db, std::move(files[i]),
                                analyzed ? relish::Durability::low : opt.library_durability);
    db.files.push_back(f);
    db.file_roots.push_back(r);
    if (r != kNoRoot) listed[r].push_back(f);
    if (analyzed) db.analyzed.push_back(f);
  }
  for (std::size_t r = 0; r < n_roots; ++r)
    db.search_path.push_back(
        SearchRoot::create(db, {db.roots[r], root_kind(opt, r), std::move(listed[r])},
                           analyzed_root(r) ? relish::Durability::low : opt.library_durability));
}

// The *.py files under `dir` (sorted), with permissions and modification time; text is left to
// be read by source_text. __pycache__ and hidden directories are skipped, and so are the
// directories in `exclude` (other search roots inside this one: they are scanned as roots).
inline std::vector<FileData> scan_directory(const std::string& dir,
                                            const std::vector<std::string>& exclude = {}) {
  namespace fs = std::filesystem;
  std::vector<FileData> out;
  std::error_code ec;
  for (auto it =
           fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied, ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    const std::string name = it->path().filename().string();
    if (it->is_directory(ec)) {
      if (name == "__pycache__" || name.starts_with(".") ||
          std::find(exclude.begin(), exclude.end(), it->path().lexically_normal().string()) !=
              exclude.end())
        it.disable_recursion_pending();
      continue;
    }
    if (!name.ends_with(".py") || !it->is_regular_file(ec)) continue;
    FileData fd;
    fd.path = it->path().lexically_normal().string();
    struct stat st {};
    if (::stat(fd.path.c_str(), &st) == 0) {
      fd.permissions = static_cast<std::uint32_t>(st.st_mode & 07777);
      fd.revision = static_cast<std::uint64_t>(st.st_mtim.tv_sec) * 1000000000u +
                    static_cast<std::uint64_t>(st.st_mtim.tv_nsec);
    }
    out.push_back(std::move(fd));
  }
  std::sort(out.begin(), out.end(),
            [](const FileData& a, const FileData& b) { return a.path < b.path; });
  return out;
}

// The files as they are now (texts resolved), to load a fresh database from.
inline std::vector<FileData> current_files(Db& db) {
  std::vector<FileData> out;
  for (const File f : db.files) {
    FileData fd;
    fd.path = f.get(db, &FileData::path);
    fd.text = f.get(db, &FileData::text);
    fd.permissions = f.get(db, &FileData::permissions);
    fd.revision = f.get(db, &FileData::revision);
    out.push_back(std::move(fd));
  }
  return out;
}

// What load() was given (each file keeps its root, even if a rename moved it).
inline LoadOptions load_options_of(Db& db) {
  LoadOptions o;
  o.roots = db.roots;
  for (const SearchRoot r : db.search_path) o.kinds.push_back(r.get(db, &SearchRootData::kind));
  o.project_dir = db.project_dir;
  o.analyze_site_packages = db.analyze_site_packages;
  o.file_roots = db.file_roots;
  o.builtin_modules = db.builtin_modules;
  o.extension_modules = db.extension_modules;
  return o;
}

// ---------------------------------------------------------------------------------------
// The workspace: a project and its search path, found on disk and loaded (ty's first-party,
// standard-library and site-packages roots)
// ---------------------------------------------------------------------------------------

inline bool is_directory(const std::string& p) {
  std::error_code ec;
  return std::filesystem::is_directory(p, ec);
}

// A standard library: os.py next to lib-dynload (Debian's, pyenv's, a venv's base).
inline bool looks_like_stdlib(const std::string& dir) {
  std::error_code ec;
  return std::filesystem::exists(dir + "/os.py", ec) && is_directory(dir + "/lib-dynload");
}

// The standard library for `project`: the one it is in (pyscope on a directory of the
// library, or on a pyenv stdlib), else /usr/lib/python3.11, else the newest /usr/lib/python3.N.
inline std::string find_stdlib(const std::string& project = {}) {
  namespace fs = std::filesystem;
  if (!project.empty()) {
    for (fs::path p = fs::path(project); !p.empty(); p = p.parent_path()) {
      if (looks_like_stdlib(p.string())) return p.string();
      if (p == p.parent_path()) break;
    }
  }
  if (is_directory("/usr/lib/python3.11")) return "/usr/lib/python3.11";
  std::string best;
  int best_minor = -1;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/usr/lib", ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("python3.", 0) != 0 || !is_directory(e.path().string())) continue;
    const int minor = std::atoi(name.c_str() + 8);
    if (minor > best_minor) {
      best_minor = minor;
      best = e.path().string();
    }
  }
  return best;
}

// The site-packages directories of a standard library, in sys.path order: <stdlib>/site-packages
// (pyenv, python.org builds), and for Debian's /usr/lib/python3.N its dist-packages.
inline std::vector<std::string> find_site_packages(const std::string& stdlib) {
  std::vector<std::string> candidates = {stdlib + "/site-packages", stdlib + "/dist-packages"};
  const std::string name = std::filesystem::path(stdlib).filename().string();
  if (stdlib.rfind("/usr/lib/python3.", 0) == 0) {
    candidates.push_back("/usr/local/lib/" + name + "/dist-packages");
    candidates.push_back("/usr/lib/python3/dist-packages");
  }
  std::vector<std::string> out;
  for (const auto& c : candidates)
    if (is_directory(c)) out.push_back(c);
  return out;
}

inline std::vector<std::string> extension_modules_of(const std::string& stdlib) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(stdlib + "/lib-dynload", ec)) {
    const std::string name = e.path().filename().string();
    if (name.size() > 3 && name.ends_with(".so")) out.push_back(name.substr(0, name.find('.')));
  }
  std::sort(out.begin(), out.end());
  return out;
}

// What pyscope loads: the project directory, and the search path it imports from.
struct SearchPaths {
  std::string project;                     // absolute, normalized
  std::string stdlib;                      // empty: none
  std::vector<std::string> site_packages;  // after the stdlib, in order
  bool analyze_site_packages = false;      // their diagnostics are reported too

  // The project at `project`; the stdlib found for it (or `stdlib`), its site-packages.
  static SearchPaths discover(const std::string& project, std::string stdlib = {},
                              bool analyze_site_packages = false) {
    SearchPaths sp;
    sp.project = normalize(project);
    sp.stdlib = normalize(stdlib.empty() ? find_stdlib(sp.project) : stdlib);
    if (!sp.stdlib.empty()) sp.site_packages = find_site_packages(sp.stdlib);
    sp.analyze_site_packages = analyze_site_packages;
    return sp;
  }
  static std::string normalize(const std::string& p) {
    if (p.empty()) return p;
    std::string out = std::filesystem::absolute(p).lexically_normal().string();
    while (out.size() > 1 && out.back() == '/') out.pop_back();
    return out;
  }
  std::vector<std::string> library() const {
    std::vector<std::string> out;
    if (!stdlib.empty()) out.push_back(stdlib);
    out.insert(out.end(), site_packages.begin(), site_packages.end());
    return out;
  }
  // Module names of project files are relative to this: the project, or the innermost library
  // root it is in (pyscope /usr/lib/python3.11/json analyzes the package `json`).
  std::string project_root() const {
    std::string best = project;
    std::size_t len = 0;
    for (const auto& r : library())
      if ((r == project || is_under(project, r)) && r.size() > len) {
        best = r;
        len = r.size();
      }
    return best;
  }
};

struct RootSummary {
  std::string path;
  RootKind kind = RootKind::project;
  std::size_t files = 0;  // files it lists
  bool analyzed = false;
};
struct WorkspaceSummary {
  std::vector<RootSummary> roots;  // in search order; roots[0] is the project
  std::size_t analyzed = 0;
  std::size_t skipped = 0;  // library files not analyzed
};

// Scans the project and every root of the search path and loads them into `db`. Each file is
// loaded once: a directory inside another root (site-packages in a pyenv stdlib, the project
// inside the stdlib) is left out of the outer root's scan. A project inside a library root is
// that root's files under the project directory, named from the root (first-party first: they
// come before the rest of the library, and are analyzed).
inline WorkspaceSummary load_workspace(Db& db, const SearchPaths& sp) {
  LoadOptions opt;
  opt.project_dir = sp.project;
  opt.analyze_site_packages = sp.analyze_site_packages;
  opt.roots = {sp.project_root()};
  opt.kinds = {RootKind::project};
  if (!sp.stdlib.empty()) {
    opt.roots.push_back(sp.stdlib);
    opt.kinds.push_back(RootKind::stdlib);
    opt.extension_modules = extension_modules_of(sp.stdlib);
  }
  for (const auto& s : sp.site_packages) {
    opt.roots.push_back(s);
    opt.kinds.push_back(RootKind::site_packages);
  }
  // What each scan lists: the project its directory; a library root its own, without the
  // project and the other roots inside it.
  std::vector<FileData> files;
  for (std::uint32_t r = 0; r < opt.roots.size(); ++r) {
    const std::string dir = r == 0 ? sp.project : opt.roots[r];
    if (r > 0 && sp.project == dir) continue;  // the project is this root: listed once, there
    std::vector<std::string> exclude;
    for (std::uint32_t o = 1; o < opt.roots.size(); ++o)
      if (o != r && is_under(opt.roots[o], dir)) exclude.push_back(opt.roots[o]);
    if (r > 0 && is_under(sp.project, dir)) exclude.push_back(sp.project);
    for (auto& f : scan_directory(dir, exclude)) {
      files.push_back(std::move(f));
      opt.file_roots.push_back(r);
    }
  }
  load(db, std::move(files), opt);
  WorkspaceSummary out;
  for (std::uint32_t r = 0; r < db.search_path.size(); ++r) {
    const SearchRoot root = db.search_path[r];
    const RootKind kind = root.get(db, &SearchRootData::kind);
    RootSummary s{
        db.roots[r], kind, root.get(db, &SearchRootData::files).size(),
        kind == RootKind::project || (sp.analyze_site_packages && kind == RootKind::site_packages)};
    if (!s.analyzed) out.skipped += s.files;
    out.roots.push_back(std::move(s));
  }
  out.analyzed = db.analyzed.size();
  return out;
}

inline std::optional<File> find_file(Db& db, const std::string& path) {
  for (const File f : db.files)
    if (db.path(f) == path) return f;
  return std::nullopt;
}

// Calls use(i, file_diagnostics(db, files[i])) for every file, on `threads` threads sharing
// `db`. `done` (if given) counts finished files, for a progress bar.
template <class Use>
void for_each_diagnosed(Db& db, const std::vector<File>& files, unsigned threads,
                        std::atomic<std::size_t>* done, Use&& use) {
  std::atomic<std::size_t> next{0};
  std::exception_ptr error;
  std::mutex error_mu;
  auto work = [&] {
    try {
      for (std::size_t i; (i = next.fetch_add(1)) < files.size();) {
        use(i, file_diagnostics(db, files[i]));
        if (done) done->fetch_add(1, std::memory_order_relaxed);
      }
    } catch (...) {
      std::lock_guard lock(error_mu);
      if (!error) error = std::current_exception();
      next.store(files.size());
    }
  };
  threads = std::max(1u, std::min<unsigned>(threads, static_cast<unsigned>(files.size())));
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
}

// file_diagnostics of every file in `files` (copies).
inline std::vector<std::vector<Diagnostic>> diagnose_all(Db& db, const std::vector<File>& files,
                                                         unsigned threads,
                                                         std::atomic<std::size_t>* done = nullptr) {
  std::vector<std::vector<Diagnostic>> out(files.size());
  for_each_diagnosed(db, files, threads, done,
                     [&](std::size_t i, const std::vector<Diagnostic>& d) { out[i] = d; });
  return out;
}

// Brings every file's diagnostics up to date without copying them (an editor's pass after an
// edit: the time is the engine's). Returns how many there are.
inline std::size_t check_all(Db& db, const std::vector<File>& files, unsigned threads) {
  std::atomic<std::size_t> count{0};
  for_each_diagnosed(db, files, threads, nullptr,
                     [&](std::size_t, const std::vector<Diagnostic>& d) {
                       count.fetch_add(d.size(), std::memory_order_relaxed);
                     });
  return count.load();
}

// A function whose body can take one more line: for body edits.
struct FunctionSite {
  std::string name;
  std::uint32_t def_line = 0;
  std::uint32_t last_line = 0;  // the last line of its body
  std::string indent;           // the body's indentation, as written
};

inline std::string_view line_of(std::string_view text, std::uint32_t line) {
  std::size_t start = 0;
  for (std::uint32_t l = 1; l < line && start != std::string_view::npos; ++l) {
    start = text.find('\n', start);
    if (start != std::string_view::npos) ++start;
  }
  if (start == std::string_view::npos || start > text.size()) return {};
  const std::size_t end = text.find('\n', start);
  return text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
}

// Functions (at any depth) whose body starts on its own line, read from the AST outside any
// query (the parse is memoized, so this is cheap after a run).
inline std::vector<FunctionSite> function_sites(Db& db, File file) {
  const std::string& text = source_text(db, file);
  const relish::Ref<Ast> ast = parsed_module(db, file).load(db);
  std::vector<FunctionSite> out;
  for (const Node& n : ast->nodes) {
    if (n.kind != NodeKind::function_def) continue;
    const Node& body = (*ast)[ast->child(n, 2)];
    if (body.line <= n.line || body.count == 0) continue;
    const std::string_view first = line_of(text, body.line);
    const std::string_view last = line_of(text, body.aux);
    if (last.empty() || last.back() == '\\') continue;
    const std::size_t ws = first.find_first_not_of(" \t");
    if (ws == std::string_view::npos || ws == 0) continue;
    out.push_back({std::string(ast->str(n.name)), n.line, body.aux, std::string(first.substr(0, ws))});
  }
  return out;
}

inline std::string insert_line_after(std::string_view text, std::uint32_t line,
                                     std::string_view new_line) {
  std::size_t pos = 0;
  for (std::uint32_t l = 0; l < line; ++l) {
    const std::size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) {
      pos = text.size();
      break;
    }
    pos = nl + 1;
  }
  std::string out(text.substr(0, pos));
  if (!out.empty() && out.back() != '\n') out += '\n';
  out.append(new_line).append("\n").append(text.substr(pos));
  return out;
}

inline void set_text(Db& db, File file, std::string text) {
  file.set(db, &FileData::text, std::optional<std::string>(std::move(text)));
}

// What a body edit appends to a function's body.
enum class BodyEdit : std::uint8_t {
  pass,       // `pass`: the function's tables stay equal
  local,      // `pyscope_edit_N = N`: a new local
  undefined,  // `print(pyscope_undefined_N)`: a new unresolved reference
};

// Appends one line to the body of `site`; returns a description.
inline std::string edit_body(Db& db, File file, const FunctionSite& site, BodyEdit kind, int n) {
  std::string line = site.indent;
  switch (kind) {
    case BodyEdit::pass:
      line += "pass";
      break;
    case BodyEdit::local:
      line += "pyscope_edit_" + std::to_string(n) + " = " + std::to_string(n);
      break;
    case BodyEdit::undefined:
      line += "print(pyscope_undefined_" + std::to_string(n) + ")";
      break;
  }
  const std::string text = source_text(db, file);
  set_text(db, file, insert_line_after(text, site.last_line, line));
  return "in " + site.name + "() (line " + std::to_string(site.def_line) + ") appended `" +
         line.substr(site.indent.size()) + "` after line " + std::to_string(site.last_line);
}

// Appends `import MODULE` to the file.
inline std::string add_import(Db& db, File file, const std::string& module) {
  std::string text = source_text(db, file);
  if (!text.empty() && text.back() != '\n') text += '\n';
  text += "import " + module + "\n";
  set_text(db, file, std::move(text));
  return "appended `import " + module + "`";
}

// Renames a module: the text moves with it (kept as the file's text, since the disk is not
// touched), then the path changes; module_index re-runs and importers see the new name.
inline std::string rename_file(Db& db, File file, const std::string& new_path) {
  if (!file.get(db, &FileData::text)) set_text(db, file, source_text(db, file));
  const std::string old = db.path(file);
  file.set(db, &FileData::path, new_path);
  return old + " -> " + new_path;
}

// Counts engine events per query, from any number of threads. Install with attach() or call
// on() from your own event callback.
class EventCounter {
 public:
  struct Counts {
    std::uint64_t executed = 0, validated = 0, backdated = 0, evicted = 0;
  };

  EventCounter() {
    for (auto& s : sample_) s.store(kNoSample, std::memory_order_relaxed);
  }
  EventCounter(const EventCounter&) = delete;
  EventCounter& operator=(const EventCounter&) = delete;

  void on(const relish::Event& e) {
    const std::uint32_t ing = e.key.ingredient;
    if (ing >= kMax) return;
    switch (e.kind) {
      case relish::EventKind::will_execute:
        slots_[ing].executed.fetch_add(1, std::memory_order_relaxed);
        if (record_) {
          std::lock_guard lock(mu_);
          executed_.push_back(e.key);
        }
        break;
      case relish::EventKind::did_validate_memoized_value:
        slots_[ing].validated.fetch_add(1, std::memory_order_relaxed);
        break;
      case relish::EventKind::did_backdate:
        slots_[ing].backdated.fetch_add(1, std::memory_order_relaxed);
        break;
      case relish::EventKind::did_evict:
        slots_[ing].evicted.fetch_add(1, std::memory_order_relaxed);
        break;
      default:
        break;
    }
    if (sample_[ing].load(std::memory_order_relaxed) == kNoSample)
      sample_[ing].store(e.key.key, std::memory_order_relaxed);
  }

  void attach(relish::Database& db) {
    db.on_event([this](const relish::Event& e) { on(e); });
  }
  // Keep the keys of executed queries (for tests).
  void record_executed(bool on) { record_ = on; }
  bool attached = true;  // for callers that may not install it

  void reset() {
    for (auto& s : slots_) s.executed = s.validated = s.backdated = s.evicted = 0;
    std::lock_guard lock(mu_);
    executed_.clear();
  }

  // Per query name ("parsed_module"), for the queries that did anything.
  std::map<std::string, Counts> by_query(const relish::Database& db) const {
    std::map<std::string, Counts> out;
    for (std::uint32_t i = 0; i < kMax; ++i) {
      const std::uint32_t sample = sample_[i].load(std::memory_order_relaxed);
      if (sample == kNoSample) continue;
      Counts c{slots_[i].executed, slots_[i].validated, slots_[i].backdated, slots_[i].evicted};
      if (!c.executed && !c.validated && !c.backdated && !c.evicted) continue;
      std::string name = db.describe(relish::DatabaseKey{i, sample});
      if (auto paren = name.find('('); paren != std::string::npos) name.resize(paren);
      Counts& o = out[name];
      o.executed += c.executed;
      o.validated += c.validated;
      o.backdated += c.backdated;
      o.evicted += c.evicted;
    }
    return out;
  }
  Counts total(const relish::Database& db) const {
    Counts t;
    for (const auto& [_, c] : by_query(db)) {
      t.executed += c.executed;
      t.validated += c.validated;
      t.backdated += c.backdated;
      t.evicted += c.evicted;
    }
    return t;
  }
  // The queries that executed since reset(), as Database::describe names them.
  std::vector<std::string> executed(const relish::Database& db) const {
    std::lock_guard lock(mu_);
    std::vector<std::string> out;
    for (const auto k : executed_) out.push_back(db.describe(k));
    return out;
  }

 private:
  static constexpr std::uint32_t kMax = 256;
  static constexpr std::uint32_t kNoSample = 0xFFFFFFFFu;
  struct Slot {
    std::atomic<std::uint64_t> executed{0}, validated{0}, backdated{0}, evicted{0};
  };
  Slot slots_[kMax];
  std::atomic<std::uint32_t> sample_[kMax];  // one key per ingredient, to name it
  bool record_ = false;
  mutable std::mutex mu_;
  std::vector<relish::DatabaseKey> executed_;
};

}  // namespace pyscope

// pymod: the memory half of ty's seed (seeds/ty-heap-tracking-and-manual-gc.md) in relish.
//
//   File             an input: path, text, permissions (set separately: per-field deps)
//   source_text      equality on, no LRU: an unchanged text stops all downstream work
//   parsed_module    returns(ref), no_eq, lru = 200; its value is a ParsedModule whose AST
//                    sits in a Reclaimable slot: clear() drops it within a revision, load()
//                    re-parses on demand (parsed_module_impl)
//   semantic_index   returns(ref), no_eq: per scope a shared_ptr<const PlaceTable>, plus the
//                    module's imports as a shared_ptr<const ImportSet>
//   place_table      returns(deref): a shared_ptr clone of one scope's table; backdates when
//   imported_modules the builder handed out the same allocation (no deep compare)
//   symbol_count     a reader of one scope's table (re-runs only if that table changed)
//
// The language is a toy Python: one statement per line, blocks by indentation.
//   import a.b [as c]           from a.b import c, d          def f(x, y):
//   class C(Base):              name = expression             return expression
// Anything else is an expression statement; blank lines and comments are skipped.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <relish/relish.hpp>

#include "absl/container/flat_hash_map.h"

namespace pymod {

// ---- input -------------------------------------------------------------------------------

struct FileData {
  std::string path;
  std::string text;
  std::optional<std::uint32_t> permissions = std::nullopt;
};
using File = relish::Input<FileData>;

// ---- the AST -------------------------------------------------------------------------------

// Counts the ASTs alive in the process (tests check the LRU bound with it).
struct LiveAst {
  static std::atomic<std::int64_t>& count() {
    static std::atomic<std::int64_t> n{0};
    return n;
  }
  LiveAst() noexcept { count().fetch_add(1, std::memory_order_relaxed); }
  LiveAst(const LiveAst&) noexcept : LiveAst() {}
  LiveAst(LiveAst&&) noexcept : LiveAst() {}
  LiveAst& operator=(const LiveAst&) noexcept = default;
  LiveAst& operator=(LiveAst&&) noexcept = default;
  ~LiveAst() { count().fetch_sub(1, std::memory_order_relaxed); }
};

enum class NodeKind : std::uint8_t { import, import_from, function_def, class_def, assign,
                                     return_, expr };

// One statement; blocks (def, class) own their body's nodes on the heap.
struct Node {
  NodeKind kind = NodeKind::expr;
  std::string name;                  // def/class name, assign target, imported module
  std::vector<std::string> names;    // def parameters, class bases, `from m import names`
  std::string text;                  // the rest of the line (an expression, unparsed)
  std::uint32_t line = 0;
  std::uint32_t column = 0;
  std::vector<std::unique_ptr<Node>> body;

  friend bool operator==(const Node& a, const Node& b) {
    if (a.kind != b.kind || a.name != b.name || a.names != b.names || a.text != b.text ||
        a.line != b.line || a.column != b.column || a.body.size() != b.body.size())
      return false;
    for (std::size_t i = 0; i < a.body.size(); ++i)
      if (!(*a.body[i] == *b.body[i])) return false;
    return true;
  }
};

// A plain aggregate: relish::heap_size walks it (and its nodes) by reflection.
struct Ast {
  std::vector<std::unique_ptr<Node>> body;
  std::uint32_t lines = 0;
  std::uint32_t nodes = 0;
  LiveAst live{};

  friend bool operator==(const Ast& a, const Ast& b) {
    if (a.lines != b.lines || a.nodes != b.nodes || a.body.size() != b.body.size()) return false;
    for (std::size_t i = 0; i < a.body.size(); ++i)
      if (!(*a.body[i] == *b.body[i])) return false;
    return true;
  }
};

namespace detail {

inline std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' ||
                        s.back() == ':'))
    s.remove_suffix(1);
  return s;
}

inline bool is_ident_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '_' || c == '.';
}

inline std::string_view ident(std::string_view s) {
  std::size_t n = 0;
  while (n < s.size() && is_ident_char(s[n])) ++n;
  return s.substr(0, n);
}

// "a, b as c, (d)" -> {"a", "c", "d"}: the names a list binds.
inline std::vector<std::string> name_list(std::string_view s) {
  std::vector<std::string> out;
  while (!s.empty()) {
    const std::size_t comma = s.find(',');
    std::string_view item = trim(s.substr(0, comma));
    while (!item.empty() && (item.front() == '(' || item.front() == '*')) item.remove_prefix(1);
    if (const auto as = item.find(" as "); as != std::string_view::npos)
      item = trim(item.substr(as + 4));
    const std::string_view name = ident(item);
    if (!name.empty()) out.emplace_back(name);
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return out;
}

inline bool starts_with_word(std::string_view s, std::string_view word) {
  return s.size() > word.size() && s.starts_with(word) && (s[word.size()] == ' ');
}

}  // namespace detail

// The parser: line by line, blocks by indentation.
inline Ast parse(std::string_view source) {
  Ast ast;
  struct Open {
    std::uint32_t indent;
    std::vector<std::unique_ptr<Node>>* body;
  };
  std::vector<Open> stack{{0, &ast.body}};
  std::uint32_t line_no = 0;
  bool in_string = false;  // inside a triple-quoted string (docstrings): skipped
  while (!source.empty()) {
    const std::size_t eol = source.find('\n');
    std::string_view line = source.substr(0, eol);
    source.remove_prefix(eol == std::string_view::npos ? source.size() : eol + 1);
    ++line_no;
    const std::size_t triple = std::min(line.find("\"\"\""), line.find("'''"));
    if (in_string) {
      if (triple != std::string_view::npos) in_string = false;
      continue;
    }
    std::uint32_t indent = 0;
    while (indent < line.size() && (line[indent] == ' ' || line[indent] == '\t')) ++indent;
    std::string_view stmt = detail::trim(line.substr(indent));
    if (stmt.empty() || stmt.front() == '#') continue;
    if (triple != std::string_view::npos &&
        line.find(line.substr(triple, 3), triple + 3) == std::string_view::npos)
      in_string = true;  // a string opened and not closed on this line

    while (stack.size() > 1 && indent <= stack.back().indent) stack.pop_back();
    auto node = std::make_unique<Node>();
    node->line = line_no;
    node->column = indent;
    if (detail::starts_with_word(stmt, "import")) {
      node->kind = NodeKind::import;
      node->names = detail::name_list(stmt.substr(7));
      node->name = std::string(detail::ident(detail::trim(stmt.substr(7))));
    } else if (detail::starts_with_word(stmt, "from")) {
      node->kind = NodeKind::import_from;
      std::string_view rest = detail::trim(stmt.substr(5));
      node->name = std::string(detail::ident(rest));
      if (const auto imp = rest.find(" import "); imp != std::string_view::npos)
        node->names = detail::name_list(rest.substr(imp + 8));
    } else if (detail::starts_with_word(stmt, "def") ||
               detail::starts_with_word(stmt, "class") ||
               detail::starts_with_word(stmt, "async")) {
      const bool is_class = stmt.starts_with("class");
      std::string_view rest = detail::trim(stmt.substr(stmt.find(' ') + 1));
      if (rest.starts_with("def ")) rest = detail::trim(rest.substr(4));
      node->kind = is_class ? NodeKind::class_def : NodeKind::function_def;
      node->name = std::string(detail::ident(rest));
      if (const auto open = rest.find('('); open != std::string_view::npos) {
        const auto close = rest.rfind(')');
        node->names = detail::name_list(
            rest.substr(open + 1, close == std::string_view::npos ? close : close - open - 1));
      }
    } else if (detail::starts_with_word(stmt, "return") || stmt == "return") {
      node->kind = NodeKind::return_;
      node->text = std::string(stmt.substr(std::min<std::size_t>(7, stmt.size())));
    } else if (const auto eq = stmt.find(" = "); eq != std::string_view::npos &&
                                                 !detail::ident(stmt).empty() &&
                                                 detail::ident(stmt).size() <= eq) {
      node->kind = NodeKind::assign;
      node->name = std::string(detail::ident(stmt));
      node->text = std::string(stmt.substr(eq + 3));
    } else {
      node->kind = NodeKind::expr;
      node->text = std::string(stmt);
    }
    const bool opens_block =
        node->kind == NodeKind::function_def || node->kind == NodeKind::class_def;
    Node* raw = node.get();
    stack.back().body->push_back(std::move(node));
    ++ast.nodes;
    if (opens_block) stack.push_back({indent, &raw->body});
  }
  ast.lines = line_no;
  return ast;
}

// ---- the semantic model ------------------------------------------------------------------

// The names one scope defines. Deliberately compared only through the pointer by relish (the
// extraction queries return shared_ptr clones); operator== is for the tests.
struct PlaceTable {
  std::vector<std::string> symbols;
  friend bool operator==(const PlaceTable&, const PlaceTable&) = default;
};

struct ImportSet {
  std::vector<std::string> modules;  // sorted, unique
  friend bool operator==(const ImportSet&, const ImportSet&) = default;
};

enum class ScopeKind : std::uint8_t { module, function, class_ };

struct Scope {
  std::string name;
  ScopeKind kind;
  std::uint32_t parent;  // the module scope is its own parent
};

struct SemanticIndex {
  std::vector<Scope> scopes;
  std::vector<std::shared_ptr<const PlaceTable>> place_tables;  // one per scope
  std::shared_ptr<const ImportSet> imported_modules;
};

// The builder's allocation reuse: a table with the same contents as one still alive is handed
// out again (ty's builder reuses sub-structures of the old index the same way), so extraction
// queries backdate by pointer when a scope did not change.
template <class T>
class ReuseCache {
 public:
  std::shared_ptr<const T> get(T value, std::string key) {
    std::lock_guard<std::mutex> lock(mu_);
    auto& slot = map_[key];
    if (auto alive = slot.lock(); alive && *alive == value) return alive;
    auto fresh = std::make_shared<const T>(std::move(value));
    slot = fresh;
    if (map_.size() > 2 * (last_pruned_ + 1024)) prune();
    return fresh;
  }

 private:
  void prune() {
    for (auto it = map_.begin(); it != map_.end();) {
      if (it->second.expired())
        map_.erase(it++);
      else
        ++it;
    }
    last_pruned_ = map_.size();
  }
  std::mutex mu_;
  absl::flat_hash_map<std::string, std::weak_ptr<const T>> map_;
  std::size_t last_pruned_ = 0;
};

struct Db : relish::Database {
  ReuseCache<PlaceTable> tables;
  ReuseCache<ImportSet> imports;
  std::atomic<std::uint64_t> parses{0};    // every parse
  std::atomic<std::uint64_t> reparses{0};  // parses by ParsedModule::load after a clear
};

// ---- the queries -------------------------------------------------------------------------

inline std::string source_text_fn(Db& db, File file) {
  return file.get(db, &FileData::text);
}
inline constexpr relish::Query<source_text_fn, relish::Options{.returns = relish::Returns::ref}>
    source_text;

// The parse itself, outside the engine's memo so that ParsedModule::load can re-run it.
inline Ast parsed_module_impl(Db& db, File file) {
  db.parses.fetch_add(1, std::memory_order_relaxed);
  return parse(source_text(db, file));
}

struct ParsedModule {
  File file;
  relish::Reclaimable<Ast> inner;

  // The AST; re-parsed on demand if it was cleared. The Ref keeps it alive while held.
  relish::Ref<Ast> load(Db& db) const {
    return inner.load_or([&] {
      db.reparses.fetch_add(1, std::memory_order_relaxed);
      return parsed_module_impl(db, file);
    });
  }
  // Drops the AST now (once no Ref holds it); the memo and its dependencies stay.
  void clear() const { inner.clear(); }
  bool is_cleared() const { return inner.is_cleared(); }
};

inline ParsedModule parsed_module_fn(Db& db, File file) {
  return ParsedModule{file, relish::Reclaimable<Ast>(parsed_module_impl(db, file))};
}
inline constexpr relish::Query<parsed_module_fn,
                               relish::Options{.returns = relish::Returns::ref, .no_eq = true,
                                               .lru = 200}>
    parsed_module;

namespace detail {

inline void join_into(std::string& key, const std::vector<std::string>& names) {
  for (const auto& n : names) {
    key += n;
    key += '\n';
  }
}

inline void build_scope(Db& db, const std::string& file_key, SemanticIndex& index,
                        std::uint32_t scope, const std::vector<std::unique_ptr<Node>>& body,
                        std::vector<std::string>& imports) {
  PlaceTable table;
  for (const auto& n : body) {
    switch (n->kind) {
      case NodeKind::import:
        imports.push_back(n->name);
        table.symbols.insert(table.symbols.end(), n->names.begin(), n->names.end());
        break;
      case NodeKind::import_from:
        imports.push_back(n->name);
        table.symbols.insert(table.symbols.end(), n->names.begin(), n->names.end());
        break;
      case NodeKind::assign:
        table.symbols.push_back(n->name);
        break;
      case NodeKind::function_def:
      case NodeKind::class_def: {
        table.symbols.push_back(n->name);
        const auto child = static_cast<std::uint32_t>(index.scopes.size());
        index.scopes.push_back({n->name,
                                n->kind == NodeKind::class_def ? ScopeKind::class_
                                                            : ScopeKind::function,
                                scope});
        index.place_tables.emplace_back();
        build_scope(db, file_key, index, child, n->body, imports);
        break;
      }
      default:
        break;
    }
  }
  std::sort(table.symbols.begin(), table.symbols.end());
  table.symbols.erase(std::unique(table.symbols.begin(), table.symbols.end()),
                      table.symbols.end());
  std::string key = file_key + '#' + std::to_string(scope) + '\n';
  join_into(key, table.symbols);
  index.place_tables[scope] = db.tables.get(std::move(table), std::move(key));
}

}  // namespace detail

inline SemanticIndex semantic_index_fn(Db& db, File file) {
  const relish::Ref<Ast> ast = parsed_module(db, file).load(db);
  SemanticIndex index;
  index.scopes.push_back({"<module>", ScopeKind::module, 0});
  index.place_tables.emplace_back();
  std::vector<std::string> imports;
  const std::string file_key = std::to_string(file.index());
  detail::build_scope(db, file_key, index, 0, ast->body, imports);
  std::sort(imports.begin(), imports.end());
  imports.erase(std::unique(imports.begin(), imports.end()), imports.end());
  std::string key = file_key + '\n';
  detail::join_into(key, imports);
  index.imported_modules = db.imports.get(ImportSet{std::move(imports)}, std::move(key));
  return index;
}
inline constexpr relish::Query<semantic_index_fn,
                               relish::Options{.returns = relish::Returns::ref, .no_eq = true}>
    semantic_index;

inline std::uint32_t scope_count_fn(Db& db, File file) {
  return static_cast<std::uint32_t>(semantic_index(db, file).scopes.size());
}
inline constexpr relish::Query<scope_count_fn> scope_count;

inline std::shared_ptr<const PlaceTable> place_table_fn(Db& db, File file, std::uint32_t scope) {
  return semantic_index(db, file).place_tables.at(scope);
}
inline constexpr relish::Query<place_table_fn, relish::Options{.returns = relish::Returns::deref}>
    place_table;

inline std::shared_ptr<const ImportSet> imported_modules_fn(Db& db, File file) {
  return semantic_index(db, file).imported_modules;
}
inline constexpr relish::Query<imported_modules_fn,
                               relish::Options{.returns = relish::Returns::deref}>
    imported_modules;

inline std::size_t symbol_count_fn(Db& db, File file, std::uint32_t scope) {
  return place_table(db, file, scope).symbols.size();
}
inline constexpr relish::Query<symbol_count_fn> symbol_count;

}  // namespace pymod

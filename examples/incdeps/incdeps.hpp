// incdeps: an include-graph analyzer for C/C++ headers, built on relish.
//
// The core of the `incdeps` example, kept in a header so that tests can drive it on a small
// tree held in memory. One input per header file (its path and its text); everything else is
// a query:
//
//   direct_includes(h)    the #include lines of h's text (comments skipped, #if ignored);
//                         re-runs on every edit of h but backdates when the lines are the same
//   resolve(name, dir, i) which header an include names: `dir` first (quoted includes), then
//                         the include paths from index i on (i > 0 for #include_next)
//   resolved_includes(h)  h's includes resolved to headers, plus the names that resolve to none
//   closure(h)            every header h transitively includes (h itself excluded), by id
//   reverse_graph(tree)   for every header, the headers that include it directly
//   dependents(h)         every header that transitively includes h: what touching h invalidates
//   include_cycles(tree)  strongly connected components (more than one header) of the graph
//   graph_stats(tree)     headers, edges, unresolved and computed (#include MACRO) includes
//
// `tree` is the one Tree input, the header listing (db.tree). The whole-graph queries take it
// as their key and read it as a dependency.
//
// Transitive questions are answered by a loop inside one query (a BFS, Tarjan's algorithm)
// that calls the per-header queries: a query must not call itself in a cycle, and include
// graphs do have cycles.
//
// The path -> header table and the header list on the Db are fixed once loaded (queries read
// them untracked), so files are edited but never added or removed.
#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include <relish/relish.hpp>

namespace incdeps {

// ---------------------------------------------------------------------------------------
// Inputs and the database
// ---------------------------------------------------------------------------------------

struct HeaderData {
  std::string path;  // normalized, e.g. "/usr/include/stdio.h"
  std::string text;
};
using Header = relish::Input<HeaderData>;

// The header listing: the key of the whole-graph queries, which read it as a dependency.
struct TreeData {
  std::vector<Header> headers;  // sorted by path
};
using Tree = relish::Input<TreeData>;

struct Db : relish::Database {
  // The listing, for the whole-graph queries (set by load()).
  Tree tree;
  // Directories searched for <...> includes, in order (normalized, no trailing '/').
  std::vector<std::string> include_paths;
  // The same headers, for code outside queries; headers[i].index() == i. Fixed after load().
  std::vector<Header> headers;
  // path -> header. Fixed after load().
  std::unordered_map<std::string, Header> by_path;

  std::optional<Header> find(const std::string& path) const {
    auto it = by_path.find(path);
    if (it == by_path.end()) return std::nullopt;
    return it->second;
  }
  // The path of a header, read outside any query (untracked; paths never change).
  const std::string& path(Header h) { return h.get(*this, &HeaderData::path); }
};

// ---------------------------------------------------------------------------------------
// Paths
// ---------------------------------------------------------------------------------------

// `dir/name` (or `name` if absolute) with "." and ".." segments and doubled '/' removed.
inline std::string join_normal(std::string_view dir, std::string_view name) {
  std::string joined;
  if (!name.empty() && name.front() == '/') {
    joined = name;
  } else {
    joined.reserve(dir.size() + 1 + name.size());
    joined.append(dir).append("/").append(name);
  }
  const bool absolute = !joined.empty() && joined.front() == '/';
  std::vector<std::string_view> parts;
  std::string_view rest = joined;
  while (!rest.empty()) {
    const auto slash = rest.find('/');
    std::string_view part = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
    if (part.empty() || part == ".") continue;
    if (part == ".." && !parts.empty() && parts.back() != "..") {
      parts.pop_back();
      continue;
    }
    if (part == ".." && absolute) continue;  // "/.." is "/"
    parts.push_back(part);
  }
  std::string out;
  out.reserve(joined.size());
  for (std::string_view p : parts) {
    if (absolute || !out.empty()) out += '/';
    out.append(p);
  }
  if (out.empty()) out = absolute ? "/" : ".";
  return out;
}

inline std::string normalize_path(std::string_view p) { return join_normal("", p); }

inline std::string parent_dir(std::string_view path) {
  const auto slash = path.rfind('/');
  if (slash == std::string_view::npos) return ".";
  if (slash == 0) return "/";
  return std::string(path.substr(0, slash));
}

// The first include path (in search order) that contains `path`, or -1. That is where a
// search would have found the file, which is where #include_next continues from.
inline int search_index_of(const std::vector<std::string>& include_paths, std::string_view path) {
  for (std::size_t i = 0; i < include_paths.size(); ++i) {
    const std::string& d = include_paths[i];
    if (path.size() > d.size() && path.compare(0, d.size(), d) == 0 &&
        (path[d.size()] == '/' || d == "/"))
      return static_cast<int>(i);
  }
  return -1;
}

// `path` as an include of it would spell it: relative to the include path it is found under.
inline std::string include_spelling(const std::vector<std::string>& include_paths,
                                    std::string_view path) {
  const int i = search_index_of(include_paths, path);
  if (i < 0) return std::string(path);
  const std::string& d = include_paths[static_cast<std::size_t>(i)];
  return std::string(path.substr(d == "/" ? 1 : d.size() + 1));
}

// ---------------------------------------------------------------------------------------
// Tokenizing #include lines
// ---------------------------------------------------------------------------------------

enum class IncludeKind : std::uint8_t {
  angle,     // #include <name>
  quoted,    // #include "name"
  next,      // #include_next <name> or "name"
  computed,  // #include MACRO: not resolvable without a preprocessor
};

inline const char* to_string(IncludeKind k) {
  switch (k) {
    case IncludeKind::angle: return "angle";
    case IncludeKind::quoted: return "quoted";
    case IncludeKind::next: return "next";
    case IncludeKind::computed: return "computed";
  }
  return "?";
}

struct Include {
  std::string name;  // between the delimiters; the macro text for `computed`
  IncludeKind kind = IncludeKind::angle;
  friend bool operator==(const Include&, const Include&) = default;
};

// "<name>" / "\"name\"" / the macro text.
inline std::string spelling(const Include& inc) {
  switch (inc.kind) {
    case IncludeKind::quoted: return "\"" + inc.name + "\"";
    case IncludeKind::computed: return inc.name;
    default: return "<" + inc.name + ">";
  }
}

namespace detail {
inline bool is_ident(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}
inline bool is_space(char c) { return c == ' ' || c == '\t' || c == '\f' || c == '\v' || c == '\r'; }

// Parses the body of a directive (the text after '#', comments already removed).
inline std::optional<Include> parse_directive(std::string_view d) {
  std::size_t i = 0;
  while (i < d.size() && is_space(d[i])) ++i;
  std::size_t j = i;
  while (j < d.size() && is_ident(d[j])) ++j;
  const std::string_view word = d.substr(i, j - i);
  IncludeKind kind;
  if (word == "include") {
    kind = IncludeKind::angle;
  } else if (word == "include_next") {
    kind = IncludeKind::next;
  } else {
    return std::nullopt;
  }
  while (j < d.size() && is_space(d[j])) ++j;
  if (j >= d.size()) return std::nullopt;  // "#include" alone: ill-formed, ignored
  const char open = d[j];
  if (open == '<' || open == '"') {
    const char close = open == '<' ? '>' : '"';
    const auto end = d.find(close, j + 1);
    if (end == std::string_view::npos) return std::nullopt;
    Include inc{std::string(d.substr(j + 1, end - j - 1)), kind};
    if (kind == IncludeKind::angle && open == '"') inc.kind = IncludeKind::quoted;
    if (inc.name.empty()) return std::nullopt;
    return inc;
  }
  std::size_t e = d.size();
  while (e > j && is_space(d[e - 1])) --e;
  return Include{std::string(d.substr(j, e - j)), IncludeKind::computed};
}
}  // namespace detail

// The #include / #include_next directives of a source text, in order. Comments are skipped
// (a block comment may span lines), backslash-newlines are spliced, string and character
// literals are skipped (ending at the end of their line at the latest), #if is ignored.
inline std::vector<Include> scan_includes(std::string_view s) {
  std::vector<Include> out;
  const std::size_t n = s.size();
  std::size_t i = 0;
  bool in_block = false;  // inside /* ... */, which may continue over lines
  std::string directive;
  auto splice_at = [&](std::size_t k) -> std::size_t {  // length of "\\\n" / "\\\r\n" at k
    if (s[k] != '\\') return 0;
    if (k + 1 < n && s[k + 1] == '\n') return 2;
    if (k + 2 < n && s[k + 1] == '\r' && s[k + 2] == '\n') return 3;
    return 0;
  };
  while (i < n) {
    // One logical line.
    bool line_start = true;
    bool is_directive = false;
    directive.clear();
    while (i < n) {
      const char c = s[i];
      if (in_block) {
        if (c == '*' && i + 1 < n && s[i + 1] == '/') {
          in_block = false;
          i += 2;
          if (is_directive) directive += ' ';
        } else {
          ++i;
        }
        continue;
      }
      if (const std::size_t sp = splice_at(i)) {
        i += sp;
        continue;
      }
      if (c == '\n') {
        ++i;
        break;
      }
      if (c == '/' && i + 1 < n && s[i + 1] == '*') {
        in_block = true;
        i += 2;
        continue;
      }
      if (c == '/' && i + 1 < n && s[i + 1] == '/') {  // to the end of the (logical) line
        while (i < n && s[i] != '\n') i += std::max<std::size_t>(1, splice_at(i));
        continue;
      }
      if (line_start && detail::is_space(c)) {
        ++i;
        continue;
      }
      if (line_start && c == '#') {
        is_directive = true;
        line_start = false;
        ++i;
        continue;
      }
      line_start = false;
      if (c == '"' || c == '\'') {  // a literal: copied into a directive, skipped otherwise
        std::size_t k = i + 1;
        while (k < n && s[k] != c && s[k] != '\n') k += (s[k] == '\\' && k + 1 < n) ? 2 : 1;
        const std::size_t end = (k < n && s[k] == c) ? k + 1 : k;
        if (is_directive) directive.append(s.substr(i, end - i));
        i = end;
        continue;
      }
      if (is_directive) directive += c;
      ++i;
    }
    if (is_directive) {
      if (auto inc = detail::parse_directive(directive)) out.push_back(std::move(*inc));
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Queries
// ---------------------------------------------------------------------------------------

inline std::vector<Include> direct_includes_fn(Db& db, Header h) {
  return scan_includes(h.get(db, &HeaderData::text));
}
inline constexpr relish::Query<direct_includes_fn, relish::Options{.returns = relish::Returns::ref}>
    direct_includes;

// The header `name` resolves to: first `quote_dir`/name (non-empty only for quoted includes),
// then include_paths[first_path...]/name. Reads only the fixed path table: no dependencies,
// so these memos are always valid; they are shared by every includer with the same request.
inline std::optional<Header> resolve_fn(Db& db, const std::string& name,
                                        const std::string& quote_dir, std::uint32_t first_path) {
  if (!name.empty() && name.front() == '/') return db.find(normalize_path(name));
  if (!quote_dir.empty()) {
    if (auto h = db.find(join_normal(quote_dir, name))) return h;
  }
  for (std::size_t i = first_path; i < db.include_paths.size(); ++i) {
    if (auto h = db.find(join_normal(db.include_paths[i], name))) return h;
  }
  return std::nullopt;
}
inline constexpr relish::Query<resolve_fn> resolve;

struct ResolvedIncludes {
  std::vector<Header> headers;          // in include order, each once
  std::vector<std::string> unresolved;  // spellings of includes that name no loaded header
  std::uint32_t computed = 0;           // #include MACRO lines
  friend bool operator==(const ResolvedIncludes&, const ResolvedIncludes&) = default;
};

inline ResolvedIncludes resolved_includes_fn(Db& db, Header h) {
  ResolvedIncludes r;
  const std::vector<Include>& incs = direct_includes(db, h);
  if (incs.empty()) return r;
  const std::string& path = h.get(db, &HeaderData::path);
  static const std::string kNoDir;
  for (const Include& inc : incs) {
    std::optional<Header> target;
    switch (inc.kind) {
      case IncludeKind::computed:
        ++r.computed;
        continue;
      case IncludeKind::angle:
        target = resolve(db, inc.name, kNoDir, 0u);
        break;
      case IncludeKind::quoted:
        target = resolve(db, inc.name, parent_dir(path), 0u);
        break;
      case IncludeKind::next: {
        // GCC: search from the include path after the one the current file was found in.
        const int at = search_index_of(db.include_paths, path);
        target = resolve(db, inc.name, kNoDir, static_cast<std::uint32_t>(at + 1));
        break;
      }
    }
    if (!target) {
      r.unresolved.push_back(spelling(inc));
    } else if (std::find(r.headers.begin(), r.headers.end(), *target) == r.headers.end()) {
      r.headers.push_back(*target);
    }
  }
  return r;
}
inline constexpr relish::Query<resolved_includes_fn,
                               relish::Options{.returns = relish::Returns::ref}>
    resolved_includes;

namespace detail {
// BFS from `start` over `next(h)`; returns the reached headers (start excluded), sorted.
template <class Next>
std::vector<Header> reach(std::size_t header_count, Header start, Next&& next) {
  std::vector<char> seen(header_count, 0);
  std::vector<Header> frontier{start};
  std::vector<Header> reached;
  seen[start.index()] = 1;
  while (!frontier.empty()) {
    const Header x = frontier.back();
    frontier.pop_back();
    for (const Header y : next(x)) {
      if (seen[y.index()]) continue;
      seen[y.index()] = 1;
      reached.push_back(y);
      frontier.push_back(y);
    }
  }
  std::sort(reached.begin(), reached.end());
  return reached;
}
}  // namespace detail

// Every header `h` transitively includes, `h` itself excluded (even when on a cycle).
inline std::vector<Header> closure_fn(Db& db, Header h) {
  return detail::reach(db.headers.size(), h, [&](Header x) -> const std::vector<Header>& {
    return resolved_includes(db, x).headers;
  });
}
inline constexpr relish::Query<closure_fn, relish::Options{.returns = relish::Returns::ref}>
    closure;

struct ReverseGraph {
  std::vector<std::vector<Header>> includers;  // by header index: who includes it directly
  friend bool operator==(const ReverseGraph&, const ReverseGraph&) = default;
};

inline ReverseGraph reverse_graph_fn(Db& db, Tree tree) {
  const std::vector<Header>& headers = tree.get(db, &TreeData::headers);
  ReverseGraph g;
  g.includers.resize(headers.size());
  for (const Header h : headers)
    for (const Header t : resolved_includes(db, h).headers) g.includers[t.index()].push_back(h);
  return g;
}
inline constexpr relish::Query<reverse_graph_fn, relish::Options{.returns = relish::Returns::ref}>
    reverse_graph;

// Every header that transitively includes `h`: the headers whose closure touching `h` can
// change (and so the closure memos an edit of `h` can invalidate, besides h's own).
inline std::vector<Header> dependents_fn(Db& db, Header h) {
  const ReverseGraph& g = reverse_graph(db, db.tree);
  return detail::reach(db.headers.size(), h, [&](Header x) -> const std::vector<Header>& {
    return g.includers[x.index()];
  });
}
inline constexpr relish::Query<dependents_fn, relish::Options{.returns = relish::Returns::ref}>
    dependents;

// Strongly connected components with more than one header (Tarjan, iterative), each sorted,
// sorted by their first header.
inline std::vector<std::vector<Header>> include_cycles_fn(Db& db, Tree tree) {
  const std::vector<Header>& headers = tree.get(db, &TreeData::headers);
  const std::size_t n = headers.size();
  constexpr std::uint32_t kUnvisited = UINT32_MAX;
  std::vector<std::uint32_t> index(n, kUnvisited), low(n, 0);
  std::vector<char> on_stack(n, 0);
  std::vector<std::uint32_t> stack;
  struct Frame {
    std::uint32_t v;
    std::size_t next_child;
  };
  std::vector<Frame> call;
  std::vector<std::vector<Header>> sccs;
  std::uint32_t counter = 0;
  auto children = [&](std::uint32_t v) -> const std::vector<Header>& {
    return resolved_includes(db, headers[v]).headers;
  };
  for (std::uint32_t root = 0; root < n; ++root) {
    if (index[root] != kUnvisited) continue;
    call.push_back({root, 0});
    index[root] = low[root] = counter++;
    stack.push_back(root);
    on_stack[root] = 1;
    while (!call.empty()) {
      Frame& f = call.back();
      const std::vector<Header>& kids = children(f.v);
      if (f.next_child < kids.size()) {
        const std::uint32_t w = kids[f.next_child++].index();
        if (index[w] == kUnvisited) {
          index[w] = low[w] = counter++;
          stack.push_back(w);
          on_stack[w] = 1;
          call.push_back({w, 0});  // invalidates f
        } else if (on_stack[w]) {
          low[f.v] = std::min(low[f.v], index[w]);
        }
        continue;
      }
      const std::uint32_t v = f.v;
      call.pop_back();
      if (!call.empty()) low[call.back().v] = std::min(low[call.back().v], low[v]);
      if (low[v] == index[v]) {
        std::vector<Header> scc;
        std::uint32_t w;
        do {
          w = stack.back();
          stack.pop_back();
          on_stack[w] = 0;
          scc.push_back(headers[w]);
        } while (w != v);
        if (scc.size() > 1) {
          std::sort(scc.begin(), scc.end());
          sccs.push_back(std::move(scc));
        }
      }
    }
  }
  std::sort(sccs.begin(), sccs.end(),
            [](const auto& a, const auto& b) { return a.front() < b.front(); });
  return sccs;
}
inline constexpr relish::Query<include_cycles_fn,
                               relish::Options{.returns = relish::Returns::ref}>
    include_cycles;

struct GraphStats {
  std::uint32_t headers = 0;
  std::uint64_t edges = 0;       // resolved (includer, included) pairs
  std::uint64_t unresolved = 0;  // include lines naming no loaded header
  std::uint64_t computed = 0;    // #include MACRO lines
  friend bool operator==(const GraphStats&, const GraphStats&) = default;
};

inline GraphStats graph_stats_fn(Db& db, Tree tree) {
  const std::vector<Header>& headers = tree.get(db, &TreeData::headers);
  GraphStats s;
  s.headers = static_cast<std::uint32_t>(headers.size());
  for (const Header h : headers) {
    const ResolvedIncludes& r = resolved_includes(db, h);
    s.edges += r.headers.size();
    s.unresolved += r.unresolved.size();
    s.computed += r.computed;
  }
  return s;
}
inline constexpr relish::Query<graph_stats_fn> graph_stats;

// ---------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------

using FileMap = std::map<std::string, std::string>;  // normalized path -> text

// Creates one Header per file (in path order, so equal maps give equal ids) and sets the
// include search path. Call once, on a fresh Db, before any query.
inline void load(Db& db, FileMap files, std::vector<std::string> include_paths) {
  if (!db.headers.empty()) throw std::logic_error("incdeps::load: the Db is already loaded");
  for (std::string& p : include_paths) p = normalize_path(p);
  db.include_paths = std::move(include_paths);
  db.headers.reserve(files.size());
  for (auto& [path, text] : files) {
    std::string norm = normalize_path(path);
    if (db.by_path.count(norm)) throw std::invalid_argument("incdeps::load: duplicate " + norm);
    const Header h = Header::create(db, HeaderData{norm, std::move(text)});
    if (h.index() != db.headers.size())
      throw std::logic_error("incdeps::load: header ids must be dense (use a fresh Db)");
    db.headers.push_back(h);
    db.by_path.emplace(std::move(norm), h);
  }
  db.tree = Tree::create(db, TreeData{db.headers});
}

// The current texts of all headers, to rebuild the same tree in a fresh Db.
inline FileMap current_files(Db& db) {
  FileMap files;
  for (const Header h : db.headers)
    files.emplace(h.get(db, &HeaderData::path), h.get(db, &HeaderData::text));
  return files;
}

// Reads every regular file under each directory of `roots` (symlinked files followed,
// symlinked directories not). Paths are normalized but not canonicalized.
inline FileMap read_tree(const std::vector<std::string>& roots, std::uint64_t* bytes = nullptr) {
  namespace fs = std::filesystem;
  FileMap files;
  for (const std::string& root : roots) {
    std::error_code ec;
    fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec);
    if (ec) throw std::runtime_error("cannot read directory " + root + ": " + ec.message());
    for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (ec) break;
      std::error_code fe;
      if (!it->is_regular_file(fe)) continue;
      std::string path = normalize_path(it->path().generic_string());
      if (files.count(path)) continue;
      std::ifstream in(it->path(), std::ios::binary);
      if (!in) continue;
      std::ostringstream ss;
      ss << in.rdbuf();
      std::string text = std::move(ss).str();
      if (bytes) *bytes += text.size();
      files.emplace(std::move(path), std::move(text));
    }
  }
  return files;
}

// ---------------------------------------------------------------------------------------
// Edits
// ---------------------------------------------------------------------------------------

enum class EditKind : std::uint8_t { comment, add_include, remove_include };

inline const char* to_string(EditKind k) {
  switch (k) {
    case EditKind::comment: return "comment";
    case EditKind::add_include: return "add";
    case EditKind::remove_include: return "remove";
  }
  return "?";
}

struct Edit {
  EditKind kind = EditKind::comment;
  std::string path;  // normalized
  std::string spec;  // "<name>" or "\"name\"" for add (required) and remove (optional)
};

// Applies one edit (a new revision) and returns what it did, e.g. "+#include <vector>".
// Throws std::invalid_argument if the header does not exist or has no such include line.
inline std::string apply_edit(Db& db, const Edit& e) {
  const auto h = db.find(e.path);
  if (!h) throw std::invalid_argument("no such header: " + e.path);
  const std::string& old_text = h->get(db, &HeaderData::text);
  std::string text = old_text;
  if (!text.empty() && text.back() != '\n') text += '\n';
  switch (e.kind) {
    case EditKind::comment: {
      text += "/* incdeps edit at revision " + std::to_string(db.current_revision()) + " */\n";
      h->set(db, &HeaderData::text, std::move(text));
      return "+comment";
    }
    case EditKind::add_include: {
      if (e.spec.size() < 3) throw std::invalid_argument("add needs <name> or \"name\"");
      text += "#include " + e.spec + "\n";
      h->set(db, &HeaderData::text, std::move(text));
      return "+#include " + e.spec;
    }
    case EditKind::remove_include: {
      // The last line holding an include directive (matching `spec`, if given).
      std::size_t best_begin = std::string::npos, best_end = 0;
      std::string removed;
      std::size_t begin = 0;
      while (begin < old_text.size()) {
        std::size_t end = old_text.find('\n', begin);
        end = end == std::string::npos ? old_text.size() : end + 1;
        const std::string_view line(old_text.data() + begin, end - begin);
        const auto incs = scan_includes(line);
        if (incs.size() == 1 && incs[0].kind != IncludeKind::computed &&
            (e.spec.empty() || spelling(incs[0]) == e.spec ||
             (incs[0].kind == IncludeKind::next && "\"" + incs[0].name + "\"" == e.spec))) {
          best_begin = begin;
          best_end = end;
          removed = spelling(incs[0]);
        }
        begin = end;
      }
      if (best_begin == std::string::npos)
        throw std::invalid_argument("no include line " + (e.spec.empty() ? "" : e.spec + " ") +
                                    "in " + e.path);
      std::string out = old_text.substr(0, best_begin) + old_text.substr(best_end);
      h->set(db, &HeaderData::text, std::move(out));
      return "-#include " + removed;
    }
  }
  return "?";
}

// ---------------------------------------------------------------------------------------
// All answers, for reports and for comparing an incremental run with a from-scratch one
// ---------------------------------------------------------------------------------------

// Runs every query the report needs: closure of every header, the cycle report, the stats,
// and the dependents of each probe header.
inline void evaluate(Db& db, const std::vector<Header>& probes) {
  for (const Header h : db.headers) (void)closure(db, h);
  (void)include_cycles(db, db.tree);
  (void)graph_stats(db, db.tree);
  for (const Header p : probes) (void)dependents(db, p);
}

// Answers as plain data (header ids are the position in path order, equal across Dbs loaded
// from equal trees), so two Dbs can be compared.
struct Answers {
  std::vector<std::string> paths;
  std::vector<std::vector<Include>> direct;
  std::vector<std::vector<std::uint32_t>> resolved;
  std::vector<std::vector<std::string>> unresolved;
  std::vector<std::vector<std::uint32_t>> closure;
  std::vector<std::vector<std::uint32_t>> cycles;
  GraphStats stats;
  std::map<std::uint32_t, std::vector<std::uint32_t>> dependents;  // by probe id
};

inline std::vector<std::uint32_t> ids(const std::vector<Header>& hs) {
  std::vector<std::uint32_t> out;
  out.reserve(hs.size());
  for (const Header h : hs) out.push_back(h.index());
  return out;
}

// Reads the answers (running whatever is not up to date). `probes` are header ids.
inline Answers snapshot(Db& db, const std::vector<std::uint32_t>& probes) {
  Answers a;
  const std::size_t n = db.headers.size();
  a.paths.reserve(n);
  a.direct.reserve(n);
  a.resolved.reserve(n);
  a.unresolved.reserve(n);
  a.closure.reserve(n);
  for (const Header h : db.headers) {
    a.paths.push_back(h.get(db, &HeaderData::path));
    a.direct.push_back(direct_includes(db, h));
    const ResolvedIncludes& r = resolved_includes(db, h);
    a.resolved.push_back(ids(r.headers));
    a.unresolved.push_back(r.unresolved);
    a.closure.push_back(ids(closure(db, h)));
  }
  for (const auto& scc : include_cycles(db, db.tree)) a.cycles.push_back(ids(scc));
  a.stats = graph_stats(db, db.tree);
  for (const std::uint32_t p : probes) a.dependents[p] = ids(dependents(db, db.headers.at(p)));
  return a;
}

// "" if equal, else a description of the first difference.
inline std::string first_difference(const Answers& a, const Answers& b) {
  if (a.paths != b.paths) return "the header lists differ";
  auto name = [&](std::size_t i) { return a.paths[i]; };
  for (std::size_t i = 0; i < a.paths.size(); ++i) {
    if (a.direct[i] != b.direct[i]) return "direct_includes(" + name(i) + ") differs";
    if (a.resolved[i] != b.resolved[i]) return "resolved_includes(" + name(i) + ") differs";
    if (a.unresolved[i] != b.unresolved[i]) return "unresolved includes of " + name(i) + " differ";
    if (a.closure[i] != b.closure[i])
      return "closure(" + name(i) + ") differs: " + std::to_string(a.closure[i].size()) +
             " vs " + std::to_string(b.closure[i].size()) + " headers";
  }
  if (a.cycles != b.cycles)
    return "include_cycles() differs: " + std::to_string(a.cycles.size()) + " vs " +
           std::to_string(b.cycles.size()) + " cycles";
  if (!(a.stats == b.stats)) return "graph_stats() differs";
  if (a.dependents != b.dependents) {
    for (const auto& [p, d] : a.dependents) {
      auto it = b.dependents.find(p);
      if (it == b.dependents.end() || it->second != d)
        return "dependents(" + name(p) + ") differs";
    }
    return "the dependents probes differ";
  }
  return "";
}

// ---------------------------------------------------------------------------------------
// Counting engine events per query
// ---------------------------------------------------------------------------------------

// Tallies will_execute / did_validate_memoized_value / did_accept_clean / did_backdate per
// query name.
class EventTally {
 public:
  struct Counts {
    std::uint64_t executed = 0, validated = 0, accepted = 0, backdated = 0;
  };

  explicit EventTally(relish::Database& db) : db_(db) {
    db_.on_event([this](const relish::Event& e) { on(e); });
  }
  EventTally(const EventTally&) = delete;
  EventTally& operator=(const EventTally&) = delete;
  ~EventTally() { db_.on_event({}); }

  void reset() {
    slots_.clear();
    executed_keys_.clear();
  }

  // Per query name ("closure"), in name order.
  std::map<std::string, Counts> by_query() const {
    std::map<std::string, Counts> out;
    for (std::uint32_t ing = 0; ing < slots_.size(); ++ing) {
      const Slot& c = slots_[ing];
      if (!c.used) continue;
      std::string name = db_.describe(relish::DatabaseKey{ing, c.sample_key});
      if (auto paren = name.find('('); paren != std::string::npos) name.resize(paren);
      Counts& o = out[name];
      o.executed += c.counts.executed;
      o.validated += c.counts.validated;
      o.accepted += c.counts.accepted;
      o.backdated += c.counts.backdated;
    }
    return out;
  }
  Counts total() const {
    Counts t;
    for (const Slot& c : slots_) {
      t.executed += c.counts.executed;
      t.validated += c.counts.validated;
      t.accepted += c.counts.accepted;
      t.backdated += c.counts.backdated;
    }
    return t;
  }
  Counts of(const std::string& query_name) const {
    auto all = by_query();
    auto it = all.find(query_name);
    return it == all.end() ? Counts{} : it->second;
  }
  // The queries that executed since the last reset, in order, as Database::describe names
  // them (at most 65536).
  std::vector<std::string> executed() const {
    std::vector<std::string> out;
    for (const auto k : executed_keys_) out.push_back(db_.describe(k));
    return out;
  }

 private:
  struct Slot {
    Counts counts;
    std::uint32_t sample_key = 0;
    bool used = false;
  };
  void on(const relish::Event& e) {
    const auto ing = e.key.ingredient;
    if (ing >= slots_.size()) slots_.resize(ing + 1);
    Slot& s = slots_[ing];
    if (!s.used) {
      s.used = true;
      s.sample_key = e.key.key;
    }
    switch (e.kind) {
      case relish::EventKind::will_execute:
        ++s.counts.executed;
        if (executed_keys_.size() < kMaxKeys) executed_keys_.push_back(e.key);
        break;
      case relish::EventKind::did_validate_memoized_value:
        ++s.counts.validated;
        break;
      case relish::EventKind::did_accept_clean:
        ++s.counts.accepted;
        break;
      case relish::EventKind::did_backdate:
        ++s.counts.backdated;
        break;
      default:
        break;
    }
  }
  static constexpr std::size_t kMaxKeys = 1u << 16;
  relish::Database& db_;
  std::vector<Slot> slots_;  // by ingredient index
  std::vector<relish::DatabaseKey> executed_keys_;
};

}  // namespace incdeps

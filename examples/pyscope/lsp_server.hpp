// lsp_server.hpp: `pyscope serve`, a Language Server Protocol server over stdio.
//
//   pyscope serve [--root DIR] [--threads N] [--stdlib DIR] [--site-packages] [--verbose]
//
// The workspace is the one `pyscope DIR` and `pyscope diagnose DIR` load: the project is the
// initialize request's root (rootUri, else the first workspace folder, else --root, else the
// current directory), SearchPaths::discover finds its search path (the standard library it is
// in, else --stdlib, else Debian's; that library's site-packages) and load_workspace loads it
// (a project inside the standard library is that library's package: no false unresolved
// imports). Files are read from disk; an open document's text overrides its file (didClose
// goes back to the disk), and a document the scan did not list is added outside every root.
//
// Threads. The message thread reads stdin and is the only writer: didOpen / didChange (full or
// incremental sync) / didClose / didSave set inputs, one db.write per message. A pool of check
// threads, created once, runs the reads: after every write each open document is queued for a
// check (file_diagnostics), and hover / definition requests run there too. A write cancels the
// queries running on the pool (relish::Cancelled at their next read) and waits for them to
// unwind; the pool catches Cancelled outside every query and checks again in the new revision.
// A check reads its document's version from an input set in the same write as the text, and
// publishes inside its ReadScope, so a published version always matches the diagnostics and
// versions are published in order.
//
// Cancellation. A worker takes a fresh relish::CancellationToken (db.cancellation_token())
// before every task, since a cancelled token stays so until its thread takes another. A running
// hover / definition registers its token with its id; $/cancelRequest cancels it from the
// message thread, the request's queries throw Cancelled with Reason::token at their next read,
// and it answers RequestCancelled without a retry (a cancel before it started answers the same
// when it would start; a request whose answer is already verified in this revision may still
// answer). Reason::pending_write is a write: the request is asked again in the new revision.
//
// Requests: initialize, shutdown, textDocument/hover (the inferred type of the name under the
// cursor), textDocument/definition, $/cancelRequest (a request not answered yet answers
// RequestCancelled), and pyscope/stats (counters: checks, `cancelled` by writes, publishes,
// writes, `requests_cancelled` by $/cancelRequest and of those `requests_cancelled_running`
// through their token; `idle`: every write so far checked and published, as the answer comes
// after those notifications).
// Notifications sent: textDocument/publishDiagnostics (open documents only).
#pragma once

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "json.hpp"
#include "workspace.hpp"

namespace pyscope::lsp {

using json::Array;
using json::Object;
using json::Value;

// ---- text positions ----------------------------------------------------------------------

// file:///a%20b/c.py <-> /a b/c.py
inline std::string path_of_uri(std::string_view uri) {
  if (uri.starts_with("file://")) uri.remove_prefix(7);
  std::string out;
  for (std::size_t i = 0; i < uri.size(); ++i) {
    if (uri[i] == '%' && i + 2 < uri.size()) {
      out += static_cast<char>(std::strtol(std::string(uri.substr(i + 1, 2)).c_str(), nullptr, 16));
      i += 2;
    } else {
      out += uri[i];
    }
  }
  return out;
}
inline std::string uri_of_path(std::string_view path) {
  std::string out = "file://";
  for (const char ch : path) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c == '/' || c == '-' || c == '_' || c == '.' || c == '~') {
      out += ch;
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

// Byte offset of the start of 0-based `line` (text.size() past the end).
inline std::size_t line_start(std::string_view text, std::uint32_t line) {
  std::size_t at = 0;
  for (std::uint32_t l = 0; l < line; ++l) {
    const std::size_t nl = text.find('\n', at);
    if (nl == std::string_view::npos) return text.size();
    at = nl + 1;
  }
  return at;
}
inline std::string_view line_text(std::string_view text, std::uint32_t line) {
  const std::size_t start = line_start(text, line);
  std::size_t end = text.find('\n', start);
  if (end == std::string_view::npos) end = text.size();
  if (end > start && text[end - 1] == '\r') --end;
  return text.substr(start, end - start);
}
// LSP positions count UTF-16 code units within a line.
inline std::size_t utf16_to_bytes(std::string_view line, std::int64_t units) {
  std::size_t i = 0;
  while (i < line.size() && units > 0) {
    const auto c = static_cast<unsigned char>(line[i]);
    const std::size_t len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    units -= len == 4 ? 2 : 1;
    i = std::min(line.size(), i + len);
  }
  return i;
}
inline std::int64_t bytes_to_utf16(std::string_view line, std::size_t bytes) {
  std::int64_t units = 0;
  for (std::size_t i = 0; i < line.size() && i < bytes;) {
    const auto c = static_cast<unsigned char>(line[i]);
    const std::size_t len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    units += len == 4 ? 2 : 1;
    i += len;
  }
  return units;
}
// Byte offset of an LSP position {line, character} in `text` (clamped to the line).
inline std::size_t offset_of(std::string_view text, const Value& pos) {
  const auto line = static_cast<std::uint32_t>(std::max<std::int64_t>(0, pos["line"].as_int()));
  const std::size_t start = line_start(text, line);
  if (start >= text.size()) return text.size();
  std::size_t end = text.find('\n', start);
  if (end == std::string_view::npos) end = text.size();
  return start + utf16_to_bytes(text.substr(start, end - start), pos["character"].as_int());
}
inline Value position(std::uint32_t line, std::int64_t character) {
  return Object{{"line", line}, {"character", character}};
}
inline Value range(std::uint32_t line, std::int64_t from, std::int64_t to) {
  return Object{{"start", position(line, from)}, {"end", position(line, to)}};
}

// Applies textDocument/didChange's contentChanges (a change without a range is the whole text).
inline void apply_changes(std::string& text, const Array& changes) {
  for (const Value& c : changes) {
    if (!c.has("range")) {
      text = c["text"].as_string();
      continue;
    }
    const std::size_t from = offset_of(text, c["range"]["start"]);
    const std::size_t to = std::max(from, offset_of(text, c["range"]["end"]));
    text.replace(from, to - from, c["text"].as_string());
  }
}

inline bool is_keyword(std::string_view s) {
  for (std::string_view k :
       {"False", "None",     "True",  "and",    "as",   "assert", "async",  "await",    "break",
        "class", "continue", "def",   "del",    "elif", "else",   "except", "finally",  "for",
        "from",  "global",   "if",    "import", "in",   "is",     "lambda", "nonlocal", "not",
        "or",    "pass",     "raise", "return", "try",  "while",  "with",   "yield"})
    if (s == k) return true;
  return false;
}

inline bool is_name_byte(char ch) {
  const auto c = static_cast<unsigned char>(ch);
  return std::isalnum(c) || c == '_' || c >= 0x80;
}

// ---- what is under the cursor -------------------------------------------------------------

// Call outside queries, inside a ReadScope (these read queries at top level).
struct Target {
  enum Kind { none, plain, attribute } kind = none;
  std::string name;
  std::string module;      // attribute: the module `name` is looked up in
  std::uint32_t line = 0;  // 1-based
  std::uint32_t scope = 0;
  detail::Resolution resolution;
};

// The innermost scope that uses or defines `name` on `line` (1-based), else the module scope.
inline std::uint32_t scope_at(Db& db, File file, const std::string& name, std::uint32_t line) {
  const SemanticIndex& index = semantic_index(db, file);
  std::uint32_t best = 0, best_start = 0;
  for (std::uint32_t i = 0; i < index.scopes.size(); ++i) {
    const std::uint32_t start = index.scopes[i].start_line;
    if (start > line || (i != 0 && start < best_start)) continue;
    const ScopeId scope{file, i};
    const std::uint32_t sym = place_table(db, scope).index_of(name);
    if (sym == kNoScope) continue;
    const UseDefMap& map = use_def_map(db, scope);
    const std::uint32_t rel = line - start;
    const bool here =
        std::any_of(map.uses.begin(), map.uses.end(),
                    [&](const UseSite& u) { return u.symbol == sym && u.line == rel; }) ||
        std::any_of(map.definitions.begin(), map.definitions.end(),
                    [&](const DefinitionSite& d) { return d.symbol == sym && d.line == rel; });
    if (here) {
      best = i;
      best_start = start;
    }
  }
  return best;
}

// The module a name denotes on `line` of `file` (`import m`, `from pkg import sub`), if any.
inline std::optional<std::string> module_named(Db& db, File file, const std::string& name,
                                               std::uint32_t line);
// The module's file (source modules and packages).
inline std::optional<File> module_file(Db& db, const std::string& module);

inline Target target_at(Db& db, File file, const Value& pos) {
  const std::string& text = source_text(db, file);
  const std::size_t at = offset_of(text, pos);
  std::size_t b = at, e = at;
  while (b > 0 && is_name_byte(text[b - 1])) --b;
  while (e < text.size() && is_name_byte(text[e])) ++e;
  Target t;
  if (b == e || std::isdigit(static_cast<unsigned char>(text[b]))) return t;
  t.name = text.substr(b, e - b);
  if (is_keyword(t.name)) return t;
  t.line = static_cast<std::uint32_t>(pos["line"].as_int()) + 1;
  if (b > 0 && text[b - 1] == '.') {  // `a.b.name`: a member, when `a.b` is a module
    std::size_t bb = b - 1;
    while (bb > 0 && (is_name_byte(text[bb - 1]) || text[bb - 1] == '.')) --bb;
    std::vector<std::string> parts;
    for (std::size_t at = bb; at < b - 1;) {
      const std::size_t dot = std::min(text.find('.', at), b - 1);
      parts.push_back(text.substr(at, dot - at));
      at = dot + 1;
    }
    if (parts.empty() || parts[0].empty()) return t;
    auto module = module_named(db, file, parts[0], t.line);
    for (std::size_t k = 1; module && k < parts.size(); ++k) {
      if (resolve_module(db, ModuleName{*module + "." + parts[k]})) {
        *module += "." + parts[k];  // a submodule
        continue;
      }
      const auto f = module_file(db, *module);  // a module bound in it (`os.path`)
      module = f ? module_named(db, *f, parts[k], 0) : std::nullopt;
    }
    if (!module) return t;
    t.kind = Target::attribute;
    t.module = *module;
    return t;
  }
  t.kind = Target::plain;
  t.scope = scope_at(db, file, t.name, t.line);
  t.resolution =
      detail::resolve_name(db, file, t.scope, place_table(db, ScopeId{file, t.scope}), t.name);
  return t;
}

// The module's top-level file, for a member looked up in it.
inline std::optional<File> module_file(Db& db, const std::string& module) {
  const auto m = resolve_module(db, ModuleName{module});
  if (!m || (m->kind != ModuleKind::source && m->kind != ModuleKind::package)) return std::nullopt;
  return m->file;
}

// A binding of a name: the scope it is bound in and the definition chosen there (the last one
// at or above the cursor in the cursor's file, else the first).
struct Binding {
  File file;
  std::uint32_t scope = 0;
  std::string name;
  const DefinitionSite* site = nullptr;  // valid until the next write
  std::uint32_t line = 0;                // 1-based
};

inline std::optional<Binding> binding_in(Db& db, File file, std::uint32_t scope,
                                         const std::string& name, File cursor_file,
                                         std::uint32_t cursor_line) {
  const ScopeId id{file, scope};
  const std::uint32_t sym = place_table(db, id).index_of(name);
  if (sym == kNoScope) return std::nullopt;
  const std::uint32_t start = semantic_index(db, file).scopes.at(scope).start_line;
  Binding b{file, scope, name, nullptr, 0};
  for (const DefinitionSite& d : use_def_map(db, id).definitions) {
    if (d.symbol != sym) continue;
    if (!b.site || (file == cursor_file && d.line + start <= cursor_line)) b.site = &d;
  }
  if (!b.site) return std::nullopt;
  b.line = b.site->line + start;
  return b;
}

// What a `from m import x` binding names: m's module and member.
inline std::optional<std::pair<std::string, std::string>> imported_from(Db& db, File file,
                                                                        const DefinitionKind& k) {
  std::uint32_t level = 0;
  while (level < k.detail.size() && k.detail[level] == '.') ++level;
  const std::string dotted = k.detail.substr(level);
  const auto dot = dotted.rfind('.');
  const std::string module = dot == std::string::npos ? std::string() : dotted.substr(0, dot);
  const auto target = absolute_module(db, file, module, level);
  if (!target) return std::nullopt;
  return std::pair{*target, dot == std::string::npos ? dotted : dotted.substr(dot + 1)};
}

// `from m import x` binds x to m's x: follows such bindings (a few hops: re-exports).
inline Binding follow_imports(Db& db, Binding b) {
  for (int hop = 0; hop < 8; ++hop) {
    const DefinitionKind& k = b.site->definition.get(db, &DefinitionData::kind);
    if (k.kind != DefKind::import_from) break;
    const auto from = imported_from(db, b.file, k);
    if (!from) break;
    const auto f = module_file(db, from->first);
    if (!f) break;
    const auto next = binding_in(db, *f, 0, from->second, File{}, 0);
    if (!next) break;
    b = *next;
  }
  return b;
}

inline std::optional<std::string> module_named(Db& db, File file, const std::string& name,
                                               std::uint32_t line) {
  const std::uint32_t scope = scope_at(db, file, name, line);
  const auto r = detail::resolve_name(db, file, scope, place_table(db, ScopeId{file, scope}), name);
  if (r.kind != detail::Resolution::scope) return std::nullopt;
  auto b = binding_in(db, file, r.at, name, file, line);
  for (int hop = 0; b && hop < 8; ++hop) {
    const DefinitionKind& k = b->site->definition.get(db, &DefinitionData::kind);
    if (k.kind == DefKind::import) {
      if (resolve_module(db, ModuleName{k.detail})) return k.detail;
      // `from .sub import x` in a package binds `sub`: relative to the package.
      const auto rel = absolute_module(db, b->file, k.detail, 1);
      if (rel && resolve_module(db, ModuleName{*rel})) return rel;
      return std::nullopt;
    }
    if (k.kind != DefKind::import_from) return std::nullopt;
    const auto from = imported_from(db, b->file, k);
    if (!from) return std::nullopt;
    const std::string sub = from->first + "." + from->second;
    if (resolve_module(db, ModuleName{sub})) return sub;  // a submodule
    const auto f = module_file(db, from->first);
    if (!f) return std::nullopt;
    b = binding_in(db, *f, 0, from->second, File{}, 0);
  }
  return std::nullopt;
}

// What the name under the cursor is bound to.
inline std::optional<Binding> binding_at(Db& db, File file, const Target& t) {
  std::optional<Binding> b;
  if (t.kind == Target::attribute) {
    if (const auto f = module_file(db, t.module)) b = binding_in(db, *f, 0, t.name, File{}, 0);
  } else if (t.kind == Target::plain && t.resolution.kind == detail::Resolution::scope) {
    b = binding_in(db, file, t.resolution.at, t.name, file, t.line);
  }
  if (b) b = follow_imports(db, *b);
  return b;
}

// The hover text, or nullopt.
inline std::optional<std::string> hover_text(Db& db, File file, const Value& pos) {
  const Target t = target_at(db, file, pos);
  if (t.kind == Target::none) return std::nullopt;
  if (const auto b = binding_at(db, file, t))
    return t.name + ": " + display(db, symbol_type(db, ScopeId{b->file, b->scope}, b->name));
  if (t.kind == Target::attribute) return std::nullopt;
  switch (t.resolution.kind) {
    case detail::Resolution::builtin:
      return t.name + ": builtin";
    case detail::Resolution::unresolved:
      return t.name + ": unresolved";
    default:
      return t.name + ": Unknown";
  }
}

struct Place {
  File file;
  std::uint32_t line = 0;  // 1-based
  std::string name;        // to find the column
};

// Where the name under the cursor is bound; on an `import m` line itself, m's file.
inline std::optional<Place> definition_of(Db& db, File file, const Value& pos) {
  const Target t = target_at(db, file, pos);
  const auto b = binding_at(db, file, t);
  if (!b) return std::nullopt;
  if (b->file == file && b->line == t.line) {
    const DefinitionKind& k = b->site->definition.get(db, &DefinitionData::kind);
    if (k.kind == DefKind::import && !k.detail.empty())
      if (const auto f = module_file(db, k.detail)) return Place{*f, 1, {}};
  }
  return Place{b->file, b->line, b->name};
}

// ---- the server ----------------------------------------------------------------------------

// A document's version: an input set in the same write as its text, so that a check reads the
// version that goes with the text it checked.
struct DocVersionData {
  std::int64_t version = 0;
};
using DocVersion = relish::Input<DocVersionData>;

struct ServeOptions {
  std::string root;            // --root: used when initialize names no root
  WorkspaceOptions workspace;  // --stdlib, --site-packages
  unsigned threads = std::max(2u, std::thread::hardware_concurrency());
  bool verbose = false;
};

class Server {
 public:
  explicit Server(ServeOptions opt) : opt_(std::move(opt)) {}
  ~Server() { stop_pool(); }

  int run() {
    start_pool();  // created once, for the whole session
    std::string body;
    while (read_message(body)) {
      Value msg;
      try {
        msg = json::parse(body);
      } catch (const json::ParseError& e) {
        log("bad message: %s", e.what());
        send(Object{{"jsonrpc", "2.0"},
                    {"id", nullptr},
                    {"error", Object{{"code", -32700}, {"message", e.what()}}}});
        continue;
      }
      if (!handle(msg)) break;
    }
    stop_pool();
    return exit_code_;
  }

 private:
  struct Doc {
    File file;
    DocVersion version;
    std::string text;  // the message thread's copy, to apply incremental changes to
    bool open = false;
  };

  // ---- transport ----

  bool read_message(std::string& body) {
    std::size_t length = 0;
    bool have_length = false;
    for (;;) {  // headers, up to an empty line
      std::string line;
      for (;;) {
        const int c = get();
        if (c < 0) return false;
        if (c == '\n') break;
        if (c != '\r') line += static_cast<char>(c);
      }
      if (line.empty()) {
        if (have_length) break;
        continue;
      }
      const std::string key = "content-length:";
      std::string lower = line.substr(0, std::min(line.size(), key.size()));
      std::transform(lower.begin(), lower.end(), lower.begin(),
                     [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
      if (lower == key) {
        length = std::strtoull(line.c_str() + key.size(), nullptr, 10);
        have_length = true;
      }
    }
    body.resize(length);
    for (std::size_t i = 0; i < length; ++i) {
      const int c = get();
      if (c < 0) return false;
      body[i] = static_cast<char>(c);
    }
    return true;
  }
  int get() {
    if (in_at_ == in_len_) {
      ssize_t n;
      do {
        n = ::read(STDIN_FILENO, in_buf_, sizeof in_buf_);
      } while (n < 0 && errno == EINTR);
      if (n <= 0) return -1;
      in_at_ = 0;
      in_len_ = static_cast<std::size_t>(n);
    }
    return static_cast<unsigned char>(in_buf_[in_at_++]);
  }
  void send(const Value& msg) {
    const std::string body = msg.dump();
    const std::string header = "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
    std::lock_guard lock(out_mu_);
    std::fwrite(header.data(), 1, header.size(), stdout);
    std::fwrite(body.data(), 1, body.size(), stdout);
    std::fflush(stdout);
  }
  void respond(const Value& id, Value result) {
    send(Object{{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(result)}});
  }
  void respond_error(const Value& id, int code, const std::string& message) {
    send(Object{
        {"jsonrpc", "2.0"}, {"id", id}, {"error", Object{{"code", code}, {"message", message}}}});
  }
  void notify(const char* method, Value params) {
    send(Object{{"jsonrpc", "2.0"}, {"method", method}, {"params", std::move(params)}});
  }
  template <class... Args>
  void log(const char* fmt, Args... args) {
    if (!opt_.verbose) return;
    std::lock_guard lock(out_mu_);
    std::fprintf(stderr, "pyscope serve: ");
    if constexpr (sizeof...(Args) == 0) {
      std::fputs(fmt, stderr);
    } else {
      std::fprintf(stderr, fmt, args...);
    }
    std::fputc('\n', stderr);
  }

  // ---- dispatch (the message thread) ----

  // Returns false at `exit`.
  bool handle(const Value& msg) {
    const std::string& method = msg["method"].as_string();
    const Value& id = msg["id"];
    const Value& params = msg["params"];
    const bool request = msg.has("id");
    if (method.empty()) return true;  // a response to something we never send
    if (method == "initialize") {
      initialize(params);
      respond(id, Object{{"capabilities", capabilities()},
                         {"serverInfo", Object{{"name", "pyscope"}, {"version", "0.1"}}}});
    } else if (method == "initialized") {
    } else if (method == "shutdown") {
      stop_pool();
      shutdown_ = true;
      respond(id, nullptr);
    } else if (method == "exit") {
      exit_code_ = shutdown_ ? 0 : 1;
      return false;
    } else if (!db_) {
      if (request) respond_error(id, -32002, "not initialized");
    } else if (shutdown_) {
      if (request) respond_error(id, -32600, "shut down");
    } else if (method == "textDocument/didOpen") {
      const Value& td = params["textDocument"];
      open(td["uri"].as_string(), td["text"].as_string(), td["version"].as_int());
    } else if (method == "textDocument/didChange") {
      change(params["textDocument"]["uri"].as_string(), params["contentChanges"].as_array(),
             params["textDocument"]["version"].as_int());
    } else if (method == "textDocument/didClose") {
      close(params["textDocument"]["uri"].as_string());
    } else if (method == "textDocument/didSave") {
      saved(path_of_uri(params["textDocument"]["uri"].as_string()));
    } else if (method == "workspace/didChangeWatchedFiles") {
      for (const Value& c : params["changes"].as_array()) saved(path_of_uri(c["uri"].as_string()));
    } else if (method == "textDocument/hover" || method == "textDocument/definition") {
      submit_request(method, id, params);
    } else if (method == "$/cancelRequest") {
      // Only requests not answered yet: one not started answers RequestCancelled when it
      // would start, one running is cancelled through its token (its worker's queries throw).
      std::lock_guard lock(mu_);
      if (auto it = in_flight_.find(params["id"].dump()); it != in_flight_.end()) {
        it->second.cancelled = true;
        it->second.token.cancel();
      }
    } else if (method == "pyscope/stats") {
      respond(id, Object{{"checks", checks_.load()},
                         {"cancelled", cancelled_.load()},
                         {"requests_cancelled", requests_cancelled_.load()},
                         {"requests_cancelled_running", requests_cancelled_running_.load()},
                         {"published", published_.load()},
                         {"writes", writes_},
                         {"idle", idle()}});
    } else if (request) {
      respond_error(id, -32601, "method not found: " + method);
    }
    return true;
  }

  static Value capabilities() {
    return Object{
        {"positionEncoding", "utf-16"},
        {"textDocumentSync", Object{{"openClose", true},
                                    {"change", 2},  // incremental (full changes work too)
                                    {"save", Object{{"includeText", false}}}}},
        {"hoverProvider", true},
        {"definitionProvider", true},
    };
  }

  // The workspace: loaded once, from the root the client names.
  void initialize(const Value& params) {
    if (db_) return;
    std::string root;
    if (params["rootUri"].is_string()) {
      root = path_of_uri(params["rootUri"].as_string());
    } else if (!params["workspaceFolders"].as_array().empty()) {
      root = path_of_uri(params["workspaceFolders"].as_array()[0]["uri"].as_string());
    } else if (params["rootPath"].is_string()) {
      root = params["rootPath"].as_string();
    }
    if (root.empty()) root = opt_.root;
    if (root.empty()) root = std::filesystem::current_path().string();
    const SearchPaths search = opt_.workspace.search_paths(root);
    const auto t0 = std::chrono::steady_clock::now();
    db_ = std::make_unique<Db>();
    const WorkspaceSummary loaded = load_workspace(*db_, search);
    for (const File f : db_->files) by_path_[db_->path(f)] = f;
    log("workspace %s: %zu files (%zu analyzed) loaded in %.0f ms", search.project.c_str(),
        db_->files.size(), loaded.analyzed,
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    for (const RootSummary& r : loaded.roots)
      log("  %s root %s: %zu files%s", to_string(r.kind), r.path.c_str(), r.files,
          r.analyzed ? ", analyzed" : "");
  }

  // The File of a path: the workspace's, or a new one (a file the scan did not see).
  File file_of(const std::string& path) {
    if (auto it = by_path_.find(path); it != by_path_.end()) return it->second;
    const File f = add_file(*db_, path);
    by_path_[path] = f;
    return f;
  }

  void open(const std::string& uri, std::string text, std::int64_t version) {
    const File f = file_of(path_of_uri(uri));
    std::unique_lock lock(mu_);
    auto it = docs_.find(uri);
    if (it == docs_.end()) {
      lock.unlock();
      const DocVersion v = DocVersion::create(*db_, {version});  // a write: outside mu_
      lock.lock();
      it = docs_.emplace(uri, Doc{f, v, {}, false}).first;
    }
    Doc& doc = it->second;
    doc.open = true;
    doc.text = std::move(text);
    lock.unlock();
    write(doc, version);
  }

  void change(const std::string& uri, const Array& changes, std::int64_t version) {
    std::unique_lock lock(mu_);
    auto it = docs_.find(uri);
    if (it == docs_.end() || !it->second.open) return;
    Doc& doc = it->second;  // docs_ entries are never erased: the reference stays
    lock.unlock();
    apply_changes(doc.text, changes);  // only this thread touches doc.text
    write(doc, version);
  }

  // Sets the text and version in one revision (cancelling the checks in flight), then queues
  // every open document for a check.
  void write(Doc& doc, std::int64_t version) {
    db_->write([&] {
      set_text(*db_, doc.file, doc.text);
      doc.version.set(*db_, &DocVersionData::version, version);
    });
    ++writes_;
    schedule_open_documents();
  }

  void close(const std::string& uri) {
    std::unique_lock lock(mu_);
    auto it = docs_.find(uri);
    if (it == docs_.end() || !it->second.open) return;
    it->second.open = false;
    const File f = it->second.file;
    lock.unlock();
    // Back to the file on disk; the document's diagnostics are withdrawn.
    f.set(*db_, &FileData::text, std::optional<std::string>());
    ++writes_;
    notify("textDocument/publishDiagnostics", Object{{"uri", uri}, {"diagnostics", Array{}}});
    schedule_open_documents();
  }

  // The file changed on disk (saved, or a watched-files event): re-read when no document
  // overrides it.
  void saved(const std::string& path) {
    if (!path.ends_with(".py")) return;
    const File f = file_of(path);
    f.set(*db_, &FileData::revision, f.get(*db_, &FileData::revision) + 1);
    ++writes_;
    schedule_open_documents();
  }

  // ---- the pool ----

  struct Task {
    std::string check_uri;  // a check of this document, or a request (given its worker's token):
    std::function<void(const relish::CancellationToken&)> run;
  };

  void start_pool() {
    if (!pool_.empty()) return;
    for (unsigned i = 0; i < opt_.threads; ++i) pool_.emplace_back([this] { worker(); });
  }
  void stop_pool() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : pool_) t.join();
    pool_.clear();
  }

  void schedule_open_documents() {
    {
      std::lock_guard lock(mu_);
      for (auto& [uri, doc] : docs_)
        if (doc.open && pending_checks_.insert(uri).second) queue_.push_back(Task{uri, {}});
    }
    cv_.notify_all();
  }
  void schedule_check(const std::string& uri) {
    {
      std::lock_guard lock(mu_);
      if (!pending_checks_.insert(uri).second) return;
      queue_.push_back(Task{uri, {}});
    }
    cv_.notify_one();
  }

  // Nothing queued or running: every write so far is checked and published.
  bool idle() {
    std::lock_guard lock(mu_);
    return queue_.empty() && running_ == 0;
  }

  void worker() {
    for (;;) {
      Task task;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (stopping_) return;
        task = std::move(queue_.front());
        queue_.pop_front();
        if (!task.check_uri.empty()) pending_checks_.erase(task.check_uri);
        ++running_;
      }
      // A fresh token for every task: a token stays cancelled until its thread takes another,
      // and a cancelled request must not cancel what this thread runs next.
      const relish::CancellationToken token = db_->cancellation_token();
      if (task.run) {
        task.run(token);
      } else {
        check(task.check_uri);  // a cancelled check is queued again before it returns
      }
      std::lock_guard lock(mu_);
      --running_;
    }
  }

  // One check of an open document, in the current revision. A write meanwhile cancels it
  // (relish::Cancelled, caught here, outside every query); the write queues it again.
  void check(const std::string& uri) {
    File file;
    DocVersion version;
    {
      std::lock_guard lock(mu_);
      auto it = docs_.find(uri);
      if (it == docs_.end() || !it->second.open) return;
      file = it->second.file;
      version = it->second.version;
    }
    checks_.fetch_add(1, std::memory_order_relaxed);
    try {
      relish::ReadScope read(*db_);  // the revision stays until we have published
      const std::vector<Diagnostic>& diagnostics = file_diagnostics(*db_, file);
      const std::string& text = source_text(*db_, file);
      Array out;
      for (const Diagnostic& d : diagnostics) {
        const std::uint32_t line = d.line == 0 ? 0 : d.line - 1;
        const std::string_view lt = line_text(text, line);
        const std::size_t first = std::min(lt.size(), lt.find_first_not_of(" \t"));
        out.push_back(
            Object{{"range", range(line, bytes_to_utf16(lt, first), bytes_to_utf16(lt, lt.size()))},
                   {"severity", d.code == "syntax-error" ? 1 : 2},
                   {"code", d.code},
                   {"source", "pyscope"},
                   {"message", d.message}});
      }
      {
        std::lock_guard lock(mu_);
        if (!docs_.at(uri).open) return;  // closed meanwhile: its diagnostics were withdrawn
      }
      notify("textDocument/publishDiagnostics",
             Object{{"uri", uri},
                    {"version", version.get(*db_, &DocVersionData::version)},
                    {"diagnostics", std::move(out)}});
      published_.fetch_add(1, std::memory_order_relaxed);
    } catch (const relish::Cancelled&) {
      const auto n = cancelled_.fetch_add(1, std::memory_order_relaxed) + 1;
      log("check of %s cancelled by an edit (%llu so far)", uri.c_str(),
          static_cast<unsigned long long>(n));
      schedule_check(uri);  // waits for the write, then checks the new revision
    } catch (const std::exception& e) {
      log("check of %s failed: %s", uri.c_str(), e.what());
    }
  }

  // hover / definition on the pool. Two cancellations, told apart by Cancelled::reason(): a
  // write (pending_write) and the request is asked again in the new revision; $/cancelRequest
  // (token: the worker's token, registered in in_flight_ while it runs) and it answers
  // RequestCancelled, as it does when the cancel came before it started.
  void submit_request(const std::string& method, const Value& id, const Value& params) {
    const std::string uri = params["textDocument"]["uri"].as_string();
    File file;
    {
      std::lock_guard lock(mu_);
      auto it = docs_.find(uri);
      if (it != docs_.end()) file = it->second.file;
    }
    if (file == File{}) file = file_of(path_of_uri(uri));
    Task task;
    task.run = [this, method, id, params, file](const relish::CancellationToken& token) {
      struct Done {  // answered: forget the id
        Server& s;
        std::string id;
        ~Done() {
          std::lock_guard lock(s.mu_);
          s.in_flight_.erase(id);
        }
      } done{*this, id.dump()};
      for (;;) {
        {
          std::lock_guard lock(mu_);
          Request& r = in_flight_.at(done.id);
          if (r.cancelled) {  // before it started (or between two attempts)
            requests_cancelled_.fetch_add(1, std::memory_order_relaxed);
            respond_error(id, -32800, "request cancelled");
            return;
          }
          r.token = token;  // from now on $/cancelRequest cancels its queries
        }
        try {
          relish::ReadScope read(*db_);
          const Value& pos = params["position"];
          if (method == "textDocument/hover") {
            const auto text = hover_text(*db_, file, pos);
            if (!text) {
              respond(id, nullptr);
            } else {
              respond(id, Object{{"contents", Object{{"kind", "markdown"},
                                                     {"value", "```python\n" + *text + "\n```"}}}});
            }
          } else {
            const auto place = definition_of(*db_, file, pos);
            if (!place) {
              respond(id, nullptr);
            } else {
              const std::string& text = source_text(*db_, place->file);
              const std::string_view lt = line_text(text, place->line - 1);
              std::size_t col = 0;
              if (!place->name.empty()) {
                for (std::size_t at = lt.find(place->name); at != std::string_view::npos;
                     at = lt.find(place->name, at + 1)) {
                  const std::size_t end = at + place->name.size();
                  if ((at == 0 || !is_name_byte(lt[at - 1])) &&
                      (end == lt.size() || !is_name_byte(lt[end]))) {
                    col = at;
                    break;
                  }
                }
              }
              const std::int64_t from = bytes_to_utf16(lt, col);
              respond(id, Object{{"uri", uri_of_path(db_->path(place->file))},
                                 {"range", range(place->line - 1, from,
                                                 from + bytes_to_utf16(lt.substr(col),
                                                                       place->name.size()))}});
            }
          }
          return;
        } catch (const relish::Cancelled& c) {
          if (c.reason() == relish::Cancelled::Reason::token) {  // $/cancelRequest: no retry
            requests_cancelled_.fetch_add(1, std::memory_order_relaxed);
            const auto n = requests_cancelled_running_.fetch_add(1, std::memory_order_relaxed) + 1;
            log("%s %s cancelled while running (%llu so far)", method.c_str(), done.id.c_str(),
                static_cast<unsigned long long>(n));
            respond_error(id, -32800, "request cancelled");
            return;
          }
          // A pending write (Reason::pending_write): ask again in the new revision.
          cancelled_.fetch_add(1, std::memory_order_relaxed);
        } catch (const std::exception& e) {
          respond_error(id, -32603, e.what());
          return;
        }
      }
    };
    {
      std::lock_guard lock(mu_);
      in_flight_[id.dump()] = Request{};
      queue_.push_back(std::move(task));
    }
    cv_.notify_one();
  }

  ServeOptions opt_;
  std::unique_ptr<Db> db_;
  // Message thread only.
  std::unordered_map<std::string, File> by_path_;
  std::uint64_t writes_ = 0;
  bool shutdown_ = false;
  int exit_code_ = 1;
  char in_buf_[1 << 16];
  std::size_t in_at_ = 0, in_len_ = 0;
  // Guarded by mu_.
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Doc> docs_;
  std::deque<Task> queue_;
  std::set<std::string> pending_checks_;
  struct Request {
    bool cancelled = false;           // $/cancelRequest came
    relish::CancellationToken token;  // its worker's, once it runs (before: cancels nothing)
  };
  std::map<std::string, Request> in_flight_;  // requests not answered yet, by id
  bool stopping_ = false;
  unsigned running_ = 0;  // tasks being run
  std::vector<std::thread> pool_;
  std::mutex out_mu_;
  std::atomic<std::uint64_t> checks_{0}, cancelled_{0}, published_{0};
  // Requests answered RequestCancelled; those whose queries were running (token cancellation).
  std::atomic<std::uint64_t> requests_cancelled_{0}, requests_cancelled_running_{0};
};

// `pyscope serve ...` (argv[0] is "serve").
inline int serve_command(int argc, char** argv) {
  ServeOptions opt;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--root" && i + 1 < argc) {
      opt.root = argv[++i];
    } else if (a == "--threads" && i + 1 < argc) {
      opt.threads = static_cast<unsigned>(std::max(1, std::atoi(argv[++i])));
    } else if (opt.workspace.parse(argc, argv, i)) {
    } else if (a == "--verbose") {
      opt.verbose = true;
    } else if (a == "--stdio") {
      // what VS Code's clients pass; stdio is the only transport
    } else {
      std::fprintf(stderr,
                   "usage: pyscope serve [--root DIR] [--threads N] [--stdlib DIR] "
                   "[--site-packages] [--verbose]\n");
      return 64;
    }
  }
  Server server(std::move(opt));
  return server.run();
}

}  // namespace pyscope::lsp

// pyscope: scope analysis of a Python tree, kept up to date incrementally under edits.
//
//   pyscope [DIR] [--threads N] [--edits N] [--seed S] [--script FILE] [--check]
//           [--memory-report] [--clear-asts] [--no-lru] [--dot QUERY PATH] [--trace FILE]
//           [--show PATH] [--list] [--no-events] [--top K] [--site-packages]
//   pyscope serve [--root DIR] [--threads N]    a language server over stdio (lsp_server.hpp)
//   pyscope diagnose DIR [FILE...]              diagnostics, one per line (diagnose.hpp)
//
// DIR defaults to /usr/lib/python3.11 (or another /usr/lib/python3.* found). Its *.py files
// are analyzed; imports resolve against DIR, then the standard library (whose files are
// loaded too, with high durability, when DIR is elsewhere), builtin and extension modules.
// See pyscope.hpp for the queries.
//
// The cold pass runs file_diagnostics for every file on N threads (default: all cores)
// sharing one database, with a progress bar on stderr when it is a terminal.
//
// Edits (one revision each) come from --script FILE, then --edits N random ones (--seed S):
//   body PATH [FUNCTION [pass|local|undefined]]   append a line to a function's body
//   import PATH MODULE                            append `import MODULE`
//   rename PATH NEWNAME                           rename a module (sets the File's path)
// PATH is relative to DIR; NEWNAME too if it contains '/', else it names a sibling. After each
// edit every file's diagnostics are brought up to date; the time, the queries executed /
// validated / backdated and the diagnostics that changed are printed. --check compares all
// diagnostics with a from-scratch run in a fresh database after every edit (exit 2 if they
// differ).
//
// Tools: --memory-report prints relish's per-ingredient report next to mimalloc's numbers;
// --clear-asts clears every reclaimable AST after the cold pass, shows the memory fall, and
// re-parses a few on demand; --no-lru sets parsed_module's LRU to 0 (unbounded) at run time;
// --dot QUERY PATH writes the dependency graph of one memo as Graphviz (relish::write_dot;
// QUERY: diagnostics, semantic_index, parsed_module, source_text); --trace FILE writes a
// Chrome trace (chrome://tracing, Perfetto; relish::TraceWriter) of every query execution and
// deep verification; --show PATH prints a file's scopes,
// symbols and inferred types; --list prints every diagnostic after the cold pass; --no-events
// installs no event observer (times without its cost; counts are then not shown);
// --site-packages analyzes site-packages and dist-packages under DIR too (skipped by default).
#include <mimalloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "diagnose.hpp"
#include "lsp_server.hpp"
#include "pyscope.hpp"
#include "relish/dot.hpp"
#include "relish/trace.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using pyscope::Diagnostic;
using pyscope::File;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// ---- options ---------------------------------------------------------------------------------

struct Options {
  std::string dir;
  unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  int random_edits = 0;
  std::uint64_t seed = 1;
  std::string script;
  bool check = false;
  bool memory_report = false;
  bool clear_asts = false;
  bool no_lru = false;
  std::string dot_query, dot_path;
  std::string trace;
  std::string show;
  bool list = false;
  bool events = true;
  bool site_packages = false;
  std::size_t top = 10;
};

[[noreturn]] void usage(const std::string& msg) {
  std::fprintf(stderr,
               "pyscope: %s\nusage: pyscope [DIR] [--threads N] [--edits N] [--seed S] "
               "[--script FILE] [--check]\n               [--memory-report] [--clear-asts] "
               "[--no-lru] [--dot QUERY PATH] [--trace FILE] [--show PATH] [--list] [--no-events] "
               "[--top K] [--site-packages]\n",
               msg.c_str());
  std::exit(64);
}

Options parse_args(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage("missing value after " + a);
      return argv[++i];
    };
    if (a == "--threads") {
      o.threads = static_cast<unsigned>(std::max(1, std::atoi(value().c_str())));
    } else if (a == "--edits") {
      o.random_edits = std::atoi(value().c_str());
    } else if (a == "--seed") {
      o.seed = std::strtoull(value().c_str(), nullptr, 10);
    } else if (a == "--script") {
      o.script = value();
    } else if (a == "--check") {
      o.check = true;
    } else if (a == "--memory-report") {
      o.memory_report = true;
    } else if (a == "--clear-asts") {
      o.clear_asts = true;
    } else if (a == "--no-lru") {
      o.no_lru = true;
    } else if (a == "--dot") {
      o.dot_query = value();
      o.dot_path = value();
    } else if (a == "--trace") {
      o.trace = value();
    } else if (a == "--show") {
      o.show = value();
    } else if (a == "--list") {
      o.list = true;
    } else if (a == "--site-packages") {
      o.site_packages = true;
    } else if (a == "--no-events") {
      o.events = false;
    } else if (a == "--top") {
      o.top = static_cast<std::size_t>(std::atoi(value().c_str()));
    } else if (a == "-h" || a == "--help") {
      usage("help");
    } else if (!a.empty() && a[0] == '-') {
      usage("unknown option " + a);
    } else if (o.dir.empty()) {
      o.dir = a;
    } else {
      usage("more than one DIR");
    }
  }
  return o;
}

bool is_dir(const std::string& p) {
  std::error_code ec;
  return std::filesystem::is_directory(p, ec);
}

// /usr/lib/python3.11, else the newest /usr/lib/python3.N.
std::string find_stdlib() {
  if (is_dir("/usr/lib/python3.11")) return "/usr/lib/python3.11";
  std::string best;
  int best_minor = -1;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/usr/lib", ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("python3.", 0) != 0 || !is_dir(e.path().string())) continue;
    const int minor = std::atoi(name.c_str() + 8);
    if (minor > best_minor) {
      best_minor = minor;
      best = e.path().string();
    }
  }
  return best;
}

std::vector<std::string> extension_modules(const std::string& stdlib) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(stdlib + "/lib-dynload", ec)) {
    const std::string name = e.path().filename().string();
    if (name.size() > 3 && name.ends_with(".so")) out.push_back(name.substr(0, name.find('.')));
  }
  std::sort(out.begin(), out.end());
  return out;
}

// User + system time of the process (wall times suffer on a loaded machine).
double cpu_ms() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return (static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec)) * 1e3 +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

// ---- memory ---------------------------------------------------------------------------------

struct Memory {
  std::size_t rss = 0, peak_rss = 0, commit = 0, peak_commit = 0;
};
Memory memory_now() {
  Memory m;
  std::size_t elapsed, user, sys, rss, peak_rss, faults;
  mi_process_info(&elapsed, &user, &sys, &rss, &peak_rss, &m.commit, &m.peak_commit, &faults);
  long pages = 0, resident = 0;
  if (std::FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  m.rss = static_cast<std::size_t>(resident) * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  m.peak_rss = static_cast<std::size_t>(ru.ru_maxrss) * 1024;
  return m;
}
std::string mb(std::size_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(bytes) / 1e6);
  return buf;
}
void print_memory(const char* when) {
  mi_collect(true);  // return freed pages, so "committed" is what is live
  const Memory m = memory_now();
  std::printf("memory %s: RSS %s (peak %s), mimalloc committed %s (peak %s)\n", when,
              mb(m.rss).c_str(), mb(m.peak_rss).c_str(), mb(m.commit).c_str(),
              mb(m.peak_commit).c_str());
}

// "parsed_module(File#3)" -> "parsed_module(json/decoder.py)".
class Labeler {
 public:
  Labeler(pyscope::Db& db, std::string dir) : db_(db), dir_(std::move(dir)) {}
  std::string rel(const std::string& path) const {
    if (path.size() > dir_.size() && path.compare(0, dir_.size(), dir_) == 0 &&
        path[dir_.size()] == '/')
      return path.substr(dir_.size() + 1);
    return path;
  }
  std::string operator()(relish::DatabaseKey key) const {
    std::string s = db_.describe(key);
    static const std::string kFile = "File#";
    for (std::size_t at = 0; (at = s.find(kFile, at)) != std::string::npos;) {
      std::size_t end = at + kFile.size();
      while (end < s.size() && std::isdigit(static_cast<unsigned char>(s[end]))) ++end;
      const std::uint32_t index =
          static_cast<std::uint32_t>(std::atoi(s.c_str() + at + kFile.size()));
      std::string path = index < db_.files.size() ? rel(db_.path(db_.files[index])) : "?";
      if (end < s.size() && s[end] == '.') {  // an input field: "json/decoder.py:text"
        path += ':';
        ++end;
      }
      s.replace(at, end - at, path);
      at += path.size();
    }
    return s;
  }

 private:
  pyscope::Db& db_;
  std::string dir_;
};

std::string counts_line(const pyscope::EventCounter& c, const relish::Database& db) {
  if (!c.attached) return "(events not counted)";
  const auto t = c.total(db);
  std::string out = "executed " + std::to_string(t.executed) + ", validated " +
                    std::to_string(t.validated) + ", backdated " + std::to_string(t.backdated);
  std::string detail;
  for (const auto& [name, k] : c.by_query(db)) {
    if (!k.executed) continue;
    detail += (detail.empty() ? "" : ", ") + name + " " + std::to_string(k.executed);
    if (k.backdated) detail += " (" + std::to_string(k.backdated) + " backdated)";
  }
  return detail.empty() ? out : out + "\n    ran: " + detail;
}

// ---- edits ----------------------------------------------------------------------------------

enum class EditKind { body, import, rename };
struct Edit {
  EditKind kind = EditKind::body;
  std::string path;     // absolute
  std::string arg;      // function / module / new path
  std::string variant;  // body: pass | local | undefined
};
const char* to_string(EditKind k) {
  switch (k) {
    case EditKind::body:
      return "body";
    case EditKind::import:
      return "import";
    case EditKind::rename:
      return "rename";
  }
  return "?";
}

std::vector<Edit> read_script(const std::string& file, const std::string& dir) {
  std::ifstream in(file);
  if (!in) usage("cannot read script " + file);
  std::vector<Edit> out;
  std::string line;
  int no = 0;
  while (std::getline(in, line)) {
    ++no;
    const auto first = line.find_first_not_of(" \t");
    if (first == std::string::npos || line[first] == '#') continue;
    std::istringstream ls(line);
    std::string verb, path;
    Edit e;
    ls >> verb >> path >> e.arg >> e.variant;
    const std::string where = file + ":" + std::to_string(no) + ": ";
    if (verb == "body") {
      e.kind = EditKind::body;
    } else if (verb == "import") {
      e.kind = EditKind::import;
    } else if (verb == "rename") {
      e.kind = EditKind::rename;
    } else {
      usage(where + "unknown edit '" + verb + "'");
    }
    if (path.empty()) usage(where + "missing PATH");
    if (e.kind != EditKind::body && e.arg.empty()) usage(where + verb + " needs a second argument");
    e.path = dir + "/" + path;
    out.push_back(std::move(e));
  }
  return out;
}

// Applies an edit; returns a description, or nullopt if it does not apply.
std::optional<std::string> apply(pyscope::Db& db, const Edit& e, int n, std::mt19937_64& rng) {
  const auto file = pyscope::find_file(db, e.path);
  if (!file) return std::nullopt;
  switch (e.kind) {
    case EditKind::body: {
      const auto sites = pyscope::function_sites(db, *file);
      if (sites.empty()) return std::nullopt;
      const pyscope::FunctionSite* site = nullptr;
      if (e.arg.empty()) {
        site = &sites[std::uniform_int_distribution<std::size_t>(0, sites.size() - 1)(rng)];
      } else {
        for (const auto& s : sites)
          if (s.name == e.arg && !site) site = &s;
        if (!site) return std::nullopt;
      }
      pyscope::BodyEdit kind = static_cast<pyscope::BodyEdit>(n % 3);
      if (e.variant == "pass") kind = pyscope::BodyEdit::pass;
      if (e.variant == "local") kind = pyscope::BodyEdit::local;
      if (e.variant == "undefined") kind = pyscope::BodyEdit::undefined;
      return pyscope::edit_body(db, *file, *site, kind, n);
    }
    case EditKind::import:
      return pyscope::add_import(db, *file, e.arg);
    case EditKind::rename: {
      std::string to = e.arg;
      if (to.find('/') == std::string::npos) {
        to = e.path.substr(0, e.path.rfind('/') + 1) + to;
      } else {
        to = db.roots[0] + "/" + to;
      }
      if (!to.ends_with(".py")) to += ".py";
      if (pyscope::find_file(db, to)) return std::nullopt;
      return pyscope::rename_file(db, *file, to);
    }
  }
  return std::nullopt;
}

// A random edit: body, import, rename in turn, in a random analyzed file. Body edits cycle
// through pass, local and undefined.
Edit random_edit(pyscope::Db& db, std::mt19937_64& rng, int i) {
  const auto& files = db.analyzed;
  auto pick = [&] {
    return files[std::uniform_int_distribution<std::size_t>(0, files.size() - 1)(rng)];
  };
  Edit e;
  e.kind = static_cast<EditKind>(i % 3);
  File f = pick();
  if (e.kind == EditKind::body) {
    for (int tries = 0; tries < 100 && pyscope::function_sites(db, f).empty(); ++tries) f = pick();
  }
  e.path = db.path(f);
  if (e.kind == EditKind::body) {
    static const char* const kVariants[] = {"pass", "local", "undefined"};
    e.variant = kVariants[(i / 3) % 3];
  } else if (e.kind == EditKind::import) {
    // Half the time a module that exists (another analyzed file), half a missing one.
    const pyscope::ModuleInfo other = pyscope::module_info_of(db.roots, db.path(pick()));
    e.arg = (i / 3) % 2 == 0 && !other.name.empty() ? other.name
                                                    : "pyscope_missing_" + std::to_string(i);
  } else if (e.kind == EditKind::rename) {
    std::string stem = e.path.substr(e.path.rfind('/') + 1);
    stem = stem.substr(0, stem.size() - 3);
    e.arg = stem + "_renamed" + std::to_string(i);
  }
  return e;
}

// ---- diagnostics output ---------------------------------------------------------------------

using AllDiagnostics = std::vector<std::vector<Diagnostic>>;

std::string format(const std::string& path, const Diagnostic& d) {
  return path + ":" + std::to_string(d.line) + ": [" + d.code + "] " + d.message;
}

// "+ a.py:3: [...]" / "- ..." lines for the diagnostics that differ.
std::vector<std::string> changes(pyscope::Db& db, const Labeler& label,
                                 const AllDiagnostics& before, const AllDiagnostics& after) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < after.size(); ++i) {
    if (before[i] == after[i]) continue;
    const std::string path = label.rel(db.path(db.analyzed[i]));
    std::multiset<std::tuple<std::uint32_t, std::string, std::string>> a, b;
    for (const auto& d : before[i]) a.insert({d.line, d.code, d.message});
    for (const auto& d : after[i]) b.insert({d.line, d.code, d.message});
    for (const auto& d : before[i])
      if (auto it = b.find({d.line, d.code, d.message}); it != b.end()) {
        b.erase(it);
      } else {
        out.push_back("- " + format(path, d));
      }
    for (const auto& [line, code, msg] : b)
      out.push_back("+ " + format(path, Diagnostic{line, code, msg}));
  }
  return out;
}

// ---- --show and --dot ----------------------------------------------------------------------

void show_file(pyscope::Db& db, File f, const Labeler& label) {
  const pyscope::SemanticIndex& index = pyscope::semantic_index(db, f);
  std::printf("\n== %s: %zu scopes ==\n", label.rel(db.path(f)).c_str(), index.scopes.size());
  for (std::uint32_t i = 0; i < index.scopes.size(); ++i) {
    const auto& s = index.scopes[i];
    const pyscope::ScopeId scope{f, i};
    const pyscope::PlaceTable& table = pyscope::place_table(db, scope);
    std::printf(
        "scope %u %s %s (line %u)%s\n", i, pyscope::to_string(s.kind),
        s.name.empty() ? "<module>" : s.name.c_str(), s.start_line == 0 ? 1 : s.start_line,
        s.parent == pyscope::kNoScope ? "" : (", in scope " + std::to_string(s.parent)).c_str());
    for (const auto& sym : table.symbols) {
      if (!(sym.flags & pyscope::kBound)) continue;
      const std::string type = pyscope::display(db, pyscope::symbol_type(db, scope, sym.name));
      std::printf("    %-28s %s%s\n", sym.name.c_str(), type.c_str(),
                  (sym.flags & pyscope::kParameter) ? "  (parameter)" : "");
    }
  }
}

int write_dot(pyscope::Db& db, const Options& opt, const Labeler& label) {
  const auto f = pyscope::find_file(db, opt.dir + "/" + opt.dot_path);
  if (!f) {
    std::fprintf(stderr, "--dot: no file %s\n", opt.dot_path.c_str());
    return 1;
  }
  relish::DatabaseKey root;
  if (opt.dot_query == "diagnostics" || opt.dot_query == "file_diagnostics") {
    pyscope::file_diagnostics(db, *f);
    root = pyscope::file_diagnostics.key(db, *f);
  } else if (opt.dot_query == "semantic_index") {
    pyscope::semantic_index(db, *f);
    root = pyscope::semantic_index.key(db, *f);
  } else if (opt.dot_query == "parsed_module") {
    pyscope::parsed_module(db, *f);
    root = pyscope::parsed_module.key(db, *f);
  } else if (opt.dot_query == "source_text") {
    pyscope::source_text(db, *f);
    root = pyscope::source_text.key(db, *f);
  } else {
    std::fprintf(stderr, "--dot: unknown query %s\n", opt.dot_query.c_str());
    return 1;
  }
  // relish::write_dot, with files named by their paths.
  const std::size_t nodes = relish::write_dot(std::cout, db, root, {.label = label});
  std::fprintf(stderr, "--dot: %zu nodes\n", nodes);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Clock::time_point start = Clock::now();
  // `pyscope serve` (a language server, lsp_server.hpp), `pyscope diagnose` (diagnose.hpp).
  if (argc > 1 &&
      (std::string_view(argv[1]) == "serve" || std::string_view(argv[1]) == "diagnose")) {
    pyscope::WorkspaceConfig workspace;
    workspace.stdlib = find_stdlib();
    if (!workspace.stdlib.empty())
      workspace.extension_modules = extension_modules(workspace.stdlib);
    return std::string_view(argv[1]) == "serve"
               ? pyscope::lsp::serve_command(argc - 1, argv + 1, std::move(workspace))
               : pyscope::diagnose_command(argc - 1, argv + 1, std::move(workspace));
  }
  Options opt = parse_args(argc, argv);
  if (opt.clear_asts || opt.memory_report) {
    // Give freed pages back at once, so that "committed" follows what is live.
    mi_option_set(mi_option_decommit_delay, 0);
    mi_option_set(mi_option_segment_decommit_delay, 0);
  }
  const std::string stdlib = find_stdlib();
  if (opt.dir.empty()) opt.dir = stdlib;
  if (opt.dir.empty()) usage("no DIR given and no /usr/lib/python3.* found");
  opt.dir = std::filesystem::absolute(opt.dir).lexically_normal().string();
  while (opt.dir.size() > 1 && opt.dir.back() == '/') opt.dir.pop_back();
  if (!is_dir(opt.dir)) usage(opt.dir + " is not a directory");
  const bool dot_only = !opt.dot_query.empty();

  // ---- load -----------------------------------------------------------------------------------
  pyscope::LoadOptions load_opt;
  load_opt.roots = {opt.dir};
  std::vector<pyscope::FileData> files = pyscope::scan_directory(opt.dir, opt.site_packages);
  if (!stdlib.empty() && stdlib != opt.dir) {
    load_opt.roots.push_back(stdlib);
    if (opt.dir.rfind(stdlib + "/", 0) != 0) {  // the library's files, for imports into it
      auto lib = pyscope::scan_directory(stdlib);
      files.insert(files.end(), std::make_move_iterator(lib.begin()),
                   std::make_move_iterator(lib.end()));
    }
  }
  if (!stdlib.empty()) load_opt.extension_modules = extension_modules(stdlib);

  pyscope::Db db;
  pyscope::load(db, std::move(files), load_opt);
  if (db.analyzed.empty()) usage("no *.py files under " + opt.dir);
  if (opt.no_lru) pyscope::parsed_module.set_lru(db, 0);
  Labeler label(db, opt.dir);

  pyscope::EventCounter counter;
  counter.attached = opt.events;
  std::optional<relish::TraceWriter> tracer;  // spans of executions and deep verifications
  if (!opt.trace.empty()) tracer.emplace();
  if (opt.events || tracer) {
    db.on_event([&](const relish::Event& e) {
      if (opt.events) counter.on(e);
      if (tracer) tracer->on(e);
    });
  }

  if (dot_only) return write_dot(db, opt, label);

  std::printf(
      "pyscope: %zu files under %s (%zu files on the search path, %zu builtin and %zu "
      "extension modules)\n",
      db.analyzed.size(), opt.dir.c_str(), db.files.size(), db.builtin_modules.size(),
      db.extension_modules.size());

  // ---- cold pass ------------------------------------------------------------------------------
  std::atomic<std::size_t> done{0};
  const bool progress = isatty(STDERR_FILENO) != 0;
  std::atomic<bool> finished{false};
  std::thread bar;
  if (progress) {
    bar = std::thread([&] {
      const std::size_t total = db.analyzed.size();
      while (!finished.load()) {
        const std::size_t d = done.load();
        const int width = 40, filled = static_cast<int>(width * d / total);
        std::fprintf(stderr, "\r[%s%s] %zu/%zu files", std::string(filled, '#').c_str(),
                     std::string(width - filled, ' ').c_str(), d, total);
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      std::fprintf(stderr, "\r%s\r", std::string(70, ' ').c_str());
    });
  }
  Clock::time_point t0 = Clock::now();
  const double cpu0 = cpu_ms();
  AllDiagnostics diagnostics = pyscope::diagnose_all(db, db.analyzed, opt.threads, &done);
  const double cold_ms = ms_since(t0);
  const double cold_cpu_ms = cpu_ms() - cpu0;
  finished = true;
  if (bar.joinable()) bar.join();

  {
    std::map<std::string, std::size_t> by_code;
    std::vector<std::pair<std::size_t, std::size_t>> by_file;
    std::size_t total = 0, lines = 0;
    for (std::size_t i = 0; i < diagnostics.size(); ++i) {
      for (const auto& d : diagnostics[i]) ++by_code[d.code];
      total += diagnostics[i].size();
      by_file.emplace_back(diagnostics[i].size(), i);
      const std::string& text = pyscope::source_text(db, db.analyzed[i]);
      lines += static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
    }
    std::printf("cold pass: %.0f ms (%.0f ms CPU) on %u thread%s, %zu lines, %llu parses; %s\n",
                cold_ms, cold_cpu_ms, opt.threads, opt.threads == 1 ? "" : "s", lines,
                static_cast<unsigned long long>(db.parses.load()),
                counts_line(counter, db).c_str());
    std::printf("\n== %zu diagnostics ==\n", total);
    for (const auto& [code, n] : by_code) std::printf("  %-22s %zu\n", code.c_str(), n);
    std::sort(by_file.begin(), by_file.end(), [](auto& a, auto& b) { return a.first > b.first; });
    std::printf("files with the most:");
    for (std::size_t k = 0; k < by_file.size() && k < opt.top && by_file[k].first; ++k)
      std::printf(" %s (%zu)", label.rel(db.path(db.analyzed[by_file[k].second])).c_str(),
                  by_file[k].first);
    if (opt.list) {
      std::printf("\n");
      for (std::size_t i = 0; i < diagnostics.size(); ++i)
        for (const auto& d : diagnostics[i])
          std::printf("%s\n", format(label.rel(db.path(db.analyzed[i])), d).c_str());
    }
    std::printf("\nexamples:\n");
    std::set<std::string> seen_codes;
    for (std::size_t i = 0; i < diagnostics.size(); ++i) {
      for (const auto& d : diagnostics[i]) {
        if (!seen_codes.insert(d.code).second) continue;
        std::printf("  %s\n", format(label.rel(db.path(db.analyzed[i])), d).c_str());
      }
    }
  }
  print_memory("after the cold pass");

  // ---- reclaimable ASTs -----------------------------------------------------------------------
  if (opt.clear_asts) {
    std::printf("\n== clearing every reclaimable AST ==\n");
    mi_collect(true);
    const Memory before = memory_now();
    auto parsed_module_bytes = [&] {
      for (const auto& m : relish::memory_report(db).ingredients)
        if (m.name == "parsed_module") return m.total_bytes();
      return std::size_t{0};
    };
    const std::size_t ast_bytes_before = parsed_module_bytes();
    // Still in the cold pass's revision: every parsed_module memo is there (LRU applies at
    // revision boundaries), so these lookups re-run nothing.
    counter.reset();
    std::size_t cleared = 0;
    for (const File f : db.analyzed) {
      const pyscope::ParsedModule& pm = pyscope::parsed_module(db, f);
      if (!pm.ast.is_cleared()) {
        pm.clear();
        ++cleared;
      }
    }
    mi_collect(true);
    const Memory after = memory_now();
    std::printf(
        "cleared %zu ASTs: parsed_module values %s -> %s (relish::memory_report); "
        "mimalloc committed %s -> %s (freed pages shared with live objects stay)\n",
        cleared, mb(ast_bytes_before).c_str(), mb(parsed_module_bytes()).c_str(),
        mb(before.commit).c_str(), mb(after.commit).c_str());
    const std::uint64_t parses_before = db.parses.load();
    t0 = Clock::now();
    std::size_t nodes = 0;
    for (std::size_t k = 0; k < 5 && k < db.analyzed.size(); ++k) {
      const File f = db.analyzed[k * db.analyzed.size() / 5];
      nodes += pyscope::parsed_module(db, f).load(db)->nodes.size();
    }
    std::printf(
        "load() of 5 cleared ASTs re-parsed %llu of them on demand (%zu nodes, %.1f ms); "
        "no query re-ran: %s\n",
        static_cast<unsigned long long>(db.parses.load() - parses_before), nodes, ms_since(t0),
        counts_line(counter, db).c_str());
    print_memory("after clearing the ASTs");
  }

  if (!opt.no_lru) {
    db.trigger_lru_eviction();  // what the next revision would do: keep 200 ASTs
    print_memory("after LRU eviction (200 ASTs kept)");
  }
  if (!opt.show.empty()) {
    const auto f = pyscope::find_file(db, opt.dir + "/" + opt.show);
    if (!f) usage("--show: no file " + opt.show);
    show_file(db, *f, label);
  }
  if (opt.memory_report) {
    std::printf("\n== memory report (relish) ==\n%s", relish::memory_report(db).to_table().c_str());
  }

  // ---- edits ----------------------------------------------------------------------------------
  std::vector<Edit> edits;
  if (!opt.script.empty()) edits = read_script(opt.script, opt.dir);
  const std::size_t scripted = edits.size();
  const std::size_t total_edits =
      scripted + static_cast<std::size_t>(std::max(0, opt.random_edits));
  std::mt19937_64 rng(opt.seed);
  std::map<std::string, std::vector<double>> times;
  if (total_edits) std::printf("\n== edits ==\n");
  for (std::size_t k = 0; k < total_edits; ++k) {
    const int n = static_cast<int>(k + 1);
    const Edit e = k < scripted ? edits[k] : random_edit(db, rng, static_cast<int>(k - scripted));
    auto w0 = Clock::now();
    const auto what = apply(db, e, n, rng);  // the write: marks what it may affect
    const double write_ms = ms_since(w0);
    if (!what) {
      std::printf("edit %d: %s %s: does not apply, skipped\n", n, to_string(e.kind),
                  label.rel(e.path).c_str());
      continue;
    }
    counter.reset();
    // Timed: bringing every file up to date (the engine's work). Then, untimed, the copies
    // the diff below needs (all hits by then).
    t0 = Clock::now();
    pyscope::check_all(db, db.analyzed, opt.threads);
    const double edit_ms = ms_since(t0);
    AllDiagnostics now = pyscope::diagnose_all(db, db.analyzed, 1);
    times[to_string(e.kind)].push_back(edit_ms);
    times[std::string(to_string(e.kind)) + " (write)"].push_back(write_ms);
    std::printf("edit %d: %s %s: %s\n", n, to_string(e.kind), label.rel(e.path).c_str(),
                what->c_str());
    std::printf("  %.2f ms (write %.2f ms); %s\n", edit_ms, write_ms,
                counts_line(counter, db).c_str());
    const auto changed = changes(db, label, diagnostics, now);
    if (changed.empty()) std::printf("  diagnostics unchanged\n");
    for (std::size_t c = 0; c < changed.size() && c < opt.top; ++c)
      std::printf("  %s\n", changed[c].c_str());
    if (changed.size() > opt.top) std::printf("  ... and %zu more\n", changed.size() - opt.top);
    if (opt.check) {
      t0 = Clock::now();
      pyscope::Db fresh;
      pyscope::load(fresh, pyscope::current_files(db), pyscope::load_options_of(db));
      const AllDiagnostics expect = pyscope::diagnose_all(fresh, fresh.analyzed, opt.threads);
      for (std::size_t i = 0; i < expect.size(); ++i) {
        if (expect[i] == now[i]) continue;
        std::fprintf(stderr, "\nCHECK FAILED after edit %d: %s differs from a from-scratch run:\n",
                     n, label.rel(db.path(db.analyzed[i])).c_str());
        AllDiagnostics one_now(now.size()), one_expect(now.size());
        one_now[i] = now[i];
        one_expect[i] = expect[i];
        for (const auto& line : changes(db, label, one_expect, one_now))
          std::fprintf(stderr, "  %s  (%s incremental)\n", line.c_str(),
                       line[0] == '+' ? "only in" : "missing from");
        return 2;
      }
      std::printf("  check: equal to a from-scratch run (%.0f ms)\n", ms_since(t0));
    }
    diagnostics = std::move(now);
  }

  if (!times.empty()) {
    std::printf("\n== per-edit times (ms) ==\n");
    for (auto& [kind, v] : times) {
      std::sort(v.begin(), v.end());
      double sum = 0;
      for (double x : v) sum += x;
      std::printf("  %-15s n=%zu  min %.2f  median %.2f  max %.2f  mean %.2f\n", kind.c_str(),
                  v.size(), v.front(), v[v.size() / 2], v.back(),
                  sum / static_cast<double>(v.size()));
    }
    print_memory("after the edits");
    if (opt.memory_report)
      std::printf("\n== memory report (relish) ==\n%s",
                  relish::memory_report(db).to_table().c_str());
  }
  if (tracer) {
    db.on_event({});
    std::ofstream out(opt.trace);
    const std::size_t n = tracer->write(out, db, label);
    std::printf("trace: %zu events (%zu spans) written to %s\n", n, tracer->spans(),
                opt.trace.c_str());
  }
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  std::printf("total %.0f ms; peak RSS %ld MB%s%s\n", ms_since(start), ru.ru_maxrss / 1024,
              opt.no_lru ? " (no LRU)" : "",
              opt.check ? " (includes --check's fresh databases)" : "");
  return 0;
}

// pyscope: scope analysis of a Python tree, kept up to date incrementally under edits.
//
//   pyscope [DIR] [--stdlib DIR] [--site-packages] [--threads N] [--edit-threads N]
//           [--edits N] [--seed S] [--script FILE] [--check] [--events] [--memory-report]
//           [--clear-asts] [--no-lru] [--ast-budget MIB] [--dot QUERY PATH] [--trace FILE]
//           [--show PATH] [--list] [--top K] [--expect CODE=N]
//   pyscope serve [--root DIR] [--threads N]    a language server over stdio (lsp_server.hpp)
//   pyscope diagnose DIR [FILE...]              diagnostics, one per line (diagnose.hpp)
// (both take --stdlib DIR and --site-packages too, and load the workspace as `pyscope DIR`)
//
// DIR (the project) defaults to /usr/lib/python3.11 (or another /usr/lib/python3.* found).
// Its *.py files are analyzed. Imports resolve along a search path, as ty's: the project
// (first-party, first: a project module shadows a library one), the standard library (the
// one DIR is in, else --stdlib, else Debian's), its site-packages (<stdlib>/site-packages;
// Debian's dist-packages), then builtin and extension modules. Library files are loaded once,
// with high durability, and read only when imported; project files have low durability. A DIR
// inside a library root (/usr/lib/python3.11/json) is that root's files under DIR, named from
// the root (`json.decoder`). --site-packages analyzes the site-packages roots too (the big
// pyenv corpus); otherwise the count of files left unanalyzed is printed. See pyscope.hpp
// (SearchPaths, load_workspace) for the loading and the queries.
//
// The cold pass runs file_diagnostics for every file on N threads (--threads; default: all
// cores) sharing one database, with a progress bar on stderr when it is a terminal.
//
// Edits (one revision each) come from --script FILE, then --edits N random ones (--seed S):
//   [TAG:] body PATH [FUNCTION [pass|local|undefined]]   append a line to a function's body
//   [TAG:] import PATH MODULE                            append `import MODULE`
//   [TAG:] rename PATH NEWNAME                           rename a module (sets the File's path)
// PATH is relative to DIR; NEWNAME too if it contains '/', else it names a sibling. After each
// edit every file's diagnostics are brought up to date on --edit-threads threads (default 1,
// on the main thread); its CPU and wall times are printed, and the diagnostics that changed.
// The summary gives per TAG (else per kind) the CPU median, min and max and the wall median.
// --events installs an event counter and prints what each edit executed / validated /
// backdated (it costs time: off by default). --check compares, after the timing, all
// diagnostics with a from-scratch run in a fresh database (exit 2 if they differ), whose memory
// is released before the next edit. --expect CODE=N exits 3 unless the cold pass reported N
// diagnostics of CODE (tests). The last line, "bench: ...", is for scripts/bench_pyscope.sh.
//
// Tools: --memory-report prints relish's per-ingredient report next to mimalloc's numbers;
// --clear-asts clears every reclaimable AST after the cold pass, shows the memory fall, and
// re-parses a few on demand; --no-lru sets parsed_module's LRU to 0 (unbounded) at run time;
// --ast-budget MIB bounds the bytes of ASTs held at once, within a revision too (default 64;
// 0: unbounded): past it the least recently loaded are cleared and re-parsed on demand;
// --dot QUERY PATH writes the dependency graph of one memo as Graphviz (relish::write_dot;
// QUERY: diagnostics, semantic_index, parsed_module, source_text); --trace FILE writes a
// Chrome trace (chrome://tracing, Perfetto; relish::TraceWriter) of every query execution and
// deep verification; --show PATH prints a file's scopes, symbols and inferred types; --list
// prints every diagnostic after the cold pass. Memory figures are MiB; the peak RSS is the
// kernel's high-water mark (VmHWM).
#include <mimalloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
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
  unsigned threads = std::max(1u, std::thread::hardware_concurrency());  // the cold pass
  unsigned edit_threads = 1;  // the update after each edit (an editor's pass: one thread)
  int random_edits = 0;
  std::uint64_t seed = 1;
  std::string script;
  bool check = false;
  bool memory_report = false;
  bool clear_asts = false;
  bool no_lru = false;
  long ast_budget_mib = 64;
  std::string dot_query, dot_path;
  std::string trace;
  std::string show;
  bool list = false;
  bool events = false;  // count what each edit re-ran (an observer on every event: slower)
  bool site_packages = false;
  std::string stdlib;
  std::vector<std::pair<std::string, std::size_t>> expect;  // --expect CODE=N
  std::size_t top = 10;
};

[[noreturn]] void usage(const std::string& msg) {
  std::fprintf(stderr,
               "pyscope: %s\nusage: pyscope [DIR] [--stdlib DIR] [--site-packages] "
               "[--threads N] [--edit-threads N]\n               [--edits N] [--seed S] "
               "[--script FILE] [--check] [--events] [--memory-report]\n               "
               "[--clear-asts] [--no-lru] [--ast-budget MIB] [--dot QUERY PATH]\n               "
               "[--trace FILE] [--show PATH] [--list] [--top K] [--expect CODE=N]\n",
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
    } else if (a == "--ast-budget") {
      o.ast_budget_mib = std::atol(value().c_str());
      if (o.ast_budget_mib < 0) usage("--ast-budget takes MIB >= 0");
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
    } else if (a == "--stdlib") {
      o.stdlib = value();
    } else if (a == "--expect") {
      const std::string v = value();
      const auto eq = v.find('=');
      if (eq == std::string::npos || eq == 0) usage("--expect takes CODE=N");
      o.expect.emplace_back(v.substr(0, eq), std::strtoull(v.c_str() + eq + 1, nullptr, 10));
    } else if (a == "--events") {
      o.events = true;
    } else if (a == "--no-events") {  // the default
      o.events = false;
    } else if (a == "--edit-threads") {
      o.edit_threads = static_cast<unsigned>(std::max(1, std::atoi(value().c_str())));
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

// CPU time of the process, all threads (wall times suffer on a loaded machine).
double cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

// ---- memory ---------------------------------------------------------------------------------

// RSS and its high-water mark from one source (/proc/self/status), so the peak is never below
// the current figure; mimalloc's committed bytes (nullopt when its counter has underflowed:
// mimalloc 2.0.9 can count a decommit twice).
struct Memory {
  std::size_t rss = 0, peak_rss = 0;
  std::optional<std::size_t> commit, peak_commit;
};
Memory memory_now() {
  Memory m;
  std::size_t elapsed, user, sys, rss, peak_rss, faults, commit = 0, peak_commit = 0;
  mi_process_info(&elapsed, &user, &sys, &rss, &peak_rss, &commit, &peak_commit, &faults);
  constexpr std::size_t kSane = std::size_t{1} << 46;  // 64 TiB: beyond it, an underflow
  if (commit < kSane) m.commit = commit;
  if (peak_commit < kSane) m.peak_commit = peak_commit;
  if (std::FILE* f = std::fopen("/proc/self/status", "r")) {
    char line[256];
    while (std::fgets(line, sizeof line, f)) {
      unsigned long kb = 0;
      if (std::sscanf(line, "VmRSS: %lu kB", &kb) == 1) m.rss = kb * 1024;
      if (std::sscanf(line, "VmHWM: %lu kB", &kb) == 1) m.peak_rss = kb * 1024;
    }
    std::fclose(f);
  }
  m.peak_rss = std::max(m.peak_rss, m.rss);
  return m;
}
// Memory figures are in MiB (2^20 bytes) everywhere.
std::string mib(std::size_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return buf;
}
std::string mib(const std::optional<std::size_t>& bytes) {
  return bytes ? mib(*bytes) : std::string("n/a (mimalloc's counter underflowed)");
}
void print_memory(const char* when) {
  // Return freed pages, so that "committed" and RSS are what is live (main() turns off
  // mimalloc's decommit delay, which this collect would not wait for).
  mi_collect(true);
  const Memory m = memory_now();
  std::printf("memory %s: RSS %s (peak %s), mimalloc committed %s (peak %s)\n", when,
              mib(m.rss).c_str(), mib(m.peak_rss).c_str(), mib(m.commit).c_str(),
              mib(m.peak_commit).c_str());
}

// What mimalloc holds in live blocks on this thread's heaps (the default one and the ASTs'),
// next to relish's report. Only with --threads 1 is that everything: the heaps of threads that
// have exited cannot be visited.
void print_allocated(const relish::MemoryReport& report, unsigned threads) {
  if (threads != 1) {
    std::printf("(mimalloc's live blocks are counted with --threads 1 only)\n");
    return;
  }
  std::size_t live = 0;
  auto visit = [](const mi_heap_t*, const mi_heap_area_t*, void* block, std::size_t size,
                  void* arg) {
    if (block) *static_cast<std::size_t*>(arg) += size;
    return true;
  };
  mi_heap_visit_blocks(mi_heap_get_default(), true, visit, &live);
  mi_heap_visit_blocks(pyscope::ast_heap(), true, visit, &live);
  const std::size_t counted = report.total.total_bytes() + report.total.reserved_bytes;
  std::printf(
      "mimalloc: %s in live blocks; relish's report counts %s of it (%.0f%%: %s in use, %s "
      "reserved)\n",
      mib(live).c_str(), mib(counted).c_str(),
      live ? 100.0 * static_cast<double>(counted) / static_cast<double>(live) : 0.0,
      mib(report.total.total_bytes()).c_str(), mib(report.total.reserved_bytes).c_str());
}

// A progress bar on stderr while `done` counts up to `total` (nothing unless stderr is a
// terminal). Stops when destroyed.
class Progress {
 public:
  Progress(const char* what, std::size_t total) : what_(what), total_(total) {
    if (isatty(STDERR_FILENO) == 0 || total == 0) return;
    bar_ = std::thread([this] {
      while (!finished_.load()) {
        const std::size_t d = done.load();
        const int width = 40, filled = static_cast<int>(width * d / total_);
        std::fprintf(stderr, "\r%s [%s%s] %zu/%zu files", what_,
                     std::string(static_cast<std::size_t>(filled), '#').c_str(),
                     std::string(static_cast<std::size_t>(width - filled), ' ').c_str(), d, total_);
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      std::fprintf(stderr, "\r%s\r", std::string(80, ' ').c_str());
    });
  }
  ~Progress() { stop(); }
  void stop() {
    finished_ = true;
    if (bar_.joinable()) bar_.join();
  }
  std::atomic<std::size_t> done{0};

 private:
  const char* what_;
  std::size_t total_;
  std::atomic<bool> finished_{false};
  std::thread bar_;
};

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
  std::string tag;      // the script's "TAG:" before the verb: times are summed up per tag
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
    ls >> verb;
    if (verb.size() > 1 && verb.back() == ':') {  // "leaf: body json/tool.py main"
      e.tag = verb.substr(0, verb.size() - 1);
      ls >> verb;
    }
    ls >> path >> e.arg >> e.variant;
    if (e.variant.starts_with("#")) e.variant.clear();
    if (e.arg.starts_with("#")) e.arg.clear();
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
        to = db.project_dir + "/" + to;
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
  // Freed memory goes back to the system at once, not 25 ms later: ASTs freed by the AST
  // budget or by eviction leave RSS when they go (a language server's memory is watched).
  mi_option_set(mi_option_decommit_delay, 0);
  // `pyscope serve` (a language server, lsp_server.hpp), `pyscope diagnose` (diagnose.hpp).
  if (argc > 1 &&
      (std::string_view(argv[1]) == "serve" || std::string_view(argv[1]) == "diagnose")) {
    return std::string_view(argv[1]) == "serve" ? pyscope::lsp::serve_command(argc - 1, argv + 1)
                                                : pyscope::diagnose_command(argc - 1, argv + 1);
  }
  Options opt = parse_args(argc, argv);
  if (opt.clear_asts || opt.memory_report) {
    // Give freed pages back at once, so that "committed" follows what is live.
    mi_option_set(mi_option_decommit_delay, 0);
    mi_option_set(mi_option_segment_decommit_delay, 0);
  }
  if (opt.dir.empty()) opt.dir = pyscope::find_stdlib();
  if (opt.dir.empty()) usage("no DIR given and no /usr/lib/python3.* found");
  opt.dir = pyscope::SearchPaths::normalize(opt.dir);
  if (!is_dir(opt.dir)) usage(opt.dir + " is not a directory");
  const bool dot_only = !opt.dot_query.empty();

  // ---- load -----------------------------------------------------------------------------------
  const pyscope::SearchPaths search =
      pyscope::SearchPaths::discover(opt.dir, opt.stdlib, opt.site_packages);
  pyscope::Db db;
  const pyscope::WorkspaceSummary loaded = pyscope::load_workspace(db, search);
  if (db.analyzed.empty()) usage("no *.py files under " + opt.dir);
  if (opt.no_lru) pyscope::parsed_module.set_lru(db, 0);
  db.ast_budget.set_limit(opt.ast_budget_mib == 0 ? SIZE_MAX
                                                 : static_cast<std::size_t>(opt.ast_budget_mib) << 20);
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

  std::printf("pyscope: %zu files analyzed under %s; search path (first-party first):\n",
              db.analyzed.size(), opt.dir.c_str());
  for (const auto& r : loaded.roots) {
    std::string what = std::to_string(r.files) + " files";
    std::string path = r.path;
    if (r.kind == pyscope::RootKind::project) {
      what += ", analyzed, low durability";
      if (r.path != opt.dir) {
        path = opt.dir;
        what += "; a part of " + r.path + ", its modules named from there";
      }
    } else if (r.analyzed) {
      what += ", analyzed too (--site-packages), low durability";
    } else {
      what += ", for imports only, high durability";
      if (r.kind == pyscope::RootKind::site_packages) what += " (--site-packages analyzes them)";
    }
    if (r.kind != pyscope::RootKind::project && r.path == opt.dir) what = "the project itself";
    std::printf("  %-13s %s: %s\n", pyscope::to_string(r.kind), path.c_str(), what.c_str());
  }
  std::printf("  and %zu builtin and %zu extension modules\n", db.builtin_modules.size(),
              db.extension_modules.size());
  if (loaded.skipped)
    std::printf("not analyzed: %zu library files (loaded for imports only)\n", loaded.skipped);

  // ---- cold pass ------------------------------------------------------------------------------
  Clock::time_point t0 = Clock::now();
  const double cpu0 = cpu_ms();
  Progress cold_progress("cold pass", db.analyzed.size());
  AllDiagnostics diagnostics =
      pyscope::diagnose_all(db, db.analyzed, opt.threads, &cold_progress.done);
  const double cold_ms = ms_since(t0);
  const double cold_cpu_ms = cpu_ms() - cpu0;
  cold_progress.stop();

  bool expect_failed = false;
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
    std::printf(
        "cold pass: %.0f ms wall, %.0f ms CPU on %u thread%s, %zu lines, %llu parses (%llu ASTs "
        "reclaimed under the AST budget, %s held); %s\n",
        cold_ms, cold_cpu_ms, opt.threads, opt.threads == 1 ? "" : "s", lines,
        static_cast<unsigned long long>(db.parses.load()),
        static_cast<unsigned long long>(db.ast_budget.reclaimed()),
        mib(db.ast_budget.bytes_held()).c_str(), counts_line(counter, db).c_str());
    for (const auto& [code, n] : opt.expect) {
      const std::size_t got = by_code.contains(code) ? by_code.at(code) : 0;
      if (got == n) continue;
      std::fprintf(stderr, "EXPECT FAILED: %zu %s diagnostics after the cold pass, not %zu\n", got,
                   code.c_str(), n);
      expect_failed = true;
    }
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
        cleared, mib(ast_bytes_before).c_str(), mib(parsed_module_bytes()).c_str(),
        mib(before.commit).c_str(), mib(after.commit).c_str());
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
    mi_collect(true);
    const std::size_t rss_before = memory_now().rss, asts_before = db.ast_budget.bytes_held();
    db.trigger_lru_eviction();  // what the next revision would do: keep 200 ASTs
    print_memory("after LRU eviction (200 ASTs kept)");
    const std::size_t rss_after = memory_now().rss, asts_after = db.ast_budget.bytes_held();
    std::printf("  ASTs held %s -> %s; RSS fell %s\n", mib(asts_before).c_str(),
                mib(asts_after).c_str(),
                mib(rss_before > rss_after ? rss_before - rss_after : 0).c_str());
  }
  if (!opt.show.empty()) {
    const auto f = pyscope::find_file(db, opt.dir + "/" + opt.show);
    if (!f) usage("--show: no file " + opt.show);
    show_file(db, *f, label);
  }
  if (opt.memory_report) {
    const relish::MemoryReport report = relish::memory_report(db);
    std::printf("\n== memory report (relish) ==\n%s", report.to_table().c_str());
    print_allocated(report, opt.threads);
  }

  // ---- edits ----------------------------------------------------------------------------------
  std::vector<Edit> edits;
  if (!opt.script.empty()) edits = read_script(opt.script, opt.dir);
  const std::size_t scripted = edits.size();
  const std::size_t total_edits =
      scripted + static_cast<std::size_t>(std::max(0, opt.random_edits));
  std::mt19937_64 rng(opt.seed);
  struct Times {
    std::vector<double> cpu, wall, write_cpu;
  };
  std::map<std::string, Times> times;  // by the script's TAG, else by the edit's kind
  double check_ms = 0;
  if (total_edits) {
    std::printf("\n== edits ==\n");
    std::printf(
        "(update after each edit: every file's diagnostics on %u thread%s, event "
        "observer %s%s)\n",
        opt.edit_threads, opt.edit_threads == 1 ? "" : "s", opt.events ? "on (--events)" : "off",
        opt.check ? "; --check runs after the timing" : "");
  }
  for (std::size_t k = 0; k < total_edits; ++k) {
    const int n = static_cast<int>(k + 1);
    const Edit e = k < scripted ? edits[k] : random_edit(db, rng, static_cast<int>(k - scripted));
    const double wc0 = cpu_ms();
    auto w0 = Clock::now();
    const auto what = apply(db, e, n, rng);  // the write: marks what it may affect
    const double write_ms = ms_since(w0), write_cpu = cpu_ms() - wc0;
    if (!what) {
      std::printf("edit %d: %s %s: does not apply, skipped\n", n, to_string(e.kind),
                  label.rel(e.path).c_str());
      continue;
    }
    counter.reset();
    // Timed: bringing every file up to date (the engine's work). Then, untimed, the copies
    // the diff below needs (all hits by then).
    const double c0 = cpu_ms();
    t0 = Clock::now();
    pyscope::check_all(db, db.analyzed, opt.edit_threads);
    const double edit_ms = ms_since(t0), edit_cpu = cpu_ms() - c0;
    AllDiagnostics now = pyscope::diagnose_all(db, db.analyzed, 1);
    Times& t = times[e.tag.empty() ? to_string(e.kind) : e.tag];
    t.cpu.push_back(edit_cpu);
    t.wall.push_back(edit_ms);
    t.write_cpu.push_back(write_cpu);
    std::printf("edit %d: %s%s %s: %s\n", n, e.tag.empty() ? "" : (e.tag + ": ").c_str(),
                to_string(e.kind), label.rel(e.path).c_str(), what->c_str());
    std::printf("  update %.2f ms CPU, %.2f ms wall (the write: %.2f ms CPU, %.2f ms wall)",
                edit_cpu, edit_ms, write_cpu, write_ms);
    if (opt.events) std::printf("; %s", counts_line(counter, db).c_str());
    std::printf("\n");
    const auto changed = changes(db, label, diagnostics, now);
    if (changed.empty()) std::printf("  diagnostics unchanged\n");
    for (std::size_t c = 0; c < changed.size() && c < opt.top; ++c)
      std::printf("  %s\n", changed[c].c_str());
    if (changed.size() > opt.top) std::printf("  ... and %zu more\n", changed.size() - opt.top);
    if (opt.check) {
      // After the timing: a from-scratch run in a fresh database, destroyed (and its pages
      // returned with mi_collect) before the next edit, so that edit does not pay for it.
      t0 = Clock::now();
      {
        pyscope::Db fresh;
        pyscope::load(fresh, pyscope::current_files(db), pyscope::load_options_of(db));
        Progress progress("check: from-scratch run", fresh.analyzed.size());
        const AllDiagnostics expect =
            pyscope::diagnose_all(fresh, fresh.analyzed, opt.threads, &progress.done);
        progress.stop();
        for (std::size_t i = 0; i < expect.size(); ++i) {
          if (expect[i] == now[i]) continue;
          std::fprintf(stderr,
                       "\nCHECK FAILED after edit %d: %s differs from a from-scratch run:\n", n,
                       label.rel(db.path(db.analyzed[i])).c_str());
          AllDiagnostics one_now(now.size()), one_expect(now.size());
          one_now[i] = now[i];
          one_expect[i] = expect[i];
          for (const auto& line : changes(db, label, one_expect, one_now))
            std::fprintf(stderr, "  %s  (%s incremental)\n", line.c_str(),
                         line[0] == '+' ? "only in" : "missing from");
          return 2;
        }
      }
      mi_collect(true);
      const double ms = ms_since(t0);
      check_ms += ms;
      std::printf("  check: equal to a from-scratch run (%.0f ms; its memory released)\n", ms);
    }
    diagnostics = std::move(now);
  }

  if (!times.empty()) {
    auto median = [](std::vector<double> v) {
      std::sort(v.begin(), v.end());
      return v[v.size() / 2];
    };
    std::printf("\n== per-edit update times (ms; CPU is the process's, on %u thread%s) ==\n",
                opt.edit_threads, opt.edit_threads == 1 ? "" : "s");
    std::printf("  %-15s %3s  %10s %8s %8s  %11s  %16s\n", "edit", "n", "CPU median", "min", "max",
                "wall median", "write CPU median");
    for (auto& [kind, t] : times)
      std::printf("  %-15s %3zu  %10.2f %8.2f %8.2f  %11.2f  %16.2f\n", kind.c_str(), t.cpu.size(),
                  median(t.cpu), *std::min_element(t.cpu.begin(), t.cpu.end()),
                  *std::max_element(t.cpu.begin(), t.cpu.end()), median(t.wall),
                  median(t.write_cpu));
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
  const Memory m = memory_now();
  std::printf("total %.0f ms wall, %.0f ms CPU; peak RSS %s%s", ms_since(start), cpu_ms(),
              mib(m.peak_rss).c_str(), opt.no_lru ? " (no LRU)" : "");
  if (opt.check)
    std::printf(" (including --check's fresh databases); the checks took %.0f ms", check_ms);
  std::printf("\n");
  std::printf("bench: cold_wall_ms=%.1f cold_cpu_ms=%.1f peak_rss_mib=%.1f files=%zu\n", cold_ms,
              cold_cpu_ms, static_cast<double>(m.peak_rss) / (1024.0 * 1024.0), db.analyzed.size());
  return expect_failed ? 3 : 0;
}

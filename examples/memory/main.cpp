// memory_demo: the seed's source_text / parsed_module / semantic_index pattern over real
// Python files, with relish's memory report next to what the allocator (mimalloc) committed.
//
//   memory_demo [DIR] [--reload N]
//
// DIR defaults to /usr/lib/python3.11 (every *.py below it, ~670 files). Phases:
//   1. analyse every file (semantic_index, imports, symbol counts): all ASTs are alive
//   2. clear every reclaimable AST in the same revision (memory pressure): memory falls
//   3. re-load N ASTs (default 5): each is re-parsed on demand
//   4. edit one file: a revision boundary, where parsed_module's LRU (200) drops the rest of
//      the memos' values; re-analysing everything re-runs only the edited file
// After each phase: the memory report table, mimalloc's committed bytes and the RSS.
#include <mimalloc.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "pymod.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

std::string mib(std::size_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return buf;
}

// The resident set from the kernel (mimalloc's own figure on Linux is its commit estimate).
std::size_t rss_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::size_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * 4096;
}

void print_memory(pymod::Db& db, const char* title) {
  mi_collect(true);  // return freed pages, so "committed" follows what is really in use
  std::size_t elapsed, user, sys, mi_rss, peak_rss, commit, peak_commit, faults;
  mi_process_info(&elapsed, &user, &sys, &mi_rss, &peak_rss, &commit, &peak_commit, &faults);
  const std::size_t rss = rss_bytes();
  const relish::MemoryReport r = relish::memory_report(db);
  std::printf("\n== %s\n%s", title, r.to_table().c_str());
  std::printf("relish estimate: %s | mimalloc committed: %s (peak %s) | RSS: %s\n",
              mib(r.total.total_bytes()).c_str(), mib(commit).c_str(), mib(peak_commit).c_str(),
              mib(rss).c_str());
  std::printf("live ASTs: %lld | parses so far: %llu (re-parses after a clear: %llu)\n",
              static_cast<long long>(pymod::LiveAst::count().load()),
              static_cast<unsigned long long>(db.parses.load()),
              static_cast<unsigned long long>(db.reparses.load()));
}

struct Totals {
  std::size_t scopes = 0, symbols = 0, imports = 0;
};

Totals analyse(pymod::Db& db, const std::vector<pymod::File>& files) {
  Totals t;
  for (pymod::File f : files) {
    const std::uint32_t scopes = pymod::scope_count(db, f);
    t.scopes += scopes;
    for (std::uint32_t s = 0; s < scopes; ++s) t.symbols += pymod::symbol_count(db, f, s);
    t.imports += pymod::imported_modules(db, f).modules.size();
  }
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  // Give freed memory back to the OS at once (mimalloc 2.0 delays it by default), so the
  // committed figure falls when the ASTs are dropped.
  mi_option_enable(mi_option_allow_decommit);
  mi_option_set(mi_option_decommit_delay, 0);
  mi_option_set(mi_option_segment_decommit_delay, 0);
  std::string dir = "/usr/lib/python3.11";
  std::size_t reload = 5;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--reload" && i + 1 < argc) {
      reload = std::strtoul(argv[++i], nullptr, 10);
    } else if (a == "-h" || a == "--help") {
      std::puts("usage: memory_demo [DIR] [--reload N]");
      return 0;
    } else {
      dir = a;
    }
  }

  std::vector<std::filesystem::path> paths;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(
           dir, std::filesystem::directory_options::skip_permission_denied, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file(ec) && it->path().extension() == ".py") paths.push_back(it->path());
  }
  if (paths.empty()) {
    std::fprintf(stderr, "memory_demo: no .py files under %s\n", dir.c_str());
    return 1;
  }
  std::sort(paths.begin(), paths.end());

  pymod::Db db;
  std::vector<pymod::File> files;
  std::size_t bytes = 0;
  for (const auto& p : paths) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    bytes += ss.str().size();
    files.push_back(pymod::File::create(db, {.path = p.string(), .text = ss.str()}));
  }
  std::printf("memory_demo: %zu Python files under %s (%s of source); parsed_module lru = %zu\n",
              files.size(), dir.c_str(), mib(bytes).c_str(),
              decltype(pymod::parsed_module)::ingredient(db).lru_capacity());

  // 1. Everything analysed: every AST alive (LRU applies at revision boundaries only).
  auto t0 = Clock::now();
  const Totals totals = analyse(db, files);
  std::printf("analysed in %.0f ms: %zu scopes, %zu symbols, %zu imports\n", ms_since(t0),
              totals.scopes, totals.symbols, totals.imports);
  print_memory(db, "1. after analysing every file (all ASTs alive)");

  // 2. Memory pressure: drop every AST now, within the revision.
  for (pymod::File f : files) pymod::parsed_module(db, f).clear();
  print_memory(db, "2. after clearing every reclaimable AST (same revision)");

  // 3. Some ASTs are needed again: load() re-parses each on demand.
  const std::uint64_t before = db.reparses.load();
  std::size_t nodes = 0;
  t0 = Clock::now();
  for (std::size_t i = 0; i < std::min(reload, files.size()); ++i)
    nodes += pymod::parsed_module(db, files[i * files.size() / std::max<std::size_t>(reload, 1)])
                 .load(db)
                 ->nodes;
  std::printf("\nre-loaded %zu ASTs (%zu nodes) in %.1f ms: %llu re-parses\n",
              std::min(reload, files.size()), nodes, ms_since(t0),
              static_cast<unsigned long long>(db.reparses.load() - before));
  print_memory(db, "3. after re-loading a few ASTs");

  // 4. An edit: revision boundary (LRU eviction), then everything brought up to date.
  pymod::File edited = files.front();
  edited.set(db, &pymod::FileData::text,
             edited.get(db, &pymod::FileData::text) + "\ndef added_by_demo():\n    return 1\n");
  const std::uint64_t parses_before = db.parses.load();
  t0 = Clock::now();
  const Totals after = analyse(db, files);
  std::printf("\nafter editing %s: re-analysed in %.1f ms with %llu parse(s); symbols %zu -> %zu\n",
              edited.get(db, &pymod::FileData::path).c_str(), ms_since(t0),
              static_cast<unsigned long long>(db.parses.load() - parses_before), totals.symbols,
              after.symbols);
  print_memory(db, "4. after an edit (revision boundary: parsed_module keeps 200 values)");
  return 0;
}

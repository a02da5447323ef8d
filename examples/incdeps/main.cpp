// incdeps: include-graph analysis of a header tree, kept up to date incrementally under edits.
//
//   incdeps [ROOT] [-I DIR]... [--edits N] [--script FILE] [--seed S] [--check] [--no-events]
//           [--top K]
//
// ROOT defaults to /usr/include. Every regular file under ROOT (and under -I directories
// outside it) is one header. <...> includes are searched in the -I directories, then (for
// /usr/include) the libstdc++ and multiarch directories, then ROOT; "..." includes first next
// to the including file. See incdeps.hpp for the queries.
//
// Edits (one revision each) come from --script FILE, then --edits N random ones:
//   comment PATH            append a comment: re-scans PATH, which backdates
//   add PATH <name>         append `#include <name>` (or "name")
//   remove PATH [<name>]    delete the last include line (naming <name>)
// PATH is absolute or relative to ROOT. After each edit every answer is brought up to date
// and the engine's work is counted. --check compares all answers with a from-scratch run in a
// fresh database after every edit and exits with status 2 on a mismatch. --no-events installs
// no event observer (times without the counting overhead; counts are then not shown).
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "incdeps.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

long peak_rss_kb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

struct Options {
  std::string root = "/usr/include";
  std::vector<std::string> extra_includes;
  std::string script;
  int random_edits = 0;
  std::uint64_t seed = 1;
  bool check = false;
  bool count_events = true;
  std::size_t top = 10;
};

[[noreturn]] void usage(const char* msg) {
  std::fprintf(stderr,
               "incdeps: %s\nusage: incdeps [ROOT] [-I DIR]... [--edits N] [--script FILE] "
               "[--seed S] [--check] [--no-events] [--top K]\n",
               msg);
  std::exit(64);
}

Options parse_args(int argc, char** argv) {
  Options o;
  bool root_seen = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(("missing value after " + a).c_str());
      return argv[++i];
    };
    if (a == "-I") {
      o.extra_includes.push_back(value());
    } else if (a.rfind("-I", 0) == 0) {
      o.extra_includes.push_back(a.substr(2));
    } else if (a == "--edits") {
      o.random_edits = std::atoi(value().c_str());
    } else if (a == "--script") {
      o.script = value();
    } else if (a == "--seed") {
      o.seed = std::strtoull(value().c_str(), nullptr, 10);
    } else if (a == "--no-events") {
      o.count_events = false;
    } else if (a == "--check") {
      o.check = true;
    } else if (a == "--top") {
      o.top = static_cast<std::size_t>(std::atoi(value().c_str()));
    } else if (a == "-h" || a == "--help") {
      usage("help");
    } else if (!a.empty() && a[0] == '-') {
      usage(("unknown option " + a).c_str());
    } else if (!root_seen) {
      o.root = a;
      root_seen = true;
    } else {
      usage("more than one ROOT");
    }
  }
  return o;
}

bool is_dir(const std::string& p) {
  std::error_code ec;
  return std::filesystem::is_directory(p, ec);
}

// -I directories, then the system directories GCC would search, then ROOT.
std::vector<std::string> include_paths_for(const Options& o) {
  std::vector<std::string> paths;
  for (const auto& d : o.extra_includes) paths.push_back(incdeps::normalize_path(d));
  const std::string root = incdeps::normalize_path(o.root);
  if (root == "/usr/include") {
    std::string best;  // the newest libstdc++ under /usr/include/c++/
    int best_version = -1;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator("/usr/include/c++", ec)) {
      const std::string name = e.path().filename().string();
      const int v = std::atoi(name.c_str());
      if (v > best_version && is_dir(e.path().string())) {
        best_version = v;
        best = name;
      }
    }
    if (!best.empty()) {
      paths.push_back("/usr/include/c++/" + best);
      if (is_dir("/usr/include/x86_64-linux-gnu/c++/" + best))
        paths.push_back("/usr/include/x86_64-linux-gnu/c++/" + best);
    }
    if (is_dir("/usr/include/x86_64-linux-gnu")) paths.push_back("/usr/include/x86_64-linux-gnu");
  }
  paths.push_back(root);
  std::vector<std::string> unique;
  for (auto& p : paths)
    if (std::find(unique.begin(), unique.end(), p) == unique.end()) unique.push_back(p);
  return unique;
}

std::vector<incdeps::Edit> read_script(const std::string& file, const std::string& root) {
  std::ifstream in(file);
  if (!in) usage(("cannot read script " + file).c_str());
  std::vector<incdeps::Edit> edits;
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (auto hash = line.find('#'); hash != std::string::npos && line.find_first_not_of(" \t") == hash)
      continue;
    std::istringstream ls(line);
    std::string verb, path, spec;
    if (!(ls >> verb)) continue;
    ls >> path >> spec;
    incdeps::Edit e;
    if (verb == "comment") {
      e.kind = incdeps::EditKind::comment;
    } else if (verb == "add") {
      e.kind = incdeps::EditKind::add_include;
    } else if (verb == "remove") {
      e.kind = incdeps::EditKind::remove_include;
    } else {
      usage((file + ":" + std::to_string(line_no) + ": unknown edit '" + verb + "'").c_str());
    }
    if (path.empty()) usage((file + ":" + std::to_string(line_no) + ": missing PATH").c_str());
    e.path = incdeps::join_normal(root, path);
    e.spec = spec;
    if (e.kind == incdeps::EditKind::add_include && spec.empty())
      usage((file + ":" + std::to_string(line_no) + ": add needs <name>").c_str());
    edits.push_back(std::move(e));
  }
  return edits;
}

// A random edit: comment, add, remove in turn. Targets are headers that are part of the
// include graph (they include something or are included); added includes name a random
// header as its include path spells it.
incdeps::Edit random_edit(incdeps::Db& db, std::mt19937_64& rng, int i) {
  const auto& headers = db.headers;
  std::uniform_int_distribution<std::size_t> pick(0, headers.size() - 1);
  const auto& rg = incdeps::reverse_graph(db, db.tree);
  auto in_graph = [&](incdeps::Header h) {
    return !incdeps::resolved_includes(db, h).headers.empty() || !rg.includers[h.index()].empty();
  };
  auto pick_where = [&](auto&& ok) {
    for (int tries = 0; tries < 10000; ++tries) {
      const incdeps::Header h = headers[pick(rng)];
      if (ok(h)) return h;
    }
    return headers[pick(rng)];
  };
  incdeps::Edit e;
  switch (i % 3) {
    case 0: {
      e.kind = incdeps::EditKind::comment;
      e.path = db.path(pick_where(in_graph));
      break;
    }
    case 1: {
      e.kind = incdeps::EditKind::add_include;
      const incdeps::Header a = pick_where(in_graph);
      const incdeps::Header b = pick_where([&](incdeps::Header h) { return h != a && in_graph(h); });
      e.path = db.path(a);
      e.spec = "<" + incdeps::include_spelling(db.include_paths, db.path(b)) + ">";
      break;
    }
    default: {
      e.kind = incdeps::EditKind::remove_include;
      const incdeps::Header a = pick_where(
          [&](incdeps::Header h) { return !incdeps::resolved_includes(db, h).headers.empty(); });
      e.path = db.path(a);
      break;
    }
  }
  return e;
}

std::string counts_line(const incdeps::EventTally& tally) {
  const auto t = tally.total();
  std::ostringstream os;
  os << "executed " << t.executed << ", validated " << t.validated << ", backdated "
     << t.backdated;
  std::string detail;
  for (const auto& [name, c] : tally.by_query()) {
    if (c.executed == 0 && c.validated == 0 && c.backdated == 0) continue;
    std::string short_name = name;
    if (short_name.size() > 3 && short_name.ends_with("_fn")) short_name.resize(short_name.size() - 3);
    if (!detail.empty()) detail += "; ";
    detail += short_name + " " + std::to_string(c.executed) + "/" + std::to_string(c.validated) +
              "/" + std::to_string(c.backdated);
  }
  os << "  [exec/valid/backdated: " << detail << "]";
  return os.str();
}

std::string describe_changes(const incdeps::Answers& before, const incdeps::Answers& after) {
  std::size_t direct = 0, resolved = 0, closure = 0, sizes = 0;
  long long size_delta = 0;
  for (std::size_t i = 0; i < after.paths.size(); ++i) {
    direct += before.direct[i] != after.direct[i];
    resolved += before.resolved[i] != after.resolved[i];
    if (before.closure[i] != after.closure[i]) {
      ++closure;
      sizes += before.closure[i].size() != after.closure[i].size();
      size_delta += static_cast<long long>(after.closure[i].size()) -
                    static_cast<long long>(before.closure[i].size());
    }
  }
  std::ostringstream os;
  os << "direct includes changed for " << direct << ", resolved for " << resolved
     << ", closures changed for " << closure << " (sizes for " << sizes << ", total "
     << (size_delta >= 0 ? "+" : "") << size_delta << ")";
  const auto& sb = before.stats;
  const auto& sa = after.stats;
  if (sa.edges != sb.edges)
    os << ", edges " << sb.edges << "->" << sa.edges;
  if (sa.unresolved != sb.unresolved)
    os << ", unresolved " << sb.unresolved << "->" << sa.unresolved;
  if (before.cycles != after.cycles)
    os << ", cycles " << before.cycles.size() << "->" << after.cycles.size() << " (changed)";
  return os.str();
}

void print_cycles(incdeps::Db& db, std::size_t limit) {
  const auto& cycles = incdeps::include_cycles(db, db.tree);
  std::printf("include cycles (SCCs of more than one header): %zu\n", cycles.size());
  for (std::size_t i = 0; i < cycles.size() && i < limit; ++i) {
    std::printf("  [%zu headers]", cycles[i].size());
    for (std::size_t j = 0; j < cycles[i].size() && j < 6; ++j)
      std::printf(" %s", db.path(cycles[i][j]).c_str());
    if (cycles[i].size() > 6) std::printf(" ...");
    std::printf("\n");
  }
}

struct EditRecord {
  std::string kind;
  double ms;
};

}  // namespace

int main(int argc, char** argv) {
  const Options opt = parse_args(argc, argv);
  const std::string root = incdeps::normalize_path(opt.root);
  if (!is_dir(root)) usage(("not a directory: " + root).c_str());
  const std::vector<std::string> include_paths = include_paths_for(opt);

  // ---- load -------------------------------------------------------------------------------
  std::vector<std::string> walk{root};
  for (const auto& p : include_paths)
    if (p != root && p.rfind(root + "/", 0) != 0 && is_dir(p)) walk.push_back(p);
  auto t0 = Clock::now();
  std::uint64_t bytes = 0;
  incdeps::FileMap files = incdeps::read_tree(walk, &bytes);
  const double read_ms = ms_since(t0);
  if (files.empty()) usage(("no files under " + root).c_str());

  incdeps::Db db;
  t0 = Clock::now();
  incdeps::load(db, std::move(files), include_paths);
  const double create_ms = ms_since(t0);

  std::printf("incdeps: %zu headers (%.1f MB) under %s\n", db.headers.size(), bytes / 1e6,
              root.c_str());
  std::printf("include paths:");
  for (const auto& p : db.include_paths) std::printf(" %s", p.c_str());
  std::printf("\n");

  // ---- cold run -----------------------------------------------------------------------------
  std::optional<incdeps::EventTally> tally_storage;
  if (opt.count_events) tally_storage.emplace(db);
  incdeps::EventTally* tally = tally_storage ? &*tally_storage : nullptr;
  t0 = Clock::now();
  incdeps::evaluate(db, {});
  const double cold_ms = ms_since(t0);
  const auto cold_counts = tally ? tally->total() : incdeps::EventTally::Counts{};
  incdeps::Answers answers = incdeps::snapshot(db, {});

  const auto& stats = incdeps::graph_stats(db, db.tree);
  std::printf("\n== summary ==\n");
  std::printf("headers %u, include edges %llu, unresolved includes %llu, computed (#include "
              "MACRO) %llu\n",
              stats.headers, static_cast<unsigned long long>(stats.edges),
              static_cast<unsigned long long>(stats.unresolved),
              static_cast<unsigned long long>(stats.computed));
  std::printf("read files %.0f ms, create inputs %.0f ms, cold queries %.0f ms (%s)\n", read_ms,
              create_ms, cold_ms,
              tally ? (std::to_string(cold_counts.executed) + " executed").c_str()
                    : "events not counted");

  {  // most common unresolved names
    std::map<std::string, std::size_t> count;
    for (const auto& u : answers.unresolved)
      for (const auto& name : u) ++count[name];
    std::vector<std::pair<std::size_t, std::string>> v;
    for (auto& [name, c] : count) v.emplace_back(c, name);
    std::sort(v.begin(), v.end(), [](auto& a, auto& b) { return a.first > b.first; });
    std::printf("most common unresolved (%zu distinct):", v.size());
    for (std::size_t i = 0; i < v.size() && i < opt.top; ++i)
      std::printf(" %s x%zu", v[i].second.c_str(), v[i].first);
    std::printf("\n");
  }
  {  // largest closures
    std::vector<std::uint32_t> order(db.headers.size());
    for (std::uint32_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](auto a, auto b) {
      return answers.closure[a].size() > answers.closure[b].size();
    });
    std::uint64_t total = 0;
    for (const auto& c : answers.closure) total += c.size();
    std::printf("largest transitive closures (mean %.1f):\n",
                static_cast<double>(total) / static_cast<double>(db.headers.size()));
    for (std::size_t i = 0; i < order.size() && i < opt.top; ++i)
      std::printf("  %6zu  %s\n", answers.closure[order[i]].size(), answers.paths[order[i]].c_str());
  }
  {  // most depended-on: touching these invalidates the most closures
    std::vector<std::uint32_t> reached(db.headers.size(), 0);
    for (const auto& c : answers.closure)
      for (auto id : c) ++reached[id];
    std::vector<std::uint32_t> order(db.headers.size());
    for (std::uint32_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](auto a, auto b) { return reached[a] > reached[b]; });
    std::printf("most transitively included (touching it can invalidate N closures):\n");
    for (std::size_t i = 0; i < order.size() && i < std::min<std::size_t>(opt.top, 5); ++i) {
      const auto h = db.headers[order[i]];
      const auto n = incdeps::dependents(db, h).size();  // the reverse-closure query agrees
      std::printf("  %6u  %s%s\n", reached[order[i]], answers.paths[order[i]].c_str(),
                  n == reached[order[i]] ? "" : "  (MISMATCH with dependents())");
    }
  }
  print_cycles(db, opt.top);

  // ---- edits ----------------------------------------------------------------------------------
  std::vector<incdeps::Edit> edits;
  if (!opt.script.empty()) edits = read_script(opt.script, root);
  const std::size_t scripted = edits.size();
  std::mt19937_64 rng(opt.seed);
  std::vector<EditRecord> records;
  const std::size_t total_edits = scripted + static_cast<std::size_t>(std::max(0, opt.random_edits));
  if (total_edits) std::printf("\n== edits ==\n");
  for (std::size_t k = 0; k < total_edits; ++k) {
    incdeps::Edit e = k < scripted ? edits[k] : random_edit(db, rng, static_cast<int>(k - scripted));
    const auto target = db.find(e.path);
    if (!target) {
      std::fprintf(stderr, "edit %zu: no such header %s\n", k + 1, e.path.c_str());
      return 1;
    }
    const std::size_t predicted = incdeps::dependents(db, *target).size();  // before the edit
    std::string what;
    try {
      what = incdeps::apply_edit(db, e);
    } catch (const std::invalid_argument& err) {
      std::printf("edit %zu: skipped (%s)\n", k + 1, err.what());
      continue;
    }
    if (tally) tally->reset();
    t0 = Clock::now();
    incdeps::evaluate(db, {*target});
    const double edit_ms = ms_since(t0);
    records.push_back({to_string(e.kind), edit_ms});
    const auto closure_runs = tally ? tally->of("closure").executed : 0;

    incdeps::Answers now = incdeps::snapshot(db, {target->index()});
    std::printf("edit %zu: %s %s  %s\n", k + 1, to_string(e.kind), e.path.c_str(), what.c_str());
    std::printf("  %.2f ms; %s\n", edit_ms,
                tally ? counts_line(*tally).c_str() : "(events not counted)");
    std::printf("  %s; closure re-ran for %s (touching it could invalidate %zu)\n",
                describe_changes(answers, now).c_str(),
                tally ? std::to_string(closure_runs).c_str() : "?", predicted + 1);
    if (closure_runs > predicted + 1) {
      std::printf("  ERROR: more closures re-ran than the header's dependents\n");
      return 2;
    }
    if (opt.check) {
      t0 = Clock::now();
      incdeps::Db fresh;
      incdeps::load(fresh, incdeps::current_files(db), db.include_paths);
      incdeps::evaluate(fresh, {fresh.headers.at(target->index())});
      const incdeps::Answers expect = incdeps::snapshot(fresh, {target->index()});
      const std::string diff = incdeps::first_difference(now, expect);
      if (!diff.empty()) {
        std::fprintf(stderr,
                     "\nCHECK FAILED after edit %zu (%s %s): incremental and from-scratch "
                     "answers differ: %s\n",
                     k + 1, to_string(e.kind), e.path.c_str(), diff.c_str());
        return 2;
      }
      std::printf("  check: equal to a from-scratch run (%.0f ms)\n", ms_since(t0));
    }
    answers = std::move(now);
  }

  // ---- final ----------------------------------------------------------------------------------
  if (!records.empty()) {
    std::printf("\n== per-edit times (ms) ==\n");
    std::map<std::string, std::vector<double>> by_kind;
    for (const auto& r : records) by_kind[r.kind].push_back(r.ms);
    for (auto& [kind, v] : by_kind) {
      std::sort(v.begin(), v.end());
      double sum = 0;
      for (double x : v) sum += x;
      std::printf("  %-8s n=%zu  min %.2f  median %.2f  max %.2f  mean %.2f\n", kind.c_str(),
                  v.size(), v.front(), v[v.size() / 2], v.back(), sum / static_cast<double>(v.size()));
    }
    print_cycles(db, opt.top);
  }
  std::printf("cold %.0f ms (queries) + %.0f ms (read) ; peak RSS %ld MB%s\n", cold_ms, read_ms,
              peak_rss_kb() / 1024, opt.check ? " (includes --check's fresh databases)" : "");
  return 0;
}

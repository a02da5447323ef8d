// long_session: the memory of a long editor session, with and without parsed_module's LRU and
// with the reclaimable AST (examples/memory/pymod.hpp: the seed's source_text /
// parsed_module (lru 200) / semantic_index pattern).
//
// 2,000 synthetic Python files. The session has 50 revisions; in each, the user opens 40 new
// files (each parsed and analysed), edits 5 already open files, and every open file is
// brought up to date (unchanged ones verify without parsing). Variants:
//   no_lru     parsed_module.set_lru(db, 0): every AST stays
//   lru_200    as declared: values beyond 200 are dropped at each revision boundary
//   reclaim    lru 200, and every AST is cleared right after its file was analysed
//              (ParsedModule::clear): within a revision too, only ASTs in use stay
// Each run happens in a forked child, so that its peak RSS (getrusage ru_maxrss) is its own.
// Counters: peak_rss_mib, live_asts (at the end), parses (all, including re-parses),
// ms_per_revision.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "../../examples/memory/pymod.hpp"

namespace {

constexpr std::uint32_t kFiles = 2000;
constexpr std::uint32_t kRevisions = 50;
constexpr std::uint32_t kOpenPerRevision = kFiles / kRevisions;
constexpr std::uint32_t kEditsPerRevision = 5;

enum class Variant { no_lru, lru_200, reclaim };

// ~60 functions of 4 lines, a class, imports: about 250 lines, ~8 KiB of text.
std::string synthetic_file(std::uint32_t i, std::uint32_t version) {
  std::string s = "import os\nimport mod" + std::to_string(i % 97) + "\nfrom pkg" +
                  std::to_string(i % 13) + " import a, b, c\n";
  s += "VERSION = " + std::to_string(version) + "\n";
  for (std::uint32_t f = 0; f < 60; ++f) {
    s += "def function_" + std::to_string(f) + "_of_" + std::to_string(i) +
         "(alpha, beta, gamma):\n";
    s += "    local_" + std::to_string(f) + " = alpha + beta * gamma - " + std::to_string(f) + "\n";
    s += "    other_" + std::to_string(f) + " = compute(local_" + std::to_string(f) + ", " +
         std::to_string(i) + ")\n";
    s += "    return other_" + std::to_string(f) + "\n";
  }
  s += "class Holder" + std::to_string(i) + "(Base):\n    field = 1\n";
  s += "    def method(self):\n        return self.field\n";
  return s;
}

struct Result {
  long peak_rss_kb;
  std::int64_t live_asts;
  std::uint64_t parses;
  double ms_per_revision;
};

Result session(Variant v) {
  pymod::Db db;
  if (v == Variant::no_lru) pymod::parsed_module.set_lru(db, 0);
  std::vector<pymod::File> files;
  std::vector<std::uint32_t> versions(kFiles, 0);
  for (std::uint32_t i = 0; i < kFiles; ++i)
    files.push_back(pymod::File::create(
        db, {.path = "f" + std::to_string(i) + ".py", .text = synthetic_file(i, 0)}));
  std::mt19937 rng(42);
  std::size_t sink = 0;
  const auto t0 = std::chrono::steady_clock::now();
  std::uint32_t open = 0;
  for (std::uint32_t rev = 0; rev < kRevisions; ++rev) {
    if (open > 0) {
      for (std::uint32_t e = 0; e < kEditsPerRevision; ++e) {
        const std::uint32_t i = rng() % open;
        files[i].set(db, &pymod::FileData::text, synthetic_file(i, ++versions[i]));
      }
    }
    open += kOpenPerRevision;
    for (std::uint32_t i = 0; i < open; ++i) {
      const std::uint32_t scopes = pymod::scope_count(db, files[i]);
      for (std::uint32_t s = 0; s < scopes; s += 16) sink += pymod::symbol_count(db, files[i], s);
      if (v == Variant::reclaim &&
          decltype(pymod::parsed_module)::ingredient(db).has_value(files[i].index()))
        pymod::parsed_module(db, files[i]).clear();
    }
  }
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  benchmark::DoNotOptimize(sink);
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return {ru.ru_maxrss, pymod::LiveAst::count().load(), db.parses.load(), ms / kRevisions};
}

void BM_long_session(benchmark::State& state) {
  const auto v = static_cast<Variant>(state.range(0));
  Result r{};
  for (auto _ : state) {
    int fds[2];
    if (pipe(fds) != 0) {
      state.SkipWithError("pipe failed");
      return;
    }
    const pid_t pid = fork();
    if (pid == 0) {
      close(fds[0]);
      const Result child = session(v);
      [[maybe_unused]] const ssize_t n = write(fds[1], &child, sizeof child);
      _exit(0);
    }
    close(fds[1]);
    const ssize_t n = read(fds[0], &r, sizeof r);
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (n != sizeof r || !WIFEXITED(status)) {
      state.SkipWithError("session child failed");
      return;
    }
    state.SetIterationTime(r.ms_per_revision * kRevisions / 1000.0);
  }
  state.counters["peak_rss_mib"] = static_cast<double>(r.peak_rss_kb) / 1024.0;
  state.counters["live_asts"] = static_cast<double>(r.live_asts);
  state.counters["parses"] = static_cast<double>(r.parses);
  state.counters["ms_per_revision"] = r.ms_per_revision;
}
BENCHMARK(BM_long_session)
    ->ArgName("variant")  // 0: no LRU, 1: LRU 200, 2: LRU 200 + reclaim after use
    ->Arg(static_cast<int>(Variant::no_lru))
    ->Arg(static_cast<int>(Variant::lru_200))
    ->Arg(static_cast<int>(Variant::reclaim))
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace

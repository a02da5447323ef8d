// parallel: what threads cost and what they buy.
//
// 1. fast_path, after salsa's parallel fast-path benchmark: every worker thread fetches 4,096
//    memos that are already verified in the current revision (cached hits), workers = 1 or 2
//    (->Threads). `disjoint`: each worker has its own 4,096 memos; `shared`: all workers fetch
//    the same 4,096 (the memo table's cache lines are read by both cores). The hot path only
//    loads (no stores when LRU is off), so a hit should cost the same with 1 and 2 workers:
//    the counter `ns_per_hit` is each worker's own wall time per hit, averaged over workers,
//    and `cpu_ns_per_hit` the same in thread CPU time (meaningful on a busy machine too).
//    (google-benchmark's Time column for threaded runs is aggregate time per iteration, i.e.
//    it halves when two workers scale perfectly.)
//
// 2. cold_check: 1,024 independent "files", each checked by a small tree of 10 queries doing
//    real work (generating a 512-byte text, hashing quarters of it, combining):
//
//      check    = pair0 + pair1 + words + length
//      pair_P   = mix(chunk_{2P}, chunk_{2P+1})            P = 0, 1
//      chunk_C  = 4 rounds of FNV-1a over quarter C of text  C = 0..3
//      words    = number of spaces in text
//      length   = text.size()
//      text     = 512 pseudo-random letters and spaces from the file's seed (Returns::ref)
//
//    Each iteration builds a fresh database (untimed), then T threads (T = 1 or 2, the
//    argument; thread start-up is timed, ~tens of us) check the files, thread t taking files
//    t, t+T, ... The counter `speedup` (on the 2-thread run) is the 1-thread run's time per
//    iteration divided by this one's; 2.0 is perfect on this 2-core machine (wall clock: it
//    needs an idle machine). `cpu_us_per_file` sums the workers' CPU time: the same for 1 and
//    2 threads means the parallel run does no extra work (blocking, contention, cache misses).
#include <benchmark/benchmark.h>
#include <time.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <relish/relish.hpp>

namespace {

// CPU time of the calling thread: unlike wall time, not inflated when other processes share
// the cores (the wall-clock figures need an otherwise idle machine).
double thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

// ---- 1. fast path ----------------------------------------------------------------------

struct NumData {
  std::uint64_t value;
};
using Num = relish::Input<NumData>;
struct HitDb : relish::Database {};

[[gnu::noinline]] std::uint64_t value_plus_one_fn(HitDb& db, Num n) {
  return n.get(db, &NumData::value) + 1;
}
inline constexpr relish::Query<value_plus_one_fn> value_plus_one;

constexpr std::size_t kHitsPerWorker = 4096;
constexpr int kMaxWorkers = 2;

struct HitFixture {
  HitDb db;
  std::vector<Num> inputs;
  HitFixture() {
    for (std::size_t i = 0; i < kHitsPerWorker * kMaxWorkers; ++i)
      inputs.push_back(Num::create(db, {.value = i}));
    for (Num n : inputs) value_plus_one(db, n);  // every memo verified in this revision
  }
};

HitFixture& hit_fixture() {
  static HitFixture fx;  // built once, before (or by) the first worker; thread-safe
  return fx;
}

void run_hits(benchmark::State& state, bool shared) {
  HitFixture& fx = hit_fixture();
  const std::size_t first = shared ? 0 : static_cast<std::size_t>(state.thread_index()) *
                                             kHitsPerWorker;
  const Num* keys = fx.inputs.data() + first;
  const auto t0 = std::chrono::steady_clock::now();
  const double cpu0 = thread_cpu_ns();
  for (auto _ : state) {
    for (std::size_t i = 0; i < kHitsPerWorker; ++i)
      benchmark::DoNotOptimize(value_plus_one(fx.db, keys[i]));
  }
  const double cpu = thread_cpu_ns() - cpu0;
  const double ns = std::chrono::duration<double, std::nano>(
                        std::chrono::steady_clock::now() - t0)
                        .count();
  const double hits = static_cast<double>(state.iterations()) * kHitsPerWorker;
  state.counters["ns_per_hit"] = benchmark::Counter(ns / hits, benchmark::Counter::kAvgThreads);
  state.counters["cpu_ns_per_hit"] =
      benchmark::Counter(cpu / hits, benchmark::Counter::kAvgThreads);
  state.counters["hits_per_s"] = benchmark::Counter(hits * 1e9 / ns);  // summed over workers
}

void BM_relish_fast_path_disjoint(benchmark::State& state) { run_hits(state, false); }
void BM_relish_fast_path_shared(benchmark::State& state) { run_hits(state, true); }
BENCHMARK(BM_relish_fast_path_disjoint)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_relish_fast_path_shared)->Threads(1)->Threads(2)->UseRealTime();

// ---- 2. cold check ---------------------------------------------------------------------

struct FileData {
  std::uint64_t seed;
};
using File = relish::Input<FileData>;
struct CheckDb : relish::Database {};

constexpr std::size_t kFiles = 1024;
constexpr std::size_t kTextBytes = 512;
constexpr std::size_t kQueriesPerFile = 10;

std::string text_fn(CheckDb& db, File f) {
  std::uint64_t x = f.get(db, &FileData::seed) * 6364136223846793005ull + 1442695040888963407ull;
  std::string s(kTextBytes, ' ');
  for (char& c : s) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    const auto r = static_cast<unsigned>(x >> 59);  // 0..31
    c = r < 26 ? static_cast<char>('a' + r) : ' ';
  }
  return s;
}
inline constexpr relish::Query<text_fn, relish::Options{.returns = relish::Returns::ref}> text;

std::uint64_t fnv_rounds(const char* p, std::size_t n, std::uint64_t h) {
  for (int round = 0; round < 4; ++round) {
    for (std::size_t i = 0; i < n; ++i) {
      h ^= static_cast<unsigned char>(p[i]);
      h *= 1099511628211ull;
    }
  }
  return h;
}

template <int C>
std::uint64_t chunk_fn(CheckDb& db, File f) {
  const std::string& t = text(db, f);
  constexpr std::size_t q = kTextBytes / 4;
  return fnv_rounds(t.data() + C * q, q, 14695981039346656037ull + C);
}
inline constexpr relish::Query<chunk_fn<0>> chunk0;
inline constexpr relish::Query<chunk_fn<1>> chunk1;
inline constexpr relish::Query<chunk_fn<2>> chunk2;
inline constexpr relish::Query<chunk_fn<3>> chunk3;

std::uint64_t mix(std::uint64_t a, std::uint64_t b) {
  return (a ^ (b + 0x9e3779b97f4a7c15ull + (a << 6) + (a >> 2))) * 0xff51afd7ed558ccdull;
}
std::uint64_t pair0_fn(CheckDb& db, File f) { return mix(chunk0(db, f), chunk1(db, f)); }
std::uint64_t pair1_fn(CheckDb& db, File f) { return mix(chunk2(db, f), chunk3(db, f)); }
inline constexpr relish::Query<pair0_fn> pair0;
inline constexpr relish::Query<pair1_fn> pair1;

std::uint64_t words_fn(CheckDb& db, File f) {
  std::uint64_t n = 0;
  for (char c : text(db, f)) n += c == ' ';
  return n;
}
inline constexpr relish::Query<words_fn> words;
std::uint64_t length_fn(CheckDb& db, File f) { return text(db, f).size(); }
inline constexpr relish::Query<length_fn> length;

std::uint64_t check_fn(CheckDb& db, File f) {
  return pair0(db, f) + pair1(db, f) + words(db, f) + length(db, f);
}
inline constexpr relish::Query<check_fn> check;

struct CheckFixture {
  CheckDb db;
  std::vector<File> files;
  CheckFixture() {
    files.reserve(kFiles);
    for (std::size_t i = 0; i < kFiles; ++i) files.push_back(File::create(db, {.seed = i}));
  }
};

double one_thread_ns_per_iteration = 0;  // set by the 1-thread run, read by the 2-thread one

void BM_relish_cold_check(benchmark::State& state) {
  const int n_threads = static_cast<int>(state.range(0));
  std::uint64_t checksum = 0;
  double timed_ns = 0;
  double worker_cpu_ns = 0;  // summed over the workers
  for (auto _ : state) {
    state.PauseTiming();
    auto fx = std::make_unique<CheckFixture>();
    std::vector<std::uint64_t> sums(n_threads, 0);
    std::vector<double> cpu(n_threads, 0);
    state.ResumeTiming();
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> threads;
    for (int t = 0; t < n_threads; ++t) {
      threads.emplace_back([&, t] {
        const double c0 = thread_cpu_ns();
        std::uint64_t s = 0;
        for (std::size_t i = t; i < kFiles; i += n_threads) s += check(fx->db, fx->files[i]);
        sums[t] = s;
        cpu[t] = thread_cpu_ns() - c0;
      });
    }
    for (auto& th : threads) th.join();
    timed_ns += std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0)
                    .count();
    state.PauseTiming();
    for (std::uint64_t s : sums) checksum += s;
    for (double c : cpu) worker_cpu_ns += c;
    fx.reset();
    state.ResumeTiming();
  }
  benchmark::DoNotOptimize(checksum);
  const double per_iteration = timed_ns / static_cast<double>(state.iterations());
  if (n_threads == 1) one_thread_ns_per_iteration = per_iteration;
  if (n_threads > 1 && one_thread_ns_per_iteration > 0)
    state.counters["speedup"] = one_thread_ns_per_iteration / per_iteration;
  // Total CPU per file over all workers: equal for 1 and 2 threads means no parallel overhead.
  state.counters["cpu_us_per_file"] =
      worker_cpu_ns / 1e3 / (static_cast<double>(state.iterations()) * kFiles);
  state.counters["us_per_file"] =
      benchmark::Counter(kFiles, benchmark::Counter::kIsIterationInvariantRate |
                                     benchmark::Counter::kInvert);
  state.counters["ns_per_query"] =
      benchmark::Counter(kFiles * kQueriesPerFile,
                         benchmark::Counter::kIsIterationInvariantRate |
                             benchmark::Counter::kInvert);
}
BENCHMARK(BM_relish_cold_check)->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace

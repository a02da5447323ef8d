// edit_cost: what one leaf edit costs as the graph grows, with every input low durability (no
// durability shortcut to lean on). Push-pull invalidation should make it proportional to the
// path from the edited leaf to what is read, not to the graph.
//
// 1. tree/N: N input leaves under a tree of fan-out 10 (leaf(i) reads input i; node(level, i)
//    sums its 10 children; one root). Each iteration sets the middle input to a new value
//    and re-fetches the root: the leaf, every node above it and the root re-run (depth
//    queries), each reading 10 children of which 9 are outside the write's cone and are
//    accepted without verification. Goal: memos touched <= 2 x depth x fan-out, and the time
//    at N = 10^6 at most 3x the time at 10^4.
//
// 2. files/N: N independent "files", each a root over its own 10 leaves (what pyscope does:
//    one check per file). Each iteration edits one leaf of file 0 and fetches every file's
//    root; the other N - 1 roots are clean. `per_clean_root` is the time per root read.
//    Goal: at most 15 ns per clean root.
//
// 3. first_write/N: the tree's first write after its cold run, which folds the run's edges.
//
// Counters (one untimed iteration): executed (queries re-run), validated (memos verified
// deeply), accepted (memos accepted in O(1), outside every write's cone), marked (nodes the
// write marked, the written field included).
#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include <relish/relish.hpp>

#include "../common/counters.hpp"

namespace {

using relish_bench::per_item;

struct NumData {
  std::uint64_t value;
};
using Num = relish::Input<NumData>;

constexpr std::uint32_t kFan = 10;

struct TreeDb : relish::Database {
  std::vector<Num> inputs;
  std::vector<std::uint32_t> width;  // nodes per level, level 0 = leaves
};

[[gnu::noinline]] std::uint64_t leaf_fn(TreeDb& db, Num n) { return n.get(db, &NumData::value); }
inline constexpr relish::Query<leaf_fn> leaf;

std::uint64_t node_fn(TreeDb& db, std::uint32_t level, std::uint32_t i);
inline constexpr relish::Query<node_fn> node;

[[gnu::noinline]] std::uint64_t node_fn(TreeDb& db, std::uint32_t level, std::uint32_t i) {
  std::uint64_t sum = 0;
  const std::uint32_t below = db.width[level - 1];
  for (std::uint32_t c = i * kFan; c < (i + 1) * kFan && c < below; ++c)
    sum += level == 1 ? leaf(db, db.inputs[c]) : node(db, level - 1, c);
  return sum;
}

void build_tree(TreeDb& db, std::uint32_t n) {
  for (std::uint32_t i = 0; i < n; ++i) db.inputs.push_back(Num::create(db, {i}));
  db.width.push_back(n);
  while (db.width.back() > 1) db.width.push_back((db.width.back() + kFan - 1) / kFan);
}

std::uint64_t root(TreeDb& db) {
  return node(db, static_cast<std::uint32_t>(db.width.size() - 1), 0);
}

// Events of one call of `step`, and the nodes its write marked.
template <class Step>
void count(benchmark::State& state, relish::Database& db, Step&& step) {
  std::size_t executed = 0, validated = 0, accepted = 0;
  db.on_event([&](const relish::Event& e) {
    if (e.kind == relish::EventKind::will_execute) ++executed;
    if (e.kind == relish::EventKind::did_validate_memoized_value) ++validated;
    if (e.kind == relish::EventKind::did_accept_clean) ++accepted;
  });
  step();
  db.on_event({});
  state.counters["executed"] = static_cast<double>(executed);
  state.counters["validated"] = static_cast<double>(validated);
  state.counters["accepted"] = static_cast<double>(accepted);
  state.counters["marked"] = static_cast<double>(db.runtime().marked_by_last_write());
}

void BM_tree(benchmark::State& state) {
  TreeDb db;
  build_tree(db, static_cast<std::uint32_t>(state.range(0)));
  benchmark::DoNotOptimize(root(db));
  const Num edited = db.inputs[db.inputs.size() / 2];
  std::uint64_t v = 1'000'000'000;
  auto edit = [&] {
    edited.set(db, &NumData::value, ++v);
    benchmark::DoNotOptimize(root(db));
  };
  for (int warm = 0; warm < 3; ++warm) edit();  // the first write folds the cold run's edges
  for (auto _ : state) edit();
  count(state, db, edit);
  state.counters["depth"] = static_cast<double>(db.width.size());
}
BENCHMARK(BM_tree)->Arg(10'000)->Arg(100'000)->Arg(1'000'000)->Unit(benchmark::kMicrosecond);

// The first write after a cold run folds every execution's dependencies into the reverse
// index (the first keystroke after a language server checked the project). Timed: that write
// alone; `per_edge` divides it by the edges folded.
void BM_first_write(benchmark::State& state) {
  const auto n = static_cast<std::uint32_t>(state.range(0));
  double edges = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto db = std::make_unique<TreeDb>();
    build_tree(*db, n);
    benchmark::DoNotOptimize(root(*db));
    state.ResumeTiming();
    db->inputs[n / 2].set(*db, &NumData::value, 1'000'000'000);
    state.PauseTiming();
    edges = static_cast<double>(db->runtime().reverse_index().edges());
    db.reset();
    state.ResumeTiming();
  }
  state.counters["edges"] = edges;
  state.counters["per_edge"] = per_item(edges);
}
BENCHMARK(BM_first_write)->Arg(100'000)->Arg(1'000'000)->Iterations(3)->Unit(benchmark::kMillisecond);

// ---- files ------------------------------------------------------------------------------

struct FileData {
  std::uint32_t first_leaf;  // its leaves are inputs[first_leaf .. first_leaf + kFan)
};
using File = relish::Input<FileData>;  // keyed on a handle, as pyscope's check_file(File)

struct FilesDb : relish::Database {
  std::vector<Num> inputs;  // kFan per file
  std::vector<File> files;
};

[[gnu::noinline]] std::uint64_t file_leaf_fn(FilesDb& db, Num n) {
  return n.get(db, &NumData::value);
}
inline constexpr relish::Query<file_leaf_fn> file_leaf;

[[gnu::noinline]] std::uint64_t check_file_fn(FilesDb& db, File file) {
  std::uint64_t sum = 0;
  const std::uint32_t first = file.get(db, &FileData::first_leaf);
  for (std::uint32_t k = 0; k < kFan; ++k) sum += file_leaf(db, db.inputs[first + k]);
  return sum;
}
inline constexpr relish::Query<check_file_fn> check_file;

void BM_files(benchmark::State& state) {
  FilesDb db;
  const auto files = static_cast<std::uint32_t>(state.range(0));
  for (std::uint32_t i = 0; i < files * kFan; ++i) db.inputs.push_back(Num::create(db, {i}));
  for (std::uint32_t f = 0; f < files; ++f) db.files.push_back(File::create(db, {f * kFan}));
  auto check_all = [&] {
    std::uint64_t sum = 0;
    relish::ReadScope read(db);
    for (const File f : db.files) sum += check_file(db, f);
    return sum;
  };
  benchmark::DoNotOptimize(check_all());
  std::uint64_t v = 1'000'000'000;
  auto edit = [&] {
    db.inputs[0].set(db, &NumData::value, ++v);
    benchmark::DoNotOptimize(check_all());
  };
  for (int warm = 0; warm < 3; ++warm) edit();
  for (auto _ : state) edit();
  count(state, db, edit);
  state.counters["per_clean_root"] = per_item(files);
}
BENCHMARK(BM_files)->Arg(10'000)->Arg(100'000)->Unit(benchmark::kMicrosecond);

}  // namespace

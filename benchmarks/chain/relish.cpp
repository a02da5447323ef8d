// chain: what one edit costs in a large graph, and how that cost grows with the graph.
//
// Two shapes.
//
// 1. Wide and shallow (a recursion 100,000 queries deep would overflow the stack):
//
//      root(0)     = sum of mid(0) .. mid(M-1)                  M = N / 100 mids
//      mid(m)      = sum of leaf(input[100m]) .. leaf(input[100m + 99])   key: plain uint32
//      leaf(input) = input.value                                         key: the Input handle
//
//    N = 10,000, 100,000 or 1,000,000 leaves (the benchmark argument; design.md's growth
//    budget speaks of a 1,000,000-query graph), N + N/100 + 1 queries in all.
//    Each iteration edits one leaf's input (the middle one, always to a new value) and
//    re-fetches root. Exactly 3 queries re-execute whatever N is (the leaf, its mid, root): the
//    counter `executed` shows it (counted with Database::on_event in a separate, untimed pass).
//
//    wide_all_low: every input is low durability. Deep verification then has to walk every
//      dependency of root: all mids are verified, each by checking its 100 leaves, each leaf by
//      checking its input field. Nothing is re-executed beyond the 3, but the verification walk
//      is O(graph), so the time per edit grows linearly with N (`ns_per_graph_query` stays
//      roughly flat; it rises somewhat once the graph outgrows the caches).
//    wide_durable: every input is high durability except the edited one. A mid that does not
//      contain the edited leaf is high durability and verified after the last high write, so
//      it is verified in O(1) without visiting its leaves (the durability shortcut). What is
//      left is proportional to the affected part: the edited mid checks its 100 leaves (99 of
//      them by the shortcut), and root, which re-executes, reads all M mids. Root's fan-in M is
//      part of the affected part (a root summing 1,000 values must read 1,000 values), so the
//      time still grows with N, but at 1/100 of the all-low rate.
//
// 2. Deep: chain(i) = chain(i-1) + input[i].value, chain(0) = input[0].value, for i < 10,000
//    (key: plain uint32, interned automatically). Verifying chain(9,999) recurses 10,000 queries
//    deep through the engine; that fits in the default 8 MiB stack with room to spare (it runs
//    with `ulimit -s 2048`). The chain is first executed bottom up, one level at a time.
//
//    deep_edit_top_all_low: edit input[9999] and re-fetch chain(9999). chain(9999) reads
//      chain(9998) first, so verification walks the whole chain down to chain(0) before it
//      finds the changed input: 9,999 memos verified, 1 re-executed. O(depth).
//    deep_edit_top_durable: the same, with every other input high durability: chain(9998) is
//      high durability and is verified in O(1); 1 re-execution, O(1) work.
//    deep_edit_bottom: edit input[0]: every chain(i) changes, 10,000 re-executions (the
//      affected part is the whole chain).
//
// design.md: "after a one-leaf edit in a graph of 1,000,000 queries, the work done must be
// proportional to the affected part, not to the graph." The all-low cases show the limit of
// deep verification alone; the durable cases show the shortcut that delivers the budget.
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include <relish/relish.hpp>

#include "../common/counters.hpp"

namespace {

using relish_bench::per_item;

struct NumData {
  std::size_t value;
};
using Num = relish::Input<NumData>;

struct ChainDb : relish::Database {
  std::vector<Num> inputs;
  std::uint32_t mids = 0;
};

constexpr std::uint32_t kFan = 100;  // leaves per mid
constexpr std::uint32_t kDeep = 10'000;

// ---- wide and shallow -------------------------------------------------------------------

[[gnu::noinline]] std::size_t leaf_fn(ChainDb& db, Num n) { return n.get(db, &NumData::value); }
inline constexpr relish::Query<leaf_fn> leaf;

[[gnu::noinline]] std::size_t mid_fn(ChainDb& db, std::uint32_t m) {
  std::size_t sum = 0;
  for (std::uint32_t j = 0; j < kFan; ++j) sum += leaf(db, db.inputs[m * kFan + j]);
  return sum;
}
inline constexpr relish::Query<mid_fn> mid;

// Root takes a dummy key: a query with no arguments does not compile at the moment
// (FunctionIngredient::on_entity_deleted names std::tuple_element_t<0, std::tuple<>> outside
// the short-circuit of its `if constexpr`).
[[gnu::noinline]] std::size_t root_fn(ChainDb& db, std::uint32_t /*unused*/) {
  std::size_t sum = 0;
  for (std::uint32_t m = 0; m < db.mids; ++m) sum += mid(db, m);
  return sum;
}
inline constexpr relish::Query<root_fn> root;

// ---- deep --------------------------------------------------------------------------------

std::size_t chain_fn(ChainDb& db, std::uint32_t i);
inline constexpr relish::Query<chain_fn> chain;

[[gnu::noinline]] std::size_t chain_fn(ChainDb& db, std::uint32_t i) {
  const std::size_t own = db.inputs[i].get(db, &NumData::value);
  return i == 0 ? own : chain(db, i - 1) + own;
}

// ---- helpers -----------------------------------------------------------------------------

// What one edit does, counted in an untimed pass after the timed loop: the observer is
// installed only here, so the timed loop emits no events.
struct EditCounts {
  std::size_t executed = 0;   // will_execute
  std::size_t validated = 0;  // did_validate_memoized_value (deep or shortcut verification)
};

template <class Edit, class Fetch>
EditCounts count_one_edit(ChainDb& db, Edit&& edit, Fetch&& fetch) {
  EditCounts c;
  edit();
  db.on_event([&c](const relish::Event& e) {
    if (e.kind == relish::EventKind::will_execute) ++c.executed;
    if (e.kind == relish::EventKind::did_validate_memoized_value) ++c.validated;
  });
  fetch();
  db.on_event({});
  return c;
}

// `edges`: dependency edges the verification walk checks (0: not a meaningful figure).
void report(benchmark::State& state, const EditCounts& c, double graph_nodes, double edges) {
  state.counters["executed"] = static_cast<double>(c.executed);
  state.counters["validated"] = static_cast<double>(c.validated);
  state.counters["graph_queries"] = graph_nodes;
  state.counters["ns_per_edit"] = per_item(1);
  // Time per query of the graph: flat across sizes when the walk is O(graph).
  state.counters["ns_per_graph_query"] = per_item(graph_nodes);
  // Time per memo the edit touched (verified or re-executed): the engine's unit cost.
  state.counters["ns_per_touched"] =
      per_item(static_cast<double>(c.executed + c.validated));
  if (edges > 0) state.counters["ns_per_edge"] = per_item(edges);
}

// ---- wide and shallow benchmarks ---------------------------------------------------------

// Bytes currently allocated from the heap (glibc).
double heap_in_use() { return static_cast<double>(mallinfo2().uordblks); }

// N inputs (all low, or all high but the edited one), all queries executed once. Returns the
// heap bytes the first execution of the N + N/100 + 1 queries added: memo slots (including
// the slack of the memo tables, which grow by doubling), dependency arrays, the intern table
// of mid's keys and the execution stack's dependency buffers.
double build_wide(ChainDb& db, std::uint32_t n, std::uint32_t edited, bool durable) {
  db.inputs.reserve(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    const bool high = durable && i != edited;
    db.inputs.push_back(Num::create(
        db, {.value = i}, high ? relish::Durability::high : relish::Durability::low));
  }
  db.mids = n / kFan;
  const double before = heap_in_use();
  benchmark::DoNotOptimize(root(db, 0));
  return heap_in_use() - before;
}

void run_wide(benchmark::State& state, bool durable) {
  const auto n = static_cast<std::uint32_t>(state.range(0));
  const std::uint32_t edited = n / 2;
  ChainDb db;
  const double memo_bytes = build_wide(db, n, edited, durable);
  std::size_t k = n;  // new values never repeat an old one: every edit changes root
  auto edit = [&] { db.inputs[edited].set(db, &NumData::value, ++k); };
  auto fetch = [&] { benchmark::DoNotOptimize(root(db, 0)); };
  for (auto _ : state) {
    edit();
    fetch();
  }
  // All low: the walk checks root -> mid (M edges), mid -> leaf (N), leaf -> input.value (N).
  // (An edge is checked once: a memo verified in this revision answers at once.)
  const double queries = n + db.mids + 1.0;
  report(state, count_one_edit(db, edit, fetch), queries, durable ? 0.0 : 2.0 * n + db.mids);
  // Bookkeeping: heap bytes per memo; the graph has (2N + M) / (N + M + 1) ~ 2 edges per memo.
  state.counters["heap_bytes_per_memo"] = memo_bytes / queries;
}

void BM_relish_wide_all_low(benchmark::State& state) { run_wide(state, false); }
BENCHMARK(BM_relish_wide_all_low)->Arg(10'000)->Arg(100'000)->Arg(1'000'000)
    ->Unit(benchmark::kMicrosecond);

void BM_relish_wide_durable(benchmark::State& state) { run_wide(state, true); }
BENCHMARK(BM_relish_wide_durable)->Arg(10'000)->Arg(100'000)->Arg(1'000'000)
    ->Unit(benchmark::kMicrosecond);

// ---- deep benchmarks ---------------------------------------------------------------------

void build_deep(ChainDb& db, bool durable, std::uint32_t edited) {
  db.inputs.reserve(kDeep);
  for (std::uint32_t i = 0; i < kDeep; ++i) {
    const bool high = durable && i != edited;
    db.inputs.push_back(Num::create(
        db, {.value = i}, high ? relish::Durability::high : relish::Durability::low));
  }
  // Bottom up, so that the first executions recurse one level each.
  for (std::uint32_t i = 0; i < kDeep; ++i) benchmark::DoNotOptimize(chain(db, i));
}

void run_deep(benchmark::State& state, bool durable, std::uint32_t edited) {
  ChainDb db;
  build_deep(db, durable, edited);
  std::size_t k = kDeep;
  auto edit = [&] { db.inputs[edited].set(db, &NumData::value, ++k); };
  auto fetch = [&] { benchmark::DoNotOptimize(chain(db, kDeep - 1)); };
  for (auto _ : state) {
    edit();
    fetch();
  }
  // Edit at the top, all low: chain(i) -> chain(i-1) and chain(i) -> input[i].value for every
  // i > 0, and chain(0) -> input[0].value: 2 * 10,000 - 1 edges.
  report(state, count_one_edit(db, edit, fetch), kDeep,
         (!durable && edited == kDeep - 1) ? 2.0 * kDeep - 1 : 0.0);
}

void BM_relish_deep_edit_top_all_low(benchmark::State& state) {
  run_deep(state, false, kDeep - 1);
}
BENCHMARK(BM_relish_deep_edit_top_all_low)->Unit(benchmark::kMicrosecond);

void BM_relish_deep_edit_top_durable(benchmark::State& state) {
  run_deep(state, true, kDeep - 1);
}
BENCHMARK(BM_relish_deep_edit_top_durable)->Unit(benchmark::kMicrosecond);

void BM_relish_deep_edit_bottom(benchmark::State& state) { run_deep(state, false, 0); }
BENCHMARK(BM_relish_deep_edit_bottom)->Unit(benchmark::kMicrosecond);

}  // namespace

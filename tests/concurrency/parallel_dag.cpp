// Many threads querying one shared random DAG of queries (the graph is data, as in
// tests/differential_test.cpp: one query node(i) interprets node i's description). Every
// thread asks for every node, in its own random order, so threads constantly collide on the
// same memos: one computes, the others block or hit. Checked:
//   - every value equals single-threaded evaluation from scratch;
//   - cold pass: each memo executed exactly once (will_execute events, counted by a
//     mutex-protected callback installed before the threads start, and the function bodies);
//   - after edits, a warm pass: values are right again and no memo executes twice in the
//     revision;
//   - no thread saw any exception (a CycleError in a DAG would be a false cycle).
#include <catch2/catch.hpp>
#include <relish/relish.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "support.hpp"

namespace {

struct CellData {
  std::uint64_t a = 0;
  std::uint64_t b = 0;
};
using Cell = relish::Input<CellData>;

enum class Op : std::uint8_t { sum, min, max, mix };

struct Dep {
  bool is_node = false;
  std::uint32_t index = 0;  // node index, or cell index
  std::uint8_t field = 0;   // for a cell: 0 = a, 1 = b
};

struct NodeSpec {
  std::vector<Dep> reads;  // nodes only read lower nodes
  Op op = Op::sum;
  bool cut = false;  // if set and the first value read is odd, only the first read counts
};

template <class Read>
std::uint64_t evaluate(const NodeSpec& spec, Read&& read) {
  std::uint64_t acc = spec.op == Op::min ? std::numeric_limits<std::uint64_t>::max() : 0;
  for (std::size_t k = 0; k < spec.reads.size(); ++k) {
    const std::uint64_t v = read(spec.reads[k]);
    switch (spec.op) {
      case Op::sum: acc = (acc + v) % 1000; break;
      case Op::min: acc = std::min(acc, v); break;
      case Op::max: acc = std::max(acc, v); break;
      case Op::mix: acc = (acc * 31 + v + 7) % 1000; break;
    }
    if (k == 0 && spec.cut && v % 2 == 1) break;
  }
  return acc;
}

struct Db : relish::Database {
  std::vector<NodeSpec> nodes;  // read-only once threads start
  std::vector<Cell> cells;
  std::unique_ptr<std::atomic<std::uint32_t>[]> body_runs;  // per node, function bodies
};

std::uint64_t node_value(Db& db, std::uint32_t i);
inline constexpr relish::Query<node_value> node;

std::uint64_t node_value(Db& db, std::uint32_t i) {
  db.body_runs[i].fetch_add(1, std::memory_order_relaxed);
  return evaluate(db.nodes[i], [&](const Dep& d) -> std::uint64_t {
    if (d.is_node) return node(db, d.index);
    return d.field ? db.cells[d.index].get(db, &CellData::b)
                   : db.cells[d.index].get(db, &CellData::a);
  });
}

std::vector<NodeSpec> random_graph(std::mt19937_64& rng, std::uint32_t n_nodes,
                                   std::uint32_t n_cells) {
  std::vector<NodeSpec> nodes(n_nodes);
  for (std::uint32_t i = 0; i < n_nodes; ++i) {
    NodeSpec& spec = nodes[i];
    const std::size_t n_reads = 1 + rng() % 5;
    for (std::size_t k = 0; k < n_reads; ++k) {
      Dep d;
      if (i > 0 && rng() % 10 < 7) {
        d.is_node = true;
        const std::uint32_t back =
            rng() % 2 ? 1 + rng() % std::min<std::uint32_t>(i, 4) : 1 + rng() % i;
        d.index = i - back;
      } else {
        d.index = rng() % n_cells;
        d.field = rng() % 2;
      }
      spec.reads.push_back(d);
    }
    spec.op = static_cast<Op>(rng() % 4);
    spec.cut = n_reads > 1 && rng() % 4 == 0;
  }
  return nodes;
}

std::vector<std::uint64_t> from_scratch(const std::vector<NodeSpec>& nodes,
                                        const std::vector<CellData>& cells) {
  std::vector<std::uint64_t> value(nodes.size());
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    value[i] = evaluate(nodes[i], [&](const Dep& d) {
      return d.is_node ? value[d.index] : (d.field ? cells[d.index].b : cells[d.index].a);
    });
  }
  return value;
}

// What one pass of all threads saw.
struct PassResult {
  std::vector<std::vector<std::uint64_t>> values;  // [thread][node]
  std::vector<std::string> errors;                 // one per thread, "" if none
};

// Every thread queries every node in its own order; returns what each saw.
PassResult parallel_pass(Db& db, int n_threads, std::uint64_t seed,
                         relish_conc::Watchdog& dog) {
  const auto n = static_cast<std::uint32_t>(db.nodes.size());
  PassResult out;
  out.values.assign(n_threads, std::vector<std::uint64_t>(n, ~std::uint64_t{0}));
  out.errors.assign(n_threads, "");
  relish_conc::StartLine start(n_threads);
  std::vector<std::thread> threads;
  for (int t = 0; t < n_threads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<std::uint32_t> order(n);
      for (std::uint32_t i = 0; i < n; ++i) order[i] = i;
      std::mt19937_64 rng(seed * 1000 + t);
      // Half the threads go mostly top-down (deep recursions), half in random order.
      if (t % 2 == 0) {
        std::shuffle(order.begin(), order.end(), rng);
      } else {
        std::reverse(order.begin(), order.end());
      }
      start.arrive_and_wait();
      try {
        for (std::uint32_t i : order) {
          out.values[t][i] = node(db, i);
          dog.tick();
        }
      } catch (const std::exception& e) {
        out.errors[t] = e.what();
      }
    });
  }
  for (auto& th : threads) th.join();
  return out;
}

void run_dag(std::uint64_t seed, int n_threads) {
  CAPTURE(seed, n_threads);
  relish_conc::Watchdog dog("parallel DAG, " + std::to_string(n_threads) + " threads");
  std::mt19937_64 rng(seed);
  const std::uint32_t n_cells = 8 + rng() % 8;
  const std::uint32_t n_nodes = 600 + rng() % 200;

  Db db;
  db.nodes = random_graph(rng, n_nodes, n_cells);
  db.body_runs = std::make_unique<std::atomic<std::uint32_t>[]>(n_nodes);
  std::vector<CellData> state(n_cells);
  for (std::uint32_t c = 0; c < n_cells; ++c) {
    state[c] = CellData{rng() % 100, rng() % 100};
    db.cells.push_back(Cell::create(db, state[c]));
  }

  // Created before the callback and the threads: the ingredient index of node().
  const std::uint32_t node_ingredient = node.ingredient(db).first_index();
  std::mutex events_mu;
  std::vector<std::uint32_t> executions;  // by memo id (interned key id), will_execute count
  std::uint64_t foreign_events = 0;
  db.on_event([&](const relish::Event& e) {
    if (e.kind != relish::EventKind::will_execute) return;
    std::lock_guard<std::mutex> lock(events_mu);
    if (e.key.ingredient != node_ingredient) {
      ++foreign_events;
      return;
    }
    if (executions.size() <= e.key.key) executions.resize(e.key.key + 1, 0);
    ++executions[e.key.key];
  });
  auto reset_counts = [&] {
    executions.clear();
    for (std::uint32_t i = 0; i < n_nodes; ++i) db.body_runs[i].store(0);
  };

  for (int pass = 0; pass < 3; ++pass) {
    CAPTURE(pass);
    if (pass > 0) {
      // Single-threaded edits between passes; some values stay (backdating), some change.
      for (int k = 0; k < 3; ++k) {
        const std::uint32_t c = rng() % n_cells;
        const std::uint64_t v = rng() % 100;
        if (rng() % 2) {
          state[c].a = v;
          db.cells[c].set(db, &CellData::a, v);
        } else {
          state[c].b = v;
          db.cells[c].set(db, &CellData::b, v);
        }
      }
    }
    reset_counts();
    const std::vector<std::uint64_t> expected = from_scratch(db.nodes, state);
    const PassResult r = parallel_pass(db, n_threads, seed + 7 * pass, dog);

    for (int t = 0; t < n_threads; ++t) {
      CAPTURE(t);
      CHECK(r.errors[t] == "");
      std::uint32_t wrong = 0, first_wrong = 0;
      for (std::uint32_t i = 0; i < n_nodes; ++i) {
        if (r.values[t][i] != expected[i] && wrong++ == 0) first_wrong = i;
      }
      INFO("first wrong node " << first_wrong << ": got " << r.values[t][first_wrong]
                               << ", expected " << expected[first_wrong]);
      CHECK(wrong == 0);
    }

    std::lock_guard<std::mutex> lock(events_mu);
    CHECK(foreign_events == 0);
    std::uint32_t memos_executed = 0, max_runs = 0, max_body = 0, bodies = 0;
    for (std::uint32_t c : executions) {
      memos_executed += c != 0;
      max_runs = std::max(max_runs, c);
    }
    for (std::uint32_t i = 0; i < n_nodes; ++i) {
      const std::uint32_t b = db.body_runs[i].load();
      bodies += b;
      max_body = std::max(max_body, b);
    }
    CHECK(max_runs <= 1);  // no memo computed twice in one revision
    CHECK(max_body <= 1);
    if (pass == 0) {
      // Cold: every memo executed exactly once.
      CHECK(memos_executed == n_nodes);
      CHECK(bodies == n_nodes);
    } else {
      CHECK(bodies == memos_executed);
    }
  }
  db.on_event({});
}

}  // namespace

// Hidden while the false-cycle bug stands (see cross_thread_cycle.cpp, "a wait behind a thread
// that was just woken is not a cycle"): threads get CycleErrors like "node_value(563) ->
// node_value(562) (computing on another thread) -> node_value(384) (computing on another
// thread)" although nodes only read lower nodes, and the memos those errors unwound are then
// executed a second time by other threads. Run with: relish_tests "[concurrency-bug]".
TEST_CASE("threads querying a shared DAG agree with single-threaded evaluation",
          "[concurrency]") {
  const int n_threads = GENERATE(2, 4, 8);
  for (std::uint64_t seed : {1, 2, 3}) run_dag(seed * 7919 + n_threads, n_threads);
}

// The production acceptance path: with no event callback and no acceptance check (the test
// build turns the check on for every database, and an event log is a callback), a memo from an
// earlier revision outside every write's cone is accepted by fetch_earlier's call-free path.
// Random DAGs of queries over input cells, random edits, random read orders: every value
// equals a from-scratch recomputation, and only queries that (transitively) read an edited
// cell run again. Counted by the query functions themselves, not by events.
#include <catch2/catch.hpp>
#include <relish/relish.hpp>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

namespace {

struct CellData {
  std::uint64_t a = 0;
  std::uint64_t b = 0;
};
using Cell = relish::Input<CellData>;

struct Node {
  std::vector<std::uint32_t> cells;  // reads .a of these, .b of the first
  std::vector<std::uint32_t> below;  // nodes with a smaller index
};

struct Db : relish::Database {
  std::vector<Cell> cells;
  std::vector<Node> nodes;
  std::vector<int> runs;  // executions per node
};

std::uint64_t node_fn(Db& db, std::uint32_t i);
inline constexpr relish::Query<node_fn, relish::Options{.name = "node"}> node;

std::uint64_t node_fn(Db& db, std::uint32_t i) {
  ++db.runs[i];
  const Node& n = db.nodes[i];
  std::uint64_t v = i;
  for (std::uint32_t c : n.cells) v = v * 31 + db.cells[c].get(db, &CellData::a);
  if (!n.cells.empty()) v += db.cells[n.cells[0]].get(db, &CellData::b) % 2;  // often backdates
  for (std::uint32_t j : n.below) v = v * 17 + node(db, j) % 1000;
  return v % 100003;
}

std::uint64_t expected(const std::vector<Node>& nodes, const std::vector<CellData>& cells,
                       std::uint32_t i) {
  const Node& n = nodes[i];
  std::uint64_t v = i;
  for (std::uint32_t c : n.cells) v = v * 31 + cells[c].a;
  if (!n.cells.empty()) v += cells[n.cells[0]].b % 2;
  for (std::uint32_t j : n.below) v = v * 17 + expected(nodes, cells, j) % 1000;
  return v % 100003;
}

// Does node i read cell c, directly or through the nodes below it?
bool reads(const std::vector<Node>& nodes, std::uint32_t i, std::uint32_t c) {
  for (std::uint32_t x : nodes[i].cells)
    if (x == c) return true;
  for (std::uint32_t j : nodes[i].below)
    if (reads(nodes, j, c)) return true;
  return false;
}

}  // namespace

TEST_CASE("the call-free acceptance path agrees with recomputation over random edits",
          "[invalidation][differential]") {
  for (std::uint64_t seed = 1; seed <= 40; ++seed) {
    CAPTURE(seed);
    std::mt19937_64 rng(seed);
    Db db;
    db.runtime().set_check_acceptance_for_testing(false);  // the production path
    REQUIRE(!db.runtime().checks_acceptance());
    const auto n_cells = static_cast<std::uint32_t>(3 + rng() % 8);
    const auto n_nodes = static_cast<std::uint32_t>(5 + rng() % 40);
    std::vector<CellData> state(n_cells);
    for (std::uint32_t c = 0; c < n_cells; ++c) {
      state[c] = CellData{rng() % 5, rng() % 5};
      db.cells.push_back(Cell::create(db, state[c]));
    }
    for (std::uint32_t i = 0; i < n_nodes; ++i) {
      Node n;
      for (std::uint64_t k = rng() % 3; k > 0; --k)
        n.cells.push_back(static_cast<std::uint32_t>(rng() % n_cells));
      if (i > 0)
        for (std::uint64_t k = rng() % 4; k > 0; --k)
          n.below.push_back(static_cast<std::uint32_t>(rng() % i));
      db.nodes.push_back(n);
    }
    db.runs.assign(n_nodes, 0);
    for (std::uint32_t i = 0; i < n_nodes; ++i) CHECK(node(db, i) == expected(db.nodes, state, i));

    for (int step = 0; step < 25; ++step) {
      CAPTURE(step);
      std::vector<std::uint32_t> edited;
      for (std::uint64_t k = 1 + rng() % 2; k > 0; --k) {
        const auto c = static_cast<std::uint32_t>(rng() % n_cells);
        if (rng() % 2) {
          state[c].a = (state[c].a + 1 + rng() % 3) % 5;
          db.cells[c].set(db, &CellData::a, state[c].a);
        } else {
          state[c].b = (state[c].b + 1 + rng() % 3) % 5;
          db.cells[c].set(db, &CellData::b, state[c].b);
        }
        edited.push_back(c);
      }
      db.runs.assign(n_nodes, 0);
      // Every node, in a random order (some first read by a node above them, some at top
      // level), so that each step starts with every memo current.
      std::vector<std::uint32_t> order(n_nodes);
      for (std::uint32_t i = 0; i < n_nodes; ++i) order[i] = i;
      std::shuffle(order.begin(), order.end(), rng);
      for (std::uint32_t i : order) CHECK(node(db, i) == expected(db.nodes, state, i));
      for (std::uint32_t i = 0; i < n_nodes; ++i) {
        bool in_cone = false;
        for (std::uint32_t c : edited) in_cone = in_cone || reads(db.nodes, i, c);
        CAPTURE(i);
        if (!in_cone) CHECK(db.runs[i] == 0);  // accepted clean, not re-run
        CHECK(db.runs[i] <= 1);
      }
    }
  }
}

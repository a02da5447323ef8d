// accumulated() against a from-scratch model, over random graphs and random edits: the
// values, their order and each query counted once. The queries push values and read other
// queries depending on their inputs, so edits make them start and stop pushing, gain and
// lose dependencies, and backdate (small value range) while their pushes change. Some call
// accumulated() inside the query. One variant evicts memos (LRU) so values are refilled.
#include <catch2/catch.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <variant>
#include <vector>

#include <relish/relish.hpp>

namespace {

struct Note {
  std::uint32_t n;
  friend bool operator==(const Note&, const Note&) = default;
};
using Notes = relish::Accumulator<Note>;

struct Cell {
  int v;
};
using Var = relish::Input<Cell>;

struct Spec {
  std::uint32_t input;
  std::vector<std::uint32_t> deps;  // lower-numbered nodes
  bool collects = false;            // calls accumulated() on its first dependency
};

struct Db : relish::Database {
  std::vector<Spec> specs;
  std::vector<Var> vars;
};

// One node's computation, written once for the engine and for the model: `ops` reads an
// input, pushes a value, calls a node, or collects a node's accumulated values (a count).
template <class Ops>
int node_logic(const Spec& s, std::uint32_t i, Ops& ops) {
  const int v = ops.input(s.input);
  int acc = 0;
  if ((v + static_cast<int>(i)) % 3 == 0) ops.push(i * 100 + static_cast<std::uint32_t>(v % 7));
  for (std::uint32_t j : s.deps) {
    if ((v + static_cast<int>(j)) % 4 == 0) continue;  // edges come and go with the input
    if (s.collects && j == s.deps.front()) {
      acc += static_cast<int>(ops.collect(j));
    } else {
      acc += ops.call(j);
    }
    if ((acc + v + static_cast<int>(j)) % 5 == 0) ops.push(i * 100 + 50 + j);
  }
  return acc % 3;  // few values: readers often see an equal value (backdating)
}

int node_fn(Db& db, std::uint32_t i);
inline constexpr relish::Query<node_fn> node;
int lru_node_fn(Db& db, std::uint32_t i);
inline constexpr relish::Query<lru_node_fn, relish::Options{.lru = 3}> lru_node;

template <const auto& Q>
struct EngineOps {
  Db& db;
  int input(std::uint32_t k) { return db.vars[k].get(db, &Cell::v); }
  void push(std::uint32_t n) { Notes::push(db, {n}); }
  int call(std::uint32_t j) { return Q(db, j); }
  std::size_t collect(std::uint32_t j) { return relish::accumulated<Notes>(db, Q, j).size(); }
};

int node_fn(Db& db, std::uint32_t i) {
  EngineOps<node> ops{db};
  return node_logic(db.specs[i], i, ops);
}
int lru_node_fn(Db& db, std::uint32_t i) {
  EngineOps<lru_node> ops{db};
  return node_logic(db.specs[i], i, ops);
}

// The model: every node computed from scratch, with what it did in order (a pushed value,
// or a node read).
struct Model {
  struct Event {
    bool read;
    std::uint32_t x;  // the value pushed, or the node read
  };
  const std::vector<Spec>& specs;
  const std::vector<int>& inputs;
  std::map<std::uint32_t, std::pair<int, std::vector<Event>>> done;

  const std::pair<int, std::vector<Event>>& run(std::uint32_t i) {
    if (auto it = done.find(i); it != done.end()) return it->second;
    struct Ops {
      Model& m;
      std::vector<Event> events;
      int input(std::uint32_t k) { return m.inputs[k]; }
      void push(std::uint32_t n) { events.push_back({false, n}); }
      int call(std::uint32_t j) {
        events.push_back({true, j});
        return m.run(j).first;
      }
      std::size_t collect(std::uint32_t j) {
        events.push_back({true, j});  // accumulated() brings the node up to date first
        return m.accumulated(j).size();
      }
    } ops{*this, {}};
    const int value = node_logic(specs[i], i, ops);
    return done[i] = {value, std::move(ops.events)};
  }
  void walk(std::uint32_t i, std::set<std::uint32_t>& seen, std::vector<Note>& out) {
    if (!seen.insert(i).second) return;
    for (const Event& e : run(i).second) {
      if (e.read) walk(e.x, seen, out);
      else out.push_back({e.x});
    }
  }
  std::vector<Note> accumulated(std::uint32_t i) {
    std::set<std::uint32_t> seen;
    std::vector<Note> out;
    walk(i, seen, out);
    return out;
  }
};

template <const auto& Q>
void run_seeds(std::uint32_t seeds) {
  for (std::uint32_t seed = 1; seed <= seeds; ++seed) {
    std::mt19937 rng(seed);
    const std::uint32_t nodes = 6 + rng() % 10, vars = 2 + rng() % 4;
    Db db;
    std::vector<int> inputs;
    for (std::uint32_t k = 0; k < vars; ++k) {
      inputs.push_back(static_cast<int>(rng() % 12));
      db.vars.push_back(Var::create(db, {inputs.back()}));
    }
    for (std::uint32_t i = 0; i < nodes; ++i) {
      Spec s{static_cast<std::uint32_t>(rng() % vars), {}, false};
      for (std::uint32_t d = 0; i > 0 && d < rng() % 4; ++d) s.deps.push_back(rng() % i);
      s.collects = !s.deps.empty() && rng() % 4 == 0;
      db.specs.push_back(s);
    }
    for (int step = 0; step < 40; ++step) {
      if (step > 0) {
        for (std::uint32_t w = 1 + rng() % 2; w-- > 0;) {
          const std::uint32_t k = rng() % vars;
          inputs[k] = static_cast<int>(rng() % 12);
          db.vars[k].set(db, &Cell::v, inputs[k]);
        }
      }
      Model model{db.specs, inputs, {}};
      for (std::uint32_t probes = 0; probes < 3; ++probes) {
        const std::uint32_t r = rng() % nodes;
        INFO("seed " << seed << ", step " << step << ", node " << r);
        CHECK(relish::accumulated<Notes>(db, Q, r) == model.accumulated(r));
        CHECK(Q(db, r) == model.run(r).first);
      }
    }
  }
}

TEST_CASE("accumulated() matches a from-scratch model over random edits",
          "[accumulator][differential]") {
  run_seeds<node>(150);
}

TEST_CASE("accumulated() matches the model with memos evicted and refilled",
          "[accumulator][differential]") {
  run_seeds<lru_node>(80);
}

}  // namespace

// Differential test: random DAGs of queries over random inputs, checked against evaluation
// from scratch after every batch of edits, and checked for minimal work via the event log.
//
// Queries are compile-time functions, so the graph is data: one query `node(i)` interprets
// node i's description (which inputs and lower nodes it reads, in order, and how it combines
// them). Values are tiny (inputs in 0..3, ops like min or sum mod 3), so re-computed values
// are often equal and backdating matters; some nodes branch on their first read, which
// changes what they read.
//
// Besides values, a shadow model mirrors what the engine must know about every memo (value,
// verified/changed revisions, durability, what it read) and checks each event:
//   - will_execute: the node had no memo, or one of its recorded dependencies changed after
//     the memo was verified (no needless re-run);
//   - did_backdate: emitted exactly when the new value equals the old one and the durability
//     did not drop (no missed and no wrong backdate);
//   - did_validate_memoized_value / did_accept_clean: the memo's value is still right.
// Push-pull invalidation is checked twice: every O(1) acceptance is checked against a full
// walk of what the memo read (the engine's check mode), and a twin database in the pull-only
// testing mode runs the same steps and must re-execute exactly the same queries.
#include <catch2/catch.hpp>

#include "common/steps.hpp"
#include <relish/relish.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace {

struct CellData {
  std::uint64_t a = 0;
  std::uint64_t b = 0;
};
using Cell = relish::Input<CellData>;

enum class Op : std::uint8_t { sum_mod3, min, max, xor_low_bits, count_odd };

struct Dep {
  bool is_node = false;
  std::uint32_t index = 0;  // node index, or cell index
  std::uint8_t field = 0;   // for a cell: 0 = a, 1 = b
  friend bool operator==(const Dep&, const Dep&) = default;
};

struct NodeSpec {
  std::vector<Dep> reads;  // non-empty; nodes only read lower nodes
  Op op = Op::sum_mod3;
  // If set and the first read is odd, reading stops before reads[cut].
  std::optional<std::size_t> cut;
};

// Node i's value, given `read(dep)` that returns (and, for the engine, records) a dependency.
template <class Read>
std::uint64_t evaluate(const NodeSpec& spec, Read&& read) {
  std::uint64_t acc = spec.op == Op::min ? std::numeric_limits<std::uint64_t>::max() : 0;
  std::uint64_t first = 0;
  for (std::size_t k = 0; k < spec.reads.size(); ++k) {
    if (spec.cut && k == *spec.cut && first % 2 == 1) break;
    const std::uint64_t v = read(spec.reads[k]);
    if (k == 0) first = v;
    switch (spec.op) {
      case Op::sum_mod3: acc = (acc + v) % 3; break;
      case Op::min: acc = std::min(acc, v); break;
      case Op::max: acc = std::max(acc, v); break;
      case Op::xor_low_bits: acc ^= v & 3; break;
      case Op::count_odd: acc += v & 1; break;
    }
  }
  return acc;
}

std::uint64_t field_of(const CellData& c, std::uint8_t field) { return field ? c.b : c.a; }

// One marker in the trace: an engine event for node(i), or "node i's function returned".
enum class Mark : std::uint8_t { execute, validate, backdate, returned };
struct TraceEntry {
  Mark mark;
  std::uint32_t node;
};

struct Db : relish::Database {
  std::vector<NodeSpec> nodes;
  std::vector<Cell> cells;
  std::vector<TraceEntry> trace;
};

std::uint64_t node_value(Db& db, std::uint32_t i);
inline constexpr relish::Query<node_value> node;

std::uint64_t node_value(Db& db, std::uint32_t i) {
  const std::uint64_t v = evaluate(db.nodes[i], [&](const Dep& d) -> std::uint64_t {
    if (d.is_node) return node(db, d.index);
    return d.field ? db.cells[d.index].get(db, &CellData::b)
                   : db.cells[d.index].get(db, &CellData::a);
  });
  db.trace.push_back({Mark::returned, i});
  return v;
}

// From-scratch evaluation of every node (bottom-up: nodes only read lower nodes), with what
// each one read.
struct Scratch {
  std::vector<std::uint64_t> value;
  std::vector<std::vector<Dep>> reads;
};
Scratch from_scratch(const std::vector<NodeSpec>& nodes, const std::vector<CellData>& cells) {
  Scratch s;
  s.value.resize(nodes.size());
  s.reads.resize(nodes.size());
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    s.value[i] = evaluate(nodes[i], [&](const Dep& d) {
      s.reads[i].push_back(d);
      return d.is_node ? s.value[d.index] : field_of(cells[d.index], d.field);
    });
  }
  return s;
}

relish::Durability random_durability(std::mt19937_64& rng) {
  return static_cast<relish::Durability>(rng() % 3);
}

std::vector<NodeSpec> random_graph(std::mt19937_64& rng, std::uint32_t n_nodes,
                                   std::uint32_t n_cells) {
  std::vector<NodeSpec> nodes(n_nodes);
  for (std::uint32_t i = 0; i < n_nodes; ++i) {
    NodeSpec& spec = nodes[i];
    const std::size_t n_reads = 1 + rng() % 4;
    for (std::size_t k = 0; k < n_reads; ++k) {
      Dep d;
      if (i > 0 && rng() % 10 < 6) {
        d.is_node = true;
        // Mostly nearby nodes, so chains get deep.
        const std::uint32_t back = rng() % 2 ? 1 + rng() % std::min<std::uint32_t>(i, 4)
                                             : 1 + rng() % i;
        d.index = i - back;
      } else {
        d.index = rng() % n_cells;
        d.field = rng() % 2;
      }
      spec.reads.push_back(d);
    }
    spec.op = static_cast<Op>(rng() % 5);
    if (n_reads > 1 && rng() % 10 < 3) spec.cut = 1 + rng() % (n_reads - 1);
  }
  return nodes;
}

// What the engine must know about one memo.
struct Shadow {
  bool has_memo = false;
  std::uint64_t value = 0;
  relish::Revision verified = 0;
  relish::Revision changed = 0;
  relish::Durability durability = relish::Durability::high;
  std::vector<Dep> reads;
};

// What the engine knows about one input field.
struct FieldShadow {
  relish::Revision changed = 0;
  relish::Durability durability = relish::Durability::low;
};

std::string show(const Dep& d) {
  return d.is_node ? "node(" + std::to_string(d.index) + ")"
                   : "cell" + std::to_string(d.index) + (d.field ? ".b" : ".a");
}

void run_seed(std::uint64_t seed, int steps) {
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  Db db;  // (the test build checks every O(1) acceptance: RELISH_CHECK_ACCEPTANCE)
  Db twin;  // pull-only: the oracle for which queries re-run
  twin.runtime().set_pull_only_for_testing(true);
  const std::uint32_t n_cells = 3 + rng() % 10;
  const std::uint32_t n_nodes = 10 + rng() % 90;
  db.nodes = random_graph(rng, n_nodes, n_cells);

  std::vector<CellData> state(n_cells);
  std::vector<std::array<FieldShadow, 2>> fields(n_cells);
  for (std::uint32_t c = 0; c < n_cells; ++c) {
    state[c] = CellData{rng() % 4, rng() % 4};
    const relish::Durability d = random_durability(rng);
    db.cells.push_back(Cell::create(db, state[c], d));
    twin.cells.push_back(Cell::create(twin, state[c], d));
    fields[c] = {FieldShadow{db.current_revision(), d}, FieldShadow{db.current_revision(), d}};
  }

  // Events of node(i) go to the trace; "node_value(12)" -> 12.
  const std::string prefix = "node_value(";
  db.on_event([&](const relish::Event& e) {
    Mark mark;
    switch (e.kind) {
      case relish::EventKind::will_execute: mark = Mark::execute; break;
      case relish::EventKind::did_validate_memoized_value: mark = Mark::validate; break;
      case relish::EventKind::did_accept_clean: mark = Mark::validate; break;
      case relish::EventKind::did_backdate: mark = Mark::backdate; break;
      default: return;
    }
    const std::string s = db.describe(e.key);
    REQUIRE(s.starts_with(prefix));
    db.trace.push_back({mark, static_cast<std::uint32_t>(std::stoul(s.substr(prefix.size())))});
  });
  twin.nodes = db.nodes;
  twin.on_event([&](const relish::Event& e) {
    if (e.kind != relish::EventKind::will_execute) return;
    const std::string s = twin.describe(e.key);
    twin.trace.push_back({Mark::execute, static_cast<std::uint32_t>(std::stoul(s.substr(prefix.size())))});
  });

  std::vector<Shadow> shadow(n_nodes);
  std::uint64_t executions = 0, validations = 0, backdates = 0;

  for (int step = 0; step < steps; ++step) {
    CAPTURE(step);
    // 1. Edits: each sets a field to a different value, sometimes with a new durability.
    const int n_edits = 1 + static_cast<int>(rng() % 3);
    for (int k = 0; k < n_edits; ++k) {
      const std::uint32_t c = rng() % n_cells;
      const std::uint8_t f = rng() % 2;
      std::uint64_t& slot = f ? state[c].b : state[c].a;
      slot = (slot + 1 + rng() % 3) % 4;
      auto member = f ? &CellData::b : &CellData::a;
      if (rng() % 5 == 0) {
        const relish::Durability d = random_durability(rng);
        db.cells[c].set(db, member, slot, d);
        twin.cells[c].set(twin, member, slot, d);
        fields[c][f].durability = d;
      } else {
        db.cells[c].set(db, member, slot);
        twin.cells[c].set(twin, member, slot);
      }
      fields[c][f].changed = db.current_revision();
    }
    const relish::Revision now = db.current_revision();
    const Scratch scratch = from_scratch(db.nodes, state);

    // 2. Queries: a few random nodes, sometimes all of them.
    db.trace.clear();
    std::vector<std::uint32_t> queried;
    if (rng() % 10 == 0) {
      for (std::uint32_t i = 0; i < n_nodes; ++i) queried.push_back(i);
      std::shuffle(queried.begin(), queried.end(), rng);
    } else {
      const int n = static_cast<int>(rng() % 5);
      for (int k = 0; k < n; ++k) queried.push_back(rng() % n_nodes);
    }
    twin.trace.clear();
    for (std::uint32_t i : queried) {
      CAPTURE(i);
      REQUIRE(node(db, i) == scratch.value[i]);
      REQUIRE(node(twin, i) == scratch.value[i]);
    }
    {
      std::vector<std::uint32_t> ran, pull_ran;
      for (const TraceEntry& t : db.trace)
        if (t.mark == Mark::execute) ran.push_back(t.node);
      for (const TraceEntry& t : twin.trace)
        if (t.mark == Mark::execute) pull_ran.push_back(t.node);
      std::sort(ran.begin(), ran.end());
      std::sort(pull_ran.begin(), pull_ran.end());
      REQUIRE(ran == pull_ran);  // push-pull re-runs exactly what pull-only does
    }

    // 3. Replay the trace against the shadow model.
    auto changed_at = [&](const Dep& d) {
      return d.is_node ? shadow[d.index].changed : fields[d.index][d.field].changed;
    };
    auto durability_of = [&](const Dep& d) {
      return d.is_node ? shadow[d.index].durability : fields[d.index][d.field].durability;
    };
    std::vector<bool> executed(n_nodes, false);
    for (std::size_t t = 0; t < db.trace.size(); ++t) {
      const auto [mark, i] = db.trace[t];
      CAPTURE(i);
      Shadow& s = shadow[i];
      switch (mark) {
        case Mark::execute: {
          ++executions;
          REQUIRE_FALSE(executed[i]);  // at most once per revision
          executed[i] = true;
          if (s.has_memo) {
            std::string why = "reads:";
            bool some_changed = false;
            for (const Dep& d : s.reads) {
              why += " " + show(d) + "@" + std::to_string(changed_at(d));
              some_changed = some_changed || changed_at(d) > s.verified;
            }
            INFO("node " << i << " verified at " << s.verified << ", " << why);
            REQUIRE(some_changed);  // else the re-run was needless
          }
          break;
        }
        case Mark::returned: {
          // Its dependencies are final now: settle the memo as the engine must have.
          relish::Durability d = relish::Durability::high;
          for (const Dep& dep : scratch.reads[i]) d = std::min(d, durability_of(dep));
          const bool backdated = t + 1 < db.trace.size() &&
                                 db.trace[t + 1].mark == Mark::backdate &&
                                 db.trace[t + 1].node == i;
          const bool should_backdate =
              s.has_memo && s.value == scratch.value[i] && d >= s.durability;
          INFO("node " << i << " old value " << s.value << " new " << scratch.value[i]);
          REQUIRE(backdated == should_backdate);
          if (!backdated) s.changed = now;
          s.has_memo = true;
          s.value = scratch.value[i];
          s.verified = now;
          s.durability = d;
          s.reads = scratch.reads[i];
          break;
        }
        case Mark::validate:
          ++validations;
          REQUIRE(s.has_memo);
          REQUIRE(s.value == scratch.value[i]);
          s.verified = now;
          break;
        case Mark::backdate:
          ++backdates;
          REQUIRE(t > 0);
          REQUIRE((db.trace[t - 1].mark == Mark::returned && db.trace[t - 1].node == i));
          break;
      }
    }
  }
  db.on_event({});
  // The graphs must exercise the interesting paths, not just pass.
  CHECK(executions > 0);
  CHECK(validations > 0);
  CHECK(backdates > 0);
}

}  // namespace

TEST_CASE("random query graphs match evaluation from scratch, with minimal work",
          "[differential]") {
  const std::uint64_t seeds[] = {1u,     2u,      3u,      4u,      5u,      42u,
                                 1234u,  4242u,   99991u,  271828u, 314159u, 8675309u};
  const int steps = relish_test::steps_per_seed(2500, std::size(seeds));
  for (std::uint64_t seed : seeds) run_seed(seed, steps);
}

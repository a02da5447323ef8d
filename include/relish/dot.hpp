// relish/dot.hpp: the dependency graph below a memo, as Graphviz DOT (opt-in; relish.hpp does
// not include it).
//
//   summary(db, f);                                   // run it first: a graph of what it read
//   std::ofstream out("deps.dot");
//   relish::write_dot(out, db, summary.key(db, f), {.max_depth = 3});
//   // dot -Tsvg deps.dot > deps.svg
//
// Each node is labelled with Database::describe (or DotOptions::label), then what the engine
// records for it: for a memo the revision its value last changed in, the revision it was last
// verified in and its durability; for an input field (a leaf) its changed revision and
// durability. Memos are boxes, input fields ellipses; a memo whose dependencies were cut off by
// `max_depth` is dashed. Nodes are numbered in breadth-first order from the root and edges
// follow each memo's read order, so the output of a given graph is always the same text.
//
// Reads the graph as it is between revisions: call it when no query is running.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "relish/database.hpp"
#include "relish/durability.hpp"

namespace relish {

struct DotOptions {
  // Levels of dependencies drawn below the root (0: the root alone).
  std::size_t max_depth = std::numeric_limits<std::size_t>::max();
  // The first line of a node's label; empty: Database::describe.
  std::function<std::string(DatabaseKey)> label = {};
  // Add the revisions and durability to the labels.
  bool revisions = true;
  // The graph's name in `digraph NAME {`.
  std::string graph_name = "relish";
};

namespace detail {

// `s` as the inside of a DOT string: quotes and backslashes escaped, newlines as \n.
inline std::string dot_escape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// "changed 3, verified 5, low" for a memo; "changed 3, high" for an input field.
inline std::string dot_details(const NodeInfo& info) {
  switch (info.kind) {
    case NodeInfo::Kind::memo: {
      std::string s = "changed " + std::to_string(info.changed_at) + ", verified " +
                      std::to_string(info.verified_at) + ", " + to_string(info.durability);
      if (info.provisional) s += ", provisional";
      if (!info.has_value) s += ", evicted";
      if (info.marked) s += ", marked";
      return s;
    }
    case NodeInfo::Kind::input:
      return "changed " + std::to_string(info.changed_at) + ", " + to_string(info.durability);
    case NodeInfo::Kind::none:
      return "no memo";
    case NodeInfo::Kind::other:
      return "";
  }
  return "";
}

}  // namespace detail

// Writes the graph of `root` and everything it read, transitively (to `options.max_depth`
// levels), as a DOT digraph. Returns the number of nodes written.
inline std::size_t write_dot(std::ostream& out, const Database& db, DatabaseKey root,
                             const DotOptions& options = {}) {
  struct Node {
    DatabaseKey key;
    std::size_t depth;
  };
  std::vector<Node> nodes{{root, 0}};
  absl::flat_hash_map<DatabaseKey, std::size_t> ids{{root, 0}};
  std::vector<std::pair<std::size_t, std::size_t>> edges;
  std::vector<bool> cut;  // dependencies not drawn (max_depth)
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    const Node n = nodes[i];
    const std::vector<DatabaseKey> deps = db.dependencies(n.key);
    cut.push_back(!deps.empty() && n.depth >= options.max_depth);
    if (cut.back()) continue;
    absl::flat_hash_set<DatabaseKey> drawn;  // a key read twice, apart, is one edge
    for (DatabaseKey d : deps) {
      if (!drawn.insert(d).second) continue;
      auto [it, added] = ids.try_emplace(d, nodes.size());
      if (added) nodes.push_back({d, n.depth + 1});
      edges.emplace_back(i, it->second);
    }
  }
  out << "digraph " << options.graph_name << " {\n"
      << "  rankdir=LR;\n"
      << "  node [shape=box, fontname=\"monospace\", fontsize=10];\n";
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    const DatabaseKey k = nodes[i].key;
    const NodeInfo info = db.node_info(k);
    std::string label = options.label ? options.label(k) : db.describe(k);
    if (options.revisions) {
      const std::string details = detail::dot_details(info);
      if (!details.empty()) label += "\n" + details;
    }
    out << "  n" << i << " [label=\"" << detail::dot_escape(label) << "\"";
    if (info.kind == NodeInfo::Kind::input) out << ", shape=ellipse";
    if (cut[i]) out << ", style=dashed";
    out << "];\n";
  }
  for (const auto& [from, to] : edges) out << "  n" << from << " -> n" << to << ";\n";
  out << "}\n";
  return nodes.size();
}

}  // namespace relish

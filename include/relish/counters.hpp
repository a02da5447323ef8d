// relish/counters.hpp: what the engine did, counted per query (opt-in; relish.hpp does not
// include it).
//
//   relish::QueryCounters counters;
//   db.on_event(relish::observers(counters));     // with a TraceWriter too: observers(a, b)
//   f.set(db, &FileData::text, "...");
//   summary(db, f);
//   counters.of(db, "count_lines").executions;    // 1: re-ran after the edit
//   counters.of(db, "summarize").verifications;   // 1: verified deeply, not re-run
//   std::fputs(counters.to_table(db).c_str(), stdout);
//
// Deep verifications (walking the dependencies of a memo a write may have affected) and O(1)
// acceptances (of a memo outside every write's cone) are counted apart, as Salsa users ask
// for "shallow vs deep". Queries are named as Database::ingredient_name names them.
//
// Thread-safe: the engine calls `on` from every thread running queries.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "relish/database.hpp"
#include "relish/detail/sync.hpp"
#include "relish/event.hpp"

namespace relish {

// The counts of one query (or input: `sets`), since the counters were made or reset.
struct QueryCounts {
  std::uint64_t executions = 0;         // its function ran (each fixpoint round counts)
  std::uint64_t verifications = 0;      // deep verifications of its memos (will_verify)
  std::uint64_t validations = 0;        // ...that found them unchanged (no re-run)
  std::uint64_t clean_acceptances = 0;  // memos accepted in O(1) (did_accept_clean)
  std::uint64_t backdates = 0;          // re-runs whose value equalled the old one
  std::uint64_t evictions = 0;          // values dropped by the LRU or a byte budget
  std::uint64_t cancellations = 0;      // executions or verifications unwound by Cancelled
  std::uint64_t blocks = 0;             // waits for a memo another thread was computing
  std::uint64_t cycle_iterations = 0;   // fixpoint rounds after the first, as a cycle head
  std::uint64_t sets = 0;               // inputs: fields set

  QueryCounts& operator+=(const QueryCounts& o) noexcept {
    executions += o.executions;
    verifications += o.verifications;
    validations += o.validations;
    clean_acceptances += o.clean_acceptances;
    backdates += o.backdates;
    evictions += o.evictions;
    cancellations += o.cancellations;
    blocks += o.blocks;
    cycle_iterations += o.cycle_iterations;
    sets += o.sets;
    return *this;
  }
  bool any() const noexcept { return *this != QueryCounts{}; }
  friend bool operator==(const QueryCounts&, const QueryCounts&) = default;
};

class QueryCounters {
 public:
  QueryCounters() = default;
  QueryCounters(const QueryCounters&) = delete;
  QueryCounters& operator=(const QueryCounters&) = delete;

  // The observer: install with Database::on_event (see relish::observers).
  void on(const Event& e) {
    std::uint64_t QueryCounts::*field = nullptr;
    switch (e.kind) {
      case EventKind::will_execute:
        field = &QueryCounts::executions;
        break;
      case EventKind::will_verify:
        field = &QueryCounts::verifications;
        break;
      case EventKind::did_validate_memoized_value:
        field = &QueryCounts::validations;
        break;
      case EventKind::did_accept_clean:
        field = &QueryCounts::clean_acceptances;
        break;
      case EventKind::did_backdate:
        field = &QueryCounts::backdates;
        break;
      case EventKind::did_evict:
        field = &QueryCounts::evictions;
        break;
      case EventKind::did_cancel:
        field = &QueryCounts::cancellations;
        break;
      case EventKind::will_block_on:
        field = &QueryCounts::blocks;
        break;
      case EventKind::will_iterate_cycle:
        field = &QueryCounts::cycle_iterations;
        break;
      case EventKind::did_set_input:
        field = &QueryCounts::sets;
        break;
      default:
        return;
    }
    detail::LockGuard lock(mu_);
    if (slots_.size() <= e.key.ingredient) slots_.resize(e.key.ingredient + 1);
    ++(slots_[e.key.ingredient].*field);
  }

  // The counts of the query (or input type) named `name`: "parsed_module", "File".
  QueryCounts of(const Database& db, std::string_view name) const {
    QueryCounts out;
    detail::LockGuard lock(mu_);
    for (std::uint32_t i = 0; i < slots_.size(); ++i)
      if (slots_[i].any() && db.ingredient_name(DatabaseKey{i, 0}) == name) out += slots_[i];
    return out;
  }

  // The counts of the query `key` is a memo of (an input field: of that field alone).
  QueryCounts of(DatabaseKey key) const {
    detail::LockGuard lock(mu_);
    return key.ingredient < slots_.size() ? slots_[key.ingredient] : QueryCounts{};
  }

  // Every query (and input type) with a count, by name.
  std::map<std::string, QueryCounts> by_query(const Database& db) const {
    std::map<std::string, QueryCounts> out;
    detail::LockGuard lock(mu_);
    for (std::uint32_t i = 0; i < slots_.size(); ++i)
      if (slots_[i].any()) out[db.ingredient_name(DatabaseKey{i, 0})] += slots_[i];
    return out;
  }

  QueryCounts total() const {
    QueryCounts out;
    detail::LockGuard lock(mu_);
    for (const QueryCounts& c : slots_) out += c;
    return out;
  }

  void reset() {
    detail::LockGuard lock(mu_);
    slots_.clear();
  }

  // One line per query, aligned:
  //   query          executed  verified  validated  accepted  backdated  evicted
  //   count_lines           1         1          0         0          1        0
  // (then cancelled, blocked, rounds and sets columns if any is not zero).
  std::string to_table(const Database& db) const {
    const std::map<std::string, QueryCounts> rows = by_query(db);
    std::size_t width = 5;
    QueryCounts all;
    for (const auto& [name, c] : rows) {
      width = std::max(width, name.size());
      all += c;
    }
    const bool rare = all.cancellations || all.blocks || all.cycle_iterations || all.sets;
    auto line = [&](const std::string& name, const std::vector<std::string>& cells) {
      std::string s = name + std::string(width - name.size(), ' ');
      for (const std::string& c : cells) {
        s += "  ";
        s += c;
      }
      while (!s.empty() && s.back() == ' ') s.pop_back();
      return s + "\n";
    };
    auto num = [](std::uint64_t n, std::size_t w) {
      std::string s = std::to_string(n);
      return std::string(w > s.size() ? w - s.size() : 0, ' ') + s;
    };
    std::vector<std::string> head{"executed", "verified",  "validated",
                                  "accepted", "backdated", "evicted"};
    if (rare) head.insert(head.end(), {"cancelled", "blocked", "rounds", "sets"});
    std::string out = line("query", head);
    for (const auto& [name, c] : rows) {
      std::vector<std::uint64_t> v{c.executions,        c.verifications, c.validations,
                                   c.clean_acceptances, c.backdates,     c.evictions};
      if (rare) v.insert(v.end(), {c.cancellations, c.blocks, c.cycle_iterations, c.sets});
      std::vector<std::string> cells;
      for (std::size_t i = 0; i < v.size(); ++i) cells.push_back(num(v[i], head[i].size()));
      out += line(name, cells);
    }
    return out;
  }

 private:
  mutable detail::Mutex mu_;
  std::vector<QueryCounts> slots_;  // by ingredient index (an input: one per field)
};

}  // namespace relish

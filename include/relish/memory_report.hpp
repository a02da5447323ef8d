// relish/memory_report.hpp: where the memory goes, per ingredient.
//
//   relish::MemoryReport r = relish::memory_report(db);
//   std::cout << r.to_table();      // for a person: sorted by size, aligned, KiB/MiB
//   write(r.to_json());             // for a program
//
// Value bytes are sizeof plus relish::heap_size of every value held; a HeapSizeTracker is
// active for the whole report, so an allocation shared by several memos (a shared_ptr
// extracted from a bigger structure) is counted once, at its first holder. Tables count the
// storage they have written; "reserved" is what they allocated for growth and never wrote
// (up to half a table that doubles: address space a malloc counts, not resident memory).
#pragma once

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "relish/database.hpp"
#include "relish/heap_size.hpp"

namespace relish {

struct MemoryReport {
  std::vector<IngredientMemory> ingredients;  // largest total first
  IngredientMemory total;                     // sums; name "total"

  std::string to_table() const;
  std::string to_json() const;
};

inline MemoryReport memory_report(const Database& db) {
  MemoryReport r;
  HeapSizeTracker tracker;
  db.runtime().for_each_ingredient([&](const detail::IngredientBase& ing) {
    IngredientMemory m;
    m.name = ing.name();
    ing.memory(m);
    r.total.entries += m.entries;
    r.total.values += m.values;
    r.total.metadata_bytes += m.metadata_bytes;
    r.total.value_stack_bytes += m.value_stack_bytes;
    r.total.value_heap_bytes += m.value_heap_bytes;
    r.total.reserved_bytes += m.reserved_bytes;
    r.ingredients.push_back(std::move(m));
  });
  // The reverse edges of push-pull invalidation (one row, once a write has folded some in).
  if (const detail::ReverseIndex& index = db.runtime().reverse_index(); index.edges() != 0) {
    IngredientMemory m;
    m.name = "(reverse edges)";
    m.kind = "index";
    m.entries = index.edges();
    m.metadata_bytes = index.heap_bytes();
    r.total.entries += m.entries;
    r.total.metadata_bytes += m.metadata_bytes;
    r.ingredients.push_back(std::move(m));
  }
  r.total.name = "total";
  r.total.kind = "";
  std::stable_sort(r.ingredients.begin(), r.ingredients.end(),
                   [](const IngredientMemory& a, const IngredientMemory& b) {
                     return a.total_bytes() > b.total_bytes();
                   });
  return r;
}

namespace detail {

inline std::string human_bytes(std::size_t n) {
  char buf[32];
  if (n < 1024) {
    std::snprintf(buf, sizeof buf, "%zu B", n);
  } else if (n < 1024 * 1024) {
    std::snprintf(buf, sizeof buf, "%.1f KiB", static_cast<double>(n) / 1024);
  } else if (n < std::size_t{1} << 30) {
    std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(n) / (1024 * 1024));
  } else {
    std::snprintf(buf, sizeof buf, "%.2f GiB", static_cast<double>(n) / (1 << 30));
  }
  return buf;
}

inline std::string json_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace detail

inline std::string MemoryReport::to_table() const {
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"ingredient", "kind", "entries", "values", "metadata", "values (stack)",
                  "values (heap)", "total", "reserved"});
  auto row = [&](const IngredientMemory& m) {
    rows.push_back({m.name, m.kind, std::to_string(m.entries), std::to_string(m.values),
                    detail::human_bytes(m.metadata_bytes),
                    detail::human_bytes(m.value_stack_bytes),
                    detail::human_bytes(m.value_heap_bytes), detail::human_bytes(m.total_bytes()),
                    detail::human_bytes(m.reserved_bytes)});
  };
  for (const auto& m : ingredients) row(m);
  row(total);
  std::vector<std::size_t> width(rows[0].size(), 0);
  for (const auto& r : rows)
    for (std::size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  std::string out;
  for (std::size_t ri = 0; ri < rows.size(); ++ri) {
    if (ri + 1 == rows.size()) {  // rule above the total
      for (std::size_t i = 0; i < width.size(); ++i)
        out += std::string(width[i], '-') + (i + 1 < width.size() ? "  " : "\n");
    }
    const auto& r = rows[ri];
    for (std::size_t i = 0; i < r.size(); ++i) {
      const std::size_t pad = width[i] - r[i].size();
      // Names left-aligned, numbers right-aligned.
      out += i < 2 ? r[i] + std::string(pad, ' ') : std::string(pad, ' ') + r[i];
      if (i + 1 < r.size()) out += "  ";
    }
    out += '\n';
  }
  return out;
}

inline std::string MemoryReport::to_json() const {
  auto obj = [](const IngredientMemory& m) {
    return "{\"name\":\"" + detail::json_escape(m.name) + "\",\"kind\":\"" + m.kind +
           "\",\"entries\":" + std::to_string(m.entries) +
           ",\"values\":" + std::to_string(m.values) +
           ",\"metadata_bytes\":" + std::to_string(m.metadata_bytes) +
           ",\"value_stack_bytes\":" + std::to_string(m.value_stack_bytes) +
           ",\"value_heap_bytes\":" + std::to_string(m.value_heap_bytes) +
           ",\"total_bytes\":" + std::to_string(m.total_bytes()) +
           ",\"reserved_bytes\":" + std::to_string(m.reserved_bytes) + "}";
  };
  std::string out = "{\"ingredients\":[";
  for (std::size_t i = 0; i < ingredients.size(); ++i) {
    if (i) out += ',';
    out += obj(ingredients[i]);
  }
  out += "],\"total\":" + obj(total) + "}";
  return out;
}

}  // namespace relish

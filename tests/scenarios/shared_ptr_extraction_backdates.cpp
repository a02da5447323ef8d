// The seed's place_table pattern: a no_eq `semantic_index` holds one shared_ptr<Table> per
// scope; an extraction query returns the shared_ptr (returns deref); when the builder reused
// the same allocation for a scope, the extraction backdates by pointer identity and the
// scope's readers do not re-run. A new allocation is a change.
#include <catch2/catch.hpp>
#include <relish/relish.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "../common/event_log.hpp"

namespace {

using relish_test::EventLog;
using relish_test::Log;

// Deliberately not comparable (a class, no operator==): only pointer identity can show that
// two tables are the same, as for ty's PlaceTable.
class Table {
 public:
  explicit Table(std::string symbols) : symbols_(std::move(symbols)) {}
  const std::string& symbols() const noexcept { return symbols_; }
  // For relish's memory report (a type with private state says what it owns).
  friend std::size_t relish_heap_size(const Table& t) { return t.symbols_.capacity(); }

 private:
  std::string symbols_;
};

struct SemanticIndex {
  std::vector<std::shared_ptr<const Table>> scopes;
};

struct FileData {
  std::string text;  // scopes separated by ';', e.g. "ab;c"
};
using File = relish::Input<FileData>;

struct Db : relish::Database {
  // The builder's allocation reuse: a scope whose text did not change gets the same Table.
  std::map<std::string, std::shared_ptr<const Table>> table_cache;
};

SemanticIndex semantic_index_fn(Db& db, File f) {
  SemanticIndex index;
  const std::string& text = f.get(db, &FileData::text);
  std::size_t start = 0;
  for (;;) {
    const std::size_t end = std::min(text.find(';', start), text.size());
    const std::string scope = text.substr(start, end - start);
    auto& cached = db.table_cache[scope];
    if (!cached) cached = std::make_shared<const Table>(scope);
    index.scopes.push_back(cached);
    if (end == text.size()) break;
    start = end + 1;
  }
  return index;
}
inline constexpr relish::Query<semantic_index_fn, relish::Options{.returns = relish::Returns::ref,
                                                                   .no_eq = true}>
    semantic_index;

std::shared_ptr<const Table> place_table_fn(Db& db, File f, std::uint32_t scope) {
  return semantic_index(db, f).scopes.at(scope);
}
inline constexpr relish::Query<place_table_fn, relish::Options{.returns = relish::Returns::deref}>
    place_table;

std::size_t symbol_count_fn(Db& db, File f, std::uint32_t scope) {
  return place_table(db, f, scope).symbols().size();
}
inline constexpr relish::Query<symbol_count_fn> symbol_count;

}  // namespace

TEST_CASE("an extraction query backdates when the builder reused the allocation",
          "[scenario]") {
  Db db;
  File f = File::create(db, {.text = "ab;c"});
  static_assert(std::is_same_v<decltype(place_table(db, f, 0)), const Table&>);

  CHECK(symbol_count(db, f, 0) == 2);
  CHECK(symbol_count(db, f, 1) == 1);
  const Table* scope0 = &place_table(db, f, 0);
  const Table* scope1 = &place_table(db, f, 1);

  EventLog log(db);
  f.set(db, &FileData::text, "ab;cd");  // scope 0 reuses its table, scope 1 gets a new one
  log.clear();
  CHECK(symbol_count(db, f, 0) == 2);
  CHECK(log.take() == Log{"will_execute semantic_index(File#0)",
                          "will_execute place_table(File#0, 0)",
                          "did_backdate place_table(File#0, 0)",
                          "did_validate_memoized_value symbol_count(File#0, 0)"});
  CHECK(symbol_count(db, f, 1) == 2);
  CHECK(log.take() == Log{"will_execute place_table(File#0, 1)",
                          "will_execute symbol_count(File#0, 1)"});
  CHECK(&place_table(db, f, 0) == scope0);
  CHECK(&place_table(db, f, 1) != scope1);

  // Every scope gets a new allocation: every reader re-runs (and, counting the same number of
  // symbols as before, backdates itself).
  f.set(db, &FileData::text, "xy;zw");
  log.clear();
  CHECK(symbol_count(db, f, 0) == 2);
  CHECK(symbol_count(db, f, 1) == 2);
  CHECK(log.take() == Log{"will_execute semantic_index(File#0)",
                          "will_execute place_table(File#0, 0)",
                          "will_execute symbol_count(File#0, 0)",
                          "did_backdate symbol_count(File#0, 0)",
                          "will_execute place_table(File#0, 1)",
                          "will_execute symbol_count(File#0, 1)",
                          "did_backdate symbol_count(File#0, 1)"});

  // Back to an old scope text: the cache hands out the old allocation, which is a change
  // relative to the memo (a different pointer), so the reader re-runs.
  f.set(db, &FileData::text, "ab;zw");
  log.clear();
  CHECK(symbol_count(db, f, 0) == 2);
  CHECK(symbol_count(db, f, 1) == 2);
  CHECK(log.executed() == Log{"semantic_index(File#0)", "place_table(File#0, 0)",
                              "symbol_count(File#0, 0)", "place_table(File#0, 1)"});
  CHECK(&place_table(db, f, 0) == scope0);
}

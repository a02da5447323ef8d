// Tracked struct identity: (creating query and its key, identity fields, occurrence). Re-running
// the creator re-creates entities with the same handles (whatever their order); two entities
// with equal identity fields in one execution get distinct handles (the occurrence counter)
// and keep them across re-runs; the same identity fields under another creator, or another
// key of the same creator, are another entity. Creating one outside a query is a MisuseError.
#include <catch2/catch.hpp>
#include <relish/relish.hpp>

#include <algorithm>
#include <map>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "../common/event_log.hpp"

namespace {

using relish_test::EventLog;
using relish_test::Log;

struct FileData {
  std::string text;  // "x=1 y=2": one symbol per word
};
using File = relish::Input<FileData>;

struct SymbolData {
  std::string name;                          // the only identity field
  relish::TrackedField<std::int64_t> value;  // tracked
};
using Symbol = relish::Tracked<SymbolData>;

struct Db : relish::Database {};

std::vector<std::pair<std::string, std::int64_t>> parse(const std::string& text) {
  std::vector<std::pair<std::string, std::int64_t>> out;
  for (std::size_t i = text.find_first_not_of(' '); i != std::string::npos;) {
    const std::size_t end = std::min(text.find(' ', i), text.size());
    const std::string w = text.substr(i, end - i);
    const auto eq = w.find('=');
    out.emplace_back(w.substr(0, eq), std::stoll(w.substr(eq + 1)));
    i = text.find_first_not_of(' ', end);
  }
  return out;
}

std::vector<Symbol> symbols_fn(Db& db, File f) {
  std::vector<Symbol> out;
  for (const auto& [name, value] : parse(f.get(db, &FileData::text)))
    out.push_back(Symbol::create(db, {.name = name, .value = value}));
  return out;
}
inline constexpr relish::Query<symbols_fn> symbols;

// Another creator making symbols with the same identity fields.
std::vector<Symbol> exported_fn(Db& db, File f) {
  std::vector<Symbol> out;
  for (const auto& [name, value] : parse(f.get(db, &FileData::text)))
    if (name[0] != '_') out.push_back(Symbol::create(db, {.name = name, .value = value}));
  return out;
}
inline constexpr relish::Query<exported_fn> exported;

std::int64_t value_fn(Db& db, Symbol s) { return s.get(db, &SymbolData::value); }
inline constexpr relish::Query<value_fn> value_of;

}  // namespace

TEST_CASE("tracked: re-running the creator re-creates entities with the same handles",
          "[scenario]") {
  Db db;
  File f = File::create(db, {.text = "x=1 y=2 z=3"});
  EventLog log(db);
  const std::vector<Symbol> first = symbols(db, f);
  REQUIRE(first.size() == 3);
  CHECK(first[0] != first[1]);
  CHECK(first[1] != first[2]);
  for (const Symbol& s : first) (void)value_of(db, s);
  log.clear();

  // Reordered, one value changed: every symbol keeps its handle; nothing is discarded.
  f.set(db, &FileData::text, "z=3 x=1 y=20");
  log.clear();
  const std::vector<Symbol> second = symbols(db, f);
  CHECK(second == std::vector<Symbol>{first[2], first[0], first[1]});
  CHECK(value_of(db, first[0]) == 1);
  CHECK(value_of(db, first[1]) == 20);
  CHECK(value_of(db, first[2]) == 3);
  CHECK(log.take() == Log{"will_execute symbols(File#0)",
                          "did_validate_memoized_value value(Symbol#0)",
                          "will_execute value(Symbol#1)",
                          "did_validate_memoized_value value(Symbol#2)"});
  CHECK(first[0].get(db, &SymbolData::name) == "x");
}

TEST_CASE("tracked: equal identity fields in one execution get distinct, stable handles",
          "[scenario]") {
  Db db;
  File f = File::create(db, {.text = "x=1 x=2 y=3 x=4"});
  EventLog log(db);
  const std::vector<Symbol> first = symbols(db, f);
  REQUIRE(first.size() == 4);
  // Three "x": three entities (occurrences 0, 1, 2).
  CHECK(first[0] != first[1]);
  CHECK(first[1] != first[3]);
  CHECK(first[0] != first[3]);
  CHECK(first[0].get(db, &SymbolData::value) == 1);
  CHECK(first[1].get(db, &SymbolData::value) == 2);
  CHECK(first[3].get(db, &SymbolData::value) == 4);
  for (const Symbol& s : first) (void)value_of(db, s);

  // Re-run: the n-th "x" is the same entity as the n-th "x" before.
  f.set(db, &FileData::text, "y=3 x=1 x=7 x=4");
  log.clear();
  const std::vector<Symbol> second = symbols(db, f);
  CHECK(second == std::vector<Symbol>{first[2], first[0], first[1], first[3]});
  CHECK(value_of(db, second[2]) == 7);
  CHECK(value_of(db, second[3]) == 4);
  CHECK(log.take() == Log{"will_execute symbols(File#0)",
                          "will_execute value(Symbol#1)",
                          "did_validate_memoized_value value(Symbol#3)"});

  // One "x" fewer: the last occurrence is the one that goes.
  f.set(db, &FileData::text, "x=1 x=7 y=3");
  log.clear();
  CHECK(symbols(db, f) == std::vector<Symbol>{first[0], first[1], first[2]});
  CHECK(log.take() == Log{"will_execute symbols(File#0)", "did_discard Symbol#3"});
}

TEST_CASE("tracked: the creating query and its key are part of the identity", "[scenario]") {
  Db db;
  File f = File::create(db, {.text = "a=1 _b=2"});
  File g = File::create(db, {.text = "a=1"});

  const std::vector<Symbol> in_f = symbols(db, f);
  const std::vector<Symbol> in_g = symbols(db, g);
  const std::vector<Symbol> exported_f = exported(db, f);
  REQUIRE(in_f.size() == 2);
  REQUIRE(in_g.size() == 1);
  REQUIRE(exported_f.size() == 1);
  // Same identity fields {"a"}, three creators (query, key): three entities.
  CHECK(in_f[0] != in_g[0]);
  CHECK(in_f[0] != exported_f[0]);
  CHECK(in_g[0] != exported_f[0]);
  CHECK(exported_f[0].get(db, &SymbolData::name) == "a");

  // Re-running one creator leaves the others' entities alone.
  EventLog log(db);
  g.set(db, &FileData::text, "c=1");
  log.clear();
  const std::vector<Symbol> in_g2 = symbols(db, g);
  CHECK(in_g2[0] != in_g[0]);
  CHECK(log.take() == Log{"will_execute symbols(File#1)", "did_discard Symbol#2"});
  CHECK(in_f[0].get(db, &SymbolData::name) == "a");
  CHECK(exported_f[0].get(db, &SymbolData::name) == "a");
  CHECK_THROWS_AS(in_g[0].get(db, &SymbolData::name), relish::StaleHandleError);
}

TEST_CASE("tracked: creating one outside a query is a MisuseError", "[scenario]") {
  Db db;
  CHECK(relish_test::message_of<relish::MisuseError>(
            [&] { (void)Symbol::create(db, {.name = "x", .value = 1}); }) ==
        "relish: cannot create tracked struct Symbol outside a query: tracked structs "
        "are created by queries");
  // Nothing was created; the database is still usable.
  File f = File::create(db, {.text = "x=1"});
  const std::vector<Symbol> s = symbols(db, f);
  REQUIRE(s.size() == 1);
  CHECK(s[0].index() == 0);
  CHECK(Symbol().is_null());
  CHECK_THROWS_AS(Symbol().get(db, &SymbolData::name), relish::StaleHandleError);
}

// Re-runs find the structs their previous run created at the same point without a lookup
// (same_as_last_time); whatever the new order, each (name, n-th occurrence of it) keeps its
// handle, as the identity index alone would give. A model over random re-runs: insertions,
// removals, swaps and duplicates.
TEST_CASE("tracked: each identity keeps its handle over random re-runs, whatever the order",
          "[scenario]") {
  Db db;
  std::uint64_t seed = 7;
  auto next = [&] {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<std::uint32_t>(seed >> 33);
  };
  std::vector<std::string> names;
  for (int i = 0; i < 12; ++i) names.push_back(std::string(1, static_cast<char>('a' + next() % 6)));
  auto text_of = [&] {
    std::string t;
    for (std::size_t i = 0; i < names.size(); ++i) t += names[i] + "=" + std::to_string(i) + " ";
    return t;
  };
  File f = File::create(db, {.text = text_of()});
  std::map<std::pair<std::string, int>, Symbol> handle;  // (name, occurrence) -> its entity
  for (int round = 0; round < 300; ++round) {
    const std::vector<Symbol> made = symbols(db, f);
    REQUIRE(made.size() == names.size());
    std::map<std::string, int> seen;
    std::map<std::pair<std::string, int>, Symbol> now;
    for (std::size_t i = 0; i < names.size(); ++i) {
      const std::pair<std::string, int> id{names[i], seen[names[i]]++};
      CHECK(made[i].get(db, &SymbolData::name) == names[i]);
      CHECK(made[i].get(db, &SymbolData::value) == static_cast<std::int64_t>(i));
      if (auto it = handle.find(id); it != handle.end()) CHECK(made[i] == it->second);
      now.emplace(id, made[i]);
    }
    handle = std::move(now);
    switch (next() % 4) {  // the next run's edit
      case 0:
        if (names.size() > 1) names.erase(names.begin() + next() % names.size());
        break;
      case 1:
        names.insert(names.begin() + next() % (names.size() + 1),
                     std::string(1, static_cast<char>('a' + next() % 6)));
        break;
      case 2:
        std::swap(names[next() % names.size()], names[next() % names.size()]);
        break;
      default:
        break;  // same names, new values below
    }
    f.set(db, &FileData::text, text_of() + (round % 2 ? " " : ""));
  }
}

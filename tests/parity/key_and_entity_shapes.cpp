// Shapes a Salsa port needs: a query keyed on "any of these entity kinds" (Salsa's
// #[derive(Supertype)] enums: an std::variant of handles), a tracked struct with no fields
// (pure identity), and an entity type that holds an optional handle of its own type.
#include <catch2/catch.hpp>
#include <relish/relish.hpp>

#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "../common/event_log.hpp"

namespace {

using relish_test::EventLog;
using relish_test::Log;

struct FileData {
  std::string text;
};
using File = relish::Input<FileData>;
struct NotebookData {
  std::vector<std::string> cells;
};
using Notebook = relish::Input<NotebookData>;
using Document = std::variant<File, Notebook>;  // a supertype key

struct Db : relish::Database {};

std::size_t length_fn(Db& db, Document d) {
  if (const File* f = std::get_if<File>(&d)) return f->get(db, &FileData::text).size();
  std::size_t n = 0;
  for (const auto& c : std::get<Notebook>(d).get(db, &NotebookData::cells)) n += c.size();
  return n;
}
inline constexpr relish::Query<length_fn> length;

// An entity that refers to another of its kind (a scope's parent), through an optional.
struct ScopeData {
  int depth;
  std::optional<relish::Tracked<ScopeData>> parent;
};
using Scope = relish::Tracked<ScopeData>;
struct MarkerData {};  // no fields: identity only
using Marker = relish::Tracked<MarkerData>;

struct Built {
  std::vector<Scope> scopes;
  std::vector<Marker> markers;
  friend bool operator==(const Built&, const Built&) = default;
};

Built build_fn(Db& db, File f) {
  Built b;
  std::optional<Scope> parent;
  const std::size_t n = f.get(db, &FileData::text).size();
  for (std::size_t i = 0; i < n; ++i) {
    Scope s = Scope::create(db, {.depth = static_cast<int>(i), .parent = parent});
    b.scopes.push_back(s);
    parent = s;
  }
  b.markers = {Marker::create(db, {}), Marker::create(db, {})};
  return b;
}
inline constexpr relish::Query<build_fn> build;

int innermost_depth_fn(Db& db, File f) {
  Scope s = build(db, f).scopes.back();
  int hops = 0;
  while (auto p = s.get(db, &ScopeData::parent)) {
    s = *p;
    ++hops;
  }
  return hops;
}
inline constexpr relish::Query<innermost_depth_fn> innermost_depth;

}  // namespace

TEST_CASE("a variant of handles is a key: each alternative its own memo", "[parity][keys]") {
  Db db;
  File f = File::create(db, {.text = "abc"});
  Notebook nb = Notebook::create(db, {.cells = {"x", "yz"}});
  EventLog log(db);
  CHECK(length(db, Document{f}) == 3);
  CHECK(length(db, Document{nb}) == 3);
  CHECK(log.executed().size() == 2);
  nb.set(db, &NotebookData::cells, std::vector<std::string>{"wxyz"});
  log.clear();
  CHECK(length(db, Document{f}) == 3);
  CHECK(length(db, Document{nb}) == 4);
  CHECK(log.executed().size() == 1);
  CHECK(db.describe(length.key(db, Document{f})).starts_with("length("));
}

TEST_CASE("tracked structs with no fields, and holding optional handles of their own type",
          "[parity][tracked]") {
  Db db;
  File f = File::create(db, {.text = "abcd"});
  CHECK(innermost_depth(db, f) == 3);
  const Built first = build(db, f);
  CHECK(first.markers[0] != first.markers[1]);  // two creations, two identities
  f.set(db, &FileData::text, "wxyz");           // same length: the same entities again
  CHECK(innermost_depth(db, f) == 3);
  CHECK(build(db, f) == first);
  f.set(db, &FileData::text, "ab");
  CHECK(innermost_depth(db, f) == 1);
}

// Queries declared from captureless lambdas (relish::query, or Query<lambda>): one name per
// query, memoized, invalidated and backdated exactly as the function form. Cycle policies
// take lambdas too.
#include <catch2/catch.hpp>
#include <relish/relish.hpp>

#include <algorithm>
#include <cstdint>
#include <string>

#include "../common/event_log.hpp"

namespace {

using relish_test::EventLog;
using relish_test::Log;

struct FileData {
  std::string text;
  int unrelated = 0;
};
using File = relish::Input<FileData>;
struct Db : relish::Database {};

// Plain-value keys are interned as with the function form; noexcept is fine.
inline constexpr auto word_count =
    relish::query([](Db& db, File file, const std::string& word) noexcept {
      const std::string& text = file.get(db, &FileData::text);
      std::size_t n = 0;
      for (auto at = text.find(word); at != std::string::npos; at = text.find(word, at + 1)) ++n;
      return n;
    });

// The README's lambda-form example (tests/CMakeLists.txt keeps the two in sync).
// [readme]
inline constexpr auto line_count = relish::query([](Db& db, File file) {
  const std::string& text = file.get(db, &FileData::text);
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
});

// Options and a cycle policy go in relish::query's template arguments.
inline constexpr auto summary =
    relish::query<relish::Options{.returns = relish::Returns::ref}>([](Db& db, File file) {
      const std::size_t lines = line_count(db, file);
      const std::size_t defs = word_count(db, file, "def");
      return std::to_string(lines) + " lines, " + std::to_string(defs) + " defs";
    });
// [readme]

// The other spelling: the lambda as Query's argument (for a query used in one file only).
inline constexpr relish::Query<[](Db& db, File file) -> std::size_t {
  return file.get(db, &FileData::text).size();
}>
    length;

// ---- a cycle whose policy is lambdas: reach(n) = max(n, reach((n + 1) % 3)) ----

int reach_fn(Db& db, int n);
inline constexpr relish::Query<
    reach_fn, relish::Options{},
    relish::Fixpoint<[](Db&, int) { return 0; },
                     [](Db&, const int& value, std::uint32_t iteration, int) {
                       return (iteration > 10) ? 99 : value;  // parenthesized: inside <...>
                     }>>
    reach;
int reach_fn(Db& db, int n) { return std::max(n, reach(db, (n + 1) % 3)); }

int depth_fn(Db& db, int n);
inline constexpr relish::Query<depth_fn, relish::Options{},
                               relish::CycleFallback<[](Db&, int) { return -1; }>>
    depth;
int depth_fn(Db& db, int n) { return depth(db, n) + 1; }  // a cycle: takes the fallback

}  // namespace

TEST_CASE("lambda queries: memoized, re-run after an edit, backdated", "[scenario][lambda]") {
  Db db;
  File f = File::create(db, {.text = "def f():\n    pass\n"});
  EventLog log(db);
  // The names the log gives the three queries' memos (today the closure types' names, in
  // which summary and line_count look alike; the order of the log tells them apart).
  const std::string lines = relish_test::describe(db, line_count.key(db, f));
  const std::string defs = relish_test::describe(db, word_count.key(db, f, "def"));
  const std::string sum = relish_test::describe(db, summary.key(db, f));

  CHECK(summary(db, f) == "2 lines, 1 defs");
  CHECK(log.executed() == Log{sum, lines, defs});
  log.clear();
  CHECK(summary(db, f) == "2 lines, 1 defs");
  CHECK(line_count(db, f) == 2);
  CHECK(log.take().empty());  // hits

  f.set(db, &FileData::unrelated, 1);  // nothing read it: verified, nothing runs
  CHECK(summary(db, f) == "2 lines, 1 defs");
  CHECK(log.executed().empty());
  log.clear();

  // Same line and `def` counts: both leaves re-run, equal values backdate, summary does not.
  f.set(db, &FileData::text, "def g():\n    return 1\n");
  CHECK(summary(db, f) == "2 lines, 1 defs");
  CHECK(log.executed() == Log{lines, defs});
  CHECK(log.backdated() == Log{lines, defs});
  log.clear();

  // Now the line count changes: the summary re-runs, after the leaf it read first.
  f.set(db, &FileData::text, "x\n");
  CHECK(summary(db, f) == "1 lines, 0 defs");
  CHECK(log.executed() == Log{lines, sum, defs});
}

TEST_CASE("lambda queries: Query<lambda> and the ingredient's name", "[scenario][lambda]") {
  Db db;
  File f = File::create(db, {.text = "abc"});
  EventLog log(db);
  CHECK(length(db, f) == 3);
  CHECK(length(db, f) == 3);
  CHECK(log.executed().size() == 1);
  // Until a query can be given its own name, a lambda's memos are described by its closure
  // type: not empty, and naming the key.
  const std::string name = relish_test::describe(db, length.key(db, f));
  CHECK(name.size() > std::string("(FileData#0)").size());
  CHECK(name.ends_with("(File#0)"));
}

TEST_CASE("lambda cycle policies: Fixpoint Initial/Recover and CycleFallback",
          "[scenario][lambda][cycle]") {
  Db db;
  CHECK(reach(db, 0) == 2);
  CHECK(reach(db, 1) == 2);
  CHECK(depth(db, 5) == -1);
}

// relish::QueryCounters (counters.hpp): executions, deep verifications, O(1) acceptances,
// backdates and evictions per query, after edits.
#include <catch2/catch.hpp>
#include <relish/counters.hpp>
#include <relish/relish.hpp>

#include <cstddef>
#include <string>

namespace {

struct FileData {
  std::string path;
  std::string text;
  unsigned permissions = 0644;
};
using File = relish::Input<FileData>;
struct Db : relish::Database {};

std::size_t count_lines(Db& db, File file) {
  std::size_t n = 0;
  for (char c : file.get(db, &FileData::text)) n += c == '\n';
  return n;
}
inline constexpr relish::Query<count_lines> line_count;

std::size_t text_size(Db& db, File file) { return file.get(db, &FileData::text).size(); }
inline constexpr relish::Query<text_size, relish::Options{.lru = 1}> size_of;

std::size_t summarize(Db& db, File file) { return line_count(db, file) * 1000 + size_of(db, file); }
inline constexpr relish::Query<summarize> summary;

std::size_t path_length(Db& db, File file) { return file.get(db, &FileData::path).size(); }
inline constexpr relish::Query<path_length> path_len;

}  // namespace

TEST_CASE("QueryCounters: what each query did after an edit", "[observe][counters]") {
  Db db;
  relish::QueryCounters counters;
  db.on_event(relish::observers(counters));
  File a = File::create(db, {.path = "a.py", .text = "x\ny\n"});
  File b = File::create(db, {.path = "b.py", .text = "z\n"});
  summary(db, a);
  summary(db, b);
  path_len(db, a);
  CHECK(counters.of(db, "summarize").executions == 2);
  CHECK(counters.of(db, "count_lines").executions == 2);
  CHECK(counters.of(db, "text_size").executions == 2);
  CHECK(counters.of(db, "path_length").executions == 1);
  CHECK(counters.total().verifications == 0);

  counters.reset();
  // Same number of lines, another size: count_lines backdates, text_size changes, summarize
  // re-runs. b's memos and path_length are outside the write's cone: accepted in O(1). The
  // write's revision hook evicts one of the two text_size values (lru = 1).
  a.set(db, &FileData::text, "x\nyy\n");
  summary(db, a);
  summary(db, b);
  path_len(db, a);
  db.on_event({});

  const relish::QueryCounts sum = counters.of(db, "summarize");
  CHECK(sum.executions == 1);
  CHECK(sum.verifications == 1);  // a's: text_size changed
  CHECK(sum.validations == 0);
  CHECK(sum.clean_acceptances == 1);  // b's
  CHECK(sum.backdates == 0);

  const relish::QueryCounts lines = counters.of(db, "count_lines");
  CHECK(lines.executions == 1);
  CHECK(lines.verifications == 1);
  CHECK(lines.backdates == 1);
  CHECK(lines.clean_acceptances == 0);  // b's was never asked for: summarize(b) was accepted

  const relish::QueryCounts sizes = counters.of(db, "text_size");
  CHECK(sizes.executions == 1);
  CHECK(sizes.verifications == 1);
  CHECK(sizes.evictions == 1);
  CHECK(sizes.backdates == 0);

  const relish::QueryCounts path = counters.of(db, "path_length");
  CHECK(path.executions == 0);
  CHECK(path.verifications == 0);
  CHECK(path.clean_acceptances == 1);

  CHECK(counters.of(db, "File").sets == 1);
  CHECK(counters.of(line_count.key(db, a)) == lines);
  CHECK(counters.by_query(db).size() == 5);  // four queries and the input
  const relish::QueryCounts all = counters.total();
  CHECK(all.executions == 3);
  CHECK(all.verifications == 3);
  CHECK(all.backdates == 1);

  CHECK(counters.to_table(db) ==
        "query        executed  verified  validated  accepted  backdated  evicted  cancelled  "
        "blocked  rounds  sets\n"
        "File                0         0          0         0          0        0          0  "
        "      0       0     1\n"
        "count_lines         1         1          0         0          1        0          0  "
        "      0       0     0\n"
        "path_length         0         0          0         1          0        0          0  "
        "      0       0     0\n"
        "summarize           1         1          0         1          0        0          0  "
        "      0       0     0\n"
        "text_size           1         1          0         0          0        1          0  "
        "      0       0     0\n");
}

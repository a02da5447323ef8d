// quickstart: the README's example, compiled and run by the test suite.
//
//   File (input) --> line_count --> total_lines
//        |                             ^
//        +--> word_count ---------------
//
// Shows an input with per-field dependencies, memoized queries, backdating and the event log.

// [readme]
#include <relish/relish.hpp>

#include <cstdio>
#include <string>

struct FileData {
  std::string path;
  std::string text;
  unsigned permissions = 0644;  // a field with a default
};
using File = relish::Input<FileData>;

struct Db : relish::Database {};

// A query is an ordinary function of the database and a key...
std::size_t count_lines(Db& db, File file) {
  std::size_t n = 0;
  for (char c : file.get(db, &FileData::text)) n += c == '\n';
  return n;
}
// ...plus a policy. Default: memoized, compared with == so equal results backdate.
inline constexpr relish::Query<count_lines> line_count;

// Keys may be plain values: relish interns them (no wrapper struct needed).
std::size_t count_words(Db& db, File file, std::string word) {
  const std::string& text = file.get(db, &FileData::text);
  std::size_t n = 0;
  for (auto at = text.find(word); at != std::string::npos; at = text.find(word, at + 1)) ++n;
  return n;
}
inline constexpr relish::Query<count_words> word_count;

std::size_t summarize(Db& db, File file) {
  return line_count(db, file) * 1000 + word_count(db, file, "def");
}
inline constexpr relish::Query<summarize> summary;

int main() {
  Db db;
  db.on_event([&](const relish::Event& e) {  // what ran, and what was kept without running
    using K = relish::EventKind;
    if (e.kind == K::will_execute || e.kind == K::did_backdate ||
        e.kind == K::did_validate_memoized_value || e.kind == K::did_accept_clean)
      std::printf("  %-28s %s\n", relish::to_string(e.kind), db.describe(e.key).c_str());
  });

  File f = File::create(db, {.path = "a.py", .text = "def f():\n    pass\n"});
  std::printf("summary = %zu\n", summary(db, f));  // runs all three queries

  f.set(db, &FileData::permissions, 0600u);  // nothing read `permissions`:
  std::printf("summary = %zu\n", summary(db, f));  // everything is verified, nothing runs

  f.set(db, &FileData::text, "def g():\n    return 1\n");  // same line and `def` counts:
  std::printf("summary = %zu\n", summary(db, f));  // leaves re-run and backdate; summary doesn't
}
// [readme]

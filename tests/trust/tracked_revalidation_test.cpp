// A tracked struct read through a handle kept from an earlier revision, before its creating
// query has run in this one: the read brings the creator up to date first, so it never sees
// (or lets a memo record) a field that the creator is about to overwrite in this revision.
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <relish/relish.hpp>

#include "../common/event_log.hpp"

namespace {

using relish_test::EventLog;
using relish_test::Log;

struct FileData {
  std::string text;
  int unrelated = 0;
};
using File = relish::Input<FileData>;
struct ItemData {
  File file;
  relish::TrackedField<std::string> text;
};
using Item = relish::Tracked<ItemData>;
struct Db : relish::Database {};

std::vector<Item> items_fn(Db& db, File f) {
  const std::string& t = f.get(db, &FileData::text);
  if (t.empty()) return {};
  return {Item::create(db, {f, t})};
}
inline constexpr relish::Query<items_fn> items;
std::size_t text_len_fn(Db& db, Item it) { return it.get(db, &ItemData::text).size(); }
inline constexpr relish::Query<text_len_fn> text_len;

TEST_CASE("trust: a tracked field read before its creator re-ran sees this revision's value",
          "[trust]") {
  Db db;
  File f = File::create(db, {"abc"});
  const Item it = items(db, f)[0];
  CHECK(text_len(db, it) == 3);

  EventLog log(db);
  f.set(db, &FileData::text, std::string("hello"));
  log.clear();
  CHECK(it.get(db, &ItemData::text) == "hello");  // at top level, through the old handle
  CHECK(log.executed() == Log{"items(File#0)"});
  log.clear();
  CHECK(text_len(db, it) == 5);
  CHECK(log.executed() == Log{"text_len(Item#0)"});

  f.set(db, &FileData::text, std::string("hello world"));
  log.clear();
  CHECK(text_len(db, it) == 11);  // a memo verified first: its creator re-runs, then it
  CHECK(log.executed() == Log{"items(File#0)", "text_len(Item#0)"});
  f.set(db, &FileData::unrelated, 1);
  CHECK(text_len(db, it) == 11);  // and nothing stale was memoized on the way

  f.set(db, &FileData::text, std::string());  // the creator will not re-create it
  CHECK_THROWS_AS(it.get(db, &ItemData::text), relish::StaleHandleError);
  CHECK_THROWS_AS(text_len(db, it), relish::StaleHandleError);
}

}  // namespace

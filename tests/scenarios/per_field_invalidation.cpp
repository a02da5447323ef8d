// Setting one field of an input invalidates only the queries that read that field.
#include <catch2/catch.hpp>
#include <relish/relish.hpp>

#include <cstdint>
#include <string>

#include "../common/event_log.hpp"

namespace {

using relish_test::EventLog;
using relish_test::Log;

struct FileData {
  std::string text;
  std::uint32_t permissions = 0644;
};
using File = relish::Input<FileData>;
struct Db : relish::Database {};

std::size_t length_fn(Db& db, File f) { return f.get(db, &FileData::text).size(); }
inline constexpr relish::Query<length_fn> length;

bool executable_fn(Db& db, File f) { return (f.get(db, &FileData::permissions) & 0111) != 0; }
inline constexpr relish::Query<executable_fn> executable;

}  // namespace

TEST_CASE("setting one field re-runs only the queries that read it", "[scenario]") {
  Db db;
  File f = File::create(db, {.text = "x = 1"});
  File g = File::create(db, {.text = "y = 22"});
  EventLog log(db);

  CHECK(length(db, f) == 5);
  CHECK_FALSE(executable(db, f));
  CHECK(length(db, g) == 6);
  CHECK(log.take() == Log{"will_execute length(File#0)",
                          "will_execute executable(File#0)",
                          "will_execute length(File#1)"});

  f.set(db, &FileData::permissions, 0755u);
  CHECK(log.take() == Log{"did_set_input File#0.permissions"});
  CHECK(length(db, f) == 5);
  CHECK(executable(db, f));
  CHECK(length(db, g) == 6);
  CHECK(log.take() == Log{"did_accept_clean length(File#0)",
                          "will_execute executable(File#0)",
                          "did_accept_clean length(File#1)"});

  f.set(db, &FileData::text, "x = 100");
  CHECK(log.take() == Log{"did_set_input File#0.text"});
  CHECK(executable(db, f));
  CHECK(length(db, f) == 7);
  CHECK(log.take() == Log{"did_accept_clean executable(File#0)",
                          "will_execute length(File#0)"});

  // Within a revision, a verified memo is a plain hit: no event at all.
  CHECK(length(db, f) == 7);
  CHECK(executable(db, f));
  CHECK(log.take().empty());
}

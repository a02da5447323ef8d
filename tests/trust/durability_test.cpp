// The durability shortcut must never skip a real change: not when an interned value is
// collected behind a memo verified in O(1), not when a tracked struct is re-created by a less
// durable run (the ty pattern: a library file opened in the editor), not when collection is
// switched on mid-session. Ports of ../shared/repro/audit/{interned_shortcut_reclaim,
// tracked_durability_drop}.cpp.
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <relish/relish.hpp>

namespace {

struct Cfg {
  int v = 0;
};
using Config = relish::Input<Cfg>;
struct NameData {
  std::string s;
};
using Name = relish::Interned<NameData>;
struct Db : relish::Database {};

Name name_fn(Db& db, Config c) {
  return Name::intern(db, {"n" + std::to_string(c.get(db, &Cfg::v))});
}
inline constexpr relish::Query<name_fn> name_of;
std::size_t len_fn(Db& db, Config c) { return name_of(db, c).get(db, &NameData::s).size(); }
inline constexpr relish::Query<len_fn> len;

TEST_CASE("trust: interned collection never reclaims a value a memo verified in O(1) returns",
          "[trust]") {
  Db db;
  Name::set_reclaim_after(db, 2);
  Config c = Config::create(db, {7}, relish::Durability::medium);
  Config noise = Config::create(db, {0}, relish::Durability::low);
  (void)name_of(db, c);
  for (int k = 1; k <= 6; ++k) noise.set(db, &Cfg::v, k);  // low-durability edits only
  CHECK(len(db, c) == 2);
  // A write at its durability makes it collectable once nothing uses it.
  c.set(db, &Cfg::v, 10);
  CHECK(len(db, c) == 3);
  for (int k = 7; k <= 12; ++k) noise.set(db, &Cfg::v, k);
  CHECK(len(db, c) == 3);
  CHECK(Name::ingredient(db).live_count() >= 1);
}

TEST_CASE("trust: turning collection on mid-session keeps what memos already hold", "[trust]") {
  Db db;
  Config c = Config::create(db, {7});
  Config noise = Config::create(db, {0});
  CHECK(len(db, c) == 2);  // interned without a dependency: collection was off
  Name::set_reclaim_after(db, 1);
  for (int k = 1; k <= 4; ++k) {
    noise.set(db, &Cfg::v, k);
    CHECK(len(db, c) == 2);
  }
  c.set(db, &Cfg::v, 12);
  CHECK(len(db, c) == 3);
  for (int k = 5; k <= 8; ++k) {
    noise.set(db, &Cfg::v, k);
    CHECK(len(db, c) == 3);
  }
}

struct FileData {
  int version = 0;
};
using File = relish::Input<FileData>;
struct ItemData {
  File file;
  relish::TrackedField<int> major;
};
using Item = relish::Tracked<ItemData>;

std::vector<Item> items_fn(Db& db, File f) {
  return {Item::create(db, {f, f.get(db, &FileData::version) / 10})};
}
inline constexpr relish::Query<items_fn> items;
int major_fn(Db& db, Item it) { return it.get(db, &ItemData::major); }
inline constexpr relish::Query<major_fn> major_of;
File file_of_fn(Db& db, Item it) { return it.get(db, &ItemData::file); }
inline constexpr relish::Query<file_of_fn> file_of;

TEST_CASE("trust: a tracked struct re-created by a less durable run is a change to its "
          "readers",
          "[trust]") {
  Db db;
  File f = File::create(db, {1}, relish::Durability::high);  // a library file
  Item it = items(db, f)[0];
  CHECK(major_of(db, it) == 0);
  CHECK(file_of(db, it) == f);
  f.set(db, &FileData::version, 2, relish::Durability::low);  // opened in the editor
  it = items(db, f)[0];  // re-created with the same fields, now low durability
  CHECK(major_of(db, it) == 0);
  CHECK(file_of(db, it) == f);
  f.set(db, &FileData::version, 25);  // a real edit
  it = items(db, f)[0];
  CHECK(it.get(db, &ItemData::major) == 2);
  CHECK(major_of(db, it) == 2);
}

}  // namespace

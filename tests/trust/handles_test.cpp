// Handles and references the docs promise are safe: a bad handle is an error before it can
// touch another entity's memo; a reference from a returns=ref query lives until the next
// write, even when its entity is deleted and its slot reused; stamps never come back
// (generations retire, database tags are unique among live databases); revisions never wrap.
// Ports of ../shared/repro/audit/{ref_discard_bad_handle,from_raw_huge_index,ref_slot_reuse,
// generation_wrap,tag_wrap,revision_wrap}.cpp.
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <relish/relish.hpp>

namespace {

struct FileData {
  int n = 0;
  int base = 0;
};
using File = relish::Input<FileData>;
struct Db : relish::Database {};

std::string upper_fn(Db& db, File f) { return std::string(64, 'A' + f.get(db, &FileData::n)); }
inline constexpr relish::Query<upper_fn, relish::Options{.returns = relish::Returns::ref}> upper;

TEST_CASE("trust: a query called with a bad handle does not discard the real entity's memo",
          "[trust]") {
  Db db;
  File f = File::create(db, {0});
  const std::string& held = upper(db, f);  // valid until the next write
  CHECK_THROWS_AS(upper(db, File{}), relish::StaleHandleError);
  CHECK_THROWS_AS(upper(db, File::from_raw(0xFFFFFFFFu, f.stamp())), relish::StaleHandleError);
  CHECK_THROWS_AS(upper(db, File::from_raw(0xFFFFFFE0u, f.stamp())), relish::StaleHandleError);
  CHECK(held == std::string(64, 'A'));
  CHECK(&upper(db, f) == &held);  // the same memo, not a re-run
}

struct EntData {
  File file;
  int id;
};
using Ent = relish::Tracked<EntData>;

std::vector<Ent> ents_fn(Db& db, File f) {
  std::vector<Ent> out;
  for (int i = 0; i < f.get(db, &FileData::n); ++i)
    out.push_back(Ent::create(db, {f, f.get(db, &FileData::base) + i}));
  return out;
}
inline constexpr relish::Query<ents_fn> ents;
std::string label_fn(Db& db, Ent e) { return std::string(64, 'a' + e.get(db, &EntData::id)); }
inline constexpr relish::Query<label_fn, relish::Options{.returns = relish::Returns::ref}> label;
// Keyed on the entity, reads nothing of it: verified without its creator re-running.
std::string tag_fn(Db&, Ent e) { return std::string(64, static_cast<char>('a' + e.index() % 26)); }
inline constexpr relish::Query<tag_fn, relish::Options{.returns = relish::Returns::ref}> tag;

TEST_CASE("trust: a reference stays valid when its entity is deleted and a new one is made "
          "in the same revision",
          "[trust]") {
  Db db;
  File f = File::create(db, {1});
  File g = File::create(db, {0, 5});
  const Ent a = ents(db, f)[0];
  (void)tag(db, a);
  (void)label(db, a);
  f.set(db, &FileData::n, 0);  // f will no longer create a
  g.set(db, &FileData::n, 1);  // g will create a new entity
  // One revision from here on. tag(a) is verified (it read nothing that changed) and hands
  // out a reference; then a is deleted, and a new entity is made.
  const std::string& r = tag(db, a);
  (void)ents(db, f);
  const Ent b = ents(db, g)[0];
  CHECK(b.index() != a.index());  // slots are reused from the next revision on
  CHECK(label(db, b) == std::string(64, 'f'));
  CHECK(r == std::string(64, 'a'));  // still a's value, still alive
  CHECK_THROWS_AS(tag(db, a), relish::StaleHandleError);
  CHECK_THROWS_AS(label(db, a), relish::StaleHandleError);
  // Next revision: the slot may be reused, the old handle never reads it.
  f.set(db, &FileData::base, 1);
  CHECK_THROWS_AS(a.get(db, &EntData::id), relish::StaleHandleError);
  CHECK(label(db, ents(db, g)[0]) == std::string(64, 'f'));
}

// A slot reused again and again: its generation retires it instead of wrapping round.
struct EData {
  int payload;
};
using E = relish::Tracked<EData>;
E making_fn(Db& db, File f) {
  return f.get(db, &FileData::n) ? E::create(db, {f.get(db, &FileData::base)}) : E{};
}
inline constexpr relish::Query<making_fn> making;

TEST_CASE("trust: a handle deleted 2^20 generations ago never names a new entity",
          "[trust][slow]") {
  Db db;
  File f = File::create(db, {1, 0});
  const E first = making(db, f);
  REQUIRE(first.index() == 0);
  E last;
  // Each pair of writes deletes the entity and makes a new one, in slot 0 while it lasts.
  for (std::uint32_t k = 0; k < (1u << 20); ++k) {
    f.set(db, &FileData::n, 0);
    (void)making(db, f);
    f.set(db, &FileData::n, 1);
    last = making(db, f);
  }
  CHECK(last.index() != first.index());  // slot 0 was retired
  CHECK_THROWS_AS(first.get(db, &EData::payload), relish::StaleHandleError);
  CHECK(last.get(db, &EData::payload) == 0);
}

struct V {
  int v = 0;
};
using In = relish::Input<V>;
struct VDb : relish::Database {};

TEST_CASE("trust: no two live databases share a tag, however many came and went", "[trust]") {
  auto first = std::make_unique<VDb>();
  const In h = In::create(*first, {111});
  for (int k = 2; k < 4096 + 16; ++k) {
    VDb tmp;
  }
  VDb late;
  (void)In::create(late, {222});
  CHECK_THROWS_AS(h.get(late, &V::v), relish::MisuseError);
  CHECK(h.get(*first, &V::v) == 111);
}

int times_ten_fn(VDb& db, In i) { return i.get(db, &V::v) * 10; }
inline constexpr relish::Query<times_ten_fn> times_ten;
int high_fn(VDb& db, In i) { return i.get(db, &V::v) + 1; }
inline constexpr relish::Query<high_fn> high;

TEST_CASE("trust: revisions do not wrap at 2^32", "[trust]") {
  VDb db;
  In low = In::create(db, {1});
  In durable = In::create(db, {5}, relish::Durability::high);
  CHECK(times_ten(db, low) == 10);
  CHECK(high(db, durable) == 6);
  // As if 2^32 - 3 writes had happened; then a few more, across 2^32.
  db.runtime().skip_revisions_for_testing((relish::Revision{1} << 32) - 3);
  for (int k = 2; k < 8; ++k) {
    low.set(db, &V::v, k);
    CHECK(times_ten(db, low) == 10 * k);
    CHECK(high(db, durable) == 6);
  }
  CHECK(db.current_revision() > (relish::Revision{1} << 32));
  durable.set(db, &V::v, 7);
  CHECK(high(db, durable) == 8);
}

}  // namespace

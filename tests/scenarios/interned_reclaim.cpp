// Garbage collection of interned values (`Interned<T>::set_reclaim_after(db, N)`): a value
// interned by a query of durability below high and not used for N revisions is reclaimed
// (did_reclaim), its slot is reused with a new generation so the old handle is a
// StaleHandleError, and a memo that read it re-executes. High-durability values, and values
// interned outside any query, are never reclaimed.
#include <catch2/catch.hpp>
#include <relish/relish.hpp>

#include <cstdint>
#include <string>

#include "../common/event_log.hpp"

namespace {

using relish_test::EventLog;
using relish_test::Log;

struct SrcData {
  std::string text;
};
using Src = relish::Input<SrcData>;
struct OtherData {
  std::uint32_t x = 0;
};
using Other = relish::Input<OtherData>;

struct NameData {
  std::string text;
};
using Name = relish::Interned<NameData>;

struct Db : relish::Database {
  Other other;
  void unrelated_edit() { other.set(*this, &OtherData::x, other.get(*this, &OtherData::x) + 1); }
};

// Reads its input first, so the value is interned with the input's durability.
Name make_name_fn(Db& db, Src s) { return Name::intern(db, {s.get(db, &SrcData::text)}); }
inline constexpr relish::Query<make_name_fn> make_name;

std::size_t name_len_fn(Db& db, Src s) { return make_name(db, s).get(db, &NameData::text).size(); }
inline constexpr relish::Query<name_len_fn> name_len;

// Keyed on the interned handle itself.
std::string shout_fn(Db& db, Name n) { return n.get(db, &NameData::text) + "!"; }
inline constexpr relish::Query<shout_fn> shout;

constexpr std::uint32_t kAfter = 2;

}  // namespace

TEST_CASE(
    "interned: unused low-durability values are reclaimed, slots reused with a new "
    "generation",
    "[scenario]") {
  Db db;
  db.other = Other::create(db, {});
  Name::set_reclaim_after(db, kAfter);
  Src s = Src::create(db, {.text = "alpha"});
  EventLog log(db);

  const Name alpha = make_name(db, s);
  CHECK(alpha.get(db, &NameData::text) == "alpha");
  CHECK(shout(db, alpha) == "alpha!");

  // The source changes: "alpha" is no longer produced; "beta" is, and stays in use because
  // make_name is asked for (and verifies its dependency on "beta") in every revision.
  s.set(db, &SrcData::text, "beta");
  const relish::Revision beta_rev = db.current_revision();
  const Name beta = make_name(db, s);
  CHECK(beta != alpha);
  log.clear();

  // Not before N revisions; then by the next sweep (at most N more).
  Log reclaimed;
  for (std::uint32_t i = 0; i < 2 * kAfter && reclaimed.empty(); ++i) {
    db.unrelated_edit();
    CHECK(make_name(db, s) == beta);
    reclaimed = log.of_kind(relish::EventKind::did_reclaim);
    // "alpha" was last used in the revision before beta_rev.
    if (!reclaimed.empty()) CHECK(db.current_revision() >= beta_rev - 1 + kAfter);
    log.clear();
  }
  CHECK(reclaimed == Log{"Name#0"});

  CHECK(relish_test::message_of<relish::StaleHandleError>([&] {
          (void)alpha.get(db, &NameData::text);
        }) == "relish: handle Name#0 names an interned value that was reclaimed");
  CHECK(beta.get(db, &NameData::text) == "beta");
  // A memo keyed on the reclaimed handle cannot hand out its old value.
  CHECK_THROWS_AS(shout(db, alpha), relish::StaleHandleError);

  // The slot is reused by the next new value, with a new generation: the old handle neither
  // equals the new one nor reads its value.
  s.set(db, &SrcData::text, "gamma");
  const Name gamma = make_name(db, s);
  CHECK(gamma.index() == alpha.index());
  CHECK(gamma.stamp() != alpha.stamp());
  CHECK(gamma != alpha);
  CHECK(gamma.get(db, &NameData::text) == "gamma");
  CHECK_THROWS_AS(alpha.get(db), relish::StaleHandleError);
  CHECK(shout(db, gamma) == "gamma!");  // not the old "alpha!" memo of that slot
  // Interning "alpha" again gives a fresh handle, not the reclaimed one.
  const Name alpha2 = Name::intern(db, {"alpha"});
  CHECK(alpha2 != alpha);
  CHECK(alpha2.get(db, &NameData::text) == "alpha");
}

TEST_CASE("interned: high-durability and outside-query values are never reclaimed", "[scenario]") {
  Db db;
  db.other = Other::create(db, {});
  Name::set_reclaim_after(db, kAfter);
  Src stdlib = Src::create(db, {.text = "builtins"}, relish::Durability::high);
  Src open_file = Src::create(db, {.text = "main"});
  const Name outside = Name::intern(db, {"outside"});
  const Name builtins = make_name(db, stdlib);
  const Name main_name = make_name(db, open_file);
  EventLog log(db);

  for (std::uint32_t i = 0; i < 5 * kAfter; ++i) db.unrelated_edit();
  // Only the low-durability value went.
  CHECK(main_name.index() == 2);
  CHECK(log.of_kind(relish::EventKind::did_reclaim) == Log{"Name#2"});
  CHECK(outside.get(db, &NameData::text) == "outside");
  CHECK(builtins.get(db, &NameData::text) == "builtins");
  CHECK(Name::intern(db, {"outside"}) == outside);
  CHECK(Name::intern(db, {"builtins"}) == builtins);
  CHECK_THROWS_AS(main_name.get(db), relish::StaleHandleError);
  log.clear();
  CHECK(make_name(db, stdlib) == builtins);  // outside every edit's cone: nothing to redo
  CHECK(log.take() == Log{"did_accept_clean make_name(Src#0)"});

  // A value first interned outside a query and later by a low query stays high.
  Src other_file = Src::create(db, {.text = "outside"});
  CHECK(make_name(db, other_file) == outside);
  for (std::uint32_t i = 0; i < 5 * kAfter; ++i) db.unrelated_edit();
  CHECK(outside.get(db, &NameData::text) == "outside");
}

TEST_CASE("interned: a memo that read a reclaimed value re-executes", "[scenario]") {
  Db db;
  db.other = Other::create(db, {});
  Name::set_reclaim_after(db, kAfter);
  Src s = Src::create(db, {.text = "alpha"});
  EventLog log(db);

  CHECK(name_len(db, s) == 5);
  const Name old = make_name(db, s);
  CHECK(log.take() ==
        Log{"will_execute name_len(Src#0)", "will_execute make_name(Src#0)"});

  // Nobody asks for anything for a while: "alpha" is reclaimed under make_name's memo.
  for (std::uint32_t i = 0; i < 2 * kAfter; ++i) db.unrelated_edit();
  CHECK(log.of_kind(relish::EventKind::did_reclaim) == Log{"Name#0"});
  log.clear();

  // make_name read the reclaimed value, so it re-executes (its input did not change) and
  // interns "alpha" anew; name_len sees a new handle, re-runs, and backdates its length.
  CHECK(name_len(db, s) == 5);
  CHECK(log.take() == Log{"will_execute make_name(Src#0)",
                          "will_execute name_len(Src#0)",
                          "did_backdate name_len(Src#0)"});
  const Name fresh = make_name(db, s);
  CHECK(fresh != old);
  CHECK(fresh.get(db, &NameData::text) == "alpha");
  CHECK_THROWS_AS(old.get(db), relish::StaleHandleError);

  // While it is used, it stays: make_name verifies its dependency on it in every revision.
  for (std::uint32_t i = 0; i < 4 * kAfter; ++i) {
    db.unrelated_edit();
    CHECK(name_len(db, s) == 5);
  }
  CHECK(log.of_kind(relish::EventKind::did_reclaim).empty());
  CHECK(log.executed().empty());
  CHECK(make_name(db, s) == fresh);
}

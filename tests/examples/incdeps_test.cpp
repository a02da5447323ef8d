// The incdeps example's core (examples/incdeps/incdeps.hpp) on a small tree held in memory:
// tokenizing, resolution, closures, the cycle report, the invalidation (reverse closure)
// report, and incremental answers after edits equal to from-scratch ones.
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "../../examples/incdeps/incdeps.hpp"

namespace {

using incdeps::Header;
using incdeps::Include;
using incdeps::IncludeKind;

// include paths: /p/inc, then /p/sys.
//   a.h <-> b.h is a cycle; c.h hides includes in comments and a string; inc/d.h
//   include_next's sys/d.h; sub/e.h's "f.h" is its sibling, not inc/f.h.
incdeps::FileMap fixture() {
  return {
      {"/p/inc/a.h", "#include \"b.h\"\n#include <c.h>\n"},
      {"/p/inc/b.h", "#pragma once\n#include \"a.h\" // back edge\n"},
      {"/p/inc/c.h",
       "/* #include <hidden.h>\n   still a comment */\n#  include <d.h>\n"
       "// #include <e.h>\n#define X \"#include <nope.h>\"\nint c;\n"},
      {"/p/inc/d.h", "#include_next <d.h>\n"},
      {"/p/sys/d.h", "#include <missing.h>\n#include CONFIG_H\n"},
      {"/p/inc/sub/e.h", "#include \"f.h\"\n#include \"../c.h\"\n"},
      {"/p/inc/sub/f.h", "int sub_f;\n"},
      {"/p/inc/f.h", "int f;\n"},
      {"/p/inc/g.h", "#include \"f.h\"\n"},
      {"/p/inc/top.h", "#include <sub/e.h>\n#include <a.h>\n"},
  };
}

const std::vector<std::string> kPaths = {"/p/inc", "/p/sys"};

void load_fixture(incdeps::Db& db, incdeps::FileMap files = fixture()) {
  incdeps::load(db, std::move(files), kPaths);
}

Header H(incdeps::Db& db, const std::string& path) {
  auto h = db.find(path);
  REQUIRE(h.has_value());
  return *h;
}

std::vector<std::string> paths(incdeps::Db& db, const std::vector<Header>& hs) {
  std::vector<std::string> out;
  for (Header h : hs) out.push_back(db.path(h));
  std::sort(out.begin(), out.end());
  return out;
}

using Strings = std::vector<std::string>;

// The answers of a fresh Db loaded with `db`'s current texts.
incdeps::Answers from_scratch(incdeps::Db& db, const std::vector<std::uint32_t>& probes) {
  incdeps::Db fresh;
  incdeps::load(fresh, incdeps::current_files(db), db.include_paths);
  return incdeps::snapshot(fresh, probes);
}

std::vector<std::uint32_t> all_ids(incdeps::Db& db) {
  std::vector<std::uint32_t> ids;
  for (Header h : db.headers) ids.push_back(h.index());
  return ids;
}

}  // namespace

TEST_CASE("incdeps: paths are joined and normalized lexically", "[incdeps]") {
  CHECK(incdeps::join_normal("/p/inc/sub", "../c.h") == "/p/inc/c.h");
  CHECK(incdeps::join_normal("/p/inc", "./x//y.h") == "/p/inc/x/y.h");
  CHECK(incdeps::join_normal("/p/inc", "/abs/z.h") == "/abs/z.h");
  CHECK(incdeps::join_normal("/p", "../../q.h") == "/q.h");
  CHECK(incdeps::normalize_path("/usr/include/") == "/usr/include");
  CHECK(incdeps::parent_dir("/p/inc/a.h") == "/p/inc");
  CHECK(incdeps::include_spelling(kPaths, "/p/sys/d.h") == "d.h");
  CHECK(incdeps::search_index_of(kPaths, "/p/sys/d.h") == 1);
  CHECK(incdeps::search_index_of(kPaths, "/p/other.h") == -1);
}

TEST_CASE("incdeps: #include lines are found, comments and literals skipped", "[incdeps]") {
  using V = std::vector<Include>;
  CHECK(incdeps::scan_includes("#include <a.h>\n#include \"b.h\"\n") ==
        V{{"a.h", IncludeKind::angle}, {"b.h", IncludeKind::quoted}});
  CHECK(incdeps::scan_includes("  #  include<a.h>\n\t# include_next \"n.h\"\n") ==
        V{{"a.h", IncludeKind::angle}, {"n.h", IncludeKind::next}});
  CHECK(incdeps::scan_includes("/* #include <x.h>\n#include <y.h> */\n// #include <z.h>\n")
            .empty());
  CHECK(incdeps::scan_includes("int x; #include <not_at_line_start.h>\n").empty());
  CHECK(incdeps::scan_includes("#define S \"#include <s.h>\"\nchar c = '\"';\n#include <t.h>\n") ==
        V{{"t.h", IncludeKind::angle}});
  CHECK(incdeps::scan_includes("#include FOO_H /* why */\n#includex <no.h>\n") ==
        V{{"FOO_H", IncludeKind::computed}});
  CHECK(incdeps::scan_includes("#if 0\n#include <in_if0.h>\n#endif\n") ==
        V{{"in_if0.h", IncludeKind::angle}});  // conditions are ignored
  CHECK(incdeps::scan_includes("#inc\\\nlude <spliced.h>\n#include <c.h> /* a\n b */\n") ==
        V{{"spliced.h", IncludeKind::angle}, {"c.h", IncludeKind::angle}});
  CHECK(incdeps::scan_includes("#include <unterminated.h\n#include\n#include <>\n").empty());
}

TEST_CASE("incdeps: resolution, closures, cycles, dependents, stats", "[incdeps]") {
  incdeps::Db db;
  load_fixture(db);
  REQUIRE(db.headers.size() == 10);

  SECTION("direct and resolved includes") {
    CHECK(incdeps::direct_includes(db, H(db, "/p/inc/c.h")) ==
          std::vector<Include>{{"d.h", IncludeKind::angle}});
    CHECK(paths(db, incdeps::resolved_includes(db, H(db, "/p/inc/a.h")).headers) ==
          Strings{"/p/inc/b.h", "/p/inc/c.h"});
    CHECK(paths(db, incdeps::resolved_includes(db, H(db, "/p/inc/d.h")).headers) ==
          Strings{"/p/sys/d.h"});  // include_next skips /p/inc
    CHECK(paths(db, incdeps::resolved_includes(db, H(db, "/p/inc/sub/e.h")).headers) ==
          Strings{"/p/inc/c.h", "/p/inc/sub/f.h"});  // "f.h" is the sibling
    CHECK(paths(db, incdeps::resolved_includes(db, H(db, "/p/inc/g.h")).headers) ==
          Strings{"/p/inc/f.h"});
    const auto& sys_d = incdeps::resolved_includes(db, H(db, "/p/sys/d.h"));
    CHECK(sys_d.headers.empty());
    CHECK(sys_d.unresolved == Strings{"<missing.h>"});
    CHECK(sys_d.computed == 1);
    CHECK(incdeps::resolve(db, std::string("sub/f.h"), std::string(), 0u) ==
          db.find("/p/inc/sub/f.h"));
    CHECK(incdeps::resolve(db, std::string("d.h"), std::string(), 1u) == db.find("/p/sys/d.h"));
    CHECK_FALSE(incdeps::resolve(db, std::string("nope.h"), std::string("/p/inc"), 0u));
  }

  SECTION("closures") {
    CHECK(paths(db, incdeps::closure(db, H(db, "/p/inc/a.h"))) ==
          Strings{"/p/inc/b.h", "/p/inc/c.h", "/p/inc/d.h", "/p/sys/d.h"});  // a excluded
    CHECK(paths(db, incdeps::closure(db, H(db, "/p/inc/c.h"))) ==
          Strings{"/p/inc/d.h", "/p/sys/d.h"});
    CHECK(incdeps::closure(db, H(db, "/p/inc/top.h")).size() == 7);
    CHECK(incdeps::closure(db, H(db, "/p/sys/d.h")).empty());
  }

  SECTION("cycle report") {
    const auto& cycles = incdeps::include_cycles(db, db.tree);
    REQUIRE(cycles.size() == 1);
    CHECK(paths(db, cycles[0]) == Strings{"/p/inc/a.h", "/p/inc/b.h"});
  }

  SECTION("invalidation report: dependents is the reverse closure") {
    CHECK(paths(db, incdeps::dependents(db, H(db, "/p/sys/d.h"))) ==
          Strings{"/p/inc/a.h", "/p/inc/b.h", "/p/inc/c.h", "/p/inc/d.h", "/p/inc/sub/e.h",
                  "/p/inc/top.h"});
    CHECK(paths(db, incdeps::dependents(db, H(db, "/p/inc/f.h"))) == Strings{"/p/inc/g.h"});
    CHECK(incdeps::dependents(db, H(db, "/p/inc/top.h")).empty());
    // Agrees with the closures: x is a dependent of h iff h is in closure(x).
    for (Header h : db.headers) {
      std::vector<Header> expect;
      for (Header x : db.headers) {
        const auto& c = incdeps::closure(db, x);
        if (x != h && std::binary_search(c.begin(), c.end(), h)) expect.push_back(x);
      }
      CHECK(incdeps::dependents(db, h) == expect);
    }
  }

  SECTION("stats") {
    const incdeps::GraphStats s = incdeps::graph_stats(db, db.tree);
    CHECK(s.headers == 10);
    CHECK(s.edges == 10);
    CHECK(s.unresolved == 1);
    CHECK(s.computed == 1);
  }
}

TEST_CASE("incdeps: a comment-only edit re-scans one header, backdates, closures validate",
          "[incdeps]") {
  incdeps::Db db;
  load_fixture(db);
  incdeps::EventTally tally(db);
  incdeps::evaluate(db, {});
  CHECK(tally.of("closure").executed == 10);

  const Header c = H(db, "/p/inc/c.h");
  tally.reset();
  incdeps::apply_edit(db, {incdeps::EditKind::comment, "/p/inc/c.h", ""});
  incdeps::evaluate(db, {});

  const auto executed = tally.executed();
  REQUIRE(executed.size() == 1);
  CHECK(executed[0] == db.describe(relish::DatabaseKey{
                           incdeps::direct_includes.ingredient(db).first_index(), c.index()}));
  CHECK(tally.of("direct_includes").backdated == 1);
  CHECK(tally.total().backdated == 1);
  CHECK(tally.of("resolved_includes").executed == 0);
  CHECK(tally.of("closure").executed == 0);
  // The closures that read c.h are verified; the others are outside the edit's cone.
  CHECK(tally.of("closure").validated == 5);
  CHECK(tally.of("closure").validated + tally.of("closure").accepted == 10);
  CHECK(tally.of("include_cycles").validated == 1);
  CHECK(tally.of("graph_stats").validated == 1);
  CHECK(incdeps::first_difference(incdeps::snapshot(db, {}), from_scratch(db, {})).empty());
}

TEST_CASE("incdeps: include edits re-run exactly the dependents' closures", "[incdeps]") {
  incdeps::Db db;
  load_fixture(db);
  incdeps::EventTally tally(db);
  const auto probes = all_ids(db);
  incdeps::evaluate(db, db.headers);

  SECTION("adding an include that closes a cycle") {
    const Header sys_d = H(db, "/p/sys/d.h");
    const std::size_t affected = incdeps::dependents(db, sys_d).size() + 1;
    tally.reset();
    CHECK(incdeps::apply_edit(db, {incdeps::EditKind::add_include, "/p/sys/d.h", "<sub/e.h>"}) ==
          "+#include <sub/e.h>");
    incdeps::evaluate(db, db.headers);
    CHECK(tally.of("closure").executed == affected);
    CHECK(tally.of("direct_includes").executed == 1);
    CHECK(tally.of("resolved_includes").executed == 1);
    const auto& cycles = incdeps::include_cycles(db, db.tree);
    REQUIRE(cycles.size() == 2);
    CHECK(paths(db, cycles[1]) ==
          Strings{"/p/inc/c.h", "/p/inc/d.h", "/p/inc/sub/e.h", "/p/sys/d.h"});
    CHECK(incdeps::closure(db, sys_d).size() == 4);  // e, f (sub), c, inc/d
    CHECK(incdeps::first_difference(incdeps::snapshot(db, probes), from_scratch(db, probes)) ==
          "");
  }

  SECTION("removing an include that breaks the cycle") {
    CHECK(incdeps::apply_edit(db, {incdeps::EditKind::remove_include, "/p/inc/b.h", ""}) ==
          "-#include \"a.h\"");
    incdeps::evaluate(db, db.headers);
    CHECK(incdeps::include_cycles(db, db.tree).empty());
    CHECK(incdeps::closure(db, H(db, "/p/inc/b.h")).empty());
    CHECK(incdeps::first_difference(incdeps::snapshot(db, probes), from_scratch(db, probes)) ==
          "");
  }

  SECTION("an edit that changes includes but not what they resolve to backdates closures") {
    // "../c.h" -> "<c.h>": direct_includes changes, resolved_includes is equal again.
    incdeps::apply_edit(db, {incdeps::EditKind::remove_include, "/p/inc/sub/e.h", "\"../c.h\""});
    incdeps::apply_edit(db, {incdeps::EditKind::add_include, "/p/inc/sub/e.h", "<c.h>"});
    tally.reset();
    incdeps::evaluate(db, db.headers);
    CHECK(tally.of("direct_includes").executed == 1);
    CHECK(tally.of("resolved_includes").backdated == 1);
    CHECK(tally.of("closure").executed == 0);
    CHECK(incdeps::first_difference(incdeps::snapshot(db, probes), from_scratch(db, probes)) ==
          "");
  }

  SECTION("missing include lines and headers are clear errors") {
    CHECK_THROWS_AS(
        incdeps::apply_edit(db, {incdeps::EditKind::remove_include, "/p/inc/f.h", ""}),
        std::invalid_argument);
    CHECK_THROWS_AS(incdeps::apply_edit(db, {incdeps::EditKind::comment, "/p/nope.h", ""}),
                    std::invalid_argument);
  }
}

TEST_CASE("incdeps: a sequence of edits stays equal to from-scratch runs", "[incdeps]") {
  incdeps::Db db;
  load_fixture(db);
  const auto probes = all_ids(db);
  incdeps::evaluate(db, db.headers);
  const std::vector<incdeps::Edit> edits = {
      {incdeps::EditKind::comment, "/p/inc/a.h", ""},
      {incdeps::EditKind::add_include, "/p/inc/f.h", "<top.h>"},
      {incdeps::EditKind::add_include, "/p/inc/sub/f.h", "\"../g.h\""},
      {incdeps::EditKind::remove_include, "/p/inc/a.h", "<c.h>"},
      {incdeps::EditKind::comment, "/p/sys/d.h", ""},
      {incdeps::EditKind::add_include, "/p/sys/d.h", "<missing.h>"},
      {incdeps::EditKind::remove_include, "/p/inc/top.h", ""},
      {incdeps::EditKind::remove_include, "/p/inc/d.h", ""},
      {incdeps::EditKind::add_include, "/p/inc/d.h", "<a.h>"},
  };
  for (const auto& e : edits) {
    INFO(to_string(e.kind) << " " << e.path << " " << e.spec);
    incdeps::apply_edit(db, e);
    incdeps::evaluate(db, db.headers);
    CHECK(incdeps::first_difference(incdeps::snapshot(db, probes), from_scratch(db, probes)) ==
          "");
  }
  CHECK(incdeps::graph_stats(db, db.tree).unresolved == 2);
}

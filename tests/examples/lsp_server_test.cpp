// The pieces of `pyscope serve` (examples/pyscope/lsp_server.hpp, json.hpp) that do not need a
// client: JSON reading and writing, URIs, UTF-16 positions, incremental changes, and hover /
// definition on a workspace held in memory. The protocol itself is tested by
// tests/lsp/session_test.mjs against the real server.
#include <catch2/catch.hpp>

#include <string>

#include "../../examples/pyscope/lsp_server.hpp"

namespace {

using pyscope::File;
namespace json = pyscope::json;
namespace lsp = pyscope::lsp;

TEST_CASE("lsp json: reads what it writes, escapes and surrogate pairs", "[examples][lsp]") {
  const json::Value v = json::parse(
      R"({"a": [1, -2.5, true, false, null], "s": "q\"\\\n\t\u00e9\ud83d\ude00", "o": {}})");
  CHECK(v["a"].as_array().size() == 5);
  CHECK(v["a"].as_array()[1].as_number() == -2.5);
  CHECK(v["a"].as_array()[4].is_null());
  CHECK(v["s"].as_string() == "q\"\\\n\t\xC3\xA9\xF0\x9F\x98\x80");
  CHECK(v["o"].is_object());
  CHECK(v["missing"].is_null());
  CHECK(json::parse(v.dump()).dump() == v.dump());
  CHECK(json::Value(json::Object{{"id", 3}, {"x", "\x01"}}).dump() == R"({"id":3,"x":"\u0001"})");
  CHECK_THROWS_AS(json::parse("{\"a\": }"), json::ParseError);
  CHECK_THROWS_AS(json::parse("[1, 2"), json::ParseError);
  CHECK_THROWS_AS(json::parse("1 2"), json::ParseError);
}

TEST_CASE("lsp positions: URIs, UTF-16 columns, incremental changes", "[examples][lsp]") {
  CHECK(lsp::path_of_uri("file:///a%20b/c.py") == "/a b/c.py");
  CHECK(lsp::uri_of_path("/a b/c.py") == "file:///a%20b/c.py");
  // "é" is 2 bytes and 1 UTF-16 unit, the emoji 4 bytes and 2 units.
  const std::string line = "x\xC3\xA9\xF0\x9F\x98\x80y";
  CHECK(lsp::utf16_to_bytes(line, 2) == 3);
  CHECK(lsp::utf16_to_bytes(line, 4) == 7);
  CHECK(lsp::bytes_to_utf16(line, 7) == 4);
  CHECK(lsp::bytes_to_utf16(line, line.size()) == 5);

  std::string text = "ab\n" + line + "\nend";
  const auto change = [](int l0, int c0, int l1, int c1, const char* s) {
    return json::Value(json::Object{
        {"range", json::Object{{"start", json::Object{{"line", l0}, {"character", c0}}},
                               {"end", json::Object{{"line", l1}, {"character", c1}}}}},
        {"text", s}});
  };
  lsp::apply_changes(text, json::Array{change(1, 4, 1, 4, "Z")});  // after the emoji
  CHECK(text == "ab\nx\xC3\xA9\xF0\x9F\x98\x80Zy\nend");
  lsp::apply_changes(text, json::Array{change(0, 1, 2, 1, ""), change(0, 0, 0, 0, ">")});
  CHECK(text == ">and");
  lsp::apply_changes(text, json::Array{json::Value(json::Object{{"text", "whole"}})});
  CHECK(text == "whole");
  lsp::apply_changes(text, json::Array{change(9, 0, 9, 0, "!")});  // past the end: appended
  CHECK(text == "whole!");
}

pyscope::FileData file(std::string path, std::string text) {
  return pyscope::FileData{std::move(path), std::move(text), 0644u, 0};
}

json::Value pos(int line, int character) {
  return json::Object{{"line", line}, {"character", character}};
}

TEST_CASE("lsp hover and definition: locals, imports, module members", "[examples][lsp]") {
  pyscope::Db db;
  pyscope::LoadOptions opt;
  opt.roots = {"/ws"};
  pyscope::load(db,
                {file("/ws/pkg/__init__.py", "from .util import helper\n"),
                 file("/ws/pkg/util.py", "LIMIT = 10\n\ndef helper(x):\n    return x\n"),
                 file("/ws/app.py",
                      "import pkg.util\n"                   // 0
                      "from pkg import helper\n"            // 1
                      "count = 3\n"                         // 2
                      "def main(arg):\n"                    // 3
                      "    value = helper(arg)\n"           // 4
                      "    return value, count, missing\n"  // 5
                      "print(pkg.util.LIMIT)\n")},          // 6
                opt);
  const File app = *pyscope::find_file(db, "/ws/app.py");
  const File util = *pyscope::find_file(db, "/ws/pkg/util.py");

  CHECK(lsp::hover_text(db, app, pos(5, 19)) == "count: int");
  CHECK(lsp::hover_text(db, app, pos(4, 14)) == "helper: def helper");  // via pkg/__init__.py
  CHECK(lsp::hover_text(db, app, pos(5, 28)) == "missing: unresolved");
  CHECK(lsp::hover_text(db, app, pos(6, 1)) == "print: builtin");
  CHECK(lsp::hover_text(db, app, pos(6, 16)) == "LIMIT: int");  // pkg.util.LIMIT
  CHECK(lsp::hover_text(db, app, pos(3, 1)) == std::nullopt);   // `def`: a keyword

  auto place = lsp::definition_of(db, app, pos(4, 14));  // helper -> pkg/util.py:3
  REQUIRE(place);
  CHECK(place->file == util);
  CHECK(place->line == 3);
  place = lsp::definition_of(db, app, pos(5, 12));  // value -> line 5 of app.py
  REQUIRE(place);
  CHECK(place->file == app);
  CHECK(place->line == 5);
  place = lsp::definition_of(db, app, pos(6, 16));  // pkg.util.LIMIT -> pkg/util.py:1
  REQUIRE(place);
  CHECK(place->file == util);
  CHECK(place->line == 1);
  CHECK(!lsp::definition_of(db, app, pos(5, 28)));  // unresolved

  // After an edit the answers follow the new text.
  pyscope::set_text(db, util, "LIMIT = 'ten'\n\n\ndef helper(x):\n    return x\n");
  CHECK(lsp::hover_text(db, app, pos(6, 16)) == "LIMIT: str");
  place = lsp::definition_of(db, app, pos(4, 14));
  REQUIRE(place);
  CHECK(place->line == 4);
}

// What `pyscope serve` relies on for $/cancelRequest: a cancelled token makes the thread's
// queries throw Cancelled (Reason::token) and stays cancelled; a fresh token answers again.
TEST_CASE("lsp cancellation: a request's token interrupts hover, a fresh one answers",
          "[examples][lsp]") {
  pyscope::Db db;
  pyscope::LoadOptions opt;
  opt.roots = {"/ws"};
  pyscope::load(db, {file("/ws/app.py", "count = 3\nprint(count)\n")}, opt);
  const File app = *pyscope::find_file(db, "/ws/app.py");
  const auto reason = [&] {
    try {
      (void)lsp::hover_text(db, app, pos(1, 7));
    } catch (const relish::Cancelled& c) {
      return c.reason() == relish::Cancelled::Reason::token ? "token" : "pending write";
    }
    return "answered";
  };
  const relish::CancellationToken token = db.cancellation_token();
  token.cancel();
  CHECK(std::string(reason()) == "token");
  CHECK(std::string(reason()) == "token");  // until the thread takes a new token
  (void)db.cancellation_token();
  CHECK(lsp::hover_text(db, app, pos(1, 7)) == "count: int");
}

}  // namespace

// relish::write_dot (dot.hpp): the graph below a memo, with revisions and durability, as an
// exact string; max_depth cuts it (dashed nodes); labels can be replaced.
#include <catch2/catch.hpp>
#include <relish/dot.hpp>
#include <relish/relish.hpp>

#include <cstddef>
#include <sstream>
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

std::size_t count_words(Db& db, File file, std::string word) {
  const std::string& text = file.get(db, &FileData::text);
  std::size_t n = 0;
  for (auto at = text.find(word); at != std::string::npos; at = text.find(word, at + 1)) ++n;
  return n;
}
inline constexpr relish::Query<count_words> word_count;

std::size_t summarize(Db& db, File file) {
  return line_count(db, file) * 1000 + word_count(db, file, "def") +
         (file.get(db, &FileData::path).empty() ? 1 : 0);
}
inline constexpr relish::Query<summarize> summary;

std::string dot(const Db& db, relish::DatabaseKey root, const relish::DotOptions& o = {}) {
  std::ostringstream out;
  relish::write_dot(out, db, root, o);
  return out.str();
}

}  // namespace

TEST_CASE("write_dot: the graph below a memo, with revisions and durability", "[observe][dot]") {
  Db db;
  File f = File::create(db, {.path = "a.py", .text = "def f():\n    pass\n"});
  summary(db, f);                                          // revision 1: everything runs
  f.set(db, &FileData::permissions, 0600u);                // revision 2: nothing read it
  summary(db, f);                                          // accepted in O(1): verified 2
  f.set(db, &FileData::text, "def g():\n    return 1\n");  // revision 3
  summary(db, f);  // the leaves re-run and backdate: changed 1, verified 3

  CHECK(dot(db, summary.key(db, f)) ==
        "digraph relish {\n"
        "  rankdir=LR;\n"
        "  node [shape=box, fontname=\"monospace\", fontsize=10];\n"
        "  n0 [label=\"summarize(File#0)\\nchanged 1, verified 3, low\"];\n"
        "  n1 [label=\"count_lines(File#0)\\nchanged 1, verified 3, low\"];\n"
        "  n2 [label=\"count_words(File#0, \\\"def\\\")\\nchanged 1, verified 3, low\"];\n"
        "  n3 [label=\"File#0.path\\nchanged 1, low\", shape=ellipse];\n"
        "  n4 [label=\"File#0.text\\nchanged 3, low\", shape=ellipse];\n"
        "  n0 -> n1;\n"
        "  n0 -> n2;\n"
        "  n0 -> n3;\n"
        "  n1 -> n4;\n"
        "  n2 -> n4;\n"
        "}\n");

  const relish::NodeInfo leaf = db.node_info(line_count.key(db, f));
  CHECK(leaf.kind == relish::NodeInfo::Kind::memo);
  CHECK(leaf.changed_at == 1);
  CHECK(leaf.verified_at == 3);
  CHECK(leaf.has_value);
  CHECK(db.ingredient_name(line_count.key(db, f)) == "count_lines");
}

TEST_CASE("write_dot: max_depth cuts the graph, labels and details can be replaced",
          "[observe][dot]") {
  Db db;
  File f = File::create(db, {.path = "", .text = "x\n"}, relish::Durability::high);
  summary(db, f);
  CHECK(dot(db, summary.key(db, f), {.max_depth = 1, .revisions = false, .graph_name = "g"}) ==
        "digraph g {\n"
        "  rankdir=LR;\n"
        "  node [shape=box, fontname=\"monospace\", fontsize=10];\n"
        "  n0 [label=\"summarize(File#0)\"];\n"
        "  n1 [label=\"count_lines(File#0)\", style=dashed];\n"
        "  n2 [label=\"count_words(File#0, \\\"def\\\")\", style=dashed];\n"
        "  n3 [label=\"File#0.path\", shape=ellipse];\n"
        "  n0 -> n1;\n"
        "  n0 -> n2;\n"
        "  n0 -> n3;\n"
        "}\n");
  const std::string labelled =
      dot(db, line_count.key(db, f),
          {.label = [&](relish::DatabaseKey k) { return "<" + db.ingredient_name(k) + ">"; }});
  CHECK(labelled ==
        "digraph relish {\n"
        "  rankdir=LR;\n"
        "  node [shape=box, fontname=\"monospace\", fontsize=10];\n"
        "  n0 [label=\"<count_lines>\\nchanged 1, verified 1, high\"];\n"
        "  n1 [label=\"<File>\\nchanged 1, high\", shape=ellipse];\n"
        "  n0 -> n1;\n"
        "}\n");
  // A memo that was never computed is a node without a memo.
  CHECK(db.node_info(line_count.key(db, File::create(db, {}))).kind ==
        relish::NodeInfo::Kind::none);
}

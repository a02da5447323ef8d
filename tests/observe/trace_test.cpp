// relish::TraceWriter (trace.hpp): the trace is well-formed JSON in the Chrome trace format,
// with a span per execution and per deep verification, named as Database::describe names the
// memo; spans nest as the calls do, and say how they ended.
#include <catch2/catch.hpp>
#include <relish/relish.hpp>
#include <relish/trace.hpp>

#include <cctype>
#include <cstddef>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

// ---- a small JSON parser: enough to check well-formedness and read the events back ----------

struct Json {
  enum class Type { null, boolean, number, string, array, object } type = Type::null;
  bool b = false;
  double num = 0;
  std::string str;
  std::vector<Json> items;
  std::map<std::string, Json> fields;

  const Json& operator[](const std::string& k) const {
    auto it = fields.find(k);
    if (it == fields.end()) throw std::runtime_error("no field " + k);
    return it->second;
  }
  bool has(const std::string& k) const { return fields.count(k) != 0; }
};

class JsonParser {
 public:
  explicit JsonParser(const std::string& s) : s_(s) {}
  Json parse() {
    Json v = value();
    ws();
    if (at_ != s_.size()) fail("trailing characters");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw std::runtime_error("JSON: " + what + " at offset " + std::to_string(at_));
  }
  void ws() {
    while (at_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[at_]))) ++at_;
  }
  char peek() {
    ws();
    if (at_ >= s_.size()) fail("unexpected end");
    return s_[at_];
  }
  void expect(char c) {
    if (peek() != c) fail(std::string("expected ") + c);
    ++at_;
  }
  bool literal(const char* word) {
    const std::string w(word);
    if (s_.compare(at_, w.size(), w) != 0) return false;
    at_ += w.size();
    return true;
  }
  Json value() {
    Json v;
    const char c = peek();
    if (c == '{') {
      v.type = Json::Type::object;
      ++at_;
      if (peek() == '}') {
        ++at_;
        return v;
      }
      for (;;) {
        if (peek() != '"') fail("expected a key");
        std::string k = string();
        expect(':');
        if (!v.fields.emplace(k, value()).second) fail("duplicate key " + k);
        if (peek() == ',') {
          ++at_;
          continue;
        }
        expect('}');
        return v;
      }
    }
    if (c == '[') {
      v.type = Json::Type::array;
      ++at_;
      if (peek() == ']') {
        ++at_;
        return v;
      }
      for (;;) {
        v.items.push_back(value());
        if (peek() == ',') {
          ++at_;
          continue;
        }
        expect(']');
        return v;
      }
    }
    if (c == '"') {
      v.type = Json::Type::string;
      v.str = string();
      return v;
    }
    if (literal("true") || literal("false")) {
      v.type = Json::Type::boolean;
      v.b = s_[at_ - 1] == 'e' && s_[at_ - 2] == 'u';
      return v;
    }
    if (literal("null")) return v;
    // number: -?digits(.digits)?([eE][+-]?digits)?
    const std::size_t start = at_;
    if (s_[at_] == '-') ++at_;
    auto digits = [&] {
      const std::size_t d = at_;
      while (at_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[at_]))) ++at_;
      if (at_ == d) fail("expected a digit");
    };
    digits();
    if (at_ < s_.size() && s_[at_] == '.') {
      ++at_;
      digits();
    }
    if (at_ < s_.size() && (s_[at_] == 'e' || s_[at_] == 'E')) {
      ++at_;
      if (at_ < s_.size() && (s_[at_] == '+' || s_[at_] == '-')) ++at_;
      digits();
    }
    v.type = Json::Type::number;
    v.num = std::stod(s_.substr(start, at_ - start));
    return v;
  }
  std::string string() {
    expect('"');
    std::string out;
    while (true) {
      if (at_ >= s_.size()) fail("unterminated string");
      const char c = s_[at_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) fail("control character in a string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (at_ >= s_.size()) fail("unterminated escape");
      const char e = s_[at_++];
      switch (e) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          if (at_ + 4 > s_.size()) fail("short \\u escape");
          for (int i = 0; i < 4; ++i)
            if (!std::isxdigit(static_cast<unsigned char>(s_[at_ + i]))) fail("bad \\u escape");
          const unsigned code = static_cast<unsigned>(std::stoul(s_.substr(at_, 4), nullptr, 16));
          out += code < 0x80 ? static_cast<char>(code) : '?';  // enough for relish's names
          at_ += 4;
          break;
        }
        default:
          fail("bad escape");
      }
    }
  }
  const std::string& s_;
  std::size_t at_ = 0;
};

// ---- the graph: the quickstart's, plus an input field that needs escaping in a name -------

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
  return line_count(db, file) * 1000 + word_count(db, file, "d\"e\\f\n");
}
inline constexpr relish::Query<summarize> summary;

std::string trace_of(const relish::TraceWriter& t, const Db& db) {
  std::ostringstream out;
  t.write(out, db);
  return out.str();
}

// The complete ("X") events of a parsed trace.
std::vector<const Json*> spans(const Json& trace) {
  std::vector<const Json*> out;
  for (const Json& e : trace["traceEvents"].items)
    if (e["ph"].str == "X") out.push_back(&e);
  return out;
}

}  // namespace

TEST_CASE("TraceWriter: the JSON parser used here rejects what is not JSON", "[observe][trace]") {
  CHECK_NOTHROW(JsonParser(R"({"a":[1,-2.5e3,true,false,null,"x\"\\\u00e9"],"b":{}})").parse());
  for (const char* bad : {R"({"a":1,})", R"([1 2])", R"({"a":"x)", "{\"a\":\"\n\"}", R"({a:1})",
                          R"([1]])", R"({"a":01.})", R"({"a":1,"a":2})"})
    CHECK_THROWS(JsonParser(bad).parse());
}

TEST_CASE("TraceWriter: spans for executions and deep verifications, with readable names",
          "[observe][trace]") {
  Db db;
  relish::TraceWriter trace;
  db.on_event(relish::observers(trace));
  File f = File::create(db, {.path = "a.py", .text = "def f():\n    pass\n"});
  summary(db, f);                                          // three executions
  f.set(db, &FileData::text, "def g():\n    return 1\n");  // same line count
  summary(db, f);  // verifications of all three; the leaves re-run and backdate
  db.on_event({});

  const std::string text = trace_of(trace, db);
  Json parsed;
  REQUIRE_NOTHROW(parsed = JsonParser(text).parse());
  CHECK(parsed["displayTimeUnit"].str == "ms");

  // A name with a quote, a backslash and a newline in it comes back from the JSON intact.
  const std::string words = db.describe(word_count.key(db, f, std::string("d\"e\\f\n")));
  CHECK(words == "count_words(File#0, \"d\"e\\f\n\")");

  std::vector<std::string> executions, verifications;
  std::map<std::string, std::string> results;
  std::map<std::string, bool> backdated;
  double summary_verify_start = -1, summary_verify_end = -1;
  for (const Json* e : spans(parsed)) {
    const std::string& name = (*e)["name"].str;
    CHECK((*e)["pid"].num == 1);
    CHECK((*e)["tid"].num == 1);  // one thread
    CHECK((*e)["dur"].num >= 0);
    if ((*e)["cat"].str == "execute") {
      executions.push_back(name);
      if ((*e)["args"].has("backdated")) backdated[name] = true;
    } else {
      REQUIRE((*e)["cat"].str == "verify");
      verifications.push_back(name);
      results[name] = (*e)["args"]["result"].str;
      if (name == "summarize(File#0)") {
        summary_verify_start = (*e)["ts"].num;
        summary_verify_end = summary_verify_start + (*e)["dur"].num;
      }
    }
  }
  // Spans are written as they end: inner ones first.
  CHECK(executions == std::vector<std::string>{"count_lines(File#0)", words, "summarize(File#0)",
                                               "count_lines(File#0)", words});
  CHECK(verifications ==
        std::vector<std::string>{"count_lines(File#0)", words, "summarize(File#0)"});
  CHECK(results["summarize(File#0)"] == "unchanged");
  CHECK(results["count_lines(File#0)"] == "changed");
  CHECK(results[words] == "changed");
  CHECK(backdated["count_lines(File#0)"]);
  CHECK(backdated[words]);
  CHECK_FALSE(backdated["summarize(File#0)"]);
  CHECK(trace.spans() == 8);

  // The leaves' verifications and re-runs happen inside summarize's verification.
  for (const Json* e : spans(parsed)) {
    if ((*e)["name"].str == "summarize(File#0)") continue;
    const double ts = (*e)["ts"].num;
    if (ts < summary_verify_start) continue;  // the first pass
    CHECK(ts >= summary_verify_start);
    CHECK(ts + (*e)["dur"].num <= summary_verify_end + 0.002);  // rounding to nanoseconds
  }

  // The write is an instant event, named after the field.
  bool set_seen = false;
  for (const Json& e : parsed["traceEvents"].items)
    if (e["ph"].str == "i" && e["cat"].str == "did_set_input") {
      CHECK(e["name"].str == "File#0.text");
      set_seen = true;
    }
  CHECK(set_seen);

  trace.clear();
  CHECK(trace.spans() == 0);
  CHECK_NOTHROW(JsonParser(trace_of(trace, db)).parse());
}

TEST_CASE("TraceWriter: labels replace names; clean acceptances on request", "[observe][trace]") {
  Db db;
  relish::TraceWriter trace({.clean_acceptances = true});
  db.on_event(relish::observers(trace));
  File f = File::create(db, {.path = "a.py", .text = "x\n"});
  summary(db, f);
  f.set(db, &FileData::permissions, 0600u);  // nothing read it: summary is accepted in O(1)
  summary(db, f);
  db.on_event({});
  std::ostringstream out;
  trace.write(out, db, [&](relish::DatabaseKey k) { return "[" + db.ingredient_name(k) + "]"; });
  const Json parsed = JsonParser(out.str()).parse();
  std::vector<std::string> accepted, executed;
  for (const Json& e : parsed["traceEvents"].items) {
    if (e["ph"].str == "i" && e["cat"].str == "did_accept_clean") accepted.push_back(e["name"].str);
    if (e["ph"].str == "X") executed.push_back(e["name"].str);
  }
  CHECK(accepted == std::vector<std::string>{"[summarize]"});
  CHECK(executed == std::vector<std::string>{"[count_lines]", "[count_words]", "[summarize]"});
}

// json.hpp: a small JSON value with a reader and a writer, for the language server (JSON-RPC
// messages). Objects keep their keys in insertion order; numbers are doubles (LSP's integers
// fit in one exactly).
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace pyscope::json {

class Value;
using Array = std::vector<Value>;
using Object = std::vector<std::pair<std::string, Value>>;

class Value {
 public:
  Value() = default;
  Value(std::nullptr_t) {}
  Value(bool b) : v_(b) {}
  Value(int n) : v_(static_cast<double>(n)) {}
  Value(unsigned n) : v_(static_cast<double>(n)) {}
  Value(long n) : v_(static_cast<double>(n)) {}
  Value(unsigned long n) : v_(static_cast<double>(n)) {}
  Value(long long n) : v_(static_cast<double>(n)) {}
  Value(unsigned long long n) : v_(static_cast<double>(n)) {}
  Value(double d) : v_(d) {}
  Value(const char* s) : v_(std::string(s)) {}
  Value(std::string s) : v_(std::move(s)) {}
  Value(std::string_view s) : v_(std::string(s)) {}
  Value(Array a) : v_(std::make_shared<Array>(std::move(a))) {}
  Value(Object o) : v_(std::make_shared<Object>(std::move(o))) {}

  bool is_null() const { return v_.index() == 0; }
  bool is_bool() const { return v_.index() == 1; }
  bool is_number() const { return v_.index() == 2; }
  bool is_string() const { return v_.index() == 3; }
  bool is_array() const { return v_.index() == 4; }
  bool is_object() const { return v_.index() == 5; }

  bool as_bool(bool fallback = false) const { return is_bool() ? std::get<1>(v_) : fallback; }
  double as_number(double fallback = 0) const { return is_number() ? std::get<2>(v_) : fallback; }
  std::int64_t as_int(std::int64_t fallback = 0) const {
    return is_number() ? static_cast<std::int64_t>(std::get<2>(v_)) : fallback;
  }
  const std::string& as_string() const {
    static const std::string empty;
    return is_string() ? std::get<3>(v_) : empty;
  }
  const Array& as_array() const {
    static const Array empty;
    return is_array() ? *std::get<4>(v_) : empty;
  }
  const Object& as_object() const {
    static const Object empty;
    return is_object() ? *std::get<5>(v_) : empty;
  }

  // A member of an object (null if absent or not an object).
  const Value& operator[](std::string_view key) const {
    static const Value null;
    if (!is_object()) return null;
    for (const auto& [k, v] : *std::get<5>(v_))
      if (k == key) return v;
    return null;
  }
  bool has(std::string_view key) const {
    if (!is_object()) return false;
    for (const auto& [k, v] : *std::get<5>(v_))
      if (k == key) return true;
    return false;
  }

  std::string dump() const {
    std::string out;
    write(out);
    return out;
  }
  void write(std::string& out) const;

 private:
  std::variant<std::monostate, bool, double, std::string, std::shared_ptr<Array>,
               std::shared_ptr<Object>>
      v_;
};

inline void write_string(std::string& out, std::string_view s) {
  out += '"';
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += ch;  // UTF-8 passes through
        }
    }
  }
  out += '"';
}

inline void Value::write(std::string& out) const {
  switch (v_.index()) {
    case 0:
      out += "null";
      break;
    case 1:
      out += std::get<1>(v_) ? "true" : "false";
      break;
    case 2: {
      const double d = std::get<2>(v_);
      char buf[32];
      if (d == static_cast<double>(static_cast<std::int64_t>(d)) && d < 9.0e15 && d > -9.0e15) {
        std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(d));
      } else {
        std::snprintf(buf, sizeof buf, "%.17g", d);
      }
      out += buf;
      break;
    }
    case 3:
      write_string(out, std::get<3>(v_));
      break;
    case 4: {
      out += '[';
      bool first = true;
      for (const Value& e : *std::get<4>(v_)) {
        if (!first) out += ',';
        first = false;
        e.write(out);
      }
      out += ']';
      break;
    }
    case 5: {
      out += '{';
      bool first = true;
      for (const auto& [k, e] : *std::get<5>(v_)) {
        if (!first) out += ',';
        first = false;
        write_string(out, k);
        out += ':';
        e.write(out);
      }
      out += '}';
      break;
    }
  }
}

class ParseError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {

class Reader {
 public:
  explicit Reader(std::string_view s) : s_(s) {}

  Value document() {
    Value v = value(0);
    ws();
    if (at_ != s_.size()) fail("trailing characters");
    return v;
  }

 private:
  [[noreturn]] void fail(const char* what) const {
    throw ParseError(std::string("json: ") + what + " at offset " + std::to_string(at_));
  }
  void ws() {
    while (at_ < s_.size() &&
           (s_[at_] == ' ' || s_[at_] == '\t' || s_[at_] == '\n' || s_[at_] == '\r'))
      ++at_;
  }
  bool literal(std::string_view word) {
    if (s_.substr(at_, word.size()) != word) return false;
    at_ += word.size();
    return true;
  }
  Value value(int depth) {
    if (depth > 200) fail("nested too deeply");
    ws();
    if (at_ >= s_.size()) fail("unexpected end");
    const char c = s_[at_];
    if (c == '{') {
      ++at_;
      Object o;
      ws();
      if (at_ < s_.size() && s_[at_] == '}') {
        ++at_;
        return o;
      }
      for (;;) {
        ws();
        if (at_ >= s_.size() || s_[at_] != '"') fail("expected a key");
        std::string key = string();
        ws();
        if (at_ >= s_.size() || s_[at_] != ':') fail("expected ':'");
        ++at_;
        Value v = value(depth + 1);
        o.emplace_back(std::move(key), std::move(v));
        ws();
        if (at_ < s_.size() && s_[at_] == ',') {
          ++at_;
          continue;
        }
        if (at_ < s_.size() && s_[at_] == '}') {
          ++at_;
          return o;
        }
        fail("expected ',' or '}'");
      }
    }
    if (c == '[') {
      ++at_;
      Array a;
      ws();
      if (at_ < s_.size() && s_[at_] == ']') {
        ++at_;
        return a;
      }
      for (;;) {
        a.push_back(value(depth + 1));
        ws();
        if (at_ < s_.size() && s_[at_] == ',') {
          ++at_;
          continue;
        }
        if (at_ < s_.size() && s_[at_] == ']') {
          ++at_;
          return a;
        }
        fail("expected ',' or ']'");
      }
    }
    if (c == '"') return string();
    if (literal("true")) return true;
    if (literal("false")) return false;
    if (literal("null")) return nullptr;
    return number();
  }
  Value number() {
    const std::size_t start = at_;
    if (at_ < s_.size() && (s_[at_] == '-' || s_[at_] == '+')) ++at_;
    while (at_ < s_.size() &&
           ((s_[at_] >= '0' && s_[at_] <= '9') || s_[at_] == '.' || s_[at_] == 'e' ||
            s_[at_] == 'E' || s_[at_] == '-' || s_[at_] == '+'))
      ++at_;
    if (at_ == start) fail("unexpected character");
    const std::string text(s_.substr(start, at_ - start));
    char* end = nullptr;
    const double d = std::strtod(text.c_str(), &end);
    if (end != text.c_str() + text.size()) fail("bad number");
    return d;
  }
  unsigned hex4() {
    if (at_ + 4 > s_.size()) fail("short \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; ++i) {
      const char h = s_[at_++];
      v <<= 4;
      if (h >= '0' && h <= '9') {
        v |= static_cast<unsigned>(h - '0');
      } else if (h >= 'a' && h <= 'f') {
        v |= static_cast<unsigned>(h - 'a' + 10);
      } else if (h >= 'A' && h <= 'F') {
        v |= static_cast<unsigned>(h - 'A' + 10);
      } else {
        fail("bad \\u escape");
      }
    }
    return v;
  }
  static void utf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }
  std::string string() {
    ++at_;  // the opening quote
    std::string out;
    for (;;) {
      if (at_ >= s_.size()) fail("unterminated string");
      const char c = s_[at_++];
      if (c == '"') return out;
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
          unsigned cp = hex4();
          if (cp >= 0xD800 && cp < 0xDC00 && s_.substr(at_, 2) == "\\u") {
            at_ += 2;
            const unsigned lo = hex4();
            if (lo >= 0xDC00 && lo < 0xE000) {
              cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else {
              utf8(out, 0xFFFD);
              cp = lo;
            }
          }
          utf8(out, cp);
          break;
        }
        default:
          fail("bad escape");
      }
    }
  }

  std::string_view s_;
  std::size_t at_ = 0;
};

}  // namespace detail

inline Value parse(std::string_view text) { return detail::Reader(text).document(); }

}  // namespace pyscope::json

// python_syntax: a tokenizer and a parser for (most of) Python 3.11, for the pyscope example.
//
// No relish here: this is the part of pyscope that ty gets from ruff's parser. It turns
// source text into a compact AST, precise enough for scope analysis (every name, where it is
// bound or read, and the scopes that functions, classes, lambdas and comprehensions open):
//
//   tokenize(text)   NAME, NUMBER, STRING, OP, NEWLINE, INDENT, DEDENT tokens; comments, blank
//                    lines, line continuations (explicit `\` and inside brackets), all string
//                    prefixes, triple-quoted strings
//   parse(text)      an Ast: statements and expressions as one flat array of Nodes, children by
//                    index; f-string replacement fields are parsed as expressions; syntax
//                    errors are recorded (the parser skips to the next statement) not thrown
//
// Not covered: the type-parameter syntax of 3.12, and error messages as good as CPython's.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace pysyntax {

// ---------------------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------------------

enum class Tok : std::uint8_t { name, number, string, op, newline, indent, dedent, end };

// String token flags.
inline constexpr std::uint8_t kFString = 1;
inline constexpr std::uint8_t kBytes = 2;
inline constexpr std::uint8_t kRaw = 4;

struct Token {
  Tok kind = Tok::end;
  std::uint8_t flags = 0;
  std::uint16_t col = 0;    // 0-based column of the first byte (saturated)
  std::uint32_t begin = 0;  // byte offsets into the source
  std::uint32_t end = 0;
  std::uint32_t line = 1;      // 1-based line of the first byte
  std::uint32_t end_line = 1;  // line of the last byte (a triple-quoted string spans lines)
};

struct SyntaxError {
  std::uint32_t line = 0;
  std::string message;
  friend bool operator==(const SyntaxError&, const SyntaxError&) = default;
};

namespace detail {
inline bool is_ident_start(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}
inline bool is_ident_char(unsigned char c) { return is_ident_start(c) || (c >= '0' && c <= '9'); }
inline bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

// Operators, longest first within each first character.
inline std::size_t op_length(std::string_view s) {
  static constexpr std::string_view k3[] = {"**=", "//=", ">>=", "<<=", "..."};
  static constexpr std::string_view k2[] = {
      "->", ":=", "**", "//", "<<", ">>", "<=", ">=", "==", "!=",
      "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "@=", "<>"};
  for (auto op : k3)
    if (s.substr(0, 3) == op) return 3;
  for (auto op : k2)
    if (s.substr(0, 2) == op) return 2;
  if (!s.empty() && std::strchr("()[]{}:,;.+-*/%&|^~<>=@!", s[0]) != nullptr) return 1;
  return 0;
}

// r, u, b, f and their two-letter combinations (any case) may prefix a string literal.
inline bool string_prefix_flags(std::string_view p, std::uint8_t& flags) {
  if (p.empty() || p.size() > 2) return false;
  flags = 0;
  for (char c : p) {
    switch (c | 0x20) {
      case 'r':
        flags |= kRaw;
        break;
      case 'b':
        flags |= kBytes;
        break;
      case 'f':
        flags |= kFString;
        break;
      case 'u':
        if (p.size() != 1) return false;
        break;
      default:
        return false;
    }
  }
  return !((flags & kBytes) && (flags & kFString));
}
}  // namespace detail

// Splits `src` into tokens. Errors (an unterminated string, a bad dedent) are appended to
// `errors` and tokenizing continues. `first_line` numbers the first line (for f-string
// replacement fields tokenized on their own).
inline std::vector<Token> tokenize(std::string_view src, std::vector<SyntaxError>& errors,
                                   std::uint32_t first_line = 1) {
  std::vector<Token> out;
  out.reserve(src.size() / 4 + 16);
  std::vector<std::uint32_t> indents{0};
  std::size_t i = 0;
  const std::size_t n = src.size();
  std::uint32_t line = first_line;
  std::size_t line_start = 0;
  int depth = 0;              // open brackets: newlines inside are not NEWLINE tokens
  bool at_line_start = true;  // indentation still to be measured
  bool line_has_tokens = false;

  auto push = [&](Tok kind, std::size_t b, std::size_t e, std::uint32_t end_line,
                  std::uint8_t flags = 0) {
    Token t;
    t.kind = kind;
    t.flags = flags;
    t.begin = static_cast<std::uint32_t>(b);
    t.end = static_cast<std::uint32_t>(e);
    t.line = line;
    t.end_line = end_line;
    t.col = static_cast<std::uint16_t>(std::min<std::size_t>(b - line_start, 0xFFFF));
    out.push_back(t);
    if (kind != Tok::indent && kind != Tok::dedent) line_has_tokens = true;
  };
  auto newline_at = [&](std::size_t k) {  // length of the line break at k (0 if none)
    if (k < n && src[k] == '\n') return std::size_t{1};
    if (k < n && src[k] == '\r') return (k + 1 < n && src[k + 1] == '\n') ? std::size_t{2} : 1;
    return std::size_t{0};
  };

  while (i < n) {
    if (at_line_start && depth == 0) {
      // Measure the indentation; blank and comment-only lines produce no tokens at all.
      std::uint32_t col = 0;
      std::size_t k = i;
      for (; k < n; ++k) {
        if (src[k] == ' ') {
          ++col;
        } else if (src[k] == '\t') {
          col = (col / 8 + 1) * 8;
        } else if (src[k] == '\f') {
          col = 0;
        } else {
          break;
        }
      }
      if (k >= n) {
        i = k;
        break;
      }
      if (src[k] == '#' || newline_at(k) || (src[k] == '\\' && newline_at(k + 1))) {
        while (k < n && !newline_at(k)) ++k;
        i = k + newline_at(k);
        ++line;
        line_start = i;
        continue;
      }
      i = k;
      at_line_start = false;
      if (col > indents.back()) {
        indents.push_back(col);
        push(Tok::indent, i, i, line);
      } else {
        while (col < indents.back()) {
          indents.pop_back();
          push(Tok::dedent, i, i, line);
        }
        if (col != indents.back()) {
          errors.push_back({line, "unindent does not match any outer indentation level"});
          indents.push_back(col);
        }
      }
    }

    const unsigned char c = static_cast<unsigned char>(src[i]);
    if (c == ' ' || c == '\t' || c == '\f') {
      ++i;
      continue;
    }
    if (c == '#') {
      while (i < n && !newline_at(i)) ++i;
      continue;
    }
    if (const std::size_t nl = newline_at(i)) {
      if (depth == 0 && line_has_tokens) {
        push(Tok::newline, i, i + nl, line);
        line_has_tokens = false;
      }
      i += nl;
      ++line;
      line_start = i;
      at_line_start = depth == 0;
      continue;
    }
    if (c == '\\') {
      if (const std::size_t nl = newline_at(i + 1)) {  // explicit line joining
        i += 1 + nl;
        ++line;
        line_start = i;
        continue;
      }
      errors.push_back({line, "unexpected character after line continuation character"});
      ++i;
      continue;
    }

    // A string literal, possibly after a prefix.
    std::size_t start = i;
    std::uint8_t sflags = 0;
    bool is_string = c == '"' || c == '\'';
    if (detail::is_ident_start(c)) {
      std::size_t k = i;
      while (k < n && detail::is_ident_char(static_cast<unsigned char>(src[k]))) ++k;
      if (k < n && (src[k] == '"' || src[k] == '\'') &&
          detail::string_prefix_flags(src.substr(i, k - i), sflags)) {
        is_string = true;
        i = k;
      } else {
        push(Tok::name, i, k, line);
        i = k;
        continue;
      }
    }
    if (is_string) {
      const std::uint32_t start_line = line;
      const std::size_t start_col = start - line_start;
      const char q = src[i];
      const bool triple = i + 2 < n && src[i + 1] == q && src[i + 2] == q;
      i += triple ? 3 : 1;
      bool closed = false;
      while (i < n) {
        const char d = src[i];
        if (d == '\\') {
          i += 1;
          if (const std::size_t nl = newline_at(i)) {
            i += nl;
            ++line;
            line_start = i;
          } else if (i < n) {
            ++i;
          }
          continue;
        }
        if (const std::size_t nl = newline_at(i)) {
          if (!triple) break;  // unterminated single-quoted string
          i += nl;
          ++line;
          line_start = i;
          continue;
        }
        if (d == q) {
          if (!triple) {
            ++i;
            closed = true;
            break;
          }
          if (i + 2 < n && src[i + 1] == q && src[i + 2] == q) {
            i += 3;
            closed = true;
            break;
          }
        }
        ++i;
      }
      if (!closed) errors.push_back({start_line, "unterminated string literal"});
      Token t;
      t.kind = Tok::string;
      t.flags = sflags;
      t.begin = static_cast<std::uint32_t>(start);
      t.end = static_cast<std::uint32_t>(i);
      t.line = start_line;
      t.end_line = line;
      t.col = static_cast<std::uint16_t>(std::min<std::size_t>(start_col, 0xFFFF));
      out.push_back(t);
      line_has_tokens = true;
      continue;
    }

    if (detail::is_digit(c) || (c == '.' && i + 1 < n && detail::is_digit(src[i + 1]))) {
      std::size_t k = i;
      if (c == '0' && k + 1 < n && std::strchr("xXoObB", src[k + 1]) != nullptr) {
        k += 2;
        while (k < n && (std::isxdigit(static_cast<unsigned char>(src[k])) || src[k] == '_')) ++k;
      } else {
        auto digits = [&] {
          while (k < n && (detail::is_digit(src[k]) || src[k] == '_')) ++k;
        };
        digits();
        if (k < n && src[k] == '.') {
          ++k;
          digits();
        }
        if (k < n && (src[k] == 'e' || src[k] == 'E')) {
          std::size_t e = k + 1;
          if (e < n && (src[e] == '+' || src[e] == '-')) ++e;
          if (e < n && detail::is_digit(src[e])) {
            k = e;
            digits();
          }
        }
        if (k < n && (src[k] == 'j' || src[k] == 'J')) ++k;
      }
      push(Tok::number, i, k, line);
      i = k;
      continue;
    }

    if (const std::size_t len = detail::op_length(src.substr(i))) {
      if (c == '(' || c == '[' || c == '{') ++depth;
      if ((c == ')' || c == ']' || c == '}') && depth > 0) --depth;
      push(Tok::op, i, i + len, line);
      i += len;
      continue;
    }
    errors.push_back({line, std::string("invalid character '") + static_cast<char>(c) + "'"});
    ++i;
  }
  if (line_has_tokens) push(Tok::newline, n, n, line);
  while (indents.size() > 1) {
    indents.pop_back();
    push(Tok::dedent, n, n, line);
  }
  push(Tok::end, n, n, line);
  return out;
}

// ---------------------------------------------------------------------------------------
// The AST
// ---------------------------------------------------------------------------------------

// One kind for statements and expressions. Children (Ast::children, by index; kNone for an
// absent optional child) follow these layouts:
enum class NodeKind : std::uint8_t {
  module,          // [stmt...]
  block,           // [stmt...]; line/col: first statement; aux: last line of the block
  function_def,    // name; flags kAsync; [arguments, returns|-, body, decorator...]
  class_def,       // name; [body, bases (group), decorator...]
  return_,         // [value|-]
  delete_,         // [target...]
  assign,          // [target..., value]
  aug_assign,      // [target, value]
  ann_assign,      // [target, annotation, value|-]
  for_,            // flags kAsync; [target, iter, body, orelse|-]
  while_,          // [test, body, orelse|-]
  if_,             // [test, body, orelse|-]   (elif: an orelse block holding one if_)
  with_,           // flags kAsync; [body, with_item...]
  with_item,       // [context, target|-]
  match,           // [subject, match_case...]
  match_case,      // [pattern, guard|-, body]
  raise,           // [exc|-, cause|-]
  try_,            // [body, orelse|-, finally|-, except_handler...]
  except_handler,  // name: the `as` name or kNoName; [type|-, body]
  assert_,         // [test, msg|-]
  import,          // [alias...]
  import_from,     // name: module or kNoName; aux: level (leading dots); [alias...]
  alias,           // name: dotted name or "*"; aux: the `as` name or kNoName
  global,          // [name...]
  nonlocal,        // [name...]
  expr_stmt,       // [value]
  pass,
  break_,
  continue_,
  // expressions
  name,           // name; flags: Ctx
  constant,       // flags: Const
  fstring,        // [expression in a replacement field...]
  attribute,      // name: the attribute; [value]
  subscript,      // [value, index]
  slice,          // [lower|-, upper|-, step|-]
  call,           // [func, arg...] (args: expressions, starred, keyword)
  keyword,        // name: the keyword or kNoName for **; [value]
  starred,        // [value]
  tuple,          // [elt...]
  list,           // [elt...]
  set,            // [elt...]
  dict,           // [key|- (for **), value, key, value...]
  operation,      // boolean, binary, unary and comparison operators: [operand...]
  if_exp,         // [body, test, orelse]
  lambda,         // [arguments, body]
  comprehension,  // flags: Comp; aux: 1 element (2 for a dict); [element..., comp_for...]
  comp_for,       // flags kAsync; [target, iter, condition...]
  named_expr,     // [target, value]
  yield,          // flags kYieldFrom; [value|-]
  await_,         // [value]
  arguments,      // [arg...]
  arg,            // name; flags: ArgKind; [annotation|-, default|-]
  group,          // [node...]: class bases and keywords
};

enum Ctx : std::uint8_t { load = 0, store = 1, del = 2 };
enum class Const : std::uint8_t {
  none,
  true_,
  false_,
  ellipsis,
  int_,
  float_,
  complex,
  str,
  bytes
};
enum class Comp : std::uint8_t { list, set, dict, generator };
enum class ArgKind : std::uint8_t { positional_only, normal, vararg, keyword_only, kwarg };
inline constexpr std::uint8_t kAsync = 1;
inline constexpr std::uint8_t kYieldFrom = 1;
inline constexpr std::uint8_t kExceptStar = 1;

inline constexpr std::uint32_t kNone = 0xFFFFFFFFu;    // an absent child
inline constexpr std::uint32_t kNoName = 0xFFFFFFFFu;  // no string

struct Node {
  NodeKind kind = NodeKind::pass;
  std::uint8_t flags = 0;
  std::uint16_t col = 0;
  std::uint32_t line = 0;
  std::uint32_t name = kNoName;  // a name of Ast::str
  std::uint32_t aux = 0;
  std::uint32_t first = 0;  // children: Ast::children[first, first + count)
  std::uint32_t count = 0;
};

struct Ast {
  std::vector<Node> nodes;
  std::vector<std::uint32_t> children;
  // Identifiers and dotted names, each once: name i is string_pool[string_ends[i - 1],
  // string_ends[i]). One buffer rather than a std::string each: an AST is a few large
  // allocations, whose pages are freed whole when it is (LRU, the AST budget).
  std::string string_pool;
  std::vector<std::uint32_t> string_ends;
  std::vector<SyntaxError> errors;
  std::uint32_t root = kNone;  // the module node
  std::uint32_t lines = 0;

  const Node& operator[](std::uint32_t i) const { return nodes[i]; }
  // The i-th child of node `n` (kNone if absent).
  std::uint32_t child(const Node& n, std::uint32_t i) const {
    return i < n.count ? children[n.first + i] : kNone;
  }
  struct Children {
    const std::uint32_t* b;
    const std::uint32_t* e;
    const std::uint32_t* begin() const { return b; }
    const std::uint32_t* end() const { return e; }
    std::size_t size() const { return static_cast<std::size_t>(e - b); }
  };
  Children kids(const Node& n, std::uint32_t from = 0) const {
    const std::uint32_t* p = children.data() + n.first;
    return {p + std::min(from, n.count), p + n.count};
  }
  std::string_view str(std::uint32_t id) const {
    if (id == kNoName) return {};
    const std::uint32_t begin = id == 0 ? 0 : string_ends[id - 1];
    return std::string_view(string_pool).substr(begin, string_ends[id] - begin);
  }
};

// ---------------------------------------------------------------------------------------
// The parser: recursive descent over the token vector
// ---------------------------------------------------------------------------------------

namespace detail {

struct ParseError {
  std::uint32_t line;
  std::string message;
};

// Builds nodes into one Ast; shared by the parsers of f-string replacement fields.
class AstBuilder {
 public:
  explicit AstBuilder(Ast& ast) : ast_(ast) {}

  std::uint32_t intern(std::string_view s) {
    auto it = ids_.find(s);
    if (it != ids_.end()) return it->second;
    const auto id = static_cast<std::uint32_t>(ast_.string_ends.size());
    ast_.string_pool.append(s);
    ast_.string_ends.push_back(static_cast<std::uint32_t>(ast_.string_pool.size()));
    ids_.emplace(std::string(s), id);
    return id;
  }

  std::uint32_t add(NodeKind kind, std::uint32_t line, const std::vector<std::uint32_t>& kids,
                    std::uint32_t name = kNoName, std::uint8_t flags = 0, std::uint32_t aux = 0,
                    std::uint16_t col = 0) {
    Node node;
    node.kind = kind;
    node.flags = flags;
    node.col = col;
    node.line = line;
    node.name = name;
    node.aux = aux;
    node.first = static_cast<std::uint32_t>(ast_.children.size());
    node.count = static_cast<std::uint32_t>(kids.size());
    ast_.children.insert(ast_.children.end(), kids.begin(), kids.end());
    ast_.nodes.push_back(node);
    return static_cast<std::uint32_t>(ast_.nodes.size() - 1);
  }

  Ast& ast() { return ast_; }

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  Ast& ast_;
  std::unordered_map<std::string, std::uint32_t, Hash, std::equal_to<>> ids_;
};

inline bool is_keyword(std::string_view s) {
  static constexpr std::string_view kw[] = {
      "False", "None",     "True",  "and",    "as",   "assert", "async",  "await",    "break",
      "class", "continue", "def",   "del",    "elif", "else",   "except", "finally",  "for",
      "from",  "global",   "if",    "import", "in",   "is",     "lambda", "nonlocal", "not",
      "or",    "pass",     "raise", "return", "try",  "while",  "with",   "yield"};
  for (auto k : kw)
    if (s == k) return true;
  return false;
}

class Parser {
 public:
  Parser(std::string_view src, AstBuilder& b, std::uint32_t first_line = 1)
      : src_(src), b_(b), toks_(tokenize(src, b.ast().errors, first_line)) {}

  std::uint32_t parse_module() {
    std::vector<std::uint32_t> body;
    while (!at(Tok::end)) {
      if (at(Tok::newline) || at(Tok::indent) || at(Tok::dedent)) {
        if (at(Tok::indent)) error_here("unexpected indent");
        ++pos_;
        continue;
      }
      statement_into(body);
    }
    return b_.add(NodeKind::module, 1, body);
  }

  // For f-string replacement fields: one expression (or tuple) filling the whole source.
  std::uint32_t parse_lone_expression() {
    std::uint32_t e = kNone;
    try {
      e = star_expressions();
      skip_newlines();
      if (!at(Tok::end)) throw ParseError{tok().line, "invalid f-string expression"};
    } catch (const ParseError& err) {
      b_.ast().errors.push_back({err.line, err.message});
    }
    return e;
  }

 private:
  // ---- token access -----------------------------------------------------------------------
  const Token& tok(std::size_t ahead = 0) const {
    return toks_[std::min(pos_ + ahead, toks_.size() - 1)];
  }
  std::string_view text(const Token& t) const { return src_.substr(t.begin, t.end - t.begin); }
  bool at(Tok k) const { return tok().kind == k; }
  bool at_op(std::string_view op, std::size_t ahead = 0) const {
    return tok(ahead).kind == Tok::op && text(tok(ahead)) == op;
  }
  bool at_kw(std::string_view kw, std::size_t ahead = 0) const {
    return tok(ahead).kind == Tok::name && text(tok(ahead)) == kw;
  }
  bool accept_op(std::string_view op) {
    if (!at_op(op)) return false;
    ++pos_;
    return true;
  }
  bool accept_kw(std::string_view kw) {
    if (!at_kw(kw)) return false;
    ++pos_;
    return true;
  }
  void expect_op(std::string_view op) {
    if (!accept_op(op)) fail("expected '" + std::string(op) + "'");
  }
  void expect_kw(std::string_view kw) {
    if (!accept_kw(kw)) fail("expected '" + std::string(kw) + "'");
  }
  [[noreturn]] void fail(const std::string& msg) const {
    const Token& t = tok();
    std::string got = t.kind == Tok::newline  ? "newline"
                      : t.kind == Tok::end    ? "end of file"
                      : t.kind == Tok::indent ? "indent"
                      : t.kind == Tok::dedent ? "dedent"
                                              : "'" + std::string(text(t)) + "'";
    throw ParseError{t.line, msg + ", got " + got};
  }
  void error_here(const std::string& msg) { b_.ast().errors.push_back({tok().line, msg}); }
  void skip_newlines() {
    while (at(Tok::newline)) ++pos_;
  }
  bool at_identifier() const { return at(Tok::name) && !is_keyword(text(tok())); }
  std::uint32_t identifier() {
    if (!at_identifier()) fail("expected a name");
    return b_.intern(text(toks_[pos_++]));
  }
  std::uint32_t line() const { return tok().line; }

  struct DepthGuard {
    explicit DepthGuard(Parser& p) : p(p) {
      if (++p.depth_ > 300) p.fail("expression nested too deeply");
    }
    ~DepthGuard() { --p.depth_; }
    Parser& p;
  };

  // ---- statements ---------------------------------------------------------------------------

  // Parses one statement line (or compound statement) into `out`; on a syntax error records
  // it and skips the rest of the logical line (and an indented block right after it).
  void statement_into(std::vector<std::uint32_t>& out) {
    const std::size_t start = pos_;
    try {
      if (compound_statement_into(out)) return;
      simple_statements_into(out);
    } catch (const ParseError& err) {
      b_.ast().errors.push_back({err.line, err.message});
      if (pos_ == start && !at(Tok::end)) ++pos_;
      while (!at(Tok::newline) && !at(Tok::end)) ++pos_;
      if (at(Tok::newline)) ++pos_;
      if (at(Tok::indent)) {  // the body of the broken compound statement
        int level = 0;
        do {
          if (at(Tok::indent)) ++level;
          if (at(Tok::dedent)) --level;
          ++pos_;
        } while (level > 0 && !at(Tok::end));
      }
    }
  }

  void simple_statements_into(std::vector<std::uint32_t>& out) {
    for (;;) {
      out.push_back(simple_statement());
      if (!accept_op(";")) break;
      if (at(Tok::newline) || at(Tok::end)) break;
    }
    if (!at(Tok::end)) {
      if (!at(Tok::newline)) fail("expected end of statement");
      ++pos_;
    }
  }

  // A suite: the statements after ':' - on the same line, or an indented block.
  std::uint32_t block() {
    std::vector<std::uint32_t> body;
    const std::uint32_t first_line = tok().line;
    std::uint16_t col = tok().col;
    if (at(Tok::newline)) {
      ++pos_;
      if (!at(Tok::indent)) fail("expected an indented block");
      ++pos_;
      col = tok().col;
      const std::uint32_t body_line = tok().line;
      while (!at(Tok::dedent) && !at(Tok::end)) statement_into(body);
      const std::uint32_t last = last_line_before();
      if (at(Tok::dedent)) ++pos_;
      return b_.add(NodeKind::block, body_line, body, kNoName, 0, last, col);
    }
    simple_statements_into(body);
    return b_.add(NodeKind::block, first_line, body, kNoName, 0, last_line_before(), col);
  }
  // The last line of the last real token before the current position.
  std::uint32_t last_line_before() const {
    for (std::size_t k = pos_; k-- > 0;) {
      const Tok kind = toks_[k].kind;
      if (kind != Tok::newline && kind != Tok::indent && kind != Tok::dedent)
        return toks_[k].end_line;
    }
    return 1;
  }

  bool compound_statement_into(std::vector<std::uint32_t>& out) {
    if (at_op("@")) {
      std::vector<std::uint32_t> decorators;
      while (accept_op("@")) {
        decorators.push_back(named_expression());
        if (!at(Tok::newline)) fail("expected newline after decorator");
        ++pos_;
      }
      if (at_kw("def") || (at_kw("async") && at_kw("def", 1))) {
        out.push_back(function_def(decorators));
      } else if (at_kw("class")) {
        out.push_back(class_def(decorators));
      } else {
        fail("expected 'def' or 'class' after decorators");
      }
      return true;
    }
    if (at_kw("def")) return out.push_back(function_def({})), true;
    if (at_kw("class")) return out.push_back(class_def({})), true;
    if (at_kw("if")) return out.push_back(if_statement()), true;
    if (at_kw("while")) return out.push_back(while_statement()), true;
    if (at_kw("for")) return out.push_back(for_statement(0)), true;
    if (at_kw("try")) return out.push_back(try_statement()), true;
    if (at_kw("with")) return out.push_back(with_statement(0)), true;
    if (at_kw("async")) {
      if (at_kw("def", 1)) return out.push_back(function_def({})), true;
      if (at_kw("for", 1)) return ++pos_, out.push_back(for_statement(kAsync)), true;
      if (at_kw("with", 1)) return ++pos_, out.push_back(with_statement(kAsync)), true;
    }
    if (at_kw("match") && looks_like_match()) return out.push_back(match_statement()), true;
    return false;
  }

  // `match` is a soft keyword: a match statement's line ends with ':' and is followed by an
  // indented block, which no expression statement starting with the name `match` can do.
  bool looks_like_match() const {
    const Token& next = tok(1);
    if (next.kind == Tok::newline || next.kind == Tok::end) return false;
    if (next.kind == Tok::op) {
      const std::string_view t = text(next);
      if (t == "=" || t == "." || t == ":" || t == "," || t == ")" || t == "]" ||
          (t.size() == 2 && t[1] == '='))
        return false;
    }
    std::size_t k = pos_ + 1;
    int depth = 0;
    for (; k < toks_.size(); ++k) {
      const Token& t = toks_[k];
      if (t.kind == Tok::newline || t.kind == Tok::end) break;
      if (t.kind == Tok::op) {
        const std::string_view s = text(t);
        if (s == "(" || s == "[" || s == "{") ++depth;
        if (s == ")" || s == "]" || s == "}") --depth;
      }
    }
    return k > pos_ + 1 && toks_[k - 1].kind == Tok::op && text(toks_[k - 1]) == ":" &&
           depth == 0 && k + 1 < toks_.size() && toks_[k + 1].kind == Tok::indent;
  }

  std::uint32_t function_def(const std::vector<std::uint32_t>& decorators) {
    std::uint8_t flags = 0;
    if (accept_kw("async")) flags |= kAsync;
    const std::uint32_t ln = line();
    const std::uint16_t col = tok().col;
    expect_kw("def");
    const std::uint32_t name = identifier();
    expect_op("(");
    const std::uint32_t args = parameters(")", true);
    expect_op(")");
    std::uint32_t returns = kNone;
    if (accept_op("->")) returns = expression();
    expect_op(":");
    const std::uint32_t body = block();
    std::vector<std::uint32_t> kids{args, returns, body};
    kids.insert(kids.end(), decorators.begin(), decorators.end());
    return b_.add(NodeKind::function_def, ln, kids, name, flags, 0, col);
  }

  // Parameters up to `close` (")" for def, ":" for lambda); annotations only for def.
  std::uint32_t parameters(std::string_view close, bool annotations) {
    std::vector<std::uint32_t> params;
    ArgKind kind = ArgKind::normal;
    const std::uint32_t ln = line();
    while (!at_op(close)) {
      if (accept_op("/")) {
        for (auto p : params)
          b_.ast().nodes[p].flags = static_cast<std::uint8_t>(ArgKind::positional_only);
      } else {
        ArgKind this_kind = kind;
        if (accept_op("**")) {
          this_kind = ArgKind::kwarg;
        } else if (accept_op("*")) {
          kind = ArgKind::keyword_only;
          if (at_op(",") || at_op(close)) {  // a bare '*'
            if (!accept_op(",")) break;
            continue;
          }
          this_kind = ArgKind::vararg;
        }
        const std::uint32_t pl = line();
        const std::uint32_t name = identifier();
        std::uint32_t annotation = kNone, def = kNone;
        if (annotations && accept_op(":")) {
          annotation =
              this_kind == ArgKind::vararg && at_op("*") ? star_expression() : expression();
        }
        if (accept_op("=")) def = expression();
        params.push_back(b_.add(NodeKind::arg, pl, {annotation, def}, name,
                                static_cast<std::uint8_t>(this_kind)));
      }
      if (!accept_op(",")) break;
    }
    return b_.add(NodeKind::arguments, ln, params);
  }

  std::uint32_t class_def(const std::vector<std::uint32_t>& decorators) {
    const std::uint32_t ln = line();
    const std::uint16_t col = tok().col;
    expect_kw("class");
    const std::uint32_t name = identifier();
    std::vector<std::uint32_t> bases;
    if (accept_op("(")) {
      call_arguments_into(bases, ")");
      expect_op(")");
    }
    const std::uint32_t bases_node = b_.add(NodeKind::group, ln, bases);
    expect_op(":");
    const std::uint32_t body = block();
    std::vector<std::uint32_t> kids{body, bases_node};
    kids.insert(kids.end(), decorators.begin(), decorators.end());
    return b_.add(NodeKind::class_def, ln, kids, name, 0, 0, col);
  }

  std::uint32_t if_statement() {
    const std::uint32_t ln = line();
    ++pos_;  // 'if' or 'elif'
    const std::uint32_t test = named_expression();
    expect_op(":");
    const std::uint32_t body = block();
    std::uint32_t orelse = kNone;
    if (at_kw("elif")) {
      const std::uint32_t l2 = line();
      const std::uint32_t nested = if_statement();
      orelse = b_.add(NodeKind::block, l2, {nested}, kNoName, 0, b_.ast().nodes[nested].line);
    } else if (accept_kw("else")) {
      expect_op(":");
      orelse = block();
    }
    return b_.add(NodeKind::if_, ln, {test, body, orelse});
  }

  std::uint32_t while_statement() {
    const std::uint32_t ln = line();
    expect_kw("while");
    const std::uint32_t test = named_expression();
    expect_op(":");
    const std::uint32_t body = block();
    std::uint32_t orelse = kNone;
    if (accept_kw("else")) {
      expect_op(":");
      orelse = block();
    }
    return b_.add(NodeKind::while_, ln, {test, body, orelse});
  }

  std::uint32_t for_statement(std::uint8_t flags) {
    const std::uint32_t ln = line();
    expect_kw("for");
    const std::uint32_t target = target_list();
    expect_kw("in");
    const std::uint32_t iter = star_expressions();
    expect_op(":");
    const std::uint32_t body = block();
    std::uint32_t orelse = kNone;
    if (accept_kw("else")) {
      expect_op(":");
      orelse = block();
    }
    return b_.add(NodeKind::for_, ln, {target, iter, body, orelse}, kNoName, flags);
  }

  std::uint32_t try_statement() {
    const std::uint32_t ln = line();
    expect_kw("try");
    expect_op(":");
    const std::uint32_t body = block();
    std::vector<std::uint32_t> handlers;
    std::uint8_t flags = 0;
    while (at_kw("except")) {
      const std::uint32_t hl = line();
      ++pos_;
      if (accept_op("*")) flags |= kExceptStar;
      std::uint32_t type = kNone, name = kNoName;
      if (!at_op(":")) {
        type = expression();
        if (accept_op(",")) {  // `except (A, B)` spelled without parentheses (3.14 syntax)
          std::vector<std::uint32_t> elts{type};
          do elts.push_back(expression());
          while (accept_op(","));
          type = b_.add(NodeKind::tuple, hl, elts);
        }
        if (accept_kw("as")) name = identifier();
      }
      expect_op(":");
      const std::uint32_t hbody = block();
      handlers.push_back(b_.add(NodeKind::except_handler, hl, {type, hbody}, name));
    }
    std::uint32_t orelse = kNone, finally = kNone;
    if (accept_kw("else")) {
      expect_op(":");
      orelse = block();
    }
    if (accept_kw("finally")) {
      expect_op(":");
      finally = block();
    }
    if (handlers.empty() && finally == kNone) fail("expected 'except' or 'finally' block");
    std::vector<std::uint32_t> kids{body, orelse, finally};
    kids.insert(kids.end(), handlers.begin(), handlers.end());
    return b_.add(NodeKind::try_, ln, kids, kNoName, flags);
  }

  std::uint32_t with_statement(std::uint8_t flags) {
    const std::uint32_t ln = line();
    expect_kw("with");
    std::vector<std::uint32_t> items;
    // `with (a as b, c as d):` - parenthesized items - or `with (a, b):` (a tuple).
    const bool parenthesized = at_op("(") && parenthesized_with_items();
    if (parenthesized) ++pos_;
    do {
      if (parenthesized && at_op(")")) break;
      const std::uint32_t il = line();
      const std::uint32_t ctx = expression();
      std::uint32_t target = kNone;
      if (accept_kw("as")) target = target_atom_list();
      items.push_back(b_.add(NodeKind::with_item, il, {ctx, target}));
    } while (accept_op(","));
    if (parenthesized) expect_op(")");
    expect_op(":");
    const std::uint32_t body = block();
    std::vector<std::uint32_t> kids{body};
    kids.insert(kids.end(), items.begin(), items.end());
    return b_.add(NodeKind::with_, ln, kids, kNoName, flags);
  }
  // After `with`, at '(': do the parentheses hold with-items (`as` at depth 1, or the
  // closing ')' directly before ':')?
  bool parenthesized_with_items() const {
    int depth = 0;
    for (std::size_t k = pos_; k < toks_.size(); ++k) {
      const Token& t = toks_[k];
      if (t.kind == Tok::newline || t.kind == Tok::end) return false;
      if (t.kind == Tok::op) {
        const std::string_view s = text(t);
        if (s == "(" || s == "[" || s == "{") ++depth;
        if (s == ")" || s == "]" || s == "}") {
          if (--depth == 0) {
            return k + 1 < toks_.size() && toks_[k + 1].kind == Tok::op &&
                   text(toks_[k + 1]) == ":";
          }
        }
      } else if (depth == 1 && t.kind == Tok::name && text(t) == "as") {
        return true;
      }
    }
    return false;
  }

  std::uint32_t match_statement() {
    const std::uint32_t ln = line();
    ++pos_;  // 'match'
    const std::uint32_t subject = star_expressions();
    expect_op(":");
    if (!at(Tok::newline)) fail("expected newline after match subject");
    ++pos_;
    if (!at(Tok::indent)) fail("expected an indented block of cases");
    ++pos_;
    std::vector<std::uint32_t> kids{subject};
    while (!at(Tok::dedent) && !at(Tok::end)) {
      const std::uint32_t cl = line();
      if (!at_kw("case")) fail("expected 'case'");
      ++pos_;
      const std::uint32_t pattern = pattern_list();
      std::uint32_t guard = kNone;
      if (accept_kw("if")) guard = named_expression();
      expect_op(":");
      const std::uint32_t body = block();
      kids.push_back(b_.add(NodeKind::match_case, cl, {pattern, guard, body}));
    }
    if (at(Tok::dedent)) ++pos_;
    return b_.add(NodeKind::match, ln, kids);
  }

  // Patterns are parsed as expressions (with `as` and `|`), then read by the semantic pass:
  // a bare name in a capture position binds it.
  std::uint32_t pattern_list() {
    const std::uint32_t ln = line();
    std::vector<std::uint32_t> elts{pattern()};
    bool tuple = false;
    while (accept_op(",")) {
      tuple = true;
      if (at_op(":") || at_kw("if")) break;
      elts.push_back(pattern());
    }
    return tuple ? b_.add(NodeKind::tuple, ln, elts) : elts[0];
  }
  std::uint32_t pattern() {
    std::uint32_t p = at_op("*") ? star_expression() : bitwise_or();  // no `x if y else z`
    while (accept_kw("as")) {
      const std::uint32_t al = line();
      const std::uint32_t target = b_.add(NodeKind::name, al, {}, identifier(), Ctx::store);
      p = b_.add(NodeKind::named_expr, al, {target, p});
    }
    return p;
  }

  std::uint32_t simple_statement() {
    const std::uint32_t ln = line();
    const Token& t = tok();
    if (t.kind == Tok::name) {
      const std::string_view w = text(t);
      if (w == "pass") return ++pos_, b_.add(NodeKind::pass, ln, {});
      if (w == "break") return ++pos_, b_.add(NodeKind::break_, ln, {});
      if (w == "continue") return ++pos_, b_.add(NodeKind::continue_, ln, {});
      if (w == "return") {
        ++pos_;
        std::uint32_t v = kNone;
        if (!at_statement_end()) v = star_expressions();
        return b_.add(NodeKind::return_, ln, {v});
      }
      if (w == "raise") {
        ++pos_;
        std::uint32_t exc = kNone, cause = kNone;
        if (!at_statement_end()) {
          exc = expression();
          if (accept_kw("from")) cause = expression();
        }
        return b_.add(NodeKind::raise, ln, {exc, cause});
      }
      if (w == "global" || w == "nonlocal") {
        ++pos_;
        std::vector<std::uint32_t> names;
        do names.push_back(b_.add(NodeKind::name, line(), {}, identifier(), Ctx::load));
        while (accept_op(","));
        return b_.add(w == "global" ? NodeKind::global : NodeKind::nonlocal, ln, names);
      }
      if (w == "del") {
        ++pos_;
        std::vector<std::uint32_t> targets;
        do {
          if (at_statement_end()) break;
          const std::uint32_t e = bitwise_or();
          set_context(e, Ctx::del);
          targets.push_back(e);
        } while (accept_op(","));
        return b_.add(NodeKind::delete_, ln, targets);
      }
      if (w == "assert") {
        ++pos_;
        const std::uint32_t test = expression();
        std::uint32_t msg = kNone;
        if (accept_op(",")) msg = expression();
        return b_.add(NodeKind::assert_, ln, {test, msg});
      }
      if (w == "import") return import_statement();
      if (w == "from") return from_import_statement();
    }

    // Expression statement or assignment.
    std::uint32_t first = at_kw("yield") ? yield_expression() : star_expressions();
    if (accept_op(":")) {  // annotated assignment
      set_context(first, Ctx::store);
      const std::uint32_t annotation = expression();
      std::uint32_t value = kNone;
      if (accept_op("=")) value = at_kw("yield") ? yield_expression() : star_expressions();
      return b_.add(NodeKind::ann_assign, ln, {first, annotation, value});
    }
    if (tok().kind == Tok::op) {
      const std::string_view op = text(tok());
      if (op.size() >= 2 && op.back() == '=' && op != "==" && op != "<=" && op != ">=" &&
          op != "!=") {
        ++pos_;
        set_context(first, Ctx::store);
        const std::uint32_t value = at_kw("yield") ? yield_expression() : star_expressions();
        return b_.add(NodeKind::aug_assign, ln, {first, value});
      }
    }
    if (at_op("=")) {
      std::vector<std::uint32_t> parts{first};
      while (accept_op("=")) {
        parts.push_back(at_kw("yield") ? yield_expression() : star_expressions());
      }
      for (std::size_t k = 0; k + 1 < parts.size(); ++k) set_context(parts[k], Ctx::store);
      return b_.add(NodeKind::assign, ln, parts);
    }
    return b_.add(NodeKind::expr_stmt, ln, {first});
  }

  bool at_statement_end() const { return at(Tok::newline) || at(Tok::end) || at_op(";"); }

  std::uint32_t dotted_name() {
    std::string name(text(tok()));
    identifier();
    while (at_op(".")) {
      ++pos_;
      name += '.';
      if (!at_identifier()) fail("expected a name after '.'");
      name += text(tok());
      ++pos_;
    }
    return b_.intern(name);
  }

  std::uint32_t import_statement() {
    const std::uint32_t ln = line();
    ++pos_;
    std::vector<std::uint32_t> aliases;
    do {
      const std::uint32_t al = line();
      const std::uint32_t name = dotted_name();
      std::uint32_t as = kNoName;
      if (accept_kw("as")) as = identifier();
      aliases.push_back(b_.add(NodeKind::alias, al, {}, name, 0, as));
    } while (accept_op(","));
    return b_.add(NodeKind::import, ln, aliases);
  }

  std::uint32_t from_import_statement() {
    const std::uint32_t ln = line();
    ++pos_;
    std::uint32_t level = 0;
    for (;;) {
      if (accept_op(".")) {
        ++level;
      } else if (accept_op("...")) {
        level += 3;
      } else {
        break;
      }
    }
    std::uint32_t module = kNoName;
    if (!at_kw("import")) module = dotted_name();
    expect_kw("import");
    std::vector<std::uint32_t> aliases;
    if (at_op("*")) {
      aliases.push_back(b_.add(NodeKind::alias, line(), {}, b_.intern("*"), 0, kNoName));
      ++pos_;
    } else {
      const bool paren = accept_op("(");
      do {
        if (paren && at_op(")")) break;
        const std::uint32_t al = line();
        const std::uint32_t name = identifier();
        std::uint32_t as = kNoName;
        if (accept_kw("as")) as = identifier();
        aliases.push_back(b_.add(NodeKind::alias, al, {}, name, 0, as));
      } while (accept_op(","));
      if (paren) expect_op(")");
    }
    return b_.add(NodeKind::import_from, ln, aliases, module, 0, level);
  }

  // Marks an expression as an assignment (or del) target.
  void set_context(std::uint32_t e, Ctx ctx) {
    if (e == kNone) return;
    Node& n = b_.ast().nodes[e];
    switch (n.kind) {
      case NodeKind::name:
        n.flags = ctx;
        break;
      case NodeKind::tuple:
      case NodeKind::list:
        for (std::uint32_t k = 0; k < n.count; ++k)
          set_context(b_.ast().children[n.first + k], ctx);
        break;
      case NodeKind::starred:
        set_context(b_.ast().children[n.first], ctx);
        break;
      case NodeKind::attribute:
      case NodeKind::subscript:
        break;  // their sub-expressions stay loads
      default:
        if (ctx != Ctx::load) throw ParseError{n.line, "cannot assign to expression"};
    }
  }

  // ---- expressions --------------------------------------------------------------------------

  // `for` targets: a comma list of star_targets (parsed as or-expressions).
  std::uint32_t target_list() {
    const std::uint32_t ln = line();
    std::vector<std::uint32_t> elts;
    bool tuple = false;
    do {
      if (at_kw("in") || at_op("=")) break;
      elts.push_back(at_op("*") ? star_expression() : bitwise_or());
      if (!at_op(",")) break;
      tuple = true;
    } while (accept_op(","));
    if (elts.empty()) fail("expected a target");
    std::uint32_t t = tuple ? b_.add(NodeKind::tuple, ln, elts) : elts[0];
    set_context(t, Ctx::store);
    return t;
  }
  std::uint32_t target_atom_list() {
    const std::uint32_t t = bitwise_or();
    set_context(t, Ctx::store);
    return t;
  }

  // star_expressions: expression (',' expression)* [','] -> a tuple when there is a comma.
  std::uint32_t star_expressions() {
    const std::uint32_t ln = line();
    std::uint32_t first = at_op("*") ? star_expression() : named_expression();
    if (!at_op(",")) return first;
    std::vector<std::uint32_t> elts{first};
    while (accept_op(",")) {
      if (at_expression_end()) break;
      elts.push_back(at_op("*") ? star_expression() : named_expression());
    }
    return b_.add(NodeKind::tuple, ln, elts);
  }
  bool at_expression_end() const {
    if (at(Tok::newline) || at(Tok::end)) return true;
    if (tok().kind != Tok::op) return at_kw("in") || at_kw("for") || at_kw("if") || at_kw("async");
    const std::string_view s = text(tok());
    return s == ")" || s == "]" || s == "}" || s == "=" || s == ":" || s == ";" ||
           (s.size() >= 2 && s.back() == '=' && s != "==" && s != "<=" && s != ">=" && s != "!=");
  }
  std::uint32_t star_expression() {
    const std::uint32_t ln = line();
    if (accept_op("*")) return b_.add(NodeKind::starred, ln, {bitwise_or()});
    return expression();
  }
  std::uint32_t named_expression() {
    if (at_identifier() && at_op(":=", 1)) {
      const std::uint32_t ln = line();
      const std::uint32_t target = b_.add(NodeKind::name, ln, {}, identifier(), Ctx::store);
      ++pos_;
      const std::uint32_t value = expression();
      return b_.add(NodeKind::named_expr, ln, {target, value});
    }
    return expression();
  }
  std::uint32_t expression() {
    DepthGuard guard(*this);
    if (at_kw("lambda")) return lambda();
    const std::uint32_t ln = line();
    const std::uint32_t body = disjunction();
    if (accept_kw("if")) {
      const std::uint32_t test = disjunction();
      expect_kw("else");
      const std::uint32_t orelse = expression();
      return b_.add(NodeKind::if_exp, ln, {body, test, orelse});
    }
    return body;
  }
  std::uint32_t lambda() {
    const std::uint32_t ln = line();
    expect_kw("lambda");
    const std::uint32_t args = parameters(":", false);
    expect_op(":");
    const std::uint32_t body = expression();
    return b_.add(NodeKind::lambda, ln, {args, body});
  }

  // Binary operator levels, lowest precedence first. Each folds a run of one level into one
  // `operation` node (the operators themselves do not matter to scope analysis).
  std::uint32_t disjunction() { return op_level(&Parser::conjunction, {"or"}, true); }
  std::uint32_t conjunction() { return op_level(&Parser::inversion, {"and"}, true); }
  std::uint32_t inversion() {
    if (at_kw("not")) {
      const std::uint32_t ln = line();
      ++pos_;
      DepthGuard guard(*this);
      return b_.add(NodeKind::operation, ln, {inversion()});
    }
    return comparison();
  }
  std::uint32_t comparison() {
    const std::uint32_t ln = line();
    const std::uint32_t first = bitwise_or();
    std::vector<std::uint32_t> operands{first};
    for (;;) {
      if (at_kw("not") && at_kw("in", 1)) {
        pos_ += 2;
      } else if (at_kw("is")) {
        ++pos_;
        accept_kw("not");
      } else if (at_kw("in")) {
        ++pos_;
      } else if (at_op("<") || at_op(">") || at_op("==") || at_op(">=") || at_op("<=") ||
                 at_op("!=") || at_op("<>")) {
        ++pos_;
      } else {
        break;
      }
      operands.push_back(bitwise_or());
    }
    return operands.size() == 1 ? first : b_.add(NodeKind::operation, ln, operands);
  }
  std::uint32_t bitwise_or() { return op_level(&Parser::bitwise_xor, {"|"}, false); }
  std::uint32_t bitwise_xor() { return op_level(&Parser::bitwise_and, {"^"}, false); }
  std::uint32_t bitwise_and() { return op_level(&Parser::shift_expr, {"&"}, false); }
  std::uint32_t shift_expr() { return op_level(&Parser::sum, {"<<", ">>"}, false); }
  std::uint32_t sum() { return op_level(&Parser::term, {"+", "-"}, false); }
  std::uint32_t term() { return op_level(&Parser::factor, {"*", "/", "//", "%", "@"}, false); }

  std::uint32_t op_level(std::uint32_t (Parser::*next)(),
                         std::initializer_list<std::string_view> ops, bool keywords) {
    const std::uint32_t ln = line();
    const std::uint32_t first = (this->*next)();
    std::vector<std::uint32_t> operands;
    for (;;) {
      bool matched = false;
      for (auto op : ops) {
        if (keywords ? at_kw(op) : at_op(op)) {
          matched = true;
          break;
        }
      }
      if (!matched) break;
      ++pos_;
      if (operands.empty()) operands.push_back(first);
      operands.push_back((this->*next)());
    }
    return operands.empty() ? first : b_.add(NodeKind::operation, ln, operands);
  }

  std::uint32_t factor() {
    if (at_op("+") || at_op("-") || at_op("~")) {
      const std::uint32_t ln = line();
      ++pos_;
      DepthGuard guard(*this);
      return b_.add(NodeKind::operation, ln, {factor()});
    }
    return power();
  }
  std::uint32_t power() {
    const std::uint32_t ln = line();
    const std::uint32_t base = await_primary();
    if (accept_op("**")) {
      DepthGuard guard(*this);
      return b_.add(NodeKind::operation, ln, {base, factor()});
    }
    return base;
  }
  std::uint32_t await_primary() {
    if (at_kw("await")) {
      const std::uint32_t ln = line();
      ++pos_;
      return b_.add(NodeKind::await_, ln, {primary()});
    }
    return primary();
  }
  std::uint32_t primary() {
    std::uint32_t e = atom();
    for (;;) {
      const std::uint32_t ln = line();
      if (accept_op(".")) {
        const std::uint32_t name = identifier_or_keyword();
        e = b_.add(NodeKind::attribute, ln, {e}, name);
      } else if (accept_op("(")) {
        std::vector<std::uint32_t> kids{e};
        call_arguments_into(kids, ")");
        expect_op(")");
        e = b_.add(NodeKind::call, ln, kids);
      } else if (accept_op("[")) {
        const std::uint32_t index = slices();
        expect_op("]");
        e = b_.add(NodeKind::subscript, ln, {e, index});
      } else {
        return e;
      }
    }
  }
  std::uint32_t identifier_or_keyword() {
    if (!at(Tok::name)) fail("expected an attribute name");
    return b_.intern(text(toks_[pos_++]));
  }

  // Call arguments (also class bases): expressions, *args, **kwargs, name=value, and a
  // lone generator expression.
  void call_arguments_into(std::vector<std::uint32_t>& out, std::string_view close) {
    while (!at_op(close)) {
      const std::uint32_t ln = line();
      if (accept_op("**")) {
        out.push_back(b_.add(NodeKind::keyword, ln, {expression()}));
      } else if (accept_op("*")) {
        out.push_back(b_.add(NodeKind::starred, ln, {expression()}));
      } else if (at_identifier() && at_op("=", 1)) {
        const std::uint32_t name = identifier();
        ++pos_;
        out.push_back(b_.add(NodeKind::keyword, ln, {expression()}, name));
      } else {
        std::uint32_t e = named_expression();
        if (at_kw("for") || (at_kw("async") && at_kw("for", 1)))
          e = comprehension(Comp::generator, {e}, ln);
        out.push_back(e);
      }
      if (!accept_op(",")) break;
    }
  }

  std::uint32_t slices() {
    const std::uint32_t ln = line();
    std::vector<std::uint32_t> elts{slice()};
    bool tuple = false;
    while (accept_op(",")) {
      tuple = true;
      if (at_op("]")) break;
      elts.push_back(slice());
    }
    return tuple ? b_.add(NodeKind::tuple, ln, elts) : elts[0];
  }
  std::uint32_t slice() {
    const std::uint32_t ln = line();
    if (at_op("*")) return star_expression();
    std::uint32_t lower = kNone;
    if (!at_op(":")) {
      lower = named_expression();
      if (!at_op(":")) return lower;
    }
    ++pos_;  // ':'
    std::uint32_t upper = kNone, step = kNone;
    if (!at_op(":") && !at_op(",") && !at_op("]")) upper = expression();
    if (accept_op(":")) {
      if (!at_op(",") && !at_op("]")) step = expression();
    }
    return b_.add(NodeKind::slice, ln, {lower, upper, step});
  }

  std::uint32_t atom() {
    DepthGuard guard(*this);
    const Token& t = tok();
    const std::uint32_t ln = t.line;
    switch (t.kind) {
      case Tok::name: {
        const std::string_view w = text(t);
        if (w == "None") return ++pos_, constant(ln, Const::none);
        if (w == "True") return ++pos_, constant(ln, Const::true_);
        if (w == "False") return ++pos_, constant(ln, Const::false_);
        if (is_keyword(w)) fail("invalid syntax");
        ++pos_;
        return b_.add(NodeKind::name, ln, {}, b_.intern(w), Ctx::load, 0, t.col);
      }
      case Tok::number: {
        ++pos_;
        const std::string_view w = text(t);
        Const k = Const::int_;
        if (w.back() == 'j' || w.back() == 'J') {
          k = Const::complex;
        } else if (w.size() < 2 || (w[1] != 'x' && w[1] != 'X')) {
          if (w.find_first_of(".eE") != std::string_view::npos) k = Const::float_;
        }
        return constant(ln, k);
      }
      case Tok::string:
        return strings();
      case Tok::op:
        break;
      default:
        fail("invalid syntax");
    }
    if (accept_op("...")) return constant(ln, Const::ellipsis);
    if (accept_op("(")) {
      if (accept_op(")")) return b_.add(NodeKind::tuple, ln, {});
      if (at_kw("yield")) {
        const std::uint32_t y = yield_expression();
        expect_op(")");
        return y;
      }
      std::uint32_t first = at_op("*") ? star_expression() : named_expression();
      if (at_kw("for") || (at_kw("async") && at_kw("for", 1))) {
        const std::uint32_t g = comprehension(Comp::generator, {first}, ln);
        expect_op(")");
        return g;
      }
      if (accept_op(")")) return first;  // parenthesized expression
      std::vector<std::uint32_t> elts{first};
      while (accept_op(",")) {
        if (at_op(")")) break;
        elts.push_back(at_op("*") ? star_expression() : named_expression());
      }
      expect_op(")");
      return b_.add(NodeKind::tuple, ln, elts);
    }
    if (accept_op("[")) {
      if (accept_op("]")) return b_.add(NodeKind::list, ln, {});
      std::uint32_t first = at_op("*") ? star_expression() : named_expression();
      if (at_kw("for") || (at_kw("async") && at_kw("for", 1))) {
        const std::uint32_t c = comprehension(Comp::list, {first}, ln);
        expect_op("]");
        return c;
      }
      std::vector<std::uint32_t> elts{first};
      while (accept_op(",")) {
        if (at_op("]")) break;
        elts.push_back(at_op("*") ? star_expression() : named_expression());
      }
      expect_op("]");
      return b_.add(NodeKind::list, ln, elts);
    }
    if (accept_op("{")) return dict_or_set(ln);
    fail("invalid syntax");
  }

  std::uint32_t dict_or_set(std::uint32_t ln) {
    if (accept_op("}")) return b_.add(NodeKind::dict, ln, {});
    std::vector<std::uint32_t> kids;
    bool is_dict;
    if (accept_op("**")) {
      kids = {kNone, bitwise_or()};
      is_dict = true;
    } else {
      const std::uint32_t first = at_op("*") ? star_expression() : named_expression();
      if (accept_op(":")) {
        const std::uint32_t value = expression();
        if (at_kw("for") || (at_kw("async") && at_kw("for", 1))) {
          const std::uint32_t c = comprehension(Comp::dict, {first, value}, ln);
          expect_op("}");
          return c;
        }
        kids = {first, value};
        is_dict = true;
      } else {
        if (at_kw("for") || (at_kw("async") && at_kw("for", 1))) {
          const std::uint32_t c = comprehension(Comp::set, {first}, ln);
          expect_op("}");
          return c;
        }
        kids = {first};
        is_dict = false;
      }
    }
    while (accept_op(",")) {
      if (at_op("}")) break;
      if (is_dict) {
        if (accept_op("**")) {
          kids.push_back(kNone);
          kids.push_back(bitwise_or());
        } else {
          kids.push_back(expression());
          expect_op(":");
          kids.push_back(expression());
        }
      } else {
        kids.push_back(at_op("*") ? star_expression() : named_expression());
      }
    }
    expect_op("}");
    return b_.add(is_dict ? NodeKind::dict : NodeKind::set, ln, kids);
  }

  std::uint32_t comprehension(Comp kind, std::vector<std::uint32_t> elements, std::uint32_t ln) {
    const auto n_elements = static_cast<std::uint32_t>(elements.size());
    std::vector<std::uint32_t> kids = std::move(elements);
    while (at_kw("for") || (at_kw("async") && at_kw("for", 1))) {
      const std::uint32_t fl = line();
      std::uint8_t flags = 0;
      if (accept_kw("async")) flags |= kAsync;
      expect_kw("for");
      const std::uint32_t target = target_list();
      expect_kw("in");
      std::vector<std::uint32_t> parts{target, disjunction()};
      while (accept_kw("if")) parts.push_back(disjunction());
      kids.push_back(b_.add(NodeKind::comp_for, fl, parts, kNoName, flags));
    }
    return b_.add(NodeKind::comprehension, ln, kids, kNoName, static_cast<std::uint8_t>(kind),
                  n_elements);
  }

  std::uint32_t yield_expression() {
    const std::uint32_t ln = line();
    expect_kw("yield");
    if (accept_kw("from")) return b_.add(NodeKind::yield, ln, {expression()}, kNoName, kYieldFrom);
    std::uint32_t v = kNone;
    if (!at_expression_end() && !at_op(")")) v = star_expressions();
    return b_.add(NodeKind::yield, ln, {v});
  }

  std::uint32_t constant(std::uint32_t ln, Const k) {
    return b_.add(NodeKind::constant, ln, {}, kNoName, static_cast<std::uint8_t>(k));
  }

  // Adjacent string literals concatenate; f-strings among them make a `fstring` node whose
  // children are the expressions of their replacement fields.
  std::uint32_t strings() {
    const std::uint32_t ln = line();
    std::vector<std::uint32_t> fields;
    bool any_f = false, bytes = false;
    while (at(Tok::string)) {
      const Token t = toks_[pos_++];
      if (t.flags & kBytes) bytes = true;
      if (t.flags & kFString) {
        any_f = true;
        fstring_fields(t, fields);
      }
    }
    if (any_f) return b_.add(NodeKind::fstring, ln, fields);
    return constant(ln, bytes ? Const::bytes : Const::str);
  }

  // The replacement fields `{expr!r:spec}` of one f-string token, each expression parsed by a
  // nested parser into the same Ast ("roughly": nested format specs are scanned the same way).
  void fstring_fields(const Token& t, std::vector<std::uint32_t>& out) {
    std::string_view body = text(t);
    std::size_t q = 0;
    while (q < body.size() && body[q] != '"' && body[q] != '\'') ++q;
    const bool triple = q + 2 < body.size() && body[q + 1] == body[q] && body[q + 2] == body[q];
    const std::size_t open = triple ? 3 : 1;
    if (body.size() < q + 2 * open) return;
    body = body.substr(q + open, body.size() - q - 2 * open);
    scan_fields(body, t.line, out, 0);
  }
  void scan_fields(std::string_view body, std::uint32_t line, std::vector<std::uint32_t>& out,
                   int nesting) {
    std::uint32_t cur_line = line;
    for (std::size_t i = 0; i < body.size(); ++i) {
      const char c = body[i];
      if (c == '\n') ++cur_line;
      if (c != '{') continue;
      if (i + 1 < body.size() && body[i + 1] == '{') {
        ++i;
        continue;
      }
      // Find the matching '}' and the end of the expression part (a top-level '!' or ':').
      int depth = 0;
      std::size_t k = i + 1, expr_end = std::string_view::npos;
      char in_quote = 0;
      for (; k < body.size(); ++k) {
        const char d = body[k];
        if (in_quote) {
          if (d == in_quote) in_quote = 0;
          continue;
        }
        if (d == '\'' || d == '"') {
          in_quote = d;
        } else if (d == '(' || d == '[' || d == '{') {
          ++depth;
        } else if (d == ')' || d == ']' || (d == '}' && depth > 0)) {
          --depth;
        } else if (d == '}') {
          break;
        } else if (depth == 0 && expr_end == std::string_view::npos &&
                   ((d == '!' && k + 1 < body.size() && body[k + 1] != '=') || d == ':')) {
          expr_end = k;
        }
      }
      if (k >= body.size()) {
        b_.ast().errors.push_back({cur_line, "f-string: expecting '}'"});
        return;
      }
      std::string_view expr = body.substr(i + 1, std::min(expr_end, k) - i - 1);
      // `{x=}`: the self-documenting form.
      std::size_t e = expr.size();
      while (e > 0 && (expr[e - 1] == ' ' || expr[e - 1] == '\t')) --e;
      if (e > 0 && expr[e - 1] == '=' && (e < 2 || std::strchr("=!<>", expr[e - 2]) == nullptr))
        expr = expr.substr(0, e - 1);
      if (!expr.empty()) {
        const std::string wrapped = "(" + std::string(expr) + ")";
        Parser nested(wrapped, b_, cur_line);
        const std::uint32_t node = nested.parse_lone_expression();
        if (node != kNone) out.push_back(node);
      }
      if (expr_end != std::string_view::npos && expr_end < k && nesting < 2) {
        scan_fields(body.substr(expr_end + 1, k - expr_end - 1), cur_line, out, nesting + 1);
      }
      for (std::size_t m = i; m < k; ++m) cur_line += body[m] == '\n';
      i = k;
    }
  }

  std::string_view src_;
  AstBuilder& b_;
  std::vector<Token> toks_;
  std::size_t pos_ = 0;
  int depth_ = 0;
};

}  // namespace detail

// Parses a module. Never throws on bad input: syntax errors are in Ast::errors.
inline Ast parse(std::string_view src) {
  Ast ast;
  ast.nodes.reserve(src.size() / 6 + 16);
  ast.children.reserve(src.size() / 6 + 16);
  detail::AstBuilder builder(ast);
  detail::Parser parser(src, builder);
  ast.root = parser.parse_module();
  ast.lines = static_cast<std::uint32_t>(std::count(src.begin(), src.end(), '\n')) +
              (src.empty() || src.back() == '\n' ? 0 : 1);
  ast.nodes.shrink_to_fit();
  ast.children.shrink_to_fit();
  ast.string_pool.shrink_to_fit();
  ast.string_ends.shrink_to_fit();
  return ast;
}

}  // namespace pysyntax

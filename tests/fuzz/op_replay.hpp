// Op-replay fuzzing for relish: "nothing a user writes can leave a wrong memo".
//
// replay(data, size, config) decodes the bytes into a sequence of operations (create an input,
// set a field, run a query of some shape, change LRU or GC settings...) and runs each against
// a relish database AND against an oracle: plain C++ that recomputes the same functions from
// scratch over the current input values. After every query the two must agree, or relish must
// have thrown what the oracle allows (a user exception the function really throws, a
// StaleHandleError for a handle that is really gone...). Anything else is a failure, reported
// with the whole op sequence: abort() under libFuzzer, a thrown Failure in the Catch2 test.
//
// Byte format (every byte string is valid; missing bytes read as 0):
//   byte 0     flags: bit 0 turns on the reader-threads mode (see run_threads_op)
//   then ops   one opcode byte (taken modulo kOpcodeCount) followed by its argument bytes
//
// The functions (inputs Cell{a, b, w}; `cells` is the list kept in the Registry input):
//   leaf(c)        = a % 4                                  keyed on an input handle
//   mid(c)         = 7 * leaf(c) + b % 3                    backdates when leaf backdates
//   sum(k)         = sum of mid(cells[i]) for i % (k+1) == 0 plain-value key, reads the list
//   top()          = sum(0) + 3 sum(1) + 5 sum(2)           no key: the root of the DAG
//   div(c)         = a / (b % 5), throws UserError if b % 5 == 0
//   div_plus(c)    = div(c) + 1                             propagates the user exception
//   catch_div(c)   = try { 2 div(c) } catch (...) { -1 }    a catch-all around a query
//   catch_sum(k)   = try { 2 sum(k) + div(cells[k % n]) } catch (...) { -1 }
//   touchy(c)      = Touchy{w % 8}; Touchy's == throws if either side is 7, so backdating a
//                    touchy memo may throw TouchyError
//   touchy_plus(c) = touchy(c).v + 100
//   touchy_key(t)  = 3 t.v                                  keyed on a Touchy value
//   catch_touchy(c)= try { touchy(c).v } catch (...) { -1 }   (in the catch-all op class)
//   ents(c)        creates b % 4 tracked Ents {cell, i} with value a + i, then throws
//                  UserError if a % 5 == 4 (a throwing creator: its entities are deleted)
//   ent_val(e)     = 2 e.value + 1                          keyed on a tracked handle
//   ents_sum(c)    = sum of ent_val over ents(c)
//   name(c)        = Name::intern({a % 3, b % 3})           returns an interned handle
//   name_val(n)    = 10 x + y                               keyed on an interned handle
//   via_name(c)    = name_val(name(c))
#pragma once

#include <relish/relish.hpp>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace relish_fuzz {

// ---------------------------------------------------------------------------------------------
// The program under test.

// What the user's functions throw on purpose.
struct UserError : std::runtime_error {
  UserError() : std::runtime_error("user error: division by zero / bad creator") {}
};
struct TouchyError : std::logic_error {
  TouchyError() : std::logic_error("user error: Touchy::operator== on a 7") {}
};

// A value whose comparison throws: relish compares a re-computed value with the old one to
// backdate, so a user's operator== can throw in the middle of the engine's bookkeeping.
struct Touchy {
  std::int64_t v = 0;
  friend bool operator==(const Touchy& x, const Touchy& y) {
    if (x.v == 7 || y.v == 7) throw TouchyError();
    return x.v == y.v;
  }
};

struct CellData {
  std::int64_t a = 0;
  std::int64_t b = 0;
  std::int64_t w = 0;
};
using Cell = relish::Input<CellData>;

struct RegistryData {
  std::vector<Cell> cells;
};
using Registry = relish::Input<RegistryData>;

struct EntData {
  Cell cell;
  std::uint32_t i = 0;
  relish::TrackedField<std::int64_t> value;
};
using Ent = relish::Tracked<EntData>;

struct NameData {
  std::int64_t x = 0;
  std::int64_t y = 0;
};
using Name = relish::Interned<NameData>;

struct Db : relish::Database {
  Registry registry;  // set once, before any query
};

inline const std::vector<Cell>& cells_of(Db& db) {
  return db.registry.get(db, &RegistryData::cells);
}

inline std::int64_t leaf_fn(Db& db, Cell c) { return c.get(db, &CellData::a) % 4; }
inline constexpr relish::Query<leaf_fn> leaf;

inline std::int64_t mid_fn(Db& db, Cell c) { return 7 * leaf(db, c) + c.get(db, &CellData::b) % 3; }
inline constexpr relish::Query<mid_fn> mid;

inline std::int64_t sum_fn(Db& db, std::uint32_t k) {
  const std::vector<Cell> cells = cells_of(db);  // a copy: the reference dies at the next write
  std::int64_t s = 0;
  for (std::size_t i = 0; i < cells.size(); ++i)
    if (i % (k + 1) == 0) s += mid(db, cells[i]);
  return s;
}
inline constexpr relish::Query<sum_fn> sum;

inline std::int64_t top_fn(Db& db) { return sum(db, 0u) + 3 * sum(db, 1u) + 5 * sum(db, 2u); }
inline constexpr relish::Query<top_fn> top;

inline std::int64_t div_fn(Db& db, Cell c) {
  const std::int64_t d = c.get(db, &CellData::b) % 5;
  if (d == 0) throw UserError();
  return c.get(db, &CellData::a) / d;
}
inline constexpr relish::Query<div_fn> div;

inline std::int64_t div_plus_fn(Db& db, Cell c) { return div(db, c) + 1; }
inline constexpr relish::Query<div_plus_fn> div_plus;

// The catch-alls swallow *everything* the inner query throws, relish's own control flow
// included: the engine must still never memoize a wrong value because of it.
inline std::int64_t catch_div_fn(Db& db, Cell c) {
  try {
    return 2 * div(db, c);
  } catch (...) {
    return -1;
  }
}
inline constexpr relish::Query<catch_div_fn> catch_div;

inline std::int64_t catch_sum_fn(Db& db, std::uint32_t k) {
  try {
    const std::vector<Cell> cells = cells_of(db);
    if (cells.empty()) return 2 * sum(db, k);
    return 2 * sum(db, k) + div(db, cells[k % cells.size()]);
  } catch (...) {
    return -1;
  }
}
inline constexpr relish::Query<catch_sum_fn> catch_sum;

inline Touchy touchy_fn(Db& db, Cell c) { return Touchy{c.get(db, &CellData::w) % 8}; }
inline constexpr relish::Query<touchy_fn> touchy;

inline std::int64_t touchy_plus_fn(Db& db, Cell c) { return touchy(db, c).v + 100; }
inline constexpr relish::Query<touchy_plus_fn> touchy_plus;

// Keyed on a Touchy: interning the key compares it with the keys of earlier calls.
inline std::int64_t touchy_key_fn(Db&, Touchy k) { return 3 * k.v; }
inline constexpr relish::Query<touchy_key_fn> touchy_key;

inline std::int64_t catch_touchy_fn(Db& db, Cell c) {
  try {
    return touchy(db, c).v;
  } catch (...) {
    return -1;
  }
}
inline constexpr relish::Query<catch_touchy_fn> catch_touchy;

inline std::vector<Ent> ents_fn(Db& db, Cell c) {
  const std::int64_t a = c.get(db, &CellData::a);
  const std::int64_t n = c.get(db, &CellData::b) % 4;
  std::vector<Ent> out;
  for (std::uint32_t i = 0; i < n; ++i)
    out.push_back(Ent::create(db, {.cell = c, .i = i, .value = a + i}));
  if (a % 5 == 4) throw UserError();  // after creating: those entities must not survive
  return out;
}
inline constexpr relish::Query<ents_fn> ents;

inline std::int64_t ent_val_fn(Db& db, Ent e) { return 2 * e.get(db, &EntData::value) + 1; }
inline constexpr relish::Query<ent_val_fn> ent_val;

inline std::int64_t ents_sum_fn(Db& db, Cell c) {
  std::int64_t s = 0;
  for (Ent e : ents(db, c)) s += ent_val(db, e);
  return s;
}
inline constexpr relish::Query<ents_sum_fn> ents_sum;

inline Name name_fn(Db& db, Cell c) {
  return Name::intern(db, {c.get(db, &CellData::a) % 3, c.get(db, &CellData::b) % 3});
}
inline constexpr relish::Query<name_fn> name;

inline std::int64_t name_val_fn(Db& db, Name n) {
  return 10 * n.get(db, &NameData::x) + n.get(db, &NameData::y);
}
inline constexpr relish::Query<name_val_fn> name_val;

inline std::int64_t via_name_fn(Db& db, Cell c) { return name_val(db, name(db, c)); }
inline constexpr relish::Query<via_name_fn> via_name;

// ---------------------------------------------------------------------------------------------
// The oracle: the same functions, from scratch, over plain values. nullopt: throws UserError.

using Maybe = std::optional<std::int64_t>;

struct Oracle {
  std::vector<CellData> cells;
  std::vector<bool> touchy_seen_7;  // per cell: some value of touchy(c) so far was 7

  std::int64_t leaf(std::size_t c) const { return cells[c].a % 4; }
  std::int64_t mid(std::size_t c) const { return 7 * leaf(c) + cells[c].b % 3; }
  std::int64_t sum(std::uint32_t k) const {
    std::int64_t s = 0;
    for (std::size_t i = 0; i < cells.size(); ++i)
      if (i % (k + 1) == 0) s += mid(i);
    return s;
  }
  std::int64_t top() const { return sum(0) + 3 * sum(1) + 5 * sum(2); }
  Maybe div(std::size_t c) const {
    const std::int64_t d = cells[c].b % 5;
    if (d == 0) return std::nullopt;
    return cells[c].a / d;
  }
  Maybe div_plus(std::size_t c) const {
    Maybe d = div(c);
    return d ? Maybe(*d + 1) : std::nullopt;
  }
  std::int64_t catch_div(std::size_t c) const {
    Maybe d = div(c);
    return d ? 2 * *d : -1;
  }
  std::int64_t catch_sum(std::uint32_t k) const {
    if (cells.empty()) return 2 * sum(k);
    Maybe d = div(k % cells.size());
    return d ? 2 * sum(k) + *d : -1;
  }
  std::int64_t touchy(std::size_t c) const { return cells[c].w % 8; }
  // How many entities ents(c) creates, or nullopt if it throws.
  std::optional<std::uint32_t> ents(std::size_t c) const {
    if (cells[c].a % 5 == 4) return std::nullopt;
    return static_cast<std::uint32_t>(cells[c].b % 4);
  }
  std::int64_t ent_val(std::size_t c, std::uint32_t i) const { return 2 * (cells[c].a + i) + 1; }
  Maybe ents_sum(std::size_t c) const {
    auto n = ents(c);
    if (!n) return std::nullopt;
    std::int64_t s = 0;
    for (std::uint32_t i = 0; i < *n; ++i) s += ent_val(c, i);
    return s;
  }
  NameData name(std::size_t c) const { return {cells[c].a % 3, cells[c].b % 3}; }
  std::int64_t via_name(std::size_t c) const {
    const NameData n = name(c);
    return 10 * n.x + n.y;
  }
};

// ---------------------------------------------------------------------------------------------
// The interpreter.

// Thrown (Catch2 test) or printed before abort() (libFuzzer) when relish and the oracle differ.
struct Failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Op classes; Config::ops masks them (bit i enables op i). A disabled op is decoded (so the
// rest of the bytes mean the same) but not run.
enum Op : std::uint8_t {
  kCreate,         // [durability]
  kSetNew,         // [cell, field, value]   a different value
  kSetEqual,       // [cell, field]          the value it already has
  kSetDurability,  // [cell, field, value, durability]
  kChain,          // [shape, cell]          leaf / mid / sum(k) / top
  kThrowing,       // [shape, cell]          div / div_plus
  kCatchAll,       // [shape, cell]          catch_div / catch_touchy / catch_sum(k)
  kTouchy,         // [shape, cell]          touchy / touchy_plus / touchy_key
  kTracked,        // [shape, cell, slot]    ents_sum / keep a handle / read a kept handle
  kInterned,       // [shape, cell, cell]    via_name / handle equality
  kSetLru,         // [query, capacity]
  kEvict,          //                         db.trigger_lru_eviction()
  kReclaim,        // [revisions]             Name::set_reclaim_after
  kThreads,        // [cell, value]           2 reader threads while this thread writes
  // Flags, not opcodes: they widen what the ops above may do.
  kLateGc,         // kReclaim may turn GC on after queries ran (values interned without GC)
  kGcDurable,      // inputs of durability above low while GC is on
  kOpCount
};
inline constexpr std::uint8_t kOpcodeCount = kLateGc;  // the ops an opcode byte can name
inline constexpr const char* kOpNames[kOpCount] = {
    "create", "set",     "set-equal", "set-durability", "chain", "throwing", "catch-all",
    "touchy", "tracked", "interned",  "set-lru",        "evict", "reclaim",  "threads",
    "late-gc", "gc-durable"};

constexpr std::uint32_t op_bit(Op op) { return 1u << op; }
inline constexpr std::uint32_t kAllOps = (1u << kOpCount) - 1;

// What CI replays (tests/fuzz/corpus_test.cpp): everything but the threads mode
// (nondeterministic; libFuzzer runs it). Ops that hit a known engine bug are gated here
// until it is fixed (tests/fuzz/crashes-known/README.md lists them; none today: the catch-all,
// late-GC and durable-GC failures found first are regression inputs in corpus/).
inline constexpr std::uint32_t kGatedOps = op_bit(kThreads);
inline constexpr std::uint32_t kCiOps = kAllOps & ~kGatedOps;

struct Config {
  std::uint32_t ops = kAllOps;
  bool abort_on_failure = false;  // libFuzzer: abort (a crash); tests: throw Failure
  std::size_t max_ops = 200;      // longer inputs are cut: keeps one run fast
};

// The outcome of one relish call, classified by what was thrown.
struct Outcome {
  enum Kind { value, user_error, touchy_error, stale, relish_error, other } kind = value;
  std::int64_t v = 0;
  std::string what;
};

inline std::string describe(const Outcome& o) {
  switch (o.kind) {
    case Outcome::value: return std::to_string(o.v);
    case Outcome::user_error: return "throws UserError";
    case Outcome::touchy_error: return "throws TouchyError";
    case Outcome::stale: return "throws StaleHandleError (" + o.what + ")";
    case Outcome::relish_error: return "throws relish::Error (" + o.what + ")";
    case Outcome::other: return "throws " + o.what;
  }
  return "?";
}

template <class F>
Outcome capture(F&& f) {
  try {
    return {Outcome::value, static_cast<std::int64_t>(f()), {}};
  } catch (const UserError&) {
    return {Outcome::user_error, 0, {}};
  } catch (const TouchyError&) {
    return {Outcome::touchy_error, 0, {}};
  } catch (const relish::StaleHandleError& e) {
    return {Outcome::stale, 0, e.what()};
  } catch (const relish::Error& e) {
    return {Outcome::relish_error, 0, e.what()};
  } catch (const std::exception& e) {
    return {Outcome::other, 0, std::string("std::exception: ") + e.what()};
  } catch (...) {  // relish's internal control exceptions must never reach the caller
    return {Outcome::other, 0, "an exception of unknown type (an engine control exception?)"};
  }
}

// What the oracle accepts from one call.
struct Expect {
  Maybe value;               // nullopt: UserError expected
  bool touchy_ok = false;    // a TouchyError is acceptable (a comparison with a 7 may happen)
  Maybe alt;                 // another acceptable value (catch_touchy swallowing a TouchyError)
  bool relish_ok = false;    // a relish::Error is acceptable (documented limitation)
};

// Exactly this value (nullopt: exactly a UserError).
inline Expect is(Maybe v) {
  Expect e;
  e.value = v;
  return e;
}
// The value, or a TouchyError if `may_throw`.
inline Expect is_or_touchy(std::int64_t v, bool may_throw) {
  Expect e = is(v);
  e.touchy_ok = may_throw;
  return e;
}
// The value, or `alt`.
inline Expect is_or(std::int64_t v, Maybe alt) {
  Expect e = is(v);
  e.alt = alt;
  return e;
}

class Replayer {
 public:
  Replayer(const std::uint8_t* data, std::size_t size, const Config& cfg)
      : data_(data), size_(size), cfg_(cfg) {}

  void run() {
    const std::uint8_t flags = byte();
    threads_ = (flags & 1) != 0;
    db_.registry = Registry::create(db_, {});
    for (std::size_t n = 0; pos_ < size_ && n < cfg_.max_ops; ++n) step();
  }

 private:
  // ---- decoding ----

  std::uint8_t byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  std::size_t cell_arg() { return byte() % (oracle_.cells.empty() ? 1 : oracle_.cells.size()); }
  // The durability an op asks for. Without kGcDurable, GC and durabilities above low do not
  // meet: while GC is on every write is low (see kGcDurable).
  relish::Durability durability_of(std::uint8_t b) {
    const auto d = static_cast<relish::Durability>(b % 3);
    if (d != relish::Durability::low && reclaim_after_ != 0 && !(cfg_.ops & op_bit(kGcDurable)))
      return relish::Durability::low;
    if (d != relish::Durability::low) durable_inputs_ = true;
    return d;
  }

  void step() {
    const Op op = static_cast<Op>(byte() % kOpcodeCount);
    // Arguments are read before the mask check, so a disabled op consumes the same bytes.
    std::uint8_t args[4] = {};
    for (int i = 0; i < arg_count(op); ++i) args[i] = byte();
    if (!(cfg_.ops & op_bit(op))) return;
    // Ops on a cell need one: the first op of an input without cells creates one.
    if (op != kCreate && op != kSetLru && op != kEvict && op != kReclaim && oracle_.cells.empty())
      create(relish::Durability::low);
    dispatch(op, args);
  }

  static int arg_count(Op op) {
    switch (op) {
      case kCreate: return 1;
      case kSetNew: return 3;
      case kSetEqual: return 2;
      case kSetDurability: return 4;
      case kChain: case kThrowing: case kCatchAll: case kTouchy: return 2;
      case kTracked: case kInterned: return 3;
      case kSetLru: return 2;
      case kEvict: return 0;
      case kReclaim: return 1;
      case kThreads: return 2;
      default: return 0;
    }
  }

  void dispatch(Op op, const std::uint8_t* a) {
    const std::size_t n = oracle_.cells.empty() ? 1 : oracle_.cells.size();
    switch (op) {
      case kCreate: create(durability_of(a[0])); break;
      case kSetNew: set_field(a[0] % n, a[1] % 3, a[2], /*equal=*/false, nullptr); break;
      case kSetEqual: set_field(a[0] % n, a[1] % 3, 0, /*equal=*/true, nullptr); break;
      case kSetDurability: {
        const relish::Durability d = durability_of(a[3]);
        set_field(a[0] % n, a[1] % 3, a[2], /*equal=*/false, &d);
        break;
      }
      case kChain: chain(a[0], a[1] % n); break;
      case kThrowing: throwing(a[0], a[1] % n); break;
      case kCatchAll: catch_all(a[0], a[1] % n); break;
      case kTouchy: touchy_op(a[0], a[1] % n); break;
      case kTracked: tracked(a[0], a[1] % n, a[2]); break;
      case kInterned: interned(a[0], a[1] % n, a[2] % n); break;
      case kSetLru: set_lru(a[0], a[1] % 4); break;
      case kEvict: evict(); break;
      case kReclaim: reclaim(a[0] % 4); break;
      case kThreads: threads_op(a[0] % n, a[1]); break;
      default: break;
    }
  }

  // ---- the log and the verdict ----

  void log(std::string line) { log_.push_back(std::move(line)); }

  [[noreturn]] void fail(const std::string& why) {
    std::string msg = "relish fuzz: MISMATCH: " + why + "\nop sequence (" +
                      std::to_string(log_.size()) + " ops):\n";
    for (std::size_t i = 0; i < log_.size(); ++i)
      msg += "  " + std::to_string(i) + ": " + log_[i] + "\n";
    if (cfg_.abort_on_failure) {
      std::fputs(msg.c_str(), stderr);
      std::fflush(stderr);
      std::abort();
    }
    throw Failure(msg);
  }

  static std::string describe(const Expect& e) {
    std::string s = e.value ? std::to_string(*e.value) : "throws UserError";
    if (e.alt) s += " or " + std::to_string(*e.alt);
    if (e.touchy_ok) s += " or throws TouchyError";
    if (e.relish_ok) s += " or throws relish::Error";
    return s;
  }

  void check(const std::string& what, const Outcome& got, const Expect& want) {
    queries_ran_ = true;
    log(what + " -> " + relish_fuzz::describe(got));
    bool ok = false;
    switch (got.kind) {
      case Outcome::value: ok = (want.value && got.v == *want.value) || (want.alt && got.v == *want.alt); break;
      case Outcome::user_error: ok = !want.value; break;
      case Outcome::touchy_error: ok = want.touchy_ok; break;
      case Outcome::stale:
      case Outcome::relish_error: ok = want.relish_ok; break;
      case Outcome::other: ok = false; break;
    }
    if (!ok) fail(what + ": relish " + relish_fuzz::describe(got) + ", oracle " + describe(want));
  }

  // A condition on handles (identity, staleness) rather than on a value.
  void require(bool ok, const std::string& what) {
    if (!ok) fail(what);
  }

  // ---- writes ----

  void create(relish::Durability d) {
    if (oracle_.cells.size() >= kMaxCells) {
      log("create (skipped: " + std::to_string(kMaxCells) + " cells)");
      return;
    }
    const CellData v{1, 1, 0};
    log("create cell" + std::to_string(cells_.size()) + " {a=1, b=1, w=0} " +
        relish::to_string(d));
    cells_.push_back(Cell::create(db_, v, d));
    oracle_.cells.push_back(v);
    oracle_.touchy_seen_7.push_back(false);
    // The list is itself an input: queries over "all cells" see the new one through it.
    db_.registry.set(db_, &RegistryData::cells, cells_);
  }

  static std::int64_t CellData::*field_ptr(std::uint32_t f) {
    switch (f) {
      case 0: return &CellData::a;
      case 1: return &CellData::b;
      default: return &CellData::w;
    }
  }

  void set_field(std::size_t c, std::uint32_t f, std::uint8_t raw, bool equal,
                 const relish::Durability* d) {
    std::int64_t CellData::*m = field_ptr(f);
    std::int64_t& slot = oracle_.cells[c].*m;
    // A "new" value is never the current one (small values: backdating happens often).
    const std::int64_t v = equal ? slot : (raw % 16 == slot ? (slot + 1) % 16 : raw % 16);
    log(std::string(equal ? "set-equal" : "set") + " cell" + std::to_string(c) + "." +
        "abw"[f] + " = " + std::to_string(v) + (d ? std::string(" ") + relish::to_string(*d) : ""));
    const Outcome o = capture([&] {
      if (d)
        cells_[c].set(db_, m, v, *d);
      else
        cells_[c].set(db_, m, v);
      return 0;
    });
    if (o.kind != Outcome::value) fail("a write threw: " + relish_fuzz::describe(o));
    slot = v;
    if (oracle_.touchy(c) == 7) oracle_.touchy_seen_7[c] = true;
  }

  // ---- query shapes ----

  void chain(std::uint8_t shape, std::size_t c) {
    const std::string cs = "cell" + std::to_string(c);
    switch (shape % 4) {
      case 0:
        check("leaf(" + cs + ")", capture([&] { return leaf(db_, cells_[c]); }),
              is(oracle_.leaf(c)));
        break;
      case 1:
        check("mid(" + cs + ")", capture([&] { return mid(db_, cells_[c]); }), is(oracle_.mid(c)));
        break;
      case 2: {
        const std::uint32_t k = (shape / 4) % 3;
        check("sum(" + std::to_string(k) + ")", capture([&] { return sum(db_, k); }),
              is(oracle_.sum(k)));
        break;
      }
      default:
        check("top()", capture([&] { return top(db_); }), is(oracle_.top()));
    }
  }

  void throwing(std::uint8_t shape, std::size_t c) {
    const std::string cs = "cell" + std::to_string(c);
    if (shape % 2 == 0)
      check("div(" + cs + ")", capture([&] { return div(db_, cells_[c]); }), is(oracle_.div(c)));
    else
      check("div_plus(" + cs + ")", capture([&] { return div_plus(db_, cells_[c]); }),
            is(oracle_.div_plus(c)));
  }

  void catch_all(std::uint8_t shape, std::size_t c) {
    if (shape % 3 == 0) {
      check("catch_div(cell" + std::to_string(c) + ")",
            capture([&] { return catch_div(db_, cells_[c]); }), is(oracle_.catch_div(c)));
    } else if (shape % 3 == 1) {
      // touchy(c) may throw TouchyError while backdating (see touchy_op): catch_touchy then
      // legitimately returns its fallback.
      const bool may_throw = oracle_.touchy_seen_7[c];
      check("catch_touchy(cell" + std::to_string(c) + ")",
            capture([&] { return catch_touchy(db_, cells_[c]); }),
            is_or(oracle_.touchy(c), may_throw ? Maybe(-1) : std::nullopt));
    } else {
      const std::uint32_t k = (shape / 3) % 3;
      check("catch_sum(" + std::to_string(k) + ")", capture([&] { return catch_sum(db_, k); }),
            is(oracle_.catch_sum(k)));
    }
  }

  void touchy_op(std::uint8_t shape, std::size_t c) {
    const std::string cs = "cell" + std::to_string(c);
    // A memo of touchy(c) holds some earlier value of it: only if a 7 was ever among them (or
    // is the current one) may backdating compare with a 7 and throw.
    const bool may_throw = oracle_.touchy_seen_7[c];
    const std::int64_t t = oracle_.touchy(c);
    if (shape % 3 == 0) {
      check("touchy(" + cs + ")", capture([&] { return touchy(db_, cells_[c]).v; }),
            is_or_touchy(t, may_throw));
    } else if (shape % 3 == 1) {
      check("touchy_plus(" + cs + ")", capture([&] { return touchy_plus(db_, cells_[c]); }),
            is_or_touchy(t + 100, may_throw));
    } else {
      // The key's lookup compares it with an equal earlier key: throws if that is a 7.
      check("touchy_key(Touchy{" + std::to_string(t) + "})",
            capture([&] { return touchy_key(db_, Touchy{t}); }), is_or_touchy(3 * t, t == 7));
    }
  }

  // Tracked structs. Kept handles (slot 0..3) remember which (cell, i) they were created as;
  // reading one first brings its creator up to date, then the handle must be that entity's
  // current handle (and read the right value) or be stale.
  struct Kept {
    Ent handle;
    std::size_t cell = 0;
    std::uint32_t i = 0;
    bool set = false;
  };

  void tracked(std::uint8_t shape, std::size_t c, std::uint8_t slot_arg) {
    const std::string cs = "cell" + std::to_string(c);
    switch (shape % 3) {
      case 0:
        check("ents_sum(" + cs + ")", capture([&] { return ents_sum(db_, cells_[c]); }),
              is(oracle_.ents_sum(c)));
        break;
      case 1: keep_entity(c, slot_arg); break;
      default: read_kept(slot_arg % kKept); break;
    }
  }

  // ents(c) in relish, checked against the oracle's count; nullopt if it threw (as expected).
  std::optional<std::vector<Ent>> current_ents(std::size_t c) {
    const std::string what = "ents(cell" + std::to_string(c) + ")";
    std::vector<Ent> got;
    const Outcome o = capture([&] {
      got = ents(db_, cells_[c]);
      return static_cast<std::int64_t>(got.size());
    });
    const auto n = oracle_.ents(c);
    check(what + ".size()", o, is(n ? Maybe(*n) : std::nullopt));
    if (!n) return std::nullopt;
    for (std::size_t x = 0; x < got.size(); ++x)
      for (std::size_t y = x + 1; y < got.size(); ++y)
        require(got[x] != got[y], what + " returned the same handle twice");
    return got;
  }

  void keep_entity(std::size_t c, std::uint8_t arg) {
    auto list = current_ents(c);
    if (!list || list->empty()) return;
    const std::uint32_t i = (arg / kKept) % list->size();
    Kept& k = kept_[arg % kKept];
    k = Kept{(*list)[i], c, i, true};
    log("  keep slot" + std::to_string(arg % kKept) + " = " + k.handle.debug_name() + " (cell" +
        std::to_string(c) + ", i=" + std::to_string(i) + ")");
  }

  void read_kept(std::size_t slot) {
    const Kept& k = kept_[slot];
    if (!k.set) return;
    const std::string what = "ent_val(slot" + std::to_string(slot) + " " + k.handle.debug_name() + ")";
    auto list = current_ents(k.cell);
    const bool live = list && k.i < list->size() && (*list)[k.i] == k.handle;
    if (list && k.i < list->size()) {
      // The entity (cell, i) exists now: its current handle reads the right value...
      check("ent_val(current " + (*list)[k.i].debug_name() + ")",
            capture([&] { return ent_val(db_, (*list)[k.i]); }), is(oracle_.ent_val(k.cell, k.i)));
    }
    // ...and the kept one is either that handle or stale, never another entity's value.
    if (live) {
      check(what, capture([&] { return ent_val(db_, k.handle); }),
            is(oracle_.ent_val(k.cell, k.i)));
    } else {
      const Outcome o = capture([&] { return ent_val(db_, k.handle); });
      log(what + " -> " + relish_fuzz::describe(o) + " (expected stale)");
      require(o.kind == Outcome::stale,
              what + ": a deleted entity's handle gave " + relish_fuzz::describe(o) +
                  " instead of StaleHandleError");
    }
  }

  void interned(std::uint8_t shape, std::size_t c1, std::size_t c2) {
    if (shape % 2 == 0) {
      check("via_name(cell" + std::to_string(c1) + ")",
            capture([&] { return via_name(db_, cells_[c1]); }), is(oracle_.via_name(c1)));
      return;
    }
    // Same data, same handle; different data, different handles (in the same revision).
    Name n1, n2;
    const Outcome o = capture([&] {
      n1 = name(db_, cells_[c1]);
      n2 = name(db_, cells_[c2]);
      return name_val(db_, n1) * 100 + name_val(db_, n2);
    });
    const std::string what =
        "name(cell" + std::to_string(c1) + ") vs name(cell" + std::to_string(c2) + ")";
    check(what, o, is(oracle_.via_name(c1) * 100 + oracle_.via_name(c2)));
    const NameData d1 = oracle_.name(c1), d2 = oracle_.name(c2);
    const bool same_data = d1.x == d2.x && d1.y == d2.y;
    require((n1 == n2) == same_data, what + ": handles " + n1.debug_name() + ", " +
                                         n2.debug_name() + " but the data is " +
                                         (same_data ? "equal" : "different"));
  }

  // ---- memory policies ----

  void set_lru(std::uint8_t which, std::size_t cap) {
    static constexpr const char* kNames[] = {"leaf", "mid", "sum", "ents", "name", "touchy"};
    log("set_lru(" + std::string(kNames[which % 6]) + ", " + std::to_string(cap) + ")");
    switch (which % 6) {
      case 0: leaf.set_lru(db_, cap); break;
      case 1: mid.set_lru(db_, cap); break;
      case 2: sum.set_lru(db_, cap); break;
      case 3: ents.set_lru(db_, cap); break;
      case 4: name.set_lru(db_, cap); break;
      default: touchy.set_lru(db_, cap); break;
    }
  }

  void evict() {
    log("trigger_lru_eviction()");
    const Outcome o = capture([&] {
      db_.trigger_lru_eviction();
      return 0;
    });
    if (o.kind != Outcome::value) fail("trigger_lru_eviction threw: " + relish_fuzz::describe(o));
  }

  void reclaim(std::uint32_t after) {
    // Turning GC on once values may have been interned without it: gated (see kLateGc).
    if (after != 0 && reclaim_after_ == 0 && queries_ran_ && !(cfg_.ops & op_bit(kLateGc))) {
      log("Name::set_reclaim_after(" + std::to_string(after) + ") (skipped: late-gc is off)");
      return;
    }
    if (after != 0 && reclaim_after_ == 0 && durable_inputs_ && !(cfg_.ops & op_bit(kGcDurable))) {
      log("Name::set_reclaim_after(" + std::to_string(after) + ") (skipped: gc-durable is off)");
      return;
    }
    reclaim_after_ = after;
    log("Name::set_reclaim_after(" + std::to_string(after) + ")");
    Name::set_reclaim_after(db_, after);
  }

  // ---- threads ----

  // Two threads compute top() and via_name(c) while this one sets cell c's `a`. Each reader
  // retries on relish::Cancelled; once the write is done, every reader's last answer must be
  // the oracle's for the state it saw (before or after the write), and a final read after
  // joining must be the new state's. Only with flag bit 0 (it is slow and nondeterministic).
  void threads_op(std::size_t c, std::uint8_t raw) {
    if (!threads_) return;
    const std::int64_t before_top = oracle_.top(), before_name = oracle_.via_name(c);
    Oracle after = oracle_;
    const std::int64_t old_a = after.cells[c].a;
    after.cells[c].a = raw % 16 == old_a ? (old_a + 1) % 16 : raw % 16;
    const std::int64_t after_top = after.top(), after_name = after.via_name(c);
    log("threads: 2 readers of top(), via_name(cell" + std::to_string(c) + ") while set cell" +
        std::to_string(c) + ".a = " + std::to_string(after.cells[c].a));

    std::atomic<bool> bad{false};
    std::string bad_what;
    std::atomic<int> started{0};
    auto reader = [&](int which) {
      started.fetch_add(1);
      for (int round = 0; round < 3; ++round) {
        for (;;) {
          try {
            const std::int64_t got = which == 0 ? top(db_) : via_name(db_, cells_[c]);
            const std::int64_t b = which == 0 ? before_top : before_name;
            const std::int64_t a = which == 0 ? after_top : after_name;
            if (got != b && got != a && !bad.exchange(true))
              bad_what = "reader " + std::to_string(which) + " got " + std::to_string(got) +
                         ", expected " + std::to_string(b) + " or " + std::to_string(a);
            break;
          } catch (const relish::Cancelled&) {
            continue;  // a write is pending: retry in the new revision
          } catch (const std::exception& e) {
            if (!bad.exchange(true)) bad_what = std::string("reader threw: ") + e.what();
            break;
          }
        }
      }
    };
    std::thread t0(reader, 0), t1(reader, 1);
    while (started.load() < 2) std::this_thread::yield();
    const Outcome w = capture([&] {
      cells_[c].set(db_, &CellData::a, after.cells[c].a);
      return 0;
    });
    t0.join();
    t1.join();
    if (w.kind != Outcome::value) fail("a write under readers threw: " + relish_fuzz::describe(w));
    oracle_ = std::move(after);
    if (bad) fail(bad_what);
    check("top() after threads", capture([&] { return top(db_); }), is(oracle_.top()));
  }

  static constexpr std::size_t kMaxCells = 4;
  static constexpr std::size_t kKept = 4;

  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
  Config cfg_;
  bool threads_ = false;
  bool queries_ran_ = false;      // some query ran (and may have interned a Name)
  bool durable_inputs_ = false;   // some input was written with durability above low
  std::uint32_t reclaim_after_ = 0;
  Db db_;
  std::vector<Cell> cells_;
  Oracle oracle_;
  Kept kept_[kKept];
  std::vector<std::string> log_;
};

// Runs one input. Returns 0 (libFuzzer's convention); a mismatch aborts or throws Failure.
inline int replay(const std::uint8_t* data, std::size_t size, const Config& cfg = {}) {
  Replayer(data, size, cfg).run();
  return 0;
}

}  // namespace relish_fuzz

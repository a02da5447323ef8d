// An event log for scenario tests, after salsa's tests/common/mod.rs: install it on a
// database, run queries, then assert the exact list of what the engine did.
//
//   relish_test::EventLog log(db);
//   leaf(db, n);
//   CHECK(log.take() == Log{"will_execute leaf(Num#0)"});
//   n.set(db, &NumData::value, 2);
//   leaf(db, n);
//   CHECK(log.executed() == Log{"leaf(Num#0)"});
//
// Each entry is "<event kind> <Database::describe(key)>". relish names entities and keys
// without namespaces, but a key's type may still carry them inside template arguments: those of
// types the tests declare in an anonymous namespace (to keep test files from clashing) are
// dropped, so the expected logs read like the names in the source.
#pragma once

#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include <relish/relish.hpp>

namespace relish_test {

using Log = std::vector<std::string>;

// `s` without anonymous-namespace qualifiers: "<{anonymous}::Num>" -> "<Num>".
inline std::string strip_anonymous(std::string s) {
  for (std::string_view marker : {std::string_view("{anonymous}::"),
                                  std::string_view("(anonymous namespace)::")}) {
    for (auto at = s.find(marker); at != std::string::npos; at = s.find(marker))
      s.erase(at, marker.size());
  }
  return s;
}

// Database::describe(key), as the tests spell it.
inline std::string describe(const relish::Database& db, relish::DatabaseKey key) {
  return strip_anonymous(db.describe(key));
}

// Runs `f`, which must throw an `E`, and returns its message as the tests spell it (or a
// message saying what happened instead, so that a CHECK on it fails readably).
template <class E, class F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return strip_anonymous(e.what());
  } catch (const std::exception& e) {
    return std::string("<unexpected exception: ") + e.what() + ">";
  }
  return "<no exception>";
}

class EventLog {
 public:
  // What a log records: what the engine did (the default), or every event.
  enum class Record { outcomes, everything };

  // The events for tracing, left out of an `outcomes` log: the end of an execution (it always
  // follows its will_execute), the start and end of a deep verification (around a
  // did_validate_memoized_value or a re-execution), rounds, waits and cancellations. Tests
  // that look at those record `everything`.
  static bool for_tracing(relish::EventKind k) {
    using K = relish::EventKind;
    return k == K::did_execute || k == K::will_verify || k == K::did_verify ||
           k == K::will_iterate_cycle || k == K::will_block_on || k == K::did_cancel;
  }

  // Records the events of `db` from now on, until the log is destroyed.
  explicit EventLog(relish::Database& db, Record what = Record::outcomes) : db_(db) {
    db_.on_event([this, what](const relish::Event& e) {
      if (what == Record::outcomes && for_tracing(e.kind)) return;
      entries_.push_back(std::string(relish::to_string(e.kind)) + " " + describe(db_, e.key));
    });
  }
  EventLog(const EventLog&) = delete;
  EventLog& operator=(const EventLog&) = delete;
  ~EventLog() { db_.on_event({}); }

  // Everything recorded so far.
  const Log& entries() const noexcept { return entries_; }

  // Everything recorded so far; the log starts afresh.
  Log take() {
    Log out = std::move(entries_);
    entries_.clear();
    return out;
  }
  void clear() { entries_.clear(); }

  // The keys of the events of one kind, in order: "leaf(Num#0)".
  Log of_kind(relish::EventKind kind) const {
    const std::string prefix = std::string(relish::to_string(kind)) + " ";
    Log out;
    for (const auto& e : entries_)
      if (e.starts_with(prefix)) out.push_back(e.substr(prefix.size()));
    return out;
  }
  Log executed() const { return of_kind(relish::EventKind::will_execute); }
  Log validated() const { return of_kind(relish::EventKind::did_validate_memoized_value); }
  Log accepted() const { return of_kind(relish::EventKind::did_accept_clean); }
  Log backdated() const { return of_kind(relish::EventKind::did_backdate); }

 private:
  relish::Database& db_;
  Log entries_;
};

}  // namespace relish_test

// relish/event.hpp: what the engine tells an observer it is doing.
//
// Install a callback with `Database::on_event`. Tests use it to assert *which* queries ran
// after an edit; tools use it for tracing. Events are only produced off the hot path: a memo
// hit verified in the current revision emits nothing.
#pragma once

#include <cstdint>

#include "relish/detail/ids.hpp"

namespace relish {

enum class EventKind : std::uint8_t {
  will_execute,                 // a query's function is about to run
  did_execute,                  // ...and has returned (or thrown): pairs with will_execute
  did_validate_memoized_value,  // a memo from an older revision was verified without running
  did_accept_clean,             // ...was outside every later write's cone: accepted in O(1)
  did_backdate,                 // a query re-ran and produced a value equal to the old one
  did_set_input,                // an input field was set (a new revision started)
  did_discard,                  // a tracked struct was not re-created and is deleted
  did_evict,                    // a memo's value was dropped (LRU or budget); deps are kept
  did_reclaim,                  // an interned value was garbage-collected
  // Spans and waits, for tracing (TraceWriter, trace.hpp) and counters (counters.hpp):
  will_verify,         // deep verification of a memo from an older revision starts
  did_verify,          // ...and ends (every exit; pairs with will_verify): detail = VerifyEnd
  will_iterate_cycle,  // a fixpoint cycle head starts another round: detail = its iteration (1..)
  will_block_on,       // another thread holds this memo; this one waits: detail = that thread
  did_cancel,          // an execution or verification was unwound by relish::Cancelled
  did_remove_input,    // an input was removed (Input::remove): key = its first field
  did_specify,         // a memo's value was set by the query that created its key (specify)
};

inline constexpr const char* to_string(EventKind k) noexcept {
  switch (k) {
    case EventKind::will_execute: return "will_execute";
    case EventKind::did_execute: return "did_execute";
    case EventKind::did_validate_memoized_value: return "did_validate_memoized_value";
    case EventKind::did_accept_clean: return "did_accept_clean";
    case EventKind::did_backdate: return "did_backdate";
    case EventKind::did_set_input: return "did_set_input";
    case EventKind::did_discard: return "did_discard";
    case EventKind::did_evict: return "did_evict";
    case EventKind::did_reclaim: return "did_reclaim";
    case EventKind::will_verify: return "will_verify";
    case EventKind::did_verify: return "did_verify";
    case EventKind::will_iterate_cycle: return "will_iterate_cycle";
    case EventKind::will_block_on: return "will_block_on";
    case EventKind::did_cancel: return "did_cancel";
    case EventKind::did_remove_input: return "did_remove_input";
    case EventKind::did_specify: return "did_specify";
  }
  return "?";
}

// How a deep verification ended (Event::detail of did_verify).
enum class VerifyEnd : std::uint32_t {
  unchanged,    // every dependency unchanged: the memo is valid (did_validate_memoized_value)
  conditional,  // unchanged if a cycle head being verified further up is: not recorded
  changed,      // a dependency changed: the memo re-executes next (will_execute follows)
  unwound,      // an exception went through it (cancellation, an error, a restart)
};

struct Event {
  EventKind kind;
  DatabaseKey key;  // Database::describe(key) renders it, e.g. "parsed_module(File#3)"
  // 0 except for: did_verify (a VerifyEnd), will_iterate_cycle (the round about to run, 1 for
  // the first re-run), will_block_on (the thread waited for, as trace tids number them: the
  // owner's id in this database, from 1).
  std::uint32_t detail = 0;
};

// Calls `o.on(event)` for each observer, in order: install several at once with
//   db.on_event(relish::observers(trace, counters));
// The observers must outlive the callback (remove it with db.on_event({}) first).
template <class... Observers>
auto observers(Observers&... o) {
  return [&o...](const Event& e) { (o.on(e), ...); };
}

}  // namespace relish

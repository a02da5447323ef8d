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
  }
  return "?";
}

struct Event {
  EventKind kind;
  DatabaseKey key;  // Database::describe(key) renders it, e.g. "parsed_module(File#3)"
};

}  // namespace relish

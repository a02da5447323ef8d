// relish/trace.hpp: a trace of what the engine did, as Chrome / Perfetto trace JSON (opt-in;
// relish.hpp does not include it).
//
//   relish::TraceWriter trace;
//   db.on_event(relish::observers(trace));       // or db.on_event([&](auto& e) { trace.on(e); })
//   ... run queries, edit inputs, run them again ...
//   db.on_event({});
//   std::ofstream out("trace.json");
//   trace.write(out, db);                         // open in ui.perfetto.dev or chrome://tracing
//
// Every query execution is a span ("cat":"execute"), and so is every deep verification of a
// memo from an older revision ("cat":"verify": after an edit, usually most of the time), named
// as Database::describe names the memo. Spans nest as the calls do, one track per thread.
// Arguments say how a span ended: an execution that backdated or was cancelled, a
// verification's outcome (unchanged, changed, conditional, unwound). Input writes, fixpoint
// rounds, waits for another thread, evictions and cancellations outside a span are instant
// events; O(1) acceptances (did_accept_clean) too if asked for (there are many).
//
// Thread-safe: the engine calls `on` from every thread running queries; each thread appends
// to its own buffer. Call `write` when no query is running.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "relish/database.hpp"
#include "relish/detail/sync.hpp"
#include "relish/event.hpp"
#include "relish/memory_report.hpp"

namespace relish {

struct TraceOptions {
  // Record O(1) acceptances as instant events (one per memo accepted: a large trace).
  bool clean_acceptances = false;
};

class TraceWriter {
 public:
  using Clock = std::chrono::steady_clock;

  explicit TraceWriter(TraceOptions options = {})
      : options_(options), origin_(Clock::now()), serial_(next_serial()) {}
  TraceWriter(const TraceWriter&) = delete;
  TraceWriter& operator=(const TraceWriter&) = delete;

  // The observer: install with Database::on_event (see relish::observers).
  void on(const Event& e) {
    using K = EventKind;
    if (e.kind == K::did_accept_clean && !options_.clean_acceptances) return;
    Buffer& b = buffer();
    const std::int64_t now =
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - origin_).count();
    switch (e.kind) {
      case K::will_execute:
      case K::will_verify:
        b.open.push_back(Span{e.key, e.kind, 0, now, now, 0});
        return;
      case K::did_execute:
        close(b, e.key, K::will_execute, now, 0);
        return;
      case K::did_verify:
        close(b, e.key, K::will_verify, now, e.detail);
        return;
      case K::did_backdate:
        if (mark_open(b, e.key, K::will_execute, kBackdated)) return;
        break;
      case K::did_cancel:
        if (mark_open(b, e.key, K::will_execute, kCancelled) ||
            mark_open(b, e.key, K::will_verify, kCancelled))
          return;
        break;
      case K::did_validate_memoized_value:
        return;  // the verify span says it
      default:
        break;
    }
    b.done.push_back(Span{e.key, e.kind, e.detail, now, now, kInstant});
  }

  // The spans (executions and verifications) recorded so far.
  std::size_t spans() const {
    LockGuard lock(mu_);
    std::size_t n = 0;
    for (const auto& b : buffers_)
      for (const Span& s : b->done) n += (s.flags & kInstant) == 0;
    return n;
  }

  // Forgets everything recorded (spans still open stay open).
  void clear() {
    LockGuard lock(mu_);
    for (auto& b : buffers_) b->done.clear();
  }

  // Writes {"traceEvents":[...],"displayTimeUnit":"ms"}, one event a line. Names come from
  // `label` if given, else Database::describe. Returns the number of events written.
  std::size_t write(std::ostream& out, const Database& db,
                    const std::function<std::string(DatabaseKey)>& label = {}) const {
    LockGuard lock(mu_);
    out << "{\"traceEvents\":[";
    std::size_t n = 0;
    for (const auto& b : buffers_) {
      out << (n++ ? ",\n" : "\n") << R"({"name":"thread_name","ph":"M","pid":1,"tid":)" << b->tid
          << R"(,"args":{"name":"relish thread )" << b->tid << "\"}}";
      for (const Span& s : b->done) {
        const std::string name = label ? label(s.key) : db.describe(s.key);
        out << ",\n{\"name\":\"" << detail::json_escape(name) << "\",\"cat\":\"" << category(s)
            << "\",\"pid\":1,\"tid\":" << b->tid << ",\"ts\":" << micros(s.start);
        if (s.flags & kInstant) {
          out << ",\"ph\":\"i\",\"s\":\"t\",\"args\":{";
          if (s.kind == EventKind::will_iterate_cycle) out << "\"iteration\":" << s.detail;
          if (s.kind == EventKind::will_block_on) out << "\"owner_thread\":" << s.detail;
          out << "}}";
        } else {
          out << ",\"ph\":\"X\",\"dur\":" << micros(s.end - s.start) << ",\"args\":{";
          const char* sep = "";
          if (s.kind == EventKind::will_verify) {
            out << "\"result\":\"" << verify_end(s.detail) << "\"";
            sep = ",";
          }
          if (s.flags & kBackdated) {
            out << sep << "\"backdated\":true";
            sep = ",";
          }
          if (s.flags & kCancelled) {
            out << sep << "\"cancelled\":true";
            sep = ",";
          }
          if (s.flags & kUnclosed) out << sep << "\"unclosed\":true";
          out << "}}";
        }
        ++n;
      }
    }
    out << "\n],\"displayTimeUnit\":\"ms\"}\n";
    return n;
  }

 private:
  static constexpr std::uint8_t kInstant = 1, kBackdated = 2, kCancelled = 4, kUnclosed = 8;

  // A span being recorded or done, or an instant event (kInstant; kind is the event's).
  struct Span {
    DatabaseKey key;
    EventKind kind;  // will_execute or will_verify for spans
    std::uint32_t detail;
    std::int64_t start, end;  // nanoseconds since the writer was made
    std::uint8_t flags;
  };
  struct Buffer {
    std::uint32_t tid = 0;
    std::vector<Span> open;  // innermost last
    std::vector<Span> done;
  };

  static std::uint64_t next_serial() {
    static std::atomic<std::uint64_t> counter{0};
    return counter.fetch_add(1, std::memory_order_relaxed) + 1;
  }

  // This thread's buffer (a writer made later at the same address gets new ones).
  Buffer& buffer() {
    struct Cache {
      std::uint64_t serial = 0;
      Buffer* buffer = nullptr;
    };
    thread_local Cache cache;
    if (cache.serial == serial_) [[likely]]
      return *cache.buffer;
    LockGuard lock(mu_);
    buffers_.push_back(std::make_unique<Buffer>());
    buffers_.back()->tid = static_cast<std::uint32_t>(buffers_.size());
    cache = Cache{serial_, buffers_.back().get()};
    return *cache.buffer;
  }

  // Ends the innermost open span of `kind` for `key`. Spans opened above it and not ended
  // (their end event never came) end with it, marked unclosed.
  static void close(Buffer& b, DatabaseKey key, EventKind kind, std::int64_t now,
                    std::uint32_t detail) {
    for (std::size_t i = b.open.size(); i-- > 0;) {
      if (b.open[i].kind != kind || !(b.open[i].key == key)) continue;
      while (b.open.size() > i) {
        Span s = b.open.back();
        b.open.pop_back();
        s.end = now;
        if (b.open.size() == i) {
          s.detail = detail;
        } else {
          s.flags |= kUnclosed;
        }
        b.done.push_back(s);
      }
      return;
    }
  }

  static bool mark_open(Buffer& b, DatabaseKey key, EventKind kind, std::uint8_t flag) {
    if (b.open.empty() || b.open.back().kind != kind || !(b.open.back().key == key)) return false;
    b.open.back().flags |= flag;
    return true;
  }

  static const char* category(const Span& s) {
    if (s.flags & kInstant) return to_string(s.kind);
    return s.kind == EventKind::will_verify ? "verify" : "execute";
  }

  static const char* verify_end(std::uint32_t d) {
    switch (static_cast<VerifyEnd>(d)) {
      case VerifyEnd::unchanged:
        return "unchanged";
      case VerifyEnd::conditional:
        return "conditional";
      case VerifyEnd::changed:
        return "changed";
      case VerifyEnd::unwound:
        return "unwound";
    }
    return "?";
  }

  // Nanoseconds as microseconds with three decimals ("12.345"), as trace viewers read them.
  static std::string micros(std::int64_t ns) {
    if (ns < 0) ns = 0;
    std::string frac = std::to_string(ns % 1000);
    return std::to_string(ns / 1000) + "." + std::string(3 - frac.size(), '0') + frac;
  }

  using Mutex = detail::Mutex;
  using LockGuard = detail::LockGuard;

  TraceOptions options_;
  Clock::time_point origin_;
  std::uint64_t serial_;
  mutable Mutex mu_;
  std::vector<std::unique_ptr<Buffer>> buffers_;
};

}  // namespace relish

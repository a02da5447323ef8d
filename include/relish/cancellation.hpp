// relish/cancellation.hpp: cancelling one thread's queries without a write.
//
// A server runs each request on a worker thread; the request gets a token, and whoever
// receives "$/cancelRequest" cancels it from another thread. The worker's queries throw
// relish::Cancelled (reason() == Cancelled::Reason::token) where the next query starts
// running or verifying, or at db.check_cancelled() (long loops that call no query should call
// it), leaving no partial memo; the database is untouched, other threads go on. (Plain input
// reads check only for a pending write: the hot path stays one load.)
//
//   // on the worker, before running the request's queries:
//   relish::CancellationToken token = db.cancellation_token();
//   requests.register_token(id, token);          // shared with the message thread
//   try { respond(id, hover(db, file, pos)); }
//   catch (const relish::Cancelled& c) { respond_cancelled(id); }
//
//   // on the message thread:
//   requests.token(id).cancel();
//
// A token stays cancelled: every later query on that thread that runs or verifies throws
// until the thread takes a new token (the next request does); a value already verified in
// this revision may still be returned at top level (the hot path checks nothing). Tokens are
// cheap (one shared flag) and may be copied.
#pragma once

#include <atomic>
#include <memory>
#include <utility>

namespace relish {

class CancellationToken {
 public:
  CancellationToken() = default;  // cancels nothing
  explicit CancellationToken(std::shared_ptr<std::atomic<bool>> flag) : flag_(std::move(flag)) {}

  // From any thread: the token's thread throws Cancelled at its next dependency read.
  void cancel() const noexcept {
    if (flag_) flag_->store(true, std::memory_order_relaxed);
  }
  bool is_cancelled() const noexcept {
    return flag_ && flag_->load(std::memory_order_relaxed);
  }

 private:
  std::shared_ptr<std::atomic<bool>> flag_;
};

}  // namespace relish

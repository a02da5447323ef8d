// relish/error.hpp: the exceptions relish throws.
//
// Every misuse of the library is reported with one of these, never with undefined behaviour.
// Messages name the query or ingredient and the key involved, e.g.
//   "relish: cycle detected: type_of(Expr#3) -> type_of(Expr#7) -> type_of(Expr#3)".
#pragma once

#include <exception>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace relish {

// Base of everything relish throws on purpose. An Error that leaves a query (relish's own, or
// one a query throws) carries the stack of queries it went through, as Salsa's backtraces do:
// `backtrace()` lists them innermost first ("type_of(Expr#7)", "check(File#1)"); empty when
// thrown outside every query. `what()` does not include it; `backtrace_string()` renders it.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error("relish: " + what) {}

  const std::vector<std::string>& backtrace() const noexcept { return backtrace_; }
  std::string backtrace_string() const {
    std::string out;
    for (std::size_t i = 0; i < backtrace_.size(); ++i)
      out += "  " + std::to_string(i) + ": " + backtrace_[i] + "\n";
    return out;
  }
  // The engine sets it once, where the error leaves the innermost query.
  void set_backtrace(std::vector<std::string> queries) { backtrace_ = std::move(queries); }

 private:
  std::vector<std::string> backtrace_;
};

// The API was used in a way it does not allow: setting an input from inside a query, a handle
// used with a database it does not belong to, creating a tracked struct outside a query...
class MisuseError : public Error {
 public:
  using Error::Error;
};

// A handle whose entity no longer exists (a deleted tracked struct, a reclaimed interned value),
// or that was never valid (a default-constructed handle).
class StaleHandleError : public MisuseError {
 public:
  using MisuseError::MisuseError;
};

// A query (transitively) depends on itself and has no cycle recovery. `cycle()` lists the
// participants as "query(key)" strings, starting and ending with the query that closed it.
class CycleError : public Error {
 public:
  explicit CycleError(std::vector<std::string> cycle)
      : Error("cycle detected: " + join(cycle)), cycle_(std::move(cycle)) {}
  const std::vector<std::string>& cycle() const noexcept { return cycle_; }

 private:
  static std::string join(const std::vector<std::string>& parts) {
    std::string out;
    for (const auto& p : parts) {
      if (!out.empty()) out += " -> ";
      out += p;
    }
    return out;
  }
  std::vector<std::string> cycle_;
};

// Thrown inside queries when another thread wants to write (set an input), or when the
// thread's CancellationToken was cancelled (cancellation.hpp): the query unwinds, leaving no
// partial memo. Catch it outside the query to retry the read (in the new revision) or to drop
// the request. Like Salsa's cancellation payload it is not an error: it derives from neither
// relish::Error nor std::exception, so the usual `catch (const std::exception&)` in a query
// lets it through. A query that swallows it anyway (`catch (...)`) gains nothing: an execution
// that saw it never stores its result, and it is rethrown when the query returns.
class Cancelled {
 public:
  enum class Reason : unsigned char {
    pending_write,  // another thread is writing (or the database is being destroyed)
    token,          // this thread's CancellationToken was cancelled (Salsa's Cancelled::Local)
  };
  constexpr Cancelled() = default;
  constexpr explicit Cancelled(Reason r) : reason_(r) {}
  Reason reason() const noexcept { return reason_; }
  const char* what() const noexcept {
    return reason_ == Reason::token ? "relish: query cancelled by its cancellation token"
                                    : "relish: query cancelled by a pending write";
  }

 private:
  Reason reason_ = Reason::pending_write;
};

// A write gave up: other threads stayed inside the database longer than the limit set with
// Database::set_write_wait_limit. Nothing was written. The message names the query one of
// them was running: a query that waits for a thread that writes (a helper thread, a pool)
// would make the write wait forever.
class WriteTimeoutError : public Error {
 public:
  using Error::Error;
};

// Setting an input field of durability never_change (or deleting an input that has one).
class ImmutableInputError : public MisuseError {
 public:
  using MisuseError::MisuseError;
};

}  // namespace relish

// relish/database.hpp: the database that owns every ingredient and the current revision.
//
//   struct Db : relish::Database {            // add your own state (options, a file system)
//     int python_version = 311;
//   };
//   Db db;
//   File f = File::create(db, {.path = "a.py", .text = "x = 1"});
//   source_text(db, f);                       // runs the query
//   f.set(db, &FileData::text, "x = 2");      // new revision
//   source_text(db, f);                       // verifies, re-runs only what the edit affects
//
// Ingredients (one per Input<T> type, Interned<T> type, Tracked<T> type and Query) are
// created on first use.
//
// Threads: any number of threads may run queries on one Database at once (a memo is computed
// once; others wait for it). Setting an input from any thread cancels the queries running on
// the others (they throw relish::Cancelled at their next dependency read) and waits for them
// to unwind. Install the event callback before starting threads; it is called concurrently.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "relish/cancellation.hpp"
#include "relish/detail/runtime.hpp"
#include "relish/event.hpp"

namespace relish {

class Database {
 public:
  Database() = default;
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;
  // Waits for queries running on other threads (they are cancelled). Your derived class's
  // members are destroyed before this runs: stop your own threads first if their queries
  // read them.
  virtual ~Database() { runtime_.shut_down(); }

  // The current revision; every input write starts a new one.
  Revision current_revision() const noexcept { return runtime_.revision(); }

  // Installs an observer of engine events (replacing any previous one); pass {} to remove.
  void on_event(std::function<void(const Event&)> callback) {
    runtime_.set_event_callback(std::move(callback));
  }

  // "parsed_module(File#3)", "File#3.text": a readable name for a node of the graph.
  std::string describe(DatabaseKey key) const { return runtime_.describe(key); }

  // What the memo at `key` read in its last execution, in order (tools: graph dumps).
  std::vector<DatabaseKey> dependencies(DatabaseKey key) const {
    return runtime_.dependencies(key);
  }

  // What the node at `key` records: a memo's verified and changed revisions and durability,
  // an input field's changed revision and durability (tools: graph dumps; see dot.hpp).
  NodeInfo node_info(DatabaseKey key) const { return runtime_.node_info(key); }

  // The name of the query (or input, interned, tracked type) `key` belongs to:
  // "parsed_module" for "parsed_module(File#3)", "File" for "File#3.text".
  std::string ingredient_name(DatabaseKey key) const {
    const detail::IngredientBase* ing = runtime_.find_ingredient_at(key);
    return ing ? ing->name() : std::string("<unknown>");
  }

  // Runs `edits` (input sets and creates) as one write: they start a single revision, queries
  // on other threads are cancelled and waited for once, and revision hooks (eviction, interned
  // GC) run once at the end. A `git checkout` touching thousands of files costs one write.
  // Queries (and top-level reads) are not allowed inside; nested calls join the outer batch.
  // If `edits` throws, what it wrote before the throw stays written, as one revision.
  //
  //   db.write([&] { a.set(db, &FileData::text, new_a); b.set(db, &FileData::text, new_b); });
  template <class Edits>
  void write(Edits&& edits) {
    {
      detail::Runtime::BatchScope batch(runtime_, *this);
      std::forward<Edits>(edits)();
      batch.finish();
    }
    detail::Runtime::rethrow_callback_error(runtime_.local());
  }

  // Applies LRU capacities and byte budgets now instead of at the next revision. References
  // returned by queries may dangle afterwards, as after a write. Not allowed inside a query.
  // Like a write, it waits for queries running on other threads (cancelling them).
  void trigger_lru_eviction() {
    {
      detail::Runtime::WriteScope exclusive(runtime_, *this,
                                            [] { return "cannot trigger LRU eviction"; });
      runtime_.for_each_ingredient([&](detail::IngredientBase& ing) { ing.evict_values(*this); });
    }
    detail::Runtime::rethrow_callback_error(runtime_.local());
  }

  // How long a write (a set, a create that writes, Database::write) waits for queries running
  // on other threads to unwind before giving up with a WriteTimeoutError, having written
  // nothing; std::nullopt (the default) waits as long as it takes. Queries notice a pending
  // write at their next read, so a long wait means one is not reading (a long loop: call
  // check_cancelled in it) or is blocked outside relish, on a thread that may be the very one
  // writing: a query that hands work to a helper thread which sets an input, and joins it, is
  // a deadlock relish cannot tell from a long query. With a limit, it is this error instead,
  // naming the query.
  void set_write_wait_limit(std::optional<std::chrono::milliseconds> limit) noexcept {
    runtime_.set_write_wait_limit(limit ? std::max<std::int64_t>(0, limit->count()) : -1);
  }

  // Throws relish::Cancelled if a write is waiting for running queries to finish, or this
  // thread's token was cancelled. Queries check this whenever they read a dependency; call it
  // in long loops that read none.
  void check_cancelled() const { runtime_.check_cancelled(); }

  // Gives the calling thread a new cancellation token (replacing its previous one) and
  // returns it: `token.cancel()`, from any thread, cancels this thread's queries (see
  // cancellation.hpp). Salsa's CancellationToken, per thread rather than per handle.
  CancellationToken cancellation_token() { return CancellationToken(runtime_.new_token()); }

  // The queries this thread is running (executing or verifying), innermost first:
  // {"type_of(Expr#7)", "check(File#1)"}. Empty outside every query. Salsa's
  // Backtrace::capture; a relish::Error leaving a query carries the same (Error::backtrace).
  std::vector<std::string> backtrace() { return runtime_.backtrace(runtime_.local()); }

  // Engine internals, for relish's own ingredients.
  detail::Runtime& runtime() noexcept { return runtime_; }
  const detail::Runtime& runtime() const noexcept { return runtime_; }

 private:
  detail::Runtime runtime_;
};

// Holds the database for reading at top level, outside any query: writes on other threads
// wait until it is gone (they do not cancel it). References from top-level reads (`get`,
// returns=ref queries) stay valid until the next write; while other threads may write, use
// them inside a ReadScope. A write on this thread while it holds one is a MisuseError.
//
//   { relish::ReadScope read(db); use(f.get(db, &FileData::text)); }
class ReadScope {
 public:
  explicit ReadScope(Database& db) : scope_(db.runtime(), db.runtime().local()) {}

 private:
  detail::Runtime::ReaderScope scope_;
};

}  // namespace relish

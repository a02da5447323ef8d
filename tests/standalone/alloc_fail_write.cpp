// A write that fails to allocate leaves the database usable: no lock held, no pending flag
// raised (port of ../shared/repro/audit/alloc_fail_write.cpp). Its own executable: it replaces
// the global operator new, armed to fail once. A hang is caught by an alarm.
#include <relish/relish.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <new>

#include <unistd.h>

// The replacement operator new below allocates with malloc, so its operator delete frees.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace {
int g_fail_in = -1;  // the allocation that fails: 0 is the next one; -1 none
}  // namespace

void* operator new(std::size_t n) {
  if (g_fail_in >= 0 && g_fail_in-- == 0) throw std::bad_alloc();
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace {
struct D {
  int v = 0;
};
using In = relish::Input<D>;
struct Db : relish::Database {};
int q_fn(Db& db, In i) { return i.get(db, &D::v); }
inline constexpr relish::Query<q_fn> q;
}  // namespace

int main() {
  alarm(20);  // a deadlock ends the test with SIGALRM, a failure for ctest
  int failures = 0;
  Db db;
  In i = In::create(db, {1});
  (void)q(db, i);
  // Each allocation of a write in turn fails: whichever it is, the write is all or nothing,
  // and the database stays usable.
  for (int attempt = 0; attempt < 64; ++attempt) {
    bool threw = false;
    g_fail_in = attempt;
    try {
      i.set(db, &D::v, 100 + attempt);
    } catch (const std::bad_alloc&) {
      threw = true;
    }
    g_fail_in = -1;
    const int want = threw ? i.get(db, &D::v) : 100 + attempt;
    const int got = q(db, i);
    if (got != want || i.get(db, &D::v) != want) {
      std::printf("FAIL attempt %d: q = %d, field = %d, want %d\n", attempt, got,
                  i.get(db, &D::v), want);
      ++failures;
    }
    i.set(db, &D::v, 1);  // the database still takes writes
    if (q(db, i) != 1) ++failures;
  }
  std::printf("%s\n", failures ? "FAILED" : "ok: writes that fail to allocate leave no trace");
  return failures ? 1 : 0;
}

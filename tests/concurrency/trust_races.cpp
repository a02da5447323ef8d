// Threads cannot break what a single thread is promised: a misused handle on one thread does
// not disturb another's reads; top-level reads wait for writers; a memo refilled after LRU
// eviction is published whole; deleted tracked structs stay readable (as deleted) until the
// next revision; a database destroyed while another thread runs a query waits for it.
// Ports of ../shared/repro/audit/{mt_bad_handle_race,mt_toplevel_get_race,mt_lru_refetch_race,
// mt_tracked_field_race,db_destroy_running}.cpp. Run under ThreadSanitizer by test.sh tsan.
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <relish/relish.hpp>

#include "support.hpp"

namespace {

struct FileData {
  std::string text;
};
using File = relish::Input<FileData>;
struct Db : relish::Database {};

std::string bang_fn(Db& db, File f) { return f.get(db, &FileData::text) + "!"; }
inline constexpr relish::Query<bang_fn> bang;

TEST_CASE("trust: a bad handle on one thread does not disturb another thread's hits",
          "[trust][concurrency]") {
  Db db;
  File f = File::create(db, {std::string(100, 'a')});
  (void)bang(db, f);
  std::atomic<bool> stop{false};
  std::atomic<std::size_t> wrong{0};
  std::thread a([&] {
    while (!stop)
      if (bang(db, f).size() != 101) ++wrong;
  });
  int errors = 0;
  for (int k = 0; k < 2000; ++k) {
    try {
      (void)bang(db, File{});
    } catch (const relish::StaleHandleError&) {
      ++errors;
    }
  }
  stop = true;
  a.join();
  CHECK(errors == 2000);
  CHECK(wrong == 0);
}

TEST_CASE("trust: top-level reads inside a ReadScope never race with writers",
          "[trust][concurrency]") {
  Db db;
  File f = File::create(db, {std::string(100, 'a')});
  std::atomic<bool> stop{false};
  std::atomic<std::size_t> bad{0};
  std::thread reader([&] {
    while (!stop) {
      relish::ReadScope scope(db);  // writers on other threads wait for it
      const std::string copy = f.get(db, &FileData::text);
      if (copy.size() < 100 || copy.find_first_not_of(copy[0]) != std::string::npos) ++bad;
    }
  });
  for (int k = 0; k < 2000; ++k)
    f.set(db, &FileData::text, std::string(100 + k % 50, static_cast<char>('a' + k % 26)));
  stop = true;
  reader.join();
  CHECK(bad == 0);
}

struct V {
  int v = 0;
};
using In = relish::Input<V>;
std::atomic<int> g_big_runs{0};
std::atomic<bool> g_big_slow{false};
std::string big_fn(Db& db, In i) {
  std::string s(200, static_cast<char>('a' + i.get(db, &V::v)));
  if (g_big_slow && g_big_runs++ == 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  return s;
}
inline constexpr relish::Query<big_fn, relish::Options{.lru = 1}> big;

TEST_CASE("trust: a memo refilled after LRU eviction is published whole",
          "[trust][concurrency]") {
  Db db;
  In a = In::create(db, {0}), b = In::create(db, {1}), noise = In::create(db, {0});
  (void)big(db, a);
  (void)big(db, b);
  noise.set(db, &V::v, 1);  // LRU keeps one value: big(a)'s goes
  g_big_runs = 0;
  g_big_slow = true;
  std::atomic<int> wrong{0};
  std::thread t1([&] {
    if (big(db, a) != std::string(200, 'a')) ++wrong;
  });
  while (g_big_runs == 0) std::this_thread::yield();
  std::thread t2([&] {
    for (int k = 0; k < 100; ++k)
      if (big(db, a) != std::string(200, 'a')) ++wrong;
  });
  t1.join();
  t2.join();
  g_big_slow = false;
  CHECK(wrong == 0);
}

struct EntData {
  File file;
  relish::TrackedField<std::string> text;
};
using Ent = relish::Tracked<EntData>;
std::vector<Ent> ents_fn(Db& db, File f) {
  const std::string& t = f.get(db, &FileData::text);
  if (t.empty()) return {};
  return {Ent::create(db, {f, t})};
}
inline constexpr relish::Query<ents_fn> ents;
std::size_t len_fn(Db& db, Ent e, int k) {
  try {
    return e.get(db, &EntData::text).size() + static_cast<std::size_t>(k) * 0;
  } catch (const relish::StaleHandleError&) {
    return 0;
  }
}
inline constexpr relish::Query<len_fn> len;

TEST_CASE("trust: a tracked struct deleted while another thread reads it stays readable as "
          "deleted",
          "[trust][concurrency]") {
  for (int round = 0; round < 20; ++round) {
    Db db;
    File f = File::create(db, {std::string(300, 'x')});
    const Ent e = ents(db, f)[0];
    f.set(db, &FileData::text, std::string());  // the creator will not re-create it
    std::atomic<bool> go{false}, stop{false};
    std::atomic<int> odd{0};
    std::thread reader([&] {
      int k = 0;
      while (!go) std::this_thread::yield();
      while (!stop) {
        const std::size_t n = len(db, e, k++);
        if (n != 0 && n != 300) ++odd;
      }
    });
    go = true;
    (void)ents(db, f);
    stop = true;
    reader.join();
    CHECK(odd == 0);
  }
}

// The same with an update: the creator re-creates the entity with a new text while another
// thread reads it through a handle kept from the last revision. The reader first brings the
// creator up to date (waiting for it), so it sees the new text, never a half-written one.
TEST_CASE("trust: a tracked field updated by its creator while another thread reads it",
          "[trust][concurrency]") {
  for (int round = 0; round < 20; ++round) {
    Db db;
    File f = File::create(db, {std::string(300, 'x')});
    const Ent e = ents(db, f)[0];
    f.set(db, &FileData::text, std::string(500, 'y'));
    std::atomic<bool> go{false}, stop{false};
    std::atomic<int> stale{0};
    std::thread reader([&] {
      int k = 0;
      while (!go) std::this_thread::yield();
      while (!stop)
        if (len(db, e, k++) != 500) ++stale;  // this revision's text, whoever runs first
    });
    go = true;
    CHECK(ents(db, f)[0] == e);
    stop = true;
    reader.join();
    CHECK(stale == 0);
  }
}

struct SlowDb : relish::Database {
  In in;
  std::atomic<bool> inside{false};
};
int slow_fn(SlowDb& db) {
  db.inside = true;
  for (int k = 0; k < 400; ++k) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    db.check_cancelled();
  }
  return db.in.get(db, &V::v);
}
inline constexpr relish::Query<slow_fn> slow;

TEST_CASE("trust: destroying a database waits for (and cancels) queries on other threads",
          "[trust][concurrency]") {
  auto db = std::make_unique<SlowDb>();
  db->in = In::create(*db, {1});
  std::atomic<int> outcome{0};
  SlowDb* raw = db.get();
  std::thread t([&outcome, raw] {
    try {
      outcome = slow(*raw);
    } catch (const relish::Cancelled&) {
      outcome = -1;
    }
  });
  while (!raw->inside) std::this_thread::yield();
  db.reset();
  t.join();
  CHECK(outcome == -1);
}

}  // namespace

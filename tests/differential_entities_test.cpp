// Differential test for entities: tracked structs created and deleted by queries, interned
// structs (with garbage collection on) and automatically interned plain-value keys, over
// random edits, checked against evaluation from scratch after every batch of edits.
//
// The program: files (inputs) hold lists of entries (name 0..5, value 0..3). For each file
//   entities(f)        creates one tracked Ent per entry: identity {file, name} (+ occurrence),
//                      tracked fields value (Eq) and pos (NoEq, the entry's position)
//   ent_value(e)       reads e.value                           (keyed on a tracked handle)
//   ent_pos(e)         reads e.pos                             (keyed on a tracked handle)
//   signature(f)       interns Sig{sorted distinct names}      (returns an interned handle)
//   sig_size(s)        reads the Sig                           (keyed on an interned handle)
//   total_for(NameKey) sums the values of that name in every file (keyed on a plain struct)
//   summary(f)         combines them all
//
// Besides values, every step checks what the engine owes about identity and work:
//   - entities(f) re-runs only if f's entries changed since it last ran;
//   - an identity (name, occurrence) present before and after a re-run keeps its handle; a
//     vanished one is discarded (did_discard, exactly those) and its handle throws
//     StaleHandleError; a new one gets a handle distinct from every live one;
//   - ent_value(e) re-runs only for a new entity or when e.value really changed (a NoEq pos
//     change or an equal value never re-runs it);
//   - equal Sig data gives the same handle unless that handle was reclaimed (did_reclaim), and
//     a reclaimed handle throws StaleHandleError.
#include <catch2/catch.hpp>

#include "common/steps.hpp"
#include <relish/relish.hpp>

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/event_log.hpp"

// Set to 1 once the deferred drop of memos keyed on a deleted entity spares a new entity that
// reused the slot in the same revision (see tests/scenarios/tracked_struct_deletion.cpp).
#ifndef RELISH_TEST_SLOT_REUSE_KEEPS_MEMOS
#define RELISH_TEST_SLOT_REUSE_KEEPS_MEMOS 1
#endif

namespace {

struct Entry {
  std::uint8_t name = 0;
  std::uint64_t value = 0;
  friend bool operator==(const Entry&, const Entry&) = default;
};

struct FileData {
  std::vector<Entry> entries;
};
using File = relish::Input<FileData>;

struct EntData {
  File file;
  std::uint8_t name = 0;
  relish::TrackedField<std::uint64_t> value;
  relish::TrackedField<std::uint32_t, relish::NoEq> pos;
};
using Ent = relish::Tracked<EntData>;

struct SigData {
  std::vector<std::uint8_t> names;  // sorted, distinct
};
using Sig = relish::Interned<SigData>;

struct NameKey {  // a plain struct key: no operator==, no hash
  std::uint8_t name = 0;
};

struct Db : relish::Database {
  std::vector<File> files;
};

std::vector<Ent> entities_fn(Db& db, File f) {
  std::vector<Ent> out;
  const auto& entries = f.get(db, &FileData::entries);
  for (std::uint32_t i = 0; i < entries.size(); ++i)
    out.push_back(
        Ent::create(db, {.file = f, .name = entries[i].name, .value = entries[i].value, .pos = i}));
  return out;
}
inline constexpr relish::Query<entities_fn> entities;

std::uint64_t ent_value_fn(Db& db, Ent e) { return e.get(db, &EntData::value) + 1; }
inline constexpr relish::Query<ent_value_fn> ent_value;

std::uint64_t ent_pos_fn(Db& db, Ent e) { return e.get(db, &EntData::pos); }
inline constexpr relish::Query<ent_pos_fn> ent_pos;

Sig signature_fn(Db& db, File f) {
  std::vector<std::uint8_t> names;
  for (Ent e : entities(db, f)) names.push_back(e.get(db, &EntData::name));
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return Sig::intern(db, SigData{std::move(names)});
}
inline constexpr relish::Query<signature_fn> signature;

std::uint64_t sig_size_fn(Db& db, Sig s) { return s.get(db, &SigData::names).size(); }
inline constexpr relish::Query<sig_size_fn> sig_size;

std::uint64_t total_for_fn(Db& db, NameKey k) {
  std::uint64_t sum = 0;
  for (File f : db.files)
    for (Ent e : entities(db, f))
      if (e.get(db, &EntData::name) == k.name) sum += e.get(db, &EntData::value);
  return sum;
}
inline constexpr relish::Query<total_for_fn> total_for;

std::uint64_t summary_fn(Db& db, File f) {
  const std::vector<Ent> ents = entities(db, f);
  std::uint64_t sum = 0;
  for (Ent e : ents) sum += ent_value(db, e);
  std::uint64_t pos_sum = 0;
  for (Ent e : ents) pos_sum += ent_pos(db, e);
  sum += 10 * sig_size(db, signature(db, f));
  if (!ents.empty()) sum += 100 * total_for(db, NameKey{ents.front().get(db, &EntData::name)});
  return sum + 1000 * pos_sum;
}
inline constexpr relish::Query<summary_fn> summary;

// From scratch.
std::uint64_t expected_summary(const std::vector<std::vector<Entry>>& state, std::size_t f) {
  const auto& es = state[f];
  std::uint64_t sum = 0, pos_sum = 0;
  std::set<std::uint8_t> names;
  for (std::size_t i = 0; i < es.size(); ++i) {
    sum += es[i].value + 1;
    pos_sum += i;
    names.insert(es[i].name);
  }
  sum += 10 * names.size();
  if (!es.empty()) {
    std::uint64_t total = 0;
    for (const auto& other : state)
      for (const Entry& e : other)
        if (e.name == es.front().name) total += e.value;
    sum += 100 * total;
  }
  return sum + 1000 * pos_sum;
}

// (name, occurrence of that name) for each entry, in order.
std::vector<std::pair<std::uint8_t, std::uint32_t>> identities(const std::vector<Entry>& es) {
  std::vector<std::pair<std::uint8_t, std::uint32_t>> out;
  std::map<std::uint8_t, std::uint32_t> seen;
  for (const Entry& e : es) out.emplace_back(e.name, seen[e.name]++);
  return out;
}

void mutate(std::mt19937_64& rng, std::vector<Entry>& es) {
  auto random_entry = [&] { return Entry{static_cast<std::uint8_t>(rng() % 6), rng() % 4}; };
  switch (rng() % 6) {
    case 0:
      if (es.size() < 8)
        es.insert(es.begin() + static_cast<long>(rng() % (es.size() + 1)), random_entry());
      break;
    case 1:
      if (!es.empty()) es.erase(es.begin() + static_cast<long>(rng() % es.size()));
      break;
    case 2:  // a value change (maybe to an equal value)
      if (!es.empty()) es[rng() % es.size()].value = rng() % 4;
      break;
    case 3:  // a move: positions (NoEq) change, identities mostly survive
      if (es.size() > 1) std::swap(es[rng() % es.size()], es[rng() % es.size()]);
      break;
    case 4:  // a rename
      if (!es.empty()) es[rng() % es.size()].name = static_cast<std::uint8_t>(rng() % 6);
      break;
    default:  // a whole new list
      es.clear();
      for (std::size_t n = rng() % 6; n > 0; --n) es.push_back(random_entry());
  }
}

// "will_execute ent_value(Ent#3)" -> {"will_execute", "ent_value", 3}
struct Parsed {
  std::string kind, fn;
  std::uint32_t index = 0;
};
Parsed parse_event(const std::string& s) {
  Parsed p;
  const auto sp = s.find(' ');
  p.kind = s.substr(0, sp);
  const std::string rest = s.substr(sp + 1);
  const auto paren = rest.find('(');
  p.fn = paren == std::string::npos ? rest.substr(0, rest.find('#')) : rest.substr(0, paren);
  const auto hash = rest.rfind('#');
  if (hash != std::string::npos)
    p.index = static_cast<std::uint32_t>(std::stoul(rest.substr(hash + 1)));
  return p;
}

void run_seed(std::uint64_t seed, int steps) {
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  Db db;
  constexpr std::uint32_t kReclaimAfter = 3;
  Sig::set_reclaim_after(db, kReclaimAfter);
  const std::size_t n_files = 2 + rng() % 4;
  std::vector<std::vector<Entry>> state(n_files);
  for (std::size_t f = 0; f < n_files; ++f) {
    for (std::size_t n = rng() % 6; n > 0; --n)
      state[f].push_back(Entry{static_cast<std::uint8_t>(rng() % 6), rng() % 4});
    const auto d = rng() % 4 == 0 ? relish::Durability::high : relish::Durability::low;
    db.files.push_back(File::create(db, {state[f]}, d));
  }

  // Shadow of the engine's entities: per file, the entries its entities() last ran on, and
  // the handles it returned.
  std::vector<std::optional<std::vector<Entry>>> ran_on(n_files);
  std::vector<std::vector<Ent>> handles(n_files);
  std::map<std::uint32_t, Ent> live;  // slot -> live entity
  // slot -> has e.value changed since ent_value(e) last ran? (absent: no memo)
  std::map<std::uint32_t, bool> value_dirty;
  std::vector<bool> set_since_run(n_files, true);  // file written since entities() last ran
  std::vector<Ent> dead;                           // some deleted handles, to probe
  std::map<std::string, Sig> sig_of;               // interned data (names as chars) -> its handle
  std::vector<Sig> dead_sigs;

  std::set<std::uint32_t> discarded_last_step;
  relish_test::EventLog log(db);
  std::uint64_t discards = 0, reclaims = 0, reuses = 0, value_reruns = 0, value_validations = 0;

  for (int step = 0; step < steps; ++step) {
    CAPTURE(step);
    // 1. Edits (some are no-ops at the data level but still new revisions).
    const int n_edits = 1 + static_cast<int>(rng() % 2);
    for (int k = 0; k < n_edits; ++k) {
      const std::size_t f = rng() % n_files;
      mutate(rng, state[f]);
      db.files[f].set(db, &FileData::entries, state[f]);  // maybe an equal list: still a write
      set_since_run[f] = true;
    }
    // Reclaims happen at revision boundaries, during the edits.
    for (const std::string& e : log.of_kind(relish::EventKind::did_reclaim)) {
      ++reclaims;
      const std::uint32_t index = parse_event("did_reclaim " + e).index;
      for (auto it = sig_of.begin(); it != sig_of.end();) {
        if (it->second.index() == index) {
          dead_sigs.push_back(it->second);
          it = sig_of.erase(it);
        } else {
          ++it;
        }
      }
    }
    log.clear();
#if !RELISH_TEST_SLOT_REUSE_KEEPS_MEMOS
    // ENGINE BUG (reported): the memos of a slot freed in the last step were dropped at this
    // revision boundary, even those of a new entity that reused the slot meanwhile.
    for (std::uint32_t index : discarded_last_step) value_dirty.erase(index);
#endif

    // 2. Queries: a few files, sometimes all.
    std::vector<std::size_t> queried;
    if (rng() % 8 == 0) {
      for (std::size_t f = 0; f < n_files; ++f) queried.push_back(f);
    } else {
      for (int n = 1 + static_cast<int>(rng() % 2); n > 0; --n) queried.push_back(rng() % n_files);
    }
    for (std::size_t f : queried) {
      CAPTURE(f);
      REQUIRE(summary(db, db.files[f]) == expected_summary(state, f));
    }

    // 3. What happened to entities.
    std::set<std::size_t> reran;
    std::multiset<std::uint32_t> discarded;
    std::vector<std::uint32_t> value_executed;
    for (const std::string& line : log.entries()) {
      const Parsed p = parse_event(line);
      if (p.kind == "did_discard") discarded.insert(p.index);
      if (p.kind == "will_execute" && p.fn == "entities") reran.insert(p.index);
      if (p.kind == "will_execute" && p.fn == "ent_value") value_executed.push_back(p.index);
      if (p.kind == "did_validate_memoized_value" && p.fn == "ent_value") ++value_validations;
    }
    std::multiset<std::uint32_t> expected_discards;
    for (std::size_t f : reran) {
      CAPTURE(f);
      // Not needless: the file was written since the last run.
      REQUIRE(set_since_run[f]);
      set_since_run[f] = false;
      const std::vector<Ent> now = entities(db, db.files[f]);  // a hit: verified this revision
      REQUIRE(now.size() == state[f].size());
      const auto new_ids = identities(state[f]);
      std::map<std::pair<std::uint8_t, std::uint32_t>, Ent> old_by_id;
      if (ran_on[f]) {
        const auto old_ids = identities(*ran_on[f]);
        for (std::size_t i = 0; i < old_ids.size(); ++i) old_by_id[old_ids[i]] = handles[f][i];
      }
      for (std::size_t i = 0; i < now.size(); ++i) {
        auto it = old_by_id.find(new_ids[i]);
        if (it != old_by_id.end()) {
          REQUIRE(now[i] == it->second);  // same identity, same handle
          ++reuses;
          old_by_id.erase(it);
          // Was its value field really changed (an Eq field set to an equal value is not)?
          const auto old_ids = identities(*ran_on[f]);
          const std::size_t old_i = static_cast<std::size_t>(
              std::find(old_ids.begin(), old_ids.end(), new_ids[i]) - old_ids.begin());
          if ((*ran_on[f])[old_i].value != state[f][i].value) {
            if (auto d = value_dirty.find(now[i].index()); d != value_dirty.end()) d->second = true;
          }
        }
        REQUIRE(now[i].get(db, &EntData::name) == state[f][i].name);
        REQUIRE(now[i].get(db, &EntData::value) == state[f][i].value);
        REQUIRE(now[i].get(db, &EntData::pos) == i);
      }
      for (const auto& [id, gone] : old_by_id) {
        expected_discards.insert(gone.index());
        live.erase(gone.index());
        value_dirty.erase(gone.index());
        if (dead.size() < 64) dead.push_back(gone);
      }
      ran_on[f] = state[f];
      handles[f] = now;
    }
    REQUIRE(discarded == expected_discards);
    discarded_last_step = std::set<std::uint32_t>(discarded.begin(), discarded.end());
    discards += discarded.size();
    // New entities are distinct from every other live one.
    for (std::size_t f : reran) {
      for (Ent e : handles[f]) {
        auto [it, inserted] = live.emplace(e.index(), e);
        REQUIRE(it->second == e);
      }
    }
    for (Ent e : dead) {
      if (auto it = live.find(e.index()); it != live.end()) REQUIRE(it->second != e);
      REQUIRE_THROWS_AS(e.get(db, &EntData::name), relish::StaleHandleError);
    }
    // ent_value re-runs only for a new entity or a changed value.
    for (std::uint32_t index : value_executed) {
      CAPTURE(index);
      REQUIRE(live.count(index));
      auto memo = value_dirty.find(index);
      REQUIRE((memo == value_dirty.end() || memo->second));
      value_dirty[index] = false;
      ++value_reruns;
    }

    // 4. Interned signatures: equal data, equal handle (until reclaimed).
    for (std::size_t f : queried) {
      const Sig s = signature(db, db.files[f]);
      std::vector<std::uint8_t> names;
      for (const Entry& e : state[f]) names.push_back(e.name);
      std::sort(names.begin(), names.end());
      names.erase(std::unique(names.begin(), names.end()), names.end());
      REQUIRE(s.get(db, &SigData::names) == names);
      auto [it, inserted] = sig_of.emplace(std::string(names.begin(), names.end()), s);
      REQUIRE(it->second == s);
      // (Not Sig::intern here: interning outside a query makes a value immortal.)
    }
    for (Sig s : dead_sigs) REQUIRE_THROWS_AS(s.get(db), relish::StaleHandleError);
    if (dead_sigs.size() > 32) dead_sigs.erase(dead_sigs.begin(), dead_sigs.begin() + 16);
    log.clear();
  }
  // The runs must exercise the interesting paths, not just pass.
  CHECK(discards > 0);
  CHECK(reuses > 0);
  CHECK(reclaims > 0);
  CHECK(value_reruns > 0);
  CHECK(value_validations > 0);
}

}  // namespace

TEST_CASE("random edits over tracked and interned entities match evaluation from scratch",
          "[differential]") {
  const std::uint64_t seeds[] = {1u, 2u, 3u, 7u, 42u, 1234u, 99991u, 8675309u};
  const int steps = relish_test::steps_per_seed(1500, std::size(seeds));
  for (std::uint64_t seed : seeds) run_seed(seed, steps);
}

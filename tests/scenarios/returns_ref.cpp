// returns(ref) hands out a const& into the memo: the same object for every call in a
// revision, and it stays put while other memos of the same query are created.
#include <catch2/catch.hpp>
#include <relish/relish.hpp>

#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "../common/event_log.hpp"

namespace {

using relish_test::EventLog;
using relish_test::Log;

struct NumData {
  std::uint64_t value;
  std::uint64_t other = 0;
};
using Num = relish::Input<NumData>;
struct Db : relish::Database {};

std::string text_fn(Db& db, Num n) {
  return "value " + std::to_string(n.get(db, &NumData::value)) + " and a long enough tail";
}
inline constexpr relish::Query<text_fn, relish::Options{.returns = relish::Returns::ref}> text;
inline constexpr relish::Query<text_fn> text_copy;

// Holds on to a reference obtained inside another query.
std::size_t text_length_fn(Db& db, Num n) {
  const std::string& t = text(db, n);
  const std::string& again = text(db, n);
  return &t == &again ? t.size() : 0;
}
inline constexpr relish::Query<text_length_fn> text_length;

}  // namespace

TEST_CASE("returns(ref) gives the same object for the whole revision", "[scenario]") {
  Db db;
  std::vector<Num> nums;
  for (std::uint64_t i = 0; i < 3000; ++i) nums.push_back(Num::create(db, {.value = i}));

  static_assert(std::is_same_v<decltype(text(db, nums[0])), const std::string&>);
  static_assert(std::is_same_v<decltype(text_copy(db, nums[0])), std::string>);

  const std::string& first = text(db, nums[0]);
  const std::string* const address = &first;
  CHECK(&text(db, nums[0]) == address);

  // Thousands more memos of the same query: the first one does not move.
  for (const Num& n : nums) CHECK(text(db, n) == text_copy(db, n));
  CHECK(&text(db, nums[0]) == address);
  CHECK(first == "value 0 and a long enough tail");
  CHECK(text_length(db, nums[0]) == first.size());

  // After a write the memo is validated (only `other` changed) and still hands out the same
  // object: it was not re-run.
  EventLog log(db);
  nums[0].set(db, &NumData::other, 1);
  log.clear();
  const std::string& after = text(db, nums[0]);
  CHECK(log.take() == Log{"did_accept_clean text(Num#0)"});
  CHECK(&after == address);
  CHECK(after == "value 0 and a long enough tail");
}

// A lambda with `auto` parameters as the query function.
// expect: the lambda has `auto` parameters
#include <relish/relish.hpp>

struct Db : relish::Database {};

inline constexpr auto twice = relish::query([](Db&, auto x) { return 2 * x; });

int main() {
  Db db;
  return twice(db, 1);
}

// A query function with no database parameter at all.
// expect: the query function takes no parameters
#include <relish/relish.hpp>

struct Db : relish::Database {};

int forty_two_fn() { return 42; }
inline constexpr relish::Query<forty_two_fn> forty_two;

int main() {
  Db db;
  return forty_two(db);
}

// A query function whose first parameter is a key, not the database.
// expect: the query function's first parameter is not the database
#include <relish/relish.hpp>

struct Db : relish::Database {};

int twice_fn(int x, Db&) { return 2 * x; }
inline constexpr relish::Query<twice_fn> twice;

int main() {
  Db db;
  return twice(1, db);
}

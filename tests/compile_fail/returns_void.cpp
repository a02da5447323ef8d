// A query function returning nothing.
// expect: the query function returns void
#include <relish/relish.hpp>

struct Db : relish::Database {};

void check_fn(Db&, int) {}
inline constexpr relish::Query<check_fn> check;

int main() {
  Db db;
  check(db, 1);
}

// A lambda that captures, given to relish::query.
// expect: relish::query: pass a captureless lambda
#include <relish/relish.hpp>

struct Db : relish::Database {};

int main() {
  Db db;
  int factor = 2;
  auto scaled = relish::query([factor](Db&, int x) { return factor * x; });
  return scaled(db, 1);
}

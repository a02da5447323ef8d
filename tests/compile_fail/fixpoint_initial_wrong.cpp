// A Fixpoint Initial that leaves out the query's key.
// expect: Initial must be `V initial(Db&, Keys...)`
#include <relish/relish.hpp>

struct Db : relish::Database {};

int reach_fn(Db& db, int x);
int reach_initial(Db&) { return 0; }
inline constexpr relish::Query<reach_fn, relish::Options{}, relish::Fixpoint<reach_initial>> reach;
int reach_fn(Db& db, int x) { return reach(db, x); }

int main() {
  Db db;
  return reach(db, 1);
}

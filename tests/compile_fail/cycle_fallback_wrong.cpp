// A CycleFallback returning another type than the query's value (long for int).
// expect: Fallback must be `V fallback(Db&, Keys...)`
#include <relish/relish.hpp>

struct Db : relish::Database {};

int depth_fn(Db& db, int x);
long depth_fallback(Db&, int) { return -1; }
inline constexpr relish::Query<depth_fn, relish::Options{}, relish::CycleFallback<depth_fallback>>
    depth;
int depth_fn(Db& db, int x) { return depth(db, x) + 1; }

int main() {
  Db db;
  return depth(db, 1);
}

// A specify query keyed on a plain value: only a tracked struct's creator can specify.
// expect: the query must take exactly one key, a relish::Tracked<T>
#include <relish/relish.hpp>

struct Db : relish::Database {};

int size_fn(Db&, int n) { return n; }
inline constexpr relish::Query<size_fn, relish::Options{.specify = true}> size;

int main() {
  Db db;
  return size(db, 1);
}

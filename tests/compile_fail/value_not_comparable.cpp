// A value type without operator==, in a query that backdates (not no_eq).
// expect: the value type (the V of ValueCheck<V> above) cannot be compared
#include <relish/relish.hpp>

#include <vector>

struct Db : relish::Database {};

class Opaque {
 public:
  explicit Opaque(int v) : v_(v) {}
  int v() const { return v_; }

 private:
  int v_;
};

std::vector<Opaque> items_fn(Db&, int n) { return std::vector<Opaque>(1, Opaque(n)); }
inline constexpr relish::Query<items_fn> items;

int main() {
  Db db;
  return items(db, 1).front().v();
}

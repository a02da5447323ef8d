// A Recover with the iteration and the value swapped: with int values both convert, so this
// compiled, never widened and ended in "did not converge after 200 iterations".
// expect: Recover must be `V recover(Db&, const V& value, std::uint32_t iteration, Keys...)`
#include <relish/relish.hpp>

#include <cstdint>

struct Db : relish::Database {};

int grow_fn(Db& db, int x);
int grow_initial(Db&, int) { return 0; }
int grow_recover(Db&, std::uint32_t iteration, int value, int) {
  return iteration > 4 ? 1000 : value;
}
inline constexpr relish::Query<grow_fn, relish::Options{},
                               relish::Fixpoint<grow_initial, grow_recover>>
    grow;
int grow_fn(Db& db, int x) { return grow(db, x) < 1000 ? grow(db, x) + 1 : 1000; }

int main() {
  Db db;
  return grow(db, 1);
}

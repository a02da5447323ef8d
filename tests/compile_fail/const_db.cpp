// A query function taking the database by const reference.
// expect: the query function takes `const Db&`; take `Db&`
#include <relish/relish.hpp>

struct Db : relish::Database {};

int answer_fn(const Db&, int x) { return x; }
inline constexpr relish::Query<answer_fn> answer;

int main() {
  Db db;
  return answer(db, 1);
}

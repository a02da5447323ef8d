// A query function taking the database by value.
// expect: the query function takes the database by value
#include <relish/relish.hpp>

struct Db : relish::Database {};

int answer_fn(Db, int x) { return x; }
inline constexpr relish::Query<answer_fn> answer;

int main() {
  Db db;
  return answer(db, 1);
}

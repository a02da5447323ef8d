// A key taken by non-const reference (relish hands keys to the function as const).
// expect: a key parameter is a non-const reference
#include <relish/relish.hpp>

#include <string>

struct Db : relish::Database {};

std::size_t length_fn(Db&, std::string& s) { return s.size(); }
inline constexpr relish::Query<length_fn> length;

int main() {
  Db db;
  std::string s = "abc";
  return static_cast<int>(length(db, s));
}

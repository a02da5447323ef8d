// A plain key type relish cannot hash: not an aggregate, no AbslHashValue, no std::hash.
// expect: a key type (the K of KeyCheck<K> above) cannot be hashed
#include <relish/relish.hpp>

#include <string>
#include <utility>

struct Db : relish::Database {};

class Path {
 public:
  explicit Path(std::string s) : s_(std::move(s)) {}

 private:
  std::string s_;
};

int depth_of(Db&, Path, int) { return 1; }
inline constexpr relish::Query<depth_of> depth;

int main() {
  Db db;
  return depth(db, Path("a/b"), 0);
}

// A key whose field hashes (std::hash) but has no operator==: before the check this failed
// hundreds of lines deep in std::tuple's operator==.
// expect: a key type (the K of KeyCheck<K> above) cannot be compared
#include <relish/relish.hpp>

#include <cstddef>
#include <functional>
#include <string>

struct Db : relish::Database {};

class Symbol {
 public:
  explicit Symbol(int id) : id_(id) {}
  int id() const { return id_; }

 private:
  int id_;
};
template <>
struct std::hash<Symbol> {
  std::size_t operator()(const Symbol& s) const { return std::hash<int>{}(s.id()); }
};

struct Key {
  std::string module;
  Symbol symbol;
};

int resolve_fn(Db&, Key) { return 1; }
inline constexpr relish::Query<resolve_fn> resolve;

int main() {
  Db db;
  return resolve(db, Key{"m", Symbol(1)});
}

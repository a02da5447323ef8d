// Compiled by the package tests: proves a consumer gets relish's headers, C++20 and
// dependencies from relish::relish alone.
#include <relish/relish.hpp>

int main() {
  relish::Database db;
  (void)db;
  return 0;
}

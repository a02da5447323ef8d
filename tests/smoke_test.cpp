// Placeholder until the real unit tests land: the umbrella header compiles under the dev
// flags and a Database can be constructed.
#include <catch2/catch.hpp>
#include <relish/relish.hpp>

TEST_CASE("a database can be constructed", "[smoke]") {
  relish::Database db;
  (void)db;
  SUCCEED();
}

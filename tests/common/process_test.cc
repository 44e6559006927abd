// mi::run: output captured, stdin fed, failures carry the program's stderr.
#include "common/process.h"

#include <catch2/catch.hpp>

#include "common/error.h"

TEST_CASE("run captures stdout and feeds stdin") {
  auto r = mi::run({"cat"}, {.input = "hello"});
  CHECK(r.out == "hello");
  CHECK(r.exit_code == 0);
}

TEST_CASE("a failing program's stderr is in the error") {
  try {
    mi::run({"sh", "-c", "echo broken-thing >&2; exit 3"});
    FAIL("no error thrown");
  } catch (const mi::Error& e) {
    CHECK(e.where == "sh");
    CHECK(std::string(e.what()).find("broken-thing") != std::string::npos);
    CHECK(std::string(e.what()).find("exit 3") != std::string::npos);
  }
}

TEST_CASE("check=false returns the exit code") {
  auto r = mi::run({"sh", "-c", "exit 7"}, {.check = false});
  CHECK(r.exit_code == 7);
}

TEST_CASE("a missing program is named") {
  CHECK_THROWS_WITH(mi::run({"no-such-program-xyz"}), Catch::Contains("no-such-program-xyz"));
  CHECK_FALSE(mi::have_program("no-such-program-xyz"));
  CHECK(mi::have_program("sh"));
}

TEST_CASE("a timeout kills the program") {
  CHECK_THROWS_WITH(mi::run({"sh", "-c", "exec tail -f /dev/null"}, {.timeout_seconds = 1}), Catch::Contains("timed out"));
}

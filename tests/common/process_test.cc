// mi::run: output captured, stdin fed, failures carry the program's stderr.
#include "common/process.h"

#include <pthread.h>
#include <signal.h>

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

TEST_CASE("a child that does not read its stdin gives EPIPE, reported, never SIGPIPE") {
  std::string big(4 << 20, 'x');  // far more than a pipe holds
  // Exits at once without reading: our write gets EPIPE; this process must survive it.
  mi::RunOptions o;
  o.input = big;
  o.check = false;
  auto r = mi::run({"true"}, o);
  CHECK(r.exit_code == 0);
  CHECK(r.input_error.find("broken pipe (EPIPE)") != std::string::npos);
  CHECK(r.input_error.find("of 4194304 bytes") != std::string::npos);
  // A failing child: the EPIPE is part of the error.
  o.check = true;
  CHECK_THROWS_WITH(mi::run({"sh", "-c", "exit 3"}, o),
                    Catch::Contains("exit 3") && Catch::Contains("stdin: broken pipe (EPIPE)"));
  // SIGPIPE is neither left blocked nor pending, nor ignored, afterwards.
  sigset_t mask, pending;
  pthread_sigmask(SIG_BLOCK, nullptr, &mask);
  CHECK_FALSE(sigismember(&mask, SIGPIPE));
  sigpending(&pending);
  CHECK_FALSE(sigismember(&pending, SIGPIPE));
  struct sigaction sa {};
  sigaction(SIGPIPE, nullptr, &sa);
  CHECK(sa.sa_handler == SIG_DFL);
  // A child that reads everything: no input error.
  o.check = true;
  auto ok = mi::run({"wc", "-c"}, o);
  CHECK(ok.input_error.empty());
  CHECK(ok.out.find("4194304") != std::string::npos);
}

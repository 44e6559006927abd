// Catch2's main, shared by every unit test binary. A test whose oracle (a tool, root, a loop
// device) is missing calls mi::test::skip_or_fail (skip.h): under CI that is a failure; elsewhere
// the binary, if nothing failed, exits with kSkipExitCode, which ctest shows as a skip
// (SKIP_RETURN_CODE in tests/CMakeLists.txt), never as a pass.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "skip.h"

int main(int argc, char* argv[]) {
  int rc = Catch::Session().run(argc, argv);
  if (rc == 0 && mi::test::skipped()) return mi::test::kSkipExitCode;
  return rc;
}

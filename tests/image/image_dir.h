// Where the image tier's tests find the outputs the image_build test wrote (a ctest fixture):
// $MI_IMAGE_DIR, which tests/image/CMakeLists.txt sets for each test.
#pragma once
#include <catch2/catch.hpp>
#include <cstdlib>
#include <string>

namespace mi::test {

inline std::string image_dir() {
  const char* d = std::getenv("MI_IMAGE_DIR");
  REQUIRE(d != nullptr);  // set by tests/image/CMakeLists.txt
  return d;
}

}  // namespace mi::test

// A scratch directory under /tmp for one test, removed with everything in it when the test
// ends (tests/ is on every test's include path through mi_test_main).
#pragma once
#include <stdlib.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>

namespace mi::test {

struct TempDir {
  std::string path;
  explicit TempDir(const std::string& name = "mi-test") {
    std::string t = "/tmp/" + name + ".XXXXXX";
    REQUIRE(mkdtemp(t.data()) != nullptr);
    path = t;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

}  // namespace mi::test

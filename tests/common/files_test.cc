// Atomic writes: content and mode as asked, no temporary left behind.
#include "common/files.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>

TEST_CASE("write_file_atomic writes content with the exact mode") {
  auto dir = std::filesystem::temp_directory_path() / ("mi-files-test-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  auto path = (dir / "out.json").string();
  mi::write_file_atomic(path, "one", 0640);
  mi::write_file_atomic(path, "two", 0640);
  CHECK(mi::read_file(path) == "two");
  struct stat st;
  REQUIRE(stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0640);
  int entries = 0;
  for (auto& e : std::filesystem::directory_iterator(dir)) { (void)e; entries++; }
  CHECK(entries == 1);
  std::filesystem::remove_all(dir);
}

TEST_CASE("read_file names a missing file") {
  CHECK_THROWS_WITH(mi::read_file("/nonexistent/x"), Catch::Contains("/nonexistent/x"));
}

// Atomic writes: content and mode as asked, no temporary left behind; the free-space check.
#include "common/files.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "common/error.h"
#include "temp_dir.h"

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

TEST_CASE("temporaries of a killed writer are removed by the next write; a live writer's are kept") {
  auto dir = std::filesystem::temp_directory_path() / ("mi-files-stale-" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  auto path = (dir / "img.qcow2").string();
  // A process that ran and is gone: its pid names the temporary of a "killed build".
  pid_t dead = fork();
  if (dead == 0) _exit(0);
  waitpid(dead, nullptr, 0);
  std::string stale = (dir / (".img.qcow2.tmp." + std::to_string(dead))).string();
  std::string live = (dir / (".img.qcow2.tmp." + std::to_string(getppid()))).string();  // our parent runs
  std::string other = (dir / ".other.tmp.1234567").string();
  for (const auto& f : {stale, live, other}) std::ofstream(f) << "partial";
  mi::write_file_atomic(path, "whole");
  CHECK_FALSE(std::filesystem::exists(stale));
  CHECK(std::filesystem::exists(live));
  CHECK(std::filesystem::exists(other));  // another output's: not ours to remove
  CHECK(mi::read_file(path) == "whole");
  // commit_rename: the temporary's content is what appears under the final name.
  std::string tmp = mi::temp_name_for(path);
  std::ofstream(tmp) << "next";
  mi::commit_rename(tmp, path);
  CHECK(mi::read_file(path) == "next");
  CHECK_FALSE(std::filesystem::exists(tmp));
  CHECK_THROWS_WITH(mi::commit_rename((dir / "missing").string(), path), Catch::Contains("cannot flush"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("require_free_space: enough is quiet; too much names the directory, what is free and what is needed") {
  mi::test::TempDir d("mi-free");
  uint64_t free = mi::free_bytes(d.path);
  CHECK(free > 0);
  CHECK_NOTHROW(mi::require_free_space(d.path, 1, "a byte"));
  try {
    mi::require_free_space(d.path, free + (uint64_t(1) << 40), "the test's terabyte");
    FAIL("no error");
  } catch (const mi::Error& e) {
    CHECK(e.where == d.path);
    CHECK(e.why.find(" MiB free, but the test's terabyte needs about ") != std::string::npos);
    CHECK(e.why.find("; free some space or use another directory") != std::string::npos);
  }
  CHECK_THROWS_WITH(mi::free_bytes(d.path + "/missing"), Catch::Contains("statvfs"));
}

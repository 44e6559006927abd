// `mibuild seed` (builder/seed.cc): the fleet secret file's rules, and the NoCloud seed image
// checked with other people's tools (blkid for the CIDATA label, bsdtar and mtools for the
// files) and read back by mi-firstboot's own user-data parser, as a booting node would.
#include "builder/seed.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "common/error.h"
#include "common/files.h"
#include "common/process.h"
#include "firstboot/config_sources.h"
#include "temp_dir.h"

namespace fs = std::filesystem;

namespace {

struct TempDir : mi::test::TempDir {
  TempDir() : mi::test::TempDir("mi-seed-test") {}
};

unsigned mode_of(const std::string& p) {
  struct stat st {};
  REQUIRE(stat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

std::string label_of(const std::string& image) { return mi::run({"blkid", "-o", "value", "-s", "LABEL", image}).out; }

}  // namespace

TEST_CASE("a new fleet secret is private and is read back; loose modes and directories are refused") {
  TempDir d;
  std::string f = d.path + "/fleet.secret";
  mi::make_fleet_secret(f);
  CHECK(mode_of(f) == 0600);
  std::string s = mi::read_fleet_secret(f);
  CHECK(s.size() == 64);
  CHECK_THROWS_WITH(mi::make_fleet_secret(f), Catch::Contains("already exists"));
  for (unsigned ok : {0600u, 0400u, 0640u, 0440u}) {
    chmod(f.c_str(), ok);
    CHECK(mi::read_fleet_secret(f) == s);
  }
  for (unsigned bad : {0602u, 0660u, 0604u, 0620u, 0644u, 0700u}) {
    chmod(f.c_str(), bad);
    CAPTURE(bad);
    CHECK_THROWS_WITH(mi::read_fleet_secret(f), Catch::Contains("mode") && Catch::Contains("0600"));
  }
  CHECK_THROWS_WITH(mi::read_fleet_secret(d.path), Catch::Contains("is a directory"));
  mi::write_file_atomic(d.path + "/short", "abc\n", 0600);
  CHECK_THROWS_WITH(mi::read_fleet_secret(d.path + "/short"), Catch::Contains("shorter than 16"));
  mi::write_file_atomic(d.path + "/two", "0123456789abcdef\nsecond line\n", 0600);
  CHECK_THROWS_WITH(mi::read_fleet_secret(d.path + "/two"), Catch::Contains("one line"));
}

TEST_CASE("seed fields are checked before anything is written") {
  mi::SeedRequest r;
  r.role = "database";
  CHECK_THROWS_WITH(mi::seed_files(r, "0123456789abcdef"), Catch::Contains("--role"));
  r = {};
  r.node = "bad name";
  CHECK_THROWS_WITH(mi::seed_files(r, "0123456789abcdef"), Catch::Contains("--node"));
  r = {};
  r.control_count = 4;
  CHECK_THROWS_WITH(mi::seed_files(r, "0123456789abcdef"), Catch::Contains("odd"));
  r = {};
  r.peers = {"10.0.0.1", "not-an-ip\n"};
  CHECK_THROWS_WITH(mi::seed_files(r, "0123456789abcdef"), Catch::Contains("--peers"));
}

TEST_CASE("mibuild seed writes a CIDATA ISO and a CIDATA FAT image that mi-firstboot reads back") {
  TempDir d;
  std::string secret = d.path + "/fleet.secret";
  mi::make_fleet_secret(secret);
  std::string want = mi::read_fleet_secret(secret);
  for (const char* format : {"iso", "vfat"}) {
    CAPTURE(format);
    mi::SeedRequest r;
    r.secret_file = secret;
    r.out = d.path + "/out/seed-" + format + ".img";
    r.format = format;
    r.role = "control";
    r.control_count = 3;
    r.wan_join = {"10.1.0.11"};
    mi::write_seed(r);
    CHECK(mode_of(r.out) == 0600);
    CHECK(label_of(r.out) == "CIDATA\n");
    std::string user_data, meta_data;
    if (std::string(format) == "iso") {
      auto list = mi::run({"bsdtar", "-tvf", r.out}).out;
      CHECK(list.find("meta-data") != std::string::npos);
      CHECK(list.find("user-data") != std::string::npos);
      user_data = mi::run({"bsdtar", "-xOf", r.out, "user-data"}).out;
      meta_data = mi::run({"bsdtar", "-xOf", r.out, "meta-data"}).out;
    } else {
      mi::RunOptions o;
      o.env["MTOOLS_SKIP_CHECK"] = "1";
      user_data = mi::run({"mtype", "-i", r.out, "::user-data"}, o).out;
      meta_data = mi::run({"mtype", "-i", r.out, "::meta-data"}, o).out;
    }
    CHECK(meta_data.rfind("instance-id: iid-mi-", 0) == 0);
    mi::firstboot::ConfigLayer L;
    mi::firstboot::parse_user_data(user_data, "seed user-data", &L);
    REQUIRE(L.secret.value);
    CHECK(*L.secret.value == want);
    CHECK(L.role.value == mi::firstboot::Role::control);
    CHECK(L.control_count.value == 3);
    CHECK(L.wan_join.value == std::vector<std::string>{"10.1.0.11"});
    CHECK_FALSE(L.node_name.value);  // each node names itself from its machine-id
    // No temporaries left beside the output.
    for (const auto& e : fs::directory_iterator(d.path + "/out"))
      CHECK(e.path().filename().string().rfind("seed-", 0) == 0);
  }
}

// write_var_seed (builder/live_var.cc): the /var seed of a disk-less boot is a gzip'd newc cpio
// (the kernel's initramfs format) whose entries sit under mi-live/var, its parents first, the
// same bytes for the same tree.
#include "builder/live_var.h"

#include <catch2/catch.hpp>
#include <filesystem>

#include "common/files.h"
#include "common/process.h"
#include "skip.h"
#include "temp_dir.h"

namespace fs = std::filesystem;

TEST_CASE("the /var seed is a gzip'd newc cpio under mi-live/var, the same bytes for the same tree") {
  if (!mi::have_program("bsdtar")) return mi::test::skip_or_fail("bsdtar not found (libarchive-tools)");
  mi::test::TempDir d("mi-var-seed-test");
  fs::create_directories(d.path + "/var/lib/mi");
  mi::write_file_atomic(d.path + "/var/lib/mi/x", "x\n");
  fs::create_symlink("../run", d.path + "/var/run");
  fs::create_directories(d.path + "/var/tmp");
  fs::permissions(d.path + "/var/tmp", fs::perms(01777));
  mi::write_var_seed(d.path + "/var", d.path + "/a.cpio.gz", 1764000000);
  mi::write_var_seed(d.path + "/var", d.path + "/b.cpio.gz", 1764000000);
  CHECK(mi::read_file(d.path + "/a.cpio.gz") == mi::read_file(d.path + "/b.cpio.gz"));
  CHECK(mi::run({"bsdtar", "-tf", d.path + "/a.cpio.gz"}).out ==
        "mi-live\nmi-live/var\nmi-live/var/lib\nmi-live/var/lib/mi\nmi-live/var/lib/mi/x\nmi-live/var/run\n"
        "mi-live/var/tmp\n");
  std::string listing = mi::run({"bsdtar", "-tvf", d.path + "/a.cpio.gz"}).out;
  CHECK(listing.find("drwxrwxrwt") != std::string::npos);  // /var/tmp's mode, sticky bit and all
  CHECK(listing.find("mi-live/var/run -> ../run") != std::string::npos);
  CHECK(mi::run({"gzip", "-dc", d.path + "/a.cpio.gz"}).out.substr(0, 6) == "070701");  // newc magic
}

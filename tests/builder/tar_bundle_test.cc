// write_tar (builder/tar_bundle.cc): entries come out sorted, owned by 0:0 with no names, at
// the epoch, read back by bsdtar; gzip output has no time in its header; a missing input or
// two entries of one name leave no output behind.
#include "builder/tar_bundle.h"

#include <catch2/catch.hpp>
#include <filesystem>

#include "common/error.h"
#include "common/files.h"
#include "common/process.h"
#include "skip.h"
#include "temp_dir.h"

namespace fs = std::filesystem;

namespace {

struct TempDir : mi::test::TempDir {
  TempDir() : mi::test::TempDir("mi-tar-test") {}
};

}  // namespace

TEST_CASE("write_tar sorts its entries, owns them by 0:0 at the epoch, and streams files") {
  if (!mi::have_program("bsdtar")) return mi::test::skip_or_fail("bsdtar not found (libarchive-tools)");
  TempDir d;
  std::string big(3 << 20, 'z');
  mi::write_file_atomic(d.path + "/disk", big);
  for (bool gzip : {false, true}) {
    CAPTURE(gzip);
    std::string out = d.path + (gzip ? "/t.tar.gz" : "/t.tar");
    mi::write_tar(
        out, {{"b/zz", "zz\n"}, {"b/", "", "", 0755, true}, {"a", "", d.path + "/disk"}, {"B", "upper\n", "", 0600}},
        86400 * 365, gzip);
    CHECK(mi::run({"bsdtar", "-tf", out}).out == "B\na\nb/\nb/zz\n");
    mi::RunOptions utc;  // the listing's dates in UTC, its month names in English
    utc.env["TZ"] = "UTC";
    utc.env["LC_ALL"] = "C";
    std::string listing = mi::run({"bsdtar", "-tvf", out}, utc).out;
    CHECK(listing.find("-rw-------  0 0      0           6 Jan  1  1971 B\n") != std::string::npos);
    CHECK(listing.find("drwxr-xr-x  0 0      0           0 Jan  1  1971 b/\n") != std::string::npos);
    CHECK(mi::run({"bsdtar", "-xOf", out, "a"}).out == big);
    CHECK(mi::run({"bsdtar", "-xOf", out, "b/zz"}).out == "zz\n");
    std::string bytes = mi::read_file(out);
    if (gzip) {
      CHECK(bytes.substr(0, 2) == "\x1f\x8b");
      CHECK(bytes.substr(4, 4) == std::string(4, '\0'));
    } else {
      CHECK(bytes.substr(257, 5) == "ustar");
    }
  }
}

TEST_CASE("write_tar leaves nothing behind when an input is missing or a name repeats") {
  TempDir d;
  CHECK_THROWS_WITH(mi::write_tar(d.path + "/t.tar", {{"a", "", d.path + "/missing"}}, 0, false),
                    Catch::Contains("missing") && Catch::Contains("cannot read"));
  CHECK_THROWS_WITH(mi::write_tar(d.path + "/t.tar", {{"a", "1"}, {"a", "2"}}, 0, false),
                    Catch::Contains("two tar entries named 'a'"));
  CHECK(fs::is_empty(d.path));
}

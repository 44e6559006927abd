// write_raw_sparse: the file holds exactly the bytes the DiskReader gives, with zero blocks
// (holes in the images, gaps, and zeros written out in full) left as holes. That the GPT of a
// write_raw_disk() disk reads back with sfdisk is gpt_test's.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <random>

#include "common/error.h"
#include "common/files.h"
#include "disk_files.h"
#include "formats/raw.h"
#include "temp_dir.h"

using namespace mi::test;  // disk_files.h

namespace {

constexpr uint64_t kMiB = 1 << 20;

std::string reader_bytes(const mi::DiskReader& r) {
  std::string s(r.size(), 'x');
  r.read(0, s.size(), reinterpret_cast<uint8_t*>(s.data()));
  return s;
}

}  // namespace

TEST_CASE("raw: the file is the reader's bytes, and a mostly-zero disk stays mostly holes") {
  mi::test::TempDir t("mi-raw-writer");
  std::mt19937 rng(3);
  std::string noise(300000, '\0');
  for (auto& c : noise) c = char(rng());
  std::string a = t.path + "/a", zeros = t.path + "/zeros", out = t.path + "/disk.raw";
  // A sparse image with data off the 4 KiB blocks, and an image of zeros written out in full.
  sparse_file(a, 8 * kMiB, {{100, "head"}, {3 * kMiB + 777, noise}, {8 * kMiB - 1, "z"}});
  mi::write_file_atomic(zeros, std::string(4 * kMiB, '\0'));
  REQUIRE(mi::allocated_bytes(zeros) >= 4 * kMiB);
  mi::DiskSource src{64 * kMiB + 512,
                     {{512, 1000, "", 0, std::string(1000, 'm')},  // memory bytes sharing a block with a's
                      {2048, 8 * kMiB, a, 0, ""},
                      {20 * kMiB, 4 * kMiB, zeros, 0, ""},
                      {30 * kMiB + 512, 4096, a, 3 * kMiB, ""},  // a slice of a file, off the blocks
                      {64 * kMiB, 512, "", 0, std::string(512, 'e')}}};
  mi::DiskReader r(src);
  mi::write_raw_sparse(r, out);
  std::string got = slurp(out);
  REQUIRE(got.size() == src.size);
  REQUIRE(got == reader_bytes(r));
  // Data is ~300 KiB plus a few blocks; the zeros image and every gap are holes.
  CHECK(mi::allocated_bytes(out) < kMiB);

  // Written again over the old file: the same bytes.
  mi::write_raw_sparse(r, out);
  CHECK(slurp(out) == got);
}

TEST_CASE("raw: an empty disk is all hole; an unwritable path is an error naming it") {
  mi::test::TempDir t("mi-raw-writer");
  mi::DiskReader r({16 * kMiB, {}});
  std::string out = t.path + "/empty.raw";
  mi::write_raw_sparse(r, out);
  CHECK(slurp(out) == std::string(16 * kMiB, '\0'));
  CHECK(mi::allocated_bytes(out) == 0);
  try {
    mi::write_raw_sparse(r, t.path + "/no/such/dir/x.raw");
    FAIL("wrote");
  } catch (const mi::Error& e) {
    CHECK(e.where == t.path + "/no/such/dir/x.raw");
  }
}

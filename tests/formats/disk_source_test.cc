// DiskSource / DiskReader: reading the assembled disk from its parts gives exactly the GPT's
// bytes and each image at its partition's offset (zeros elsewhere), in any slicing;
// data_ranges() covers every non-zero byte and leaves out file holes.
#include "formats/disk_source.h"

#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <random>

#include "common/error.h"
#include "disk_files.h"
#include "temp_dir.h"

using namespace mi::test;  // disk_files.h

namespace {}  // namespace

TEST_CASE("the reader gives the raw disk's bytes, in any slicing") {
  mi::test::TempDir t("mi-disk-source");
  std::string esp = t.path + "/esp", root = t.path + "/root", var = t.path + "/var";
  sparse_file(esp, 3 << 20, {{0, "ESP!"}, {(3 << 20) - 3, "end"}});
  sparse_file(root, (5 << 20) + 512, {{4096 * 7, std::string(10000, 'r')}, {(5 << 20) + 100, "tail"}});
  sparse_file(var, 1 << 20, {});  // shorter than its partition, all hole
  auto disk = small_disk();
  // The disk assembled by hand (write_raw_disk() itself streams from a DiskReader).
  std::string want(disk.size_bytes, '\0');
  want.replace(0, 34 * 512, mi::gpt_primary(disk));
  std::string images[] = {esp, root, var};
  for (size_t i = 0; i < 3; i++) {
    std::string img = slurp(images[i]);
    want.replace(disk.partitions[i].first_lba * 512, img.size(), img);
  }
  want.replace(mi::gpt_backup_offset(disk), 33 * 512, mi::gpt_backup(disk));
  mi::DiskReader r(mi::disk_source(disk, {esp, root, var}));
  REQUIRE(r.size() == want.size());
  std::string got(want.size(), 'x');
  r.read(0, got.size(), reinterpret_cast<uint8_t*>(got.data()));
  REQUIRE(got == want);
  std::mt19937 rng(7);
  for (int i = 0; i < 200; i++) {
    uint64_t off = rng() % want.size(), len = rng() % std::min<uint64_t>(want.size() - off, 3 << 20);
    std::string part(len, 'x');
    r.read(off, len, reinterpret_cast<uint8_t*>(part.data()));
    REQUIRE(part == want.substr(off, len));
  }
  // Every non-zero byte lies in a data range; the var image (all hole) adds none.
  auto in_range = [&](uint64_t o) {
    for (auto [a, n] : r.data_ranges())
      if (o >= a && o < a + n) return true;
    return false;
  };
  for (uint64_t o = 0; o < want.size(); o++)
    if (want[o]) REQUIRE(in_range(o));
  for (auto [a, n] : r.data_ranges())
    CHECK_FALSE((a >= disk.partitions[2].first_lba * 512 && a < disk.size_bytes - 33 * 512));
  uint64_t covered = 0;
  for (auto [a, n] : r.data_ranges()) covered += n;
  CHECK(covered < want.size() / 4);  // holes are not data
  CHECK_THROWS_AS(r.read(want.size() - 1, 2, reinterpret_cast<uint8_t*>(got.data())), mi::Error);
}

TEST_CASE("an image larger than its partition, a missing one or a directory is refused by name") {
  mi::test::TempDir t("mi-disk-source");
  auto disk = small_disk();
  std::string big = t.path + "/big", small = t.path + "/small";
  sparse_file(big, 4 << 20, {});
  sparse_file(small, 4096, {});
  try {
    mi::disk_source(disk, {big, small, small});
    FAIL("accepted");
  } catch (const mi::Error& e) {
    CHECK(std::string(e.what()).find(big) != std::string::npos);
    CHECK(std::string(e.what()).find("'esp'") != std::string::npos);
  }
  CHECK_THROWS_AS(mi::disk_source(disk, {small, t.path + "/none", small}), mi::Error);
  CHECK_THROWS_AS(mi::disk_source(disk, {small, t.path, small}), mi::Error);
  CHECK_THROWS_AS(mi::disk_source(disk, {small, small}), mi::Error);
}

TEST_CASE("a file as the disk: size rounded up to a sector, tail zeros") {
  mi::test::TempDir t("mi-disk-source");
  std::string f = t.path + "/f";
  sparse_file(f, 1000, {{998, "zz"}});
  mi::DiskReader r(mi::file_disk_source(f));
  REQUIRE(r.size() == 1024);
  std::string got(1024, 'x');
  r.read(0, 1024, reinterpret_cast<uint8_t*>(got.data()));
  CHECK(got.substr(998, 2) == "zz");
  CHECK(got.substr(1000) == std::string(24, '\0'));
  CHECK(mi::is_zero(reinterpret_cast<const uint8_t*>(got.data()), 998));
  CHECK_FALSE(mi::is_zero(reinterpret_cast<const uint8_t*>(got.data()), 999));
}

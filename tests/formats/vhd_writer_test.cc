// Fixed VHD writer: qemu-img is the oracle (`info -f vpc` reads the format and our exact size,
// `compare` the data against the raw disk padded to that size), and the footer is checked field
// by field against the specification. `qemu-img check` does not support vpc (it reports "This
// image format does not support checks"), so it is no oracle here. A fixed VHD has no magic at
// its start: without -f vpc qemu-img probes it as raw.
#include "formats/vhd_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "common/endian.h"
#include "common/files.h"
#include "common/process.h"
#include "disk_files.h"
#include "formats/raw.h"
#include "skip.h"
#include "temp_dir.h"

using namespace mi::test;  // disk_files.h

namespace {

constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kEpoch = 1764000000;  // SOURCE_DATE_EPOCH of the tests

uint64_t round_mib(uint64_t n) { return (n + kMiB - 1) / kMiB * kMiB; }

// What `qemu-img info -f vpc` says: {format, virtual-size}.
std::pair<std::string, uint64_t> qemu_info(const std::string& path) {
  auto j = nlohmann::json::parse(mi::run({"qemu-img", "info", "-f", "vpc", "--output=json", path}).out);
  return {j.at("format").get<std::string>(), j.at("virtual-size").get<uint64_t>()};
}

// Writes the disk as a VHD twice (same bytes both times) and checks it against qemu-img and the
// specification's footer layout. Returns the VHD's path.
std::string check_vhd(const mi::DiskSource& src, const std::string& dir, const std::string& name) {
  INFO(name);
  mi::DiskReader disk(src);
  uint64_t size = round_mib(src.size);
  mi::VhdOptions o{kEpoch, mi::derive_uuid("vhd-test", name)};
  std::string out = dir + "/" + name + ".vhd";
  mi::write_vhd_fixed(disk, out, o);
  std::string vhd = slurp(out);
  REQUIRE(vhd.size() == size + 512);

  // The data part is the disk, then zeros up to the rounded size.
  std::string raw(size, '\0');
  disk.read(0, src.size, reinterpret_cast<uint8_t*>(raw.data()));
  REQUIRE(vhd.substr(0, size) == raw);
  std::string raw_path = dir + "/" + name + ".raw";
  mi::write_file_atomic(raw_path, raw);

  // Footer, "Hard Disk Footer Format" of the specification.
  auto* f = reinterpret_cast<const uint8_t*>(vhd.data()) + size;
  CHECK(memcmp(f, "conectix", 8) == 0);
  CHECK(mi::get_be32(f + 8) == 0x00000002);              // features: the reserved bit, always set
  CHECK(mi::get_be32(f + 12) == 0x00010000);             // file format version 1.0
  CHECK(mi::get_be64(f + 16) == 0xFFFFFFFFFFFFFFFFull);  // data offset: none for a fixed disk
  CHECK(mi::get_be32(f + 24) == kEpoch - 946684800);     // seconds since 2000-01-01 UTC
  CHECK(memcmp(f + 28, "win ", 4) == 0);
  CHECK(memcmp(f + 36, "Wi2k", 4) == 0);
  CHECK(mi::get_be64(f + 40) == size);  // original size
  CHECK(mi::get_be64(f + 48) == size);  // current size
  auto g = mi::vhd_geometry(size);
  CHECK(mi::get_be16(f + 56) == g.cylinders);
  CHECK(f[58] == g.heads);
  CHECK(f[59] == g.sectors_per_track);
  CHECK(mi::get_be32(f + 60) == 2);  // fixed
  uint32_t sum = 0;
  for (size_t i = 0; i < 512; i++)
    if (i < 64 || i >= 68) sum += f[i];
  CHECK(mi::get_be32(f + 64) == ~sum);
  CHECK(memcmp(f + 68, o.uuid.data(), 16) == 0);
  for (size_t i = 84; i < 512; i++) REQUIRE(f[i] == 0);  // saved state and reserved

  // qemu-img reads the format, our exact size, and the same data as the padded raw disk.
  auto [format, vsize] = qemu_info(out);
  CHECK(format == "vpc");
  CHECK(vsize == size);
  auto cmp = mi::run({"qemu-img", "compare", "-f", "raw", "-F", "vpc", raw_path, out}, {.check = false});
  INFO(cmp.out << cmp.err);
  CHECK(cmp.exit_code == 0);

  // A rebuild gives the same bytes.
  std::string again = dir + "/" + name + ".again.vhd";
  mi::write_vhd_fixed(disk, again, o);
  CHECK(slurp(again) == vhd);
  return out;
}

}  // namespace

TEST_CASE("geometry follows the specification's CHS algorithm in each of its branches") {
  struct Case {
    uint64_t size;
    uint16_t c;
    uint8_t h, s;
  };
  // Worked by hand from the appendix "CHS Calculation" (sectors = size / 512).
  const Case cases[] = {
      {4 * kMiB, 120, 4, 17},          // 8192: 17 spt, cth 481, heads 4
      {100 * kMiB, 1003, 12, 17},      // 204800: cth 12047, heads 12
      {200 * kMiB, 825, 16, 31},       // 409600: heads 24 > 16 → 31 spt, cth 13212
      {1024 * kMiB, 2080, 16, 63},     // 2097152: 31 spt gives cth 67650 ≥ 16384 → 63 spt, cth 33288
      {40960 * kMiB, 20560, 16, 255},  // 83886080 ≥ 65535·16·63: 255 spt, cth 328965
      {4ull << 40, 65535, 16, 255},    // clamped at 65535·16·255 sectors
  };
  for (const auto& c : cases) {
    INFO(c.size);
    auto g = mi::vhd_geometry(c.size);
    CHECK(g.cylinders == c.c);
    CHECK(g.heads == c.h);
    CHECK(g.sectors_per_track == c.s);
  }
}

TEST_CASE("vhd: empty, data at the end, a size off the MiB, random data, a GPT disk") {
  if (!mi::have_program("qemu-img")) return mi::test::skip_or_fail("qemu-img is not installed: no VHD oracle");
  mi::test::TempDir t("mi-vhd");

  SECTION("empty: all a hole but the footer") {
    std::string out = check_vhd({2 * kMiB, {}}, t.path, "empty");
    CHECK(mi::allocated_bytes(out) <= 64 * 1024);
  }
  SECTION("data only in the last sector") {
    check_vhd({5 * kMiB, {{5 * kMiB - 512, 512, "", 0, std::string(512, 'E')}}}, t.path, "end");
  }
  SECTION("3 MiB + 512 rounds up to 4 MiB; its geometry is 120/4/17") {
    uint64_t n = 3 * kMiB + 512;
    std::string out =
        check_vhd({n, {{0, 5, "", 0, "start"}, {3 * kMiB, 512, "", 0, std::string(512, 'T')}}}, t.path, "odd");
    std::string f = slurp(out).substr(4 * kMiB);
    auto* p = reinterpret_cast<const uint8_t*>(f.data());
    CHECK(mi::get_be64(p + 48) == 4 * kMiB);
    CHECK(mi::get_be16(p + 56) == 120);
    CHECK(p[58] == 4);
    CHECK(p[59] == 17);

    // Why the creator app is "win ": with "vpc " (Virtual PC) QEMU sizes the disk by the CHS
    // product instead, 120·4·17 sectors, short of the 4 MiB the footer's current size says.
    std::string vpc = slurp(out);
    auto* q = reinterpret_cast<uint8_t*>(vpc.data()) + 4 * kMiB;
    memcpy(q + 28, "vpc ", 4);
    mi::put_be32(q + 64, 0);
    uint32_t sum = 0;
    for (size_t i = 0; i < 512; i++) sum += q[i];
    mi::put_be32(q + 64, ~sum);
    mi::write_file_atomic(t.path + "/vpc.vhd", vpc);
    CHECK(qemu_info(t.path + "/vpc.vhd").second == 120 * 4 * 17 * 512);
  }
  SECTION("random data from a file, at an offset off the 4 KiB blocks") {
    std::mt19937 rng(42);
    std::string data(1536 * 1024, '\0');
    for (auto& c : data) c = char(rng());
    std::string file = t.path + "/random";
    mi::write_file_atomic(file, data);
    check_vhd({2 * kMiB + 4096, {{1536, data.size(), file, 0, ""}}}, t.path, "random");
  }
  SECTION("a GPT disk from disk_source()") {
    std::string esp = t.path + "/esp", root = t.path + "/root", var = t.path + "/var";
    sparse_file(esp, 3 << 20, {{0, "ESP!"}, {(3 << 20) - 3, "end"}});
    sparse_file(root, (5 << 20) + 512, {{4096 * 7, std::string(10000, 'r')}, {(5 << 20) + 100, "tail"}});
    sparse_file(var, 1 << 20, {});
    auto d = small_disk();
    std::string out = check_vhd(mi::disk_source(d, {esp, root, var}), t.path, "gpt");
    CHECK(mi::allocated_bytes(out) < d.size_bytes / 4);
  }
}

TEST_CASE("vhd: a timestamp before 2000 is written as 0") {
  mi::test::TempDir t("mi-vhd");
  mi::DiskReader disk({kMiB, {}});
  std::string out = t.path + "/old.vhd";
  mi::write_vhd_fixed(disk, out, {946684799, {}});
  std::string f = slurp(out).substr(kMiB);
  CHECK(mi::get_be32(reinterpret_cast<const uint8_t*>(f.data()) + 24) == 0);
  mi::write_vhd_fixed(disk, out, {946684800 + 5, {}});
  f = slurp(out).substr(kMiB);
  CHECK(mi::get_be32(reinterpret_cast<const uint8_t*>(f.data()) + 24) == 5);
}

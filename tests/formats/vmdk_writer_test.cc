// streamOptimized VMDK writer: disks that are empty, hold data only in their last grain, end in
// a partial grain, spread sparse random data over several grain tables, or are a GPT disk made
// from partition images. qemu-img is the oracle (check passes, info says vmdk/streamOptimized
// with the right size, compare against the raw disk says identical); a reader written here from
// the spec checks every header field, marker, table and grain, and the exact descriptor.
#include "formats/vmdk_writer.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "common/endian.h"
#include "common/error.h"
#include "common/process.h"
#include "disk_files.h"
#include "formats/raw.h"
#include "skip.h"
#include "temp_dir.h"

using namespace mi::test;  // disk_files.h

namespace {

constexpr uint64_t kGrain = 64 * 1024;
constexpr uint64_t kGtSpan = 512 * kGrain;  // what one grain table covers: 32 MiB

bool have_qemu_img() {
  if (mi::have_program("qemu-img")) return true;
  mi::test::skip_or_fail("qemu-img not in PATH");
  return false;
}

// The oracle: qemu-img check passes (for vmdk it follows every grain directory and table entry
// and fails on one pointing past the end of the file), info reads the footer's header, and the
// image reads back as the raw disk.
void check_with_qemu(const std::string& raw, const std::string& vmdk, uint64_t size) {
  auto chk = mi::run({"qemu-img", "check", vmdk}, {.check = false});
  INFO("qemu-img check: " << chk.out << chk.err);
  CHECK(chk.exit_code == 0);
  auto info = nlohmann::json::parse(mi::run({"qemu-img", "info", "--output=json", vmdk}).out);
  CHECK(info["format"] == "vmdk");
  CHECK(info["virtual-size"] == size);
  CHECK(info["format-specific"]["type"] == "vmdk");
  CHECK(info["format-specific"]["data"]["create-type"] == "streamOptimized");
  auto cmp = mi::run({"qemu-img", "compare", "-f", "raw", "-F", "vmdk", raw, vmdk}, {.check = false});
  INFO("qemu-img compare: " << cmp.out << cmp.err);
  CHECK(cmp.exit_code == 0);
}

struct Walk {
  std::string disk;          // the disk's bytes as the file describes them
  std::vector<uint32_t> gd;  // the grain directory (sectors; 0: no grain table)
  uint64_t grains = 0;       // grains in the file
  std::string descriptor;    // the embedded descriptor, without its zero padding
};

// Reads a streamOptimized VMDK the way the spec lays it out, checking each structure on the way:
// the header at sector 0 (gdOffset = GD_AT_END), the footer marker + footer + end-of-stream
// marker as the last three sectors, the GD marker right before the grain directory, a GT marker
// before each grain table, and for each grain table entry a grain marker naming that grain's LBA
// over a zlib stream that inflates to exactly one 64 KiB grain; grains in ascending file order.
Walk spec_read(const std::string& path) {
  std::string f = slurp(path);
  REQUIRE(f.size() % 512 == 0);
  REQUIRE(f.size() >= (128 + 5) * 512);
  auto p = reinterpret_cast<const uint8_t*>(f.data());
  CHECK(f.substr(0, 4) == "KDMV");
  CHECK(mi::get_le32(p + 4) == 3);
  uint32_t flags = mi::get_le32(p + 8);
  CHECK((flags & 1u));          // valid new-line detection test
  CHECK((flags & (1u << 16)));  // compressed grains
  CHECK((flags & (1u << 17)));  // markers
  CHECK(flags == 0x30001);      // nothing else: no redundant grain table, no zeroed-grain GTEs
  uint64_t capacity = mi::get_le64(p + 12);
  CHECK(mi::get_le64(p + 20) == 128);           // grainSize
  CHECK(mi::get_le64(p + 28) == 1);             // descriptorOffset
  CHECK(mi::get_le64(p + 36) == 20);            // descriptorSize
  CHECK(mi::get_le32(p + 44) == 512);           // numGTEsPerGT
  CHECK(mi::get_le64(p + 48) == 0);             // rgdOffset
  CHECK(mi::get_le64(p + 56) == ~uint64_t(0));  // gdOffset = GD_AT_END
  CHECK(mi::get_le64(p + 64) == 128);           // overHead: the first grain at sector 128
  CHECK(p[72] == 0);
  CHECK(f.substr(73, 4) == "\n \r\n");
  CHECK(mi::get_le16(p + 77) == 1);  // compressAlgorithm: deflate
  CHECK(f.substr(79, 433) == std::string(433, '\0'));

  Walk w;
  w.descriptor = f.substr(512, 20 * 512);
  w.descriptor.resize(w.descriptor.find('\0'));
  CHECK(f.substr(512 * 21, 512 * 107) == std::string(512 * 107, '\0'));

  const uint8_t* fm = p + f.size() - 1536;
  const uint8_t* ft = fm + 512;
  CHECK(mi::get_le64(fm) == 1);  // footer marker: one sector follows
  CHECK(mi::get_le32(fm + 8) == 0);
  CHECK(mi::get_le32(fm + 12) == 3);
  CHECK(f.substr(f.size() - 1536 + 16, 496) == std::string(496, '\0'));
  CHECK(f.substr(f.size() - 512) == std::string(512, '\0'));  // end-of-stream marker: all zero
  CHECK(memcmp(ft, p, 56) == 0);                              // the footer is the header ...
  CHECK(memcmp(ft + 64, p + 64, 512 - 64) == 0);              // ... with gdOffset filled in
  uint64_t gd_offset = mi::get_le64(ft + 56);
  uint64_t gts = (capacity + 512 * 128 - 1) / (512 * 128), gd_sectors = (gts * 4 + 511) / 512;
  REQUIRE(gd_offset > 128);
  REQUIRE((gd_offset + gd_sectors) * 512 == f.size() - 1536);  // the directory right before the footer
  const uint8_t* gdm = p + (gd_offset - 1) * 512;
  CHECK(mi::get_le64(gdm) == gd_sectors);
  CHECK(mi::get_le32(gdm + 8) == 0);
  CHECK(mi::get_le32(gdm + 12) == 2);
  CHECK(f.substr((gd_offset - 1) * 512 + 16, 496) == std::string(496, '\0'));

  w.disk.assign(capacity * 512, '\0');
  uint64_t last = 0;  // file sector of the last grain or table seen: everything in stream order
  for (uint64_t i = 0; i < gts; i++) {
    uint32_t gt = mi::get_le32(p + gd_offset * 512 + i * 4);
    w.gd.push_back(gt);
    if (!gt) continue;
    REQUIRE(gt > last);
    REQUIRE((gt + 4) <= gd_offset - 1);
    const uint8_t* gtm = p + (uint64_t(gt) - 1) * 512;
    CHECK(mi::get_le64(gtm) == 4);
    CHECK(mi::get_le32(gtm + 8) == 0);
    CHECK(mi::get_le32(gtm + 12) == 1);
    for (uint64_t j = 0; j < 512; j++) {
      uint32_t s = mi::get_le32(p + uint64_t(gt) * 512 + j * 4);
      if (!s) continue;
      uint64_t grain = i * 512 + j;
      REQUIRE(grain * 128 < capacity);
      REQUIRE(s >= 128);
      REQUIRE(s > last);
      REQUIRE(s < gt - 1);  // a grain table follows the grains it covers
      last = s;
      const uint8_t* gm = p + uint64_t(s) * 512;
      CHECK(mi::get_le64(gm) == grain * 128);
      uint32_t size = mi::get_le32(gm + 8);
      REQUIRE(size > 0);
      REQUIRE(uint64_t(s) * 512 + 12 + size <= f.size());
      std::string out(kGrain, '\0');
      uLongf n = kGrain;
      REQUIRE(uncompress(reinterpret_cast<Bytef*>(out.data()), &n, gm + 12, size) == Z_OK);
      REQUIRE(n == kGrain);
      uint64_t padded = (12 + size + 511) / 512 * 512;
      CHECK(f.substr(uint64_t(s) * 512 + 12 + size, padded - 12 - size) == std::string(padded - 12 - size, '\0'));
      uint64_t off = grain * kGrain, len = std::min<uint64_t>(kGrain, w.disk.size() - off);
      CHECK(out.substr(len) == std::string(kGrain - len, '\0'));  // a partial last grain is zero-filled
      w.disk.replace(off, len, out, 0, len);
      w.grains++;
    }
    last = gt;
  }
  return w;
}

// The raw disk's bytes (a file's size rounded up to a sector, as file_disk_source does).
std::string raw_disk(const std::string& path) {
  std::string s = slurp(path);
  s.resize((s.size() + 511) / 512 * 512, '\0');
  return s;
}

bool zero_at(const std::string& disk, uint64_t off, uint64_t len) {
  len = std::min<uint64_t>(len, disk.size() - off);
  return mi::is_zero(reinterpret_cast<const uint8_t*>(disk.data()) + off, len);
}

// Grains that are not all zero / grain-table spans that are not all zero.
uint64_t nonzero_spans(const std::string& disk, uint64_t span) {
  uint64_t n = 0;
  for (uint64_t off = 0; off < disk.size(); off += span) n += !zero_at(disk, off, span);
  return n;
}

void check_against_spec(const std::string& raw, const std::string& vmdk) {
  std::string want = raw_disk(raw);
  Walk w = spec_read(vmdk);
  // Parenthesised: Catch must not print 100 MiB on a failure.
  CHECK((w.disk == want));
  CHECK(w.grains == nonzero_spans(want, kGrain));  // all-zero grains are not written
  for (uint64_t i = 0; i < w.gd.size(); i++)       // nor grain tables of all-zero 32 MiB spans
    CHECK((w.gd[i] != 0) == !zero_at(want, i * kGtSpan, kGtSpan));
}

void write_and_check(const std::string& raw, const std::string& vmdk, const mi::VmdkOptions& o = {}) {
  mi::DiskReader r(mi::file_disk_source(raw));
  mi::write_vmdk_stream_optimized(r, vmdk, o);
  check_against_spec(raw, vmdk);
  check_with_qemu(raw, vmdk, r.size());
}

}  // namespace

TEST_CASE("vmdk: an all-zero disk is header, descriptor, grain directory, footer and nothing else") {
  if (!have_qemu_img()) return;
  mi::test::TempDir t("mi-vmdk");
  std::string raw = t.path + "/zero.raw", vmdk = t.path + "/zero.vmdk";
  sparse_file(raw, 8 << 20, {});
  write_and_check(raw, vmdk);
  Walk w = spec_read(vmdk);
  CHECK(w.grains == 0);
  CHECK(w.gd == std::vector<uint32_t>{0});
  CHECK(std::filesystem::file_size(vmdk) == (128 + 2 + 3) * 512);  // + GD marker, GD, footer marker, footer, EOS
}

TEST_CASE("vmdk: data only in the last grain") {
  if (!have_qemu_img()) return;
  mi::test::TempDir t("mi-vmdk");
  std::string raw = t.path + "/last.raw", vmdk = t.path + "/last.vmdk";
  sparse_file(raw, 4 << 20, {{(4 << 20) - 100, std::string(100, 'L')}});
  write_and_check(raw, vmdk);
  Walk w = spec_read(vmdk);
  CHECK(w.grains == 1);
  CHECK(w.gd.size() == 1);
  CHECK(w.gd[0] != 0);
}

TEST_CASE("vmdk: a size that is not a whole number of grains, and the exact descriptor") {
  if (!have_qemu_img()) return;
  mi::test::TempDir t("mi-vmdk");
  std::string raw = t.path + "/odd.raw", tmp = t.path + "/.odd.vmdk.tmp";
  uint64_t size = (3 << 20) + 512;
  sparse_file(raw, size, {{0, "first sector"}, {size - 5, "tail!"}});
  write_and_check(raw, tmp, {.threads = 2, .cid = 0x1234abcd, .file_name = "odd.vmdk"});
  CHECK(spec_read(tmp).descriptor ==
        "# Disk DescriptorFile\n"
        "version=1\n"
        "encoding=\"UTF-8\"\n"
        "CID=1234abcd\n"
        "parentCID=ffffffff\n"
        "createType=\"streamOptimized\"\n"
        "\n"
        "# Extent description\n"
        "RW 6145 SPARSE \"odd.vmdk\"\n"
        "\n"
        "# The Disk Data Base\n"
        "#DDB\n"
        "\n"
        "ddb.virtualHWVersion = \"4\"\n"
        "ddb.geometry.cylinders = \"1\"\n"
        "ddb.geometry.heads = \"255\"\n"
        "ddb.geometry.sectors = \"63\"\n"
        "ddb.adapterType = \"lsilogic\"\n");
  // The defaults: the file's own name, CID 00000001.
  std::string plain = t.path + "/plain.vmdk";
  mi::write_vmdk_stream_optimized(mi::DiskReader(mi::file_disk_source(raw)), plain);
  std::string d = spec_read(plain).descriptor;
  CHECK(d.find("\nCID=00000001\n") != std::string::npos);
  CHECK(d.find("\nRW 6145 SPARSE \"plain.vmdk\"\n") != std::string::npos);
}

TEST_CASE("vmdk: sparse random data over several grain tables; every thread count writes the same bytes") {
  if (!have_qemu_img()) return;
  mi::test::TempDir t("mi-vmdk");
  std::string raw = t.path + "/sparse.raw";
  uint64_t size = (97 << 20) + 1024;  // 4 grain tables, the last one partial, ending in a partial grain
  std::mt19937 rng(42);
  std::vector<std::pair<uint64_t, std::string>> at;
  for (int i = 0; i < 40; i++) {  // random grains and runs in the first table's span
    uint64_t off = rng() % (kGtSpan - 200000);
    at.push_back({off, random_bytes(rng, 1 + rng() % 150000)});
  }
  at.push_back({kGtSpan + 5 * kGrain, std::string(3 * kGrain, '\0')});  // written zeros: data that reads zero
  at.push_back({2 * kGtSpan - 7, "across a table boundary"});
  at.push_back({2 * kGtSpan + 40 * kGrain, std::string(10 * kGrain, 'c')});  // compressible
  at.push_back({3 * kGtSpan + kGrain - 3, random_bytes(rng, 2 * kGrain)});
  at.push_back({size - 700, random_bytes(rng, 700)});
  sparse_file(raw, size, at);

  std::string one = t.path + "/one.vmdk", three = t.path + "/three.vmdk", eight = t.path + "/eight.vmdk";
  write_and_check(raw, three, {.threads = 3, .adapter = "ide", .file_name = "d.vmdk"});
  mi::DiskReader r(mi::file_disk_source(raw));
  mi::write_vmdk_stream_optimized(r, one, {.threads = 1, .adapter = "ide", .file_name = "d.vmdk"});
  mi::write_vmdk_stream_optimized(r, eight, {.threads = 8, .adapter = "ide", .file_name = "d.vmdk"});
  std::string bytes = slurp(three);
  CHECK((slurp(one) == bytes));
  CHECK((slurp(eight) == bytes));

  Walk w = spec_read(three);
  REQUIRE(w.gd.size() == 4);
  CHECK(w.gd[0] != 0);
  CHECK(w.gd[1] != 0);  // only the bytes written across the boundary into its last grain
  CHECK(w.gd[2] != 0);
  CHECK(w.gd[3] != 0);
  CHECK(w.descriptor.find("\nRW " + std::to_string(size / 512) + " SPARSE \"d.vmdk\"\n") != std::string::npos);
  CHECK(w.descriptor.find("\nddb.geometry.cylinders = \"" + std::to_string((size / 512 + 1007) / (16 * 63)) + "\"\n") !=
        std::string::npos);
  CHECK(w.descriptor.find("\nddb.geometry.heads = \"16\"\n") != std::string::npos);
  CHECK(w.descriptor.find("\nddb.adapterType = \"ide\"\n") != std::string::npos);
  CHECK(bytes.size() < 12 * 1024 * 1024);  // holes and zeros cost nothing; 'c' grains deflate
}

TEST_CASE("vmdk: a grain table span with only written zeros gets no grain table") {
  if (!have_qemu_img()) return;
  mi::test::TempDir t("mi-vmdk");
  std::string raw = t.path + "/gap.raw", vmdk = t.path + "/gap.vmdk";
  uint64_t size = 3 * kGtSpan;
  sparse_file(raw, size, {{100, "start"}, {kGtSpan + 3 * kGrain, std::string(4 * kGrain, '\0')}, {size - 1, "e"}});
  write_and_check(raw, vmdk);
  Walk w = spec_read(vmdk);
  CHECK(w.grains == 2);
  REQUIRE(w.gd.size() == 3);
  CHECK(w.gd[0] != 0);
  CHECK(w.gd[1] == 0);
  CHECK(w.gd[2] != 0);
}

TEST_CASE("vmdk: a GPT disk assembled from partition images reads back as the raw disk") {
  if (!have_qemu_img()) return;
  using namespace mi;
  mi::test::TempDir t("mi-vmdk");
  std::string esp = t.path + "/esp", root = t.path + "/root", var = t.path + "/var";
  std::mt19937 rng(3);
  sparse_file(esp, 3 << 20, {{0, "ESP!"}, {(3 << 20) - 3, "end"}});
  sparse_file(root, (5 << 20) + 512, {{4096 * 7, random_bytes(rng, 200000)}, {(5 << 20) + 100, "tail"}});
  sparse_file(var, 1 << 20, {});
  GptDisk disk =
      gpt_layout(derive_uuid("t", "disk"),
                 {{"esp", gpt_type_esp(), derive_uuid("t", "esp"), 3 << 20, 0},
                  {"root-x86-64", gpt_type_root_x86_64(), derive_uuid("t", "root"), (5 << 20) + 512, kGptAttrReadOnly},
                  {"var", gpt_type_var(), derive_uuid("t", "var"), 2 << 20, 0}});
  std::string raw = t.path + "/disk.raw", vmdk = t.path + "/disk.vmdk";
  write_raw_disk(raw, disk, {esp, root, var});
  DiskReader r(disk_source(disk, {esp, root, var}));
  write_vmdk_stream_optimized(r, vmdk, {.threads = 2});
  check_against_spec(raw, vmdk);
  check_with_qemu(raw, vmdk, disk.size_bytes);
}

TEST_CASE("vmdk: an unknown adapter, a file name that would break the descriptor or a reserved CID is refused") {
  mi::test::TempDir t("mi-vmdk");
  std::string raw = t.path + "/d.raw", vmdk = t.path + "/d.vmdk";
  sparse_file(raw, 1 << 20, {});
  mi::DiskReader r(mi::file_disk_source(raw));
  CHECK_THROWS_AS(mi::write_vmdk_stream_optimized(r, vmdk, {.adapter = "scsi\"\nx"}), mi::Error);
  CHECK_THROWS_AS(mi::write_vmdk_stream_optimized(r, vmdk, {.file_name = "a\"b.vmdk"}), mi::Error);
  CHECK_THROWS_AS(mi::write_vmdk_stream_optimized(r, vmdk, {.file_name = "a\nb.vmdk"}), mi::Error);
  CHECK_THROWS_AS(mi::write_vmdk_stream_optimized(r, vmdk, {.cid = 0xfffffffe}), mi::Error);
  CHECK_THROWS_AS(mi::write_vmdk_stream_optimized(r, vmdk, {.cid = 0xffffffff}), mi::Error);
  CHECK_FALSE(std::filesystem::exists(vmdk));
}

// write_qcow2 against qemu-img, for no compression, zlib and zstd: `qemu-img check` finds no
// leak or corruption, `qemu-img info` reads a qcow2 v3 (compat 1.1) of the right virtual size and
// compression type, and `qemu-img compare` finds it identical to the raw disk; plus header bytes
// against the spec, all-zero clusters left out, cluster sizes from 512 bytes to 2 MiB, output
// independent of the thread count, and no larger than `qemu-img convert`'s.
#include "formats/qcow2_writer.h"

#include <fcntl.h>
#include <unistd.h>

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

namespace fs = std::filesystem;
using nlohmann::json;

using namespace mi::test;  // disk_files.h

namespace {

const std::vector<std::string> kCompressions = {"", "zlib", "zstd"};

// Compressible, not all zero: text with some variety.
std::string text(std::mt19937& rng, size_t n) {
  static const char* words[] = {"consul ", "zookeeper ", "node ", "cluster ", "\n", "datacenter ", "0123 "};
  std::string s;
  while (s.size() < n) s += words[rng() % 7];
  s.resize(n);
  return s;
}

bool have_qemu_img() {
  if (mi::have_program("qemu-img")) return true;
  mi::test::skip_or_fail("qemu-img not found");
  return false;
}

// Writes the disk of `raw` (a whole file) as qcow2 to `out`.
void write_from_raw(const std::string& raw, const std::string& out, const mi::Qcow2Options& o) {
  mi::DiskReader r(mi::file_disk_source(raw));
  mi::write_qcow2(r, out, o);
}

// The qemu-img oracle on `out` against `raw`; returns `qemu-img check`'s JSON report.
json verify(const std::string& raw, const std::string& out, const std::string& compression) {
  INFO(out << " compression '" << compression << "'");
  auto check = mi::run({"qemu-img", "check", "--output=json", out}, {.check = false});
  INFO("qemu-img check: " << check.out << check.err);
  REQUIRE(check.exit_code == 0);
  json c = json::parse(check.out);
  CHECK(c.value("check-errors", -1) == 0);
  CHECK_FALSE(c.contains("leaks"));
  CHECK_FALSE(c.contains("corruptions"));

  json info = json::parse(mi::run({"qemu-img", "info", "--output=json", out}).out);
  CHECK(info["format"] == "qcow2");
  CHECK(info["virtual-size"] == fs::file_size(raw));
  CHECK(info["format-specific"]["data"]["compat"] == "1.1");
  CHECK(info["format-specific"]["data"]["compression-type"] == (compression == "zstd" ? "zstd" : "zlib"));
  CHECK(info["format-specific"]["data"]["refcount-bits"] == 16);
  CHECK(info["dirty-flag"] == false);

  auto cmp = mi::run({"qemu-img", "compare", "-f", "raw", "-F", "qcow2", raw, out}, {.check = false});
  INFO("qemu-img compare: " << cmp.out << cmp.err);
  CHECK(cmp.exit_code == 0);
  return c;  // (qemu-img leaves out the counts that are 0)
}

// Random and compressible chunks at random places of a `size` byte disk (fixed seed).
std::vector<std::pair<uint64_t, std::string>> spread(uint64_t size, int chunks, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<std::pair<uint64_t, std::string>> at;
  for (int i = 0; i < chunks; i++) {
    size_t n = 1 + rng() % 150000;
    uint64_t off = rng() % (size - n);
    at.push_back({off, i % 2 ? random_bytes(rng, n) : text(rng, n)});
  }
  return at;
}

}  // namespace

TEST_CASE("qcow2 writer: header fields as the spec lays them out") {
  mi::test::TempDir t("mi-qcow2w");
  std::string raw = t.path + "/raw";
  sparse_file(raw, 1 << 20, {{4096, "data"}});
  for (auto& comp : kCompressions) {
    std::string out = t.path + "/out" + comp + ".qcow2";
    write_from_raw(raw, out, {.compression = comp, .threads = 2, .cluster_bits = 16});
    std::string f = slurp(out);
    REQUIRE(f.size() >= 120);
    auto h = reinterpret_cast<const uint8_t*>(f.data());
    CHECK(f.substr(0, 4) == "QFI\xfb");
    CHECK(mi::get_be32(h + 4) == 3);                          // version
    CHECK(mi::get_be64(h + 8) == 0);                          // no backing file
    CHECK(mi::get_be32(h + 20) == 16);                        // cluster_bits
    CHECK(mi::get_be64(h + 24) == 1 << 20);                   // size
    CHECK(mi::get_be32(h + 32) == 0);                         // no encryption
    CHECK(mi::get_be32(h + 36) == 1);                         // l1_size
    CHECK(mi::get_be64(h + 40) % 65536 == 0);                 // l1_table_offset, aligned
    CHECK(mi::get_be64(h + 48) % 65536 == 0);                 // refcount_table_offset, aligned
    CHECK(mi::get_be32(h + 60) == 0);                         // nb_snapshots
    CHECK(mi::get_be64(h + 72) == (comp == "zstd" ? 8 : 0));  // incompatible: bit 3 with zstd
    CHECK(mi::get_be32(h + 96) == 4);                         // refcount_order
    CHECK(mi::get_be32(h + 100) == 112);                      // header_length
    CHECK(h[104] == (comp == "zstd" ? 1 : 0));                // compression_type
    CHECK(mi::get_be64(h + 112) == 0);                        // end of header extensions
    CHECK(f.size() % 65536 == 0);
    if (have_qemu_img()) verify(raw, out, comp);
  }
}

TEST_CASE("qcow2 writer: an all-zero disk stores no data cluster") {
  if (!have_qemu_img()) return;
  mi::test::TempDir t("mi-qcow2w");
  std::string holes = t.path + "/holes", zeros = t.path + "/zeros", empty = t.path + "/empty";
  sparse_file(holes, 4 << 20, {});                                 // no data range at all
  sparse_file(zeros, 4 << 20, {{0, std::string(4 << 20, '\0')}});  // all data range, all zero
  sparse_file(empty, 0, {});                                       // a disk of no bytes
  for (auto& comp : kCompressions) {
    for (auto& raw : {holes, zeros, empty}) {
      std::string out = raw + comp + ".qcow2";
      write_from_raw(raw, out, {.compression = comp});
      json c = verify(raw, out, comp);
      CHECK(c.value("allocated-clusters", 0) == 0);
      // Header, L1, refcount block and table (and the unused L2 left as a hole).
      CHECK(fs::file_size(out) <= 5 * 65536);
      CHECK(mi::allocated_bytes(out) <= 4 * 65536);
    }
  }
}

TEST_CASE("qcow2 writer: data only in the last cluster") {
  if (!have_qemu_img()) return;
  mi::test::TempDir t("mi-qcow2w");
  std::string raw = t.path + "/raw";
  sparse_file(raw, 4 << 20, {{(4 << 20) - 100, "the last bytes of the disk"}});
  for (auto& comp : kCompressions) {
    std::string out = t.path + "/out" + comp + ".qcow2";
    write_from_raw(raw, out, {.compression = comp});
    json c = verify(raw, out, comp);
    CHECK(c.value("allocated-clusters", 0) == 1);
    CHECK(c.value("compressed-clusters", 0) == (comp.empty() ? 0 : 1));
  }
}

TEST_CASE("qcow2 writer: a size that is not a multiple of the cluster size") {
  if (!have_qemu_img()) return;
  mi::test::TempDir t("mi-qcow2w");
  std::string raw = t.path + "/raw";
  uint64_t size = (3 << 20) + 512;
  std::mt19937 rng(3);
  sparse_file(raw, size, {{0, text(rng, 70000)}, {size - 512, random_bytes(rng, 512)}, {size - 700, "x"}});
  for (auto& comp : kCompressions) {
    std::string out = t.path + "/out" + comp + ".qcow2";
    write_from_raw(raw, out, {.compression = comp});
    json c = verify(raw, out, comp);
    CHECK(c.value("allocated-clusters", 0) == 4);  // two at the start, the last whole and the partial one
  }
}

TEST_CASE("qcow2 writer: random and compressible data spread across the disk") {
  if (!have_qemu_img()) return;
  mi::test::TempDir t("mi-qcow2w");
  std::string raw = t.path + "/raw";
  sparse_file(raw, 6 << 20, spread(6 << 20, 24, 11));
  std::string conv = t.path + "/qemu.qcow2";
  mi::run({"qemu-img", "convert", "-f", "raw", "-O", "qcow2", "-o", "compat=1.1", raw, conv});
  for (auto& comp : kCompressions) {
    std::string out = t.path + "/out" + comp + ".qcow2";
    write_from_raw(raw, out, {.compression = comp, .threads = 3});
    json c = verify(raw, out, comp);
    if (comp.empty()) {
      CHECK(c.value("compressed-clusters", 0) == 0);
      CHECK(fs::file_size(out) <= fs::file_size(conv));
    } else {
      // Text compresses, random data is stored as it is: both kinds present.
      CHECK(c.value("compressed-clusters", 0) > 0);
      CHECK(c.value("compressed-clusters", 0) < c.value("allocated-clusters", 0));
      CHECK(fs::file_size(out) < fs::file_size(t.path + "/out.qcow2"));
    }
  }
}

TEST_CASE("qcow2 writer: the same file whatever the number of threads") {
  mi::test::TempDir t("mi-qcow2w");
  std::string raw = t.path + "/raw";
  sparse_file(raw, 5 << 20, spread(5 << 20, 30, 5));
  for (auto& comp : kCompressions) {
    std::string one = t.path + "/one.qcow2", three = t.path + "/three.qcow2";
    write_from_raw(raw, one, {.compression = comp, .threads = 1});
    write_from_raw(raw, three, {.compression = comp, .threads = 3});
    CHECK(slurp(one) == slurp(three));
  }
}

TEST_CASE("qcow2 writer: cluster sizes from 512 bytes to 2 MiB") {
  if (!have_qemu_img()) return;
  mi::test::TempDir t("mi-qcow2w");
  std::string raw = t.path + "/raw";
  // 512-byte clusters: 64 L2 tables of 32 KiB each and many refcount blocks.
  sparse_file(raw, (2 << 20) + 4096, spread((2 << 20) + 4096, 16, 21));
  for (int bits : {9, 12, 21}) {
    for (auto& comp : kCompressions) {
      std::string out = t.path + "/out" + std::to_string(bits) + comp + ".qcow2";
      write_from_raw(raw, out, {.compression = comp, .threads = 2, .cluster_bits = bits});
      json info = json::parse(mi::run({"qemu-img", "info", "--output=json", out}).out);
      CHECK(info["cluster-size"] == 1 << bits);
      verify(raw, out, comp);
    }
  }
}

TEST_CASE("qcow2 writer: a 64 MiB sparse disk with several L2 tables and a zero data range") {
  if (!have_qemu_img()) return;
  mi::test::TempDir t("mi-qcow2w");
  std::string raw = t.path + "/raw";
  uint64_t size = 64 << 20;
  std::mt19937 rng(64);
  // With 4 KiB clusters an L2 table maps 2 MiB: 10-14 MiB is data range but zero, so its two
  // L2 tables are placed and then left out.
  sparse_file(raw, size,
              {{0, text(rng, 9000)},
               {10 << 20, std::string(4 << 20, '\0')},
               {(20 << 20) - 3000, random_bytes(rng, 6000)},
               {(40 << 20) + 1, text(rng, 300000)},
               {size - 4096, random_bytes(rng, 4096)}});
  for (auto& comp : kCompressions) {
    std::string out = t.path + "/out" + comp + ".qcow2";
    write_from_raw(raw, out, {.compression = comp, .cluster_bits = 12});
    json c = verify(raw, out, comp);
    CHECK(c.value("allocated-clusters", 0) == 3 + 2 + 74 + 1);
    CHECK(mi::allocated_bytes(out) < (1 << 20));
    // L1 (32 entries): the L2 tables of 10-12 and 12-14 MiB left out, those with data present.
    std::string f = slurp(out);
    auto h = reinterpret_cast<const uint8_t*>(f.data());
    REQUIRE(mi::get_be32(h + 36) == 32);
    const uint8_t* l1 = h + mi::get_be64(h + 40);
    for (int i : {0, 9, 20, 31}) CHECK(mi::get_be64(l1 + 8 * i) != 0);
    for (int i : {1, 5, 6, 30}) CHECK(mi::get_be64(l1 + 8 * i) == 0);
  }
}

TEST_CASE("qcow2 writer: a GPT disk from its partition images") {
  if (!have_qemu_img()) return;
  using namespace mi;
  mi::test::TempDir t("mi-qcow2w");
  std::string esp = t.path + "/esp", root = t.path + "/root", var = t.path + "/var", raw = t.path + "/raw";
  std::mt19937 rng(9);
  sparse_file(esp, 3 << 20, {{0, "ESP!"}, {(3 << 20) - 3, "end"}});
  sparse_file(root, (5 << 20) + 512, {{4096 * 7, random_bytes(rng, 100000)}, {(5 << 20) + 100, text(rng, 400)}});
  sparse_file(var, 1 << 20, {});
  auto disk =
      gpt_layout(derive_uuid("t", "disk"),
                 {{"esp", gpt_type_esp(), derive_uuid("t", "esp"), 3 << 20, 0},
                  {"root-x86-64", gpt_type_root_x86_64(), derive_uuid("t", "root"), (5 << 20) + 512, kGptAttrReadOnly},
                  {"var", gpt_type_var(), derive_uuid("t", "var"), 2 << 20, 0}});
  write_raw_disk(raw, disk, {esp, root, var});
  std::string conv = t.path + "/qemu.qcow2";
  run({"qemu-img", "convert", "-f", "raw", "-O", "qcow2", "-o", "compat=1.1", raw, conv});
  for (auto& comp : kCompressions) {
    std::string out = t.path + "/out" + comp + ".qcow2";
    DiskReader r(disk_source(disk, {esp, root, var}));
    write_qcow2(r, out, {.compression = comp});
    verify(raw, out, comp);
    if (comp.empty()) CHECK(fs::file_size(out) <= fs::file_size(conv));
  }
}

TEST_CASE("qcow2 writer: unknown options are refused by name") {
  mi::test::TempDir t("mi-qcow2w");
  std::string raw = t.path + "/raw";
  sparse_file(raw, 1 << 20, {});
  CHECK_THROWS_WITH(write_from_raw(raw, t.path + "/o", {.compression = "lz4"}), Catch::Contains("compression"));
  CHECK_THROWS_WITH(write_from_raw(raw, t.path + "/o", {.cluster_bits = 8}), Catch::Contains("cluster_bits"));
  CHECK_THROWS_WITH(write_from_raw(raw, t.path + "/o", {.cluster_bits = 22}), Catch::Contains("cluster_bits"));
  CHECK_THROWS_AS(write_from_raw(raw, t.path + "/none/o", {}), mi::Error);
}

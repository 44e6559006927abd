// GPT writer test: a small disk with the image's three partitions, checked against the UEFI
// spec's byte layout and against util-linux (`sfdisk --verify`, `sfdisk -d`) as the oracle.
#include "formats/gpt.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common/digest.h"
#include "common/endian.h"
#include "common/files.h"
#include "common/process.h"
#include "formats/raw.h"

namespace {

std::string tmpdir() {
  char t[] = "/tmp/mi-gpt-test.XXXXXX";
  REQUIRE(mkdtemp(t) != nullptr);
  return t;
}

std::string upper(std::string s) {
  for (auto& c : s) c = char(toupper(c));
  return s;
}

std::string pread_str(const std::string& path, uint64_t off, size_t n) {
  std::ifstream f(path, std::ios::binary);
  f.seekg(std::streamoff(off));
  std::string s(n, '\0');
  f.read(s.data(), std::streamsize(n));
  REQUIRE(size_t(f.gcount()) == n);
  return s;
}

mi::GptDisk small_disk() {
  using namespace mi;
  std::vector<GptPartition> parts = {
      {"esp", gpt_type_esp(), derive_uuid("test", "esp"), 3 * 1024 * 1024, 0},
      {"root-x86-64", gpt_type_root_x86_64(), derive_uuid("test", "root"), 5 * 1024 * 1024 + 512, kGptAttrReadOnly},
      {"var", gpt_type_var(), derive_uuid("test", "var"), 2 * 1024 * 1024, 0},
  };
  return gpt_layout(derive_uuid("test", "disk"), parts);
}

}  // namespace

TEST_CASE("crc32 matches the IEEE check value") {
  const char* s = "123456789";
  REQUIRE(mi::crc32(reinterpret_cast<const uint8_t*>(s), 9) == 0xCBF43926u);
}

TEST_CASE("GUIDs are stored mixed-endian") {
  uint8_t b[16];
  mi::put_guid(b, mi::gpt_type_esp());
  const uint8_t want[16] = {0x28, 0x73, 0x2A, 0xC1, 0x1F, 0xF8, 0xD2, 0x11,
                            0xBA, 0x4B, 0x00, 0xA0, 0xC9, 0x3E, 0xC9, 0x3B};
  REQUIRE(memcmp(b, want, 16) == 0);
  REQUIRE(mi::get_guid(b) == mi::gpt_type_esp());
  REQUIRE(mi::uuid_string(mi::gpt_type_root_x86_64()) == "4f68bce3-e8cd-4db1-96e7-fbcaf984b709");
  REQUIRE_THROWS(mi::parse_uuid("not-a-uuid"));
}

TEST_CASE("layout aligns partitions to 1 MiB and leaves room for the backup GPT") {
  auto d = small_disk();
  REQUIRE(d.partitions[0].first_lba == 2048);
  REQUIRE(d.partitions[0].last_lba == 2048 + 6144 - 1);
  REQUIRE(d.partitions[1].first_lba == 8192);
  REQUIRE(d.partitions[1].last_lba == 8192 + 10241 - 1);  // 5 MiB + 1 sector
  REQUIRE(d.partitions[2].first_lba == 20480);            // next MiB boundary after 18433
  REQUIRE(d.size_bytes % mi::kAlign == 0);
  REQUIRE(d.size_bytes / 512 - 1 - 33 > d.partitions[2].last_lba);
  REQUIRE_THROWS(mi::gpt_layout({}, {}));
}

TEST_CASE("header, entries and protective MBR follow UEFI 2.10") {
  auto d = small_disk();
  std::string p = mi::gpt_primary(d);
  REQUIRE(p.size() == 34 * 512);
  auto* m = reinterpret_cast<const uint8_t*>(p.data());
  // Protective MBR.
  REQUIRE(m[510] == 0x55);
  REQUIRE(m[511] == 0xAA);
  REQUIRE(m[446 + 4] == 0xEE);
  REQUIRE(mi::get_le32(m + 446 + 8) == 1);
  REQUIRE(mi::get_le32(m + 446 + 12) == d.size_bytes / 512 - 1);
  // Primary header.
  const uint8_t* h = m + 512;
  REQUIRE(memcmp(h, "EFI PART", 8) == 0);
  REQUIRE(mi::get_le32(h + 8) == 0x00010000);
  REQUIRE(mi::get_le32(h + 12) == 92);
  uint8_t copy[92];
  memcpy(copy, h, 92);
  mi::put_le32(copy + 16, 0);
  REQUIRE(mi::get_le32(h + 16) == mi::crc32(copy, 92));
  REQUIRE(mi::get_le64(h + 24) == 1);
  uint64_t last = d.size_bytes / 512 - 1;
  REQUIRE(mi::get_le64(h + 32) == last);
  REQUIRE(mi::get_le64(h + 40) == 34);
  REQUIRE(mi::get_le64(h + 48) == last - 33);
  REQUIRE(mi::get_guid(h + 56) == mi::derive_uuid("test", "disk"));
  REQUIRE(mi::get_le64(h + 72) == 2);
  REQUIRE(mi::get_le32(h + 80) == 128);
  REQUIRE(mi::get_le32(h + 84) == 128);
  REQUIRE(mi::get_le32(h + 88) == mi::crc32(m + 1024, 128 * 128));
  for (size_t i = 92; i < 512; i++) REQUIRE(h[i] == 0);
  // Second entry: the root partition, read-only attribute, UTF-16LE name.
  const uint8_t* e = m + 1024 + 128;
  REQUIRE(mi::get_guid(e) == mi::gpt_type_root_x86_64());
  REQUIRE(mi::get_le64(e + 32) == 8192);
  REQUIRE(mi::get_le64(e + 48) == (1ull << 60));
  REQUIRE(e[56] == 'r');
  REQUIRE(e[57] == 0);
  // Backup: same array, header with MyLBA/AlternateLBA swapped and its array before it.
  std::string b = mi::gpt_backup(d);
  REQUIRE(b.size() == 33 * 512);
  REQUIRE(b.substr(0, 128 * 128) == p.substr(1024, 128 * 128));
  auto* bh = reinterpret_cast<const uint8_t*>(b.data()) + 32 * 512;
  REQUIRE(memcmp(bh, "EFI PART", 8) == 0);
  REQUIRE(mi::get_le64(bh + 24) == last);
  REQUIRE(mi::get_le64(bh + 32) == 1);
  REQUIRE(mi::get_le64(bh + 72) == last - 32);
  memcpy(copy, bh, 92);
  mi::put_le32(copy + 16, 0);
  REQUIRE(mi::get_le32(bh + 16) == mi::crc32(copy, 92));
}

TEST_CASE("a written raw disk is verified by sfdisk and holds the images sparsely") {
  std::string dir = tmpdir();
  auto d = small_disk();
  // Partition images: a pattern at the start and end, zeros (holes) between.
  std::vector<std::string> images;
  for (size_t i = 0; i < d.partitions.size(); i++) {
    std::string img(d.partitions[i].size_bytes, '\0');
    std::string head = "partition-" + std::to_string(i) + "-head";
    memcpy(img.data(), head.data(), head.size());
    img[img.size() - 1] = char('A' + i);
    images.push_back(dir + "/p" + std::to_string(i) + ".img");
    mi::write_file_atomic(images.back(), img);
  }
  std::string disk = dir + "/disk.raw";
  mi::write_raw_disk(disk, d, images);

  struct stat st {};
  REQUIRE(stat(disk.c_str(), &st) == 0);
  REQUIRE(uint64_t(st.st_size) == d.size_bytes);
  REQUIRE(mi::allocated_bytes(disk) < d.size_bytes / 2);  // zero blocks stayed holes
  for (size_t i = 0; i < d.partitions.size(); i++) {
    uint64_t off = d.partitions[i].first_lba * 512;
    std::string head = "partition-" + std::to_string(i) + "-head";
    REQUIRE(pread_str(disk, off, head.size()) == head);
    REQUIRE(pread_str(disk, off + d.partitions[i].size_bytes - 1, 1) == std::string(1, char('A' + i)));
  }

  auto verify = mi::run({"sfdisk", "--verify", disk}, {.check = false});
  INFO(verify.out << verify.err);
  REQUIRE(verify.exit_code == 0);
  REQUIRE(verify.err.find("rror") == std::string::npos);

  auto dump = mi::run({"sfdisk", "-d", disk});
  std::string want_head = "label: gpt\nlabel-id: " + upper(mi::uuid_string(d.disk_guid)) + "\ndevice: " + disk +
                          "\nunit: sectors\nfirst-lba: 34\nlast-lba: " + std::to_string(d.size_bytes / 512 - 34) + "\n";
  INFO(dump.out);
  REQUIRE(dump.out.substr(0, want_head.size()) == want_head);
  const char* names[] = {"esp", "root-x86-64", "var"};
  for (size_t i = 0; i < d.partitions.size(); i++) {
    const auto& p = d.partitions[i];
    std::string line = disk + std::to_string(i + 1) + " : start=" + std::to_string(p.first_lba) +
                       ", size=" + std::to_string(p.last_lba - p.first_lba + 1) +
                       ", type=" + upper(mi::uuid_string(p.type)) + ", uuid=" + upper(mi::uuid_string(p.uuid)) +
                       ", name=\"" + names[i] + "\"" + (i == 1 ? ", attrs=\"GUID:60\"" : "") + "\n";
    // sfdisk pads the numbers after "="; compare without the padding.
    std::string got;
    std::istringstream in(dump.out);
    for (std::string l; std::getline(in, l);)
      if (l.rfind(disk + std::to_string(i + 1) + " ", 0) == 0) got = l + "\n";
    std::string squeezed;
    for (size_t k = 0; k < got.size(); k++)
      if (!(got[k] == ' ' && !squeezed.empty() && squeezed.back() == '=')) squeezed += got[k];
    REQUIRE(squeezed == line);
  }
  mi::run({"rm", "-rf", dir});
}

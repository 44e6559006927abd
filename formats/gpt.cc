// GPT encoding: the byte layout of UEFI 2.10 §5.2.3 (protective MBR) and §5.3 (header, entries),
// every field written through common/endian.h.
#include "formats/gpt.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "common/endian.h"
#include "common/error.h"

namespace mi {
namespace {

uint64_t round_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

// Header fields at these offsets (UEFI 2.10 table 5.5).
constexpr size_t kHdrSize = 92;

std::string entry_array(const GptDisk& d) {
  std::string a(kGptEntries * kGptEntrySize, '\0');
  auto* p = reinterpret_cast<uint8_t*>(a.data());
  for (size_t i = 0; i < d.partitions.size(); i++) {
    const auto& part = d.partitions[i];
    uint8_t* e = p + i * kGptEntrySize;
    put_guid(e + 0, part.type);
    put_guid(e + 16, part.uuid);
    put_le64(e + 32, part.first_lba);
    put_le64(e + 40, part.last_lba);
    put_le64(e + 48, part.attributes);
    for (size_t c = 0; c < part.name.size() && c < 36; c++) put_le16(e + 56 + 2 * c, uint8_t(part.name[c]));
  }
  return a;
}

std::string header(const GptDisk& d, bool primary, uint32_t array_crc) {
  uint64_t last = d.size_bytes / kSector - 1;
  std::string s(kSector, '\0');
  auto* h = reinterpret_cast<uint8_t*>(s.data());
  memcpy(h, "EFI PART", 8);
  put_le32(h + 8, 0x00010000);  // revision 1.0
  put_le32(h + 12, kHdrSize);
  // h+16: header CRC, computed last over the 92 bytes with this field zero
  put_le64(h + 24, primary ? 1 : last);           // MyLBA
  put_le64(h + 32, primary ? last : 1);           // AlternateLBA
  put_le64(h + 40, 2 + kGptArraySectors);         // FirstUsableLBA (34)
  put_le64(h + 48, last - kGptArraySectors - 1);  // LastUsableLBA
  put_guid(h + 56, d.disk_guid);
  put_le64(h + 72, primary ? 2 : last - kGptArraySectors);  // PartitionEntryLBA
  put_le32(h + 80, kGptEntries);
  put_le32(h + 84, kGptEntrySize);
  put_le32(h + 88, array_crc);
  put_le32(h + 16, crc32(h, kHdrSize));
  return s;
}

}  // namespace

Uuid gpt_type_esp() { return parse_uuid("c12a7328-f81f-11d2-ba4b-00a0c93ec93b"); }
Uuid gpt_type_root_x86_64() { return parse_uuid("4f68bce3-e8cd-4db1-96e7-fbcaf984b709"); }
Uuid gpt_type_var() { return parse_uuid("4d21b016-b534-45c2-a9fb-5c16e091fd2d"); }
Uuid gpt_type_bios_boot() { return parse_uuid("21686148-6449-6e6f-744e-656564454649"); }

uint32_t crc32(const uint8_t* p, size_t n, uint32_t crc) {
  // zlib's CRC-32, fed in pieces of at most 1 GiB (its length is a uInt).
  while (n > 0) {
    const uInt part = uInt(std::min<size_t>(n, size_t(1) << 30));
    crc = uint32_t(::crc32(crc, p, part));
    p += part;
    n -= part;
  }
  return crc;
}

namespace {
// GPT stores time_low, time_mid and time_hi little-endian, the clock sequence and node as they
// are; RFC 4122 byte order is big-endian per field. Byte i on disk is byte kGuidOrder[i] of the
// UUID, and back (the permutation is its own inverse).
constexpr int kGuidOrder[16] = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};
}  // namespace

void put_guid(uint8_t* p, const Uuid& u) {
  for (int i = 0; i < 16; i++) p[i] = u[size_t(kGuidOrder[i])];
}

Uuid get_guid(const uint8_t* p) {
  Uuid u{};
  for (int i = 0; i < 16; i++) u[size_t(kGuidOrder[i])] = p[i];
  return u;
}

Uuid parse_uuid(const std::string& s) {
  Uuid u{};
  auto hexval = [&](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    throw Error("uuid", "not a UUID: " + s);
  };
  if (s.size() != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-')
    throw Error("uuid", "not a UUID: " + s);
  size_t j = 0;
  for (size_t i = 0; i < s.size() && j < 16;) {
    if (s[i] == '-') {
      i++;
      continue;
    }
    u[j++] = uint8_t(hexval(s[i]) << 4 | hexval(s[i + 1]));
    i += 2;
  }
  return u;
}

GptDisk gpt_layout(const Uuid& disk_guid, std::vector<GptPartition> parts) {
  if (parts.empty()) throw Error("gpt", "no partitions");
  if (parts.size() > kGptEntries) throw Error("gpt", "more than 128 partitions");
  GptDisk d;
  d.disk_guid = disk_guid;
  uint64_t off = kAlign;  // first partition at 1 MiB, as every partitioning tool does
  for (auto& p : parts) {
    if (p.size_bytes == 0) throw Error("gpt", "partition '" + p.name + "' has size 0");
    if (p.name.size() > 36) throw Error("gpt", "partition name longer than 36 characters: " + p.name);
    for (char c : p.name)
      if (static_cast<unsigned char>(c) >= 0x80) throw Error("gpt", "partition name must be ASCII: " + p.name);
    off = round_up(off, kAlign);
    p.first_lba = off / kSector;
    uint64_t size = round_up(p.size_bytes, kSector);
    p.last_lba = p.first_lba + size / kSector - 1;
    off += size;
  }
  // Room for the backup array + header after the last partition, disk a whole number of MiB.
  d.size_bytes = round_up(off + (kGptArraySectors + 1) * kSector, kAlign);
  d.partitions = std::move(parts);
  return d;
}

std::string gpt_primary(const GptDisk& d) {
  std::string out(kSector * (2 + kGptArraySectors), '\0');
  auto* m = reinterpret_cast<uint8_t*>(out.data());
  // Protective MBR: one partition of type 0xEE covering the disk from LBA 1 (UEFI 2.10 table 5.4).
  uint64_t sectors = d.size_bytes / kSector;
  uint8_t* r = m + 446;
  r[0] = 0x00;  // not bootable
  r[1] = 0x00;
  r[2] = 0x02;
  r[3] = 0x00;  // starting CHS 0/0/2
  r[4] = 0xEE;  // GPT protective
  r[5] = 0xFF;
  r[6] = 0xFF;
  r[7] = 0xFF;  // ending CHS: not representable
  put_le32(r + 8, 1);
  put_le32(r + 12, sectors - 1 > 0xFFFFFFFFull ? 0xFFFFFFFFu : uint32_t(sectors - 1));
  m[510] = 0x55;
  m[511] = 0xAA;
  std::string arr = entry_array(d);
  uint32_t acrc = crc32(reinterpret_cast<const uint8_t*>(arr.data()), arr.size());
  std::string h = header(d, true, acrc);
  memcpy(m + kSector, h.data(), kSector);
  memcpy(m + 2 * kSector, arr.data(), arr.size());
  return out;
}

uint64_t gpt_backup_offset(const GptDisk& d) { return d.size_bytes - (kGptArraySectors + 1) * kSector; }

std::string gpt_backup(const GptDisk& d) {
  std::string arr = entry_array(d);
  uint32_t acrc = crc32(reinterpret_cast<const uint8_t*>(arr.data()), arr.size());
  return arr + header(d, false, acrc);
}

}  // namespace mi

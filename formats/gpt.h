// GUID Partition Table (UEFI 2.10 §5.3) of our own: the layout of partitions on a disk (1 MiB
// aligned), and the bytes of the protective MBR, the primary and the backup header + entry array.
// Flow: assemble (builder/) → gpt_layout() → raw.h writes gpt_primary()/gpt_backup() + partitions.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "common/digest.h"

namespace mi {

constexpr uint64_t kSector = 512;
constexpr uint64_t kAlign = 1024 * 1024;    // partitions start on 1 MiB boundaries
constexpr uint32_t kGptEntries = 128;       // entries in the array (the usual 16 KiB array)
constexpr uint32_t kGptEntrySize = 128;
constexpr uint64_t kGptArraySectors = kGptEntries * kGptEntrySize / kSector;  // 32

// Partition type GUIDs of the Discoverable Partitions Specification.
Uuid gpt_type_esp();          // c12a7328-f81f-11d2-ba4b-00a0c93ec93b
Uuid gpt_type_root_x86_64();  // 4f68bce3-e8cd-4db1-96e7-fbcaf984b709
Uuid gpt_type_var();          // 4d21b016-b534-45c2-a9fb-5c16e091fd2d
Uuid gpt_type_bios_boot();    // 21686148-6449-6e6f-744e-656564454649

// Attribute bits (the high 16 are type-specific; these are the DPS meanings).
constexpr uint64_t kGptAttrRequired = 1ull << 0;
constexpr uint64_t kGptAttrReadOnly = 1ull << 60;
constexpr uint64_t kGptAttrNoAuto = 1ull << 63;

struct GptPartition {
  std::string name;          // at most 36 UTF-16 code units; ASCII here
  Uuid type{};
  Uuid uuid{};
  uint64_t size_bytes = 0;   // requested; rounded up to whole sectors
  uint64_t attributes = 0;
  uint64_t first_lba = 0;    // set by gpt_layout
  uint64_t last_lba = 0;     // inclusive
};

struct GptDisk {
  Uuid disk_guid{};
  uint64_t size_bytes = 0;   // whole disk, a multiple of 512
  std::vector<GptPartition> partitions;
};

// Places the partitions in order, each at the next 1 MiB boundary, and sizes the disk to hold
// them plus the backup GPT (rounded up to 1 MiB). Throws mi::Error on bad input.
GptDisk gpt_layout(const Uuid& disk_guid, std::vector<GptPartition> parts);

// Bytes 0 .. 34*512: protective MBR (LBA 0), primary header (LBA 1), entry array (LBA 2..33).
std::string gpt_primary(const GptDisk& disk);
// The last 33 sectors: entry array copy then the backup header (last LBA).
std::string gpt_backup(const GptDisk& disk);
uint64_t gpt_backup_offset(const GptDisk& disk);

// GUIDs are stored mixed-endian: the first three fields little-endian, the rest as printed.
void put_guid(uint8_t* p, const Uuid& u);
Uuid get_guid(const uint8_t* p);
Uuid parse_uuid(const std::string& s);  // "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"

// CRC-32 (IEEE 802.3, reflected, as GPT uses it): zlib's crc32(), continuing from `crc`.
uint32_t crc32(const uint8_t* p, size_t n, uint32_t crc = 0);

}  // namespace mi

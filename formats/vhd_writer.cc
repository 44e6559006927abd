// Fixed VHD: the raw disk's data (write_disk_data, sparse) in a file of virtual size + 512
// bytes, and the hard disk footer in the last 512, every field big-endian (common/endian.h).
#include "formats/vhd_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/endian.h"
#include "common/error.h"
#include "common/files.h"
#include "formats/raw.h"

namespace mi {
namespace {

constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kFooterSize = 512;
constexpr uint64_t kVhdEpoch = 946684800;  // 2000-01-01T00:00:00Z in Unix seconds

// Creator application: "win " (Hyper-V / Windows disk management), chosen for what readers do
// with it, not as a claim of origin. A VHD holds its size twice, in current_size and as CHS
// geometry, and the CHS product is usually smaller than the disk (4 MiB = 8192 sectors gives
// 120/4/17 = 8160 sectors). QEMU's block/vpc.c picks one by the creator app: QEMU 7.2 (Debian 12)
// trusts current_size only for "win ", "qem2", "d2v ", "CTXS" and "tap\0" (or a maximal CHS) and
// takes the CHS product for any other app, our own tag included, so the guest would lose the
// disk's tail and the backup GPT with it; QEMU since early 2025 (vpc_ignore_current_size()) takes
// current_size for all but "vpc " and "qemu". Hyper-V, and so Azure, sizes a disk by current_size
// whatever the app, and "win " with host OS "Wi2k" is the pair Hyper-V writes, the producer whose
// VHDs Azure and AWS VM import take. "qem2" (what qemu-img writes with force_size) would satisfy
// QEMU as well; it names another writer just the same.
// tests/formats/vhd_writer_test.cc shows a "vpc " footer read short by QEMU.
constexpr char kCreatorApp[4] = {'w', 'i', 'n', ' '};
constexpr uint32_t kCreatorVersion = 0x00010000;  // this writer's footer, 1.0; no reader keys on it
constexpr char kCreatorHostOs[4] = {'W', 'i', '2', 'k'};

constexpr uint32_t kFeatures = 0x00000002;  // "reserved": the specification says always set
constexpr uint32_t kFileFormatVersion = 0x00010000;
constexpr uint64_t kFixedDataOffset = 0xFFFFFFFFFFFFFFFF;  // no dynamic disk header
constexpr uint32_t kDiskTypeFixed = 2;

// Seconds since 2000-01-01 UTC, clamped to the field's 32 bits.
uint32_t vhd_timestamp(uint64_t unix_seconds) {
  if (unix_seconds < kVhdEpoch) return 0;
  return uint32_t(std::min<uint64_t>(unix_seconds - kVhdEpoch, UINT32_MAX));
}

// The 512-byte hard disk footer (specification, "Hard Disk Footer Format").
std::string footer(uint64_t size, const VhdOptions& o) {
  std::string f(kFooterSize, '\0');
  auto* p = reinterpret_cast<uint8_t*>(f.data());
  memcpy(p + 0, "conectix", 8);  // cookie
  put_be32(p + 8, kFeatures);
  put_be32(p + 12, kFileFormatVersion);
  put_be64(p + 16, kFixedDataOffset);
  put_be32(p + 24, vhd_timestamp(o.timestamp));
  memcpy(p + 28, kCreatorApp, 4);
  put_be32(p + 32, kCreatorVersion);
  memcpy(p + 36, kCreatorHostOs, 4);
  put_be64(p + 40, size);  // original size
  put_be64(p + 48, size);  // current size
  VhdGeometry g = vhd_geometry(size);
  put_be16(p + 56, g.cylinders);
  p[58] = g.heads;
  p[59] = g.sectors_per_track;
  put_be32(p + 60, kDiskTypeFixed);
  memcpy(p + 68, o.uuid.data(), 16);  // unique id
  p[84] = 0;                          // saved state; 85..511 reserved, zero
  // Checksum (offset 64): one's complement of the sum of the footer's bytes, itself zero.
  uint32_t sum = 0;
  for (size_t i = 0; i < kFooterSize; i++) sum += p[i];
  put_be32(p + 64, ~sum);
  return f;
}

}  // namespace

uint64_t vhd_virtual_size(uint64_t disk_size) { return (disk_size + kMiB - 1) / kMiB * kMiB; }

VhdGeometry vhd_geometry(uint64_t size_bytes) {
  // The specification's appendix, as written (integer division throughout).
  uint64_t total = std::min<uint64_t>(size_bytes / 512, 65535ull * 16 * 255);
  uint64_t spt, heads, cth;  // sectors per track, heads, cylinders × heads
  if (total >= 65535ull * 16 * 63) {
    spt = 255;
    heads = 16;
    cth = total / spt;
  } else {
    spt = 17;
    cth = total / spt;
    heads = std::max<uint64_t>((cth + 1023) / 1024, 4);
    if (cth >= heads * 1024 || heads > 16) {
      spt = 31;
      heads = 16;
      cth = total / spt;
    }
    if (cth >= heads * 1024) {
      spt = 63;
      heads = 16;
      cth = total / spt;
    }
  }
  return {uint16_t(cth / heads), uint8_t(heads), uint8_t(spt)};
}

void write_vhd_fixed(const DiskReader& disk, const std::string& path, const VhdOptions& o) {
  uint64_t size = vhd_virtual_size(disk.size());
  std::string f = footer(size, o);
  UniqueFd out = create_file(path);
  // The rounding past the disk's end reads as zeros: a hole like every other zero block.
  if (ftruncate(out.fd, off_t(size + kFooterSize)) != 0) throw Error(path, std::string("truncate: ") + strerror(errno));
  write_disk_data(disk, out.fd, path);
  pwrite_all(out.fd, f.data(), f.size(), size, path);
  fsync_or_throw(out.fd, path);
}

}  // namespace mi

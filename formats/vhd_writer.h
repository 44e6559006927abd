// The fixed VHD writer (Microsoft "Virtual Hard Disk Image Format Specification" 1.0): the raw
// disk, rounded up to a whole MiB, then a 512-byte footer. The format Azure takes for images and
// one AWS VM import accepts. Flow: assemble (builder/) → disk_source() → write_vhd_fixed().
#pragma once
#include <cstdint>
#include <string>

#include "common/digest.h"
#include "formats/disk_source.h"

namespace mi {

struct VhdOptions {
  uint64_t timestamp = 0;  // SOURCE_DATE_EPOCH (Unix seconds); written as seconds since 2000-01-01 UTC (clamped at 0)
  Uuid uuid{};             // from mi::derive_uuid(seed, ...) by the caller (common/digest.h)
};

// Writes the disk as a fixed VHD (the data, then the 512-byte footer) to `path` (created or
// truncated; the caller commits by rename). The virtual size is rounded up to a whole MiB (Azure
// requires it; AWS VM import accepts fixed VHD), the footer's current/original size is that
// size. Sparse: zero data left as holes. fsyncs before returning.
void write_vhd_fixed(const DiskReader& disk, const std::string& path, const VhdOptions& o = {});

// The virtual size of the VHD of a disk of `disk_size` bytes: rounded up to a whole MiB.
uint64_t vhd_virtual_size(uint64_t disk_size);

// The footer's disk geometry for a disk of `size_bytes`, by the specification's CHS algorithm
// (appendix "CHS Calculation"): at most 65535 cylinders, 16 heads, 255 sectors per track.
struct VhdGeometry {
  uint16_t cylinders = 0;
  uint8_t heads = 0;
  uint8_t sectors_per_track = 0;
};
VhdGeometry vhd_geometry(uint64_t size_bytes);

}  // namespace mi

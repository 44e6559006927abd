// The disk formats, by name, written from one DiskReader: each output appears whole by atomic
// rename (a killed run leaves a temporary that the next run removes). What `mibuild build`
// and `mibuild convert` call; the per-format writers are in raw.h, qcow2_writer.h,
// vmdk_writer.h and vhd_writer.h.
// Flow: assemble (builder/) → disk_source() → write_disk_format() → out_dir.
#pragma once
#include <string>
#include <vector>

#include "common/digest.h"
#include "formats/disk_source.h"

namespace mi {

struct DiskFormatOptions {
  std::string compression;  // qcow2: "" / "none", "zlib" or "zstd"
  int threads = 0;          // compression threads; 0: every core
  uint64_t epoch = 0;       // SOURCE_DATE_EPOCH: the timestamps formats carry (VHD footer)
  Uuid uuid{};              // the identity formats carry (VHD footer; VMDK CID from it)
};

// "raw", "qcow2", "vmdk" (streamOptimized), "vhd" (fixed).
const std::vector<std::string>& disk_formats();

// Writes `disk` as `format` to `path`, atomically. Throws mi::Error naming the path or the format.
void write_disk_format(const std::string& format, const DiskReader& disk, const std::string& path,
                       const DiskFormatOptions& o = {});

}  // namespace mi

// Our own streamOptimized VMDK writer (VMware "Virtual Disk Format 5.0", stream-optimized
// compressed sparse extent): the subformat VirtualBox imports and an OVA carries. It streams the
// disk from a DiskReader (no raw disk is written): header and embedded descriptor, then each
// non-zero 64 KiB grain deflated (in parallel, written in disk order), each grain table after
// the grains it covers, the grain directory, the footer and the end-of-stream marker.
// Flow: assemble (builder/) → disk_source() → write_vmdk_stream_optimized() → out_dir.
#pragma once
#include <cstdint>
#include <string>

#include "formats/disk_source.h"

namespace mi {

struct VmdkOptions {
  int threads = 0;                   // deflate threads; 0: std::thread::hardware_concurrency()
  uint32_t cid = 0;                  // descriptor CID, derived from content/seed by the caller; 0: 00000001.
                                     //   not ffffffff/fffffffe, which some software reads as "no parent" / "all zero"
  std::string adapter = "lsilogic";  // ddb.adapterType: ide, buslogic, lsilogic or legacyESX
  std::string file_name;             // the extent line's file name; empty: the base name of `path`
                                     //   (a caller writing to a temp name passes the final name)
};

// Writes the disk as a monolithic streamOptimized VMDK to `path` (created or truncated; the
// caller writes a temp name and commits by rename). fsyncs before returning. Throws mi::Error
// naming `path` (or the option) on bad options (adapter, file name, a reserved CID), an empty disk, a disk whose
// compressed grains would lie past 2 TiB in the file (32-bit grain table entries), and on I/O errors.
void write_vmdk_stream_optimized(const DiskReader& disk, const std::string& path, const VmdkOptions& o = {});

}  // namespace mi

// Our own qcow2 (version 3) writer: streams the virtual disk from a DiskReader into a qcow2 file,
// without a raw intermediate. All-zero clusters are not stored; with compression each stored
// cluster is compressed (zlib or zstd, on several threads, output in disk order) and packed
// byte-wise into host clusters as qemu does. Checked against qemu-img (check, info, compare).
// Flow: assemble (builder/) → disk_source() → write_qcow2() → out_dir (by rename).
#pragma once
#include <string>

#include "formats/disk_source.h"

namespace mi {

struct Qcow2Options {
  std::string compression;  // "" (none), "zlib" or "zstd" (compression_type header field, qemu >= 5.1)
  int threads = 0;          // compression threads; 0: std::thread::hardware_concurrency()
  int cluster_bits = 16;    // 64 KiB clusters (9 to 21: qemu opens 512 bytes to 2 MiB)
};

// Writes the disk as qcow2 version 3 to `path` (created or truncated; the caller writes a temp
// name and commits by rename). All-zero clusters are not stored. fsyncs before returning.
// An unknown compression or cluster_bits out of range is an mi::Error naming the option.
void write_qcow2(const DiskReader& disk, const std::string& path, const Qcow2Options& o = {});

}  // namespace mi

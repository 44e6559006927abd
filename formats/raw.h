// The raw disk writer: the disk streamed from its DiskReader into one sparse file, only the
// 4 KiB blocks that hold a non-zero byte written, so a mostly empty /var costs no disk space.
// Flow: assemble (builder/) → disk_source() → write_raw_sparse() (and write_disk_data() under
// the fixed VHD writer, whose data part is the raw disk).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "formats/disk_source.h"
#include "formats/gpt.h"

namespace mi {

// Writes the disk's bytes into the open `fd` at the same offsets: only the disk-aligned 4 KiB
// blocks inside data_ranges() that hold a non-zero byte, each run of them in one pwrite. The
// caller has sized the file (ftruncate) to at least disk.size(), so what is not written stays a
// hole that reads as zeros. `path` names the file in errors. Returns the bytes written.
uint64_t write_disk_data(const DiskReader& disk, int fd, const std::string& path);

// Writes the disk to `path` (created or truncated, mode 0644; not renamed: the caller writes to
// a temporary name and commits) as a sparse file of exactly disk.size() bytes; fsyncs.
void write_raw_sparse(const DiskReader& disk, const std::string& path);

// The GPT disk with its partition images: write_raw_sparse() of disk_source(disk, images).
// images[i] is the content of disk.partitions[i]; it must fit its partition.
void write_raw_disk(const std::string& path, const GptDisk& disk, const std::vector<std::string>& images);

// Bytes allocated on disk for `path` (st_blocks * 512): how sparse a file is.
uint64_t allocated_bytes(const std::string& path);

}  // namespace mi

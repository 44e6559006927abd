// The raw disk writer: one sparse file holding the GPT and the partition images at their
// offsets; all-zero blocks are left as holes so a mostly empty /var costs no disk space.
// Flow: assemble (builder/) → write_raw_disk() → qcow2_convert.h (other formats from the raw).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "formats/gpt.h"

namespace mi {

// Writes `disk` to `path` (created or truncated; not renamed: the caller writes to a temp name
// and commits). images[i] is the content of disk.partitions[i]; it must fit its partition.
void write_raw_disk(const std::string& path, const GptDisk& disk, const std::vector<std::string>& images);

// Copies `src` into the open `fd` at `offset`, skipping all-zero 4 KiB blocks (holes).
// Returns the number of bytes actually written.
uint64_t copy_sparse(const std::string& src, int fd, uint64_t offset);

// Bytes allocated on disk for `path` (st_blocks * 512): how sparse a file is.
uint64_t allocated_bytes(const std::string& path);

}  // namespace mi

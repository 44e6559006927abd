// The virtual disk the format writers read, without a raw disk ever being written: its size and
// a list of extents, each backed by bytes in memory (the GPT's primary and backup parts), a
// range of a file (a partition image) or nothing (zeros). A reader gives any range's bytes and
// the ranges that may hold data (file holes and gaps are known zero without reading).
// Flow: assemble (builder/) → disk_source() → raw / qcow2 / vmdk / vhd writers (formats/).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "formats/gpt.h"

namespace mi {

struct DiskExtent {
  uint64_t offset = 0;  // on the virtual disk, in bytes
  uint64_t length = 0;
  std::string file;           // non-empty: bytes [file_offset, file_offset + length) of this file;
  uint64_t file_offset = 0;   //   past the file's end they read as zeros
  std::string bytes;          // file empty: these bytes (bytes.size() == length)
};

struct DiskSource {
  uint64_t size = 0;                // virtual size in bytes, a multiple of 512
  std::vector<DiskExtent> extents;  // sorted by offset, non-overlapping; gaps read as zeros
};

// The GPT disk: primary GPT, each partition's image at its first LBA, backup GPT. images[i] is
// the content of disk.partitions[i]; each must exist and fit its partition (mi::Error naming
// the image and the partition otherwise).
DiskSource disk_source(const GptDisk& disk, const std::vector<std::string>& images);

// A whole file as the disk (converting an existing raw disk; tests; the bench). Its size is
// rounded up to 512 bytes (the tail reads as zeros).
DiskSource file_disk_source(const std::string& path);

// Reads a DiskSource. Opens each file once; read() is pread-based and safe to call from
// several threads at once.
class DiskReader {
 public:
  explicit DiskReader(const DiskSource& source);
  ~DiskReader();
  DiskReader(const DiskReader&) = delete;
  DiskReader& operator=(const DiskReader&) = delete;

  uint64_t size() const { return src_.size; }
  // Fills buf[0, len) with the disk's bytes at `offset` (offset + len <= size()).
  void read(uint64_t offset, uint64_t len, uint8_t* buf) const;
  // The ranges of the disk that may hold non-zero bytes (sorted, disjoint, merged), from the
  // extents and the files' data segments (SEEK_DATA/SEEK_HOLE): everything else is zero.
  // A writer may skip what lies outside them without reading it.
  const std::vector<std::pair<uint64_t, uint64_t>>& data_ranges() const { return data_; }  // {offset, length}

 private:
  DiskSource src_;
  std::vector<int> fds_;  // per extent, -1 for memory extents
  std::vector<std::pair<uint64_t, uint64_t>> data_;
};

// True when all n bytes are zero (fast: word at a time).
bool is_zero(const uint8_t* p, size_t n);

}  // namespace mi

// Sparse raw writer: ftruncate to the disk's size, then pwrite of the non-zero 4 KiB blocks
// of the data ranges only; everything else stays a hole.
#include "formats/raw.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/error.h"
#include "common/files.h"

namespace mi {
namespace {

constexpr uint64_t kBlock = 4096;     // the unit of holes: a file system block
constexpr uint64_t kChunk = 1 << 20;  // bytes read from the disk at a time

// The data ranges widened to whole 4 KiB blocks of the disk (the last one ends at the disk's
// end) and merged, as [from, to).
std::vector<std::pair<uint64_t, uint64_t>> block_spans(const DiskReader& disk) {
  std::vector<std::pair<uint64_t, uint64_t>> spans;
  for (auto [off, len] : disk.data_ranges()) {
    uint64_t from = off / kBlock * kBlock;
    uint64_t to = std::min(disk.size(), (off + len + kBlock - 1) / kBlock * kBlock);
    if (!spans.empty() && spans.back().second >= from)
      spans.back().second = std::max(spans.back().second, to);
    else
      spans.push_back({from, to});
  }
  return spans;
}

}  // namespace

uint64_t allocated_bytes(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) throw Error(path, std::string("stat: ") + strerror(errno));
  return uint64_t(st.st_blocks) * 512;
}

uint64_t write_disk_data(const DiskReader& disk, int fd, const std::string& path) {
  std::vector<uint8_t> buf(kChunk);
  uint64_t written = 0;
  for (auto [from, to] : block_spans(disk)) {
    for (uint64_t pos = from; pos < to; pos += kChunk) {
      size_t n = size_t(std::min(kChunk, to - pos));
      disk.read(pos, n, buf.data());
      // Each maximal run of non-zero blocks in one write (pos is block-aligned, so are the blocks).
      size_t i = 0;
      while (i < n) {
        size_t len = size_t(std::min<uint64_t>(kBlock, n - i));
        if (is_zero(buf.data() + i, len)) {
          i += len;
          continue;
        }
        size_t j = i + len;
        while (j < n) {
          size_t l = size_t(std::min<uint64_t>(kBlock, n - j));
          if (is_zero(buf.data() + j, l)) break;
          j += l;
        }
        pwrite_all(fd, buf.data() + i, j - i, pos + i, path);
        written += j - i;
        i = j;
      }
    }
  }
  return written;
}

void write_raw_sparse(const DiskReader& disk, const std::string& path) {
  UniqueFd out = create_file(path);
  if (ftruncate(out.fd, off_t(disk.size())) != 0) throw Error(path, std::string("truncate: ") + strerror(errno));
  write_disk_data(disk, out.fd, path);
  fsync_or_throw(out.fd, path);
}

void write_raw_disk(const std::string& path, const GptDisk& disk, const std::vector<std::string>& images) {
  DiskReader reader(disk_source(disk, images));
  write_raw_sparse(reader, path);
}

}  // namespace mi

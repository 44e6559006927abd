// DiskSource: the assembled disk as extents (GPT bytes, partition image files, zeros), and the
// reader the format writers stream from.
#include "formats/disk_source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/error.h"

namespace mi {
namespace {

uint64_t file_size(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) throw Error(path, std::string("stat: ") + strerror(errno));
  if (!S_ISREG(st.st_mode)) throw Error(path, "not a regular file");
  return uint64_t(st.st_size);
}

void pread_all(int fd, uint8_t* p, size_t n, uint64_t off, const std::string& what) {
  while (n > 0) {
    ssize_t r = pread(fd, p, n, off_t(off));
    if (r < 0) {
      if (errno == EINTR) continue;
      throw Error(what, std::string("read: ") + strerror(errno));
    }
    if (r == 0) {  // past the end (the file shrank, or the extent is longer): zeros
      memset(p, 0, n);
      return;
    }
    p += r;
    n -= size_t(r);
    off += uint64_t(r);
  }
}

// The data segments of [from, to) of an open file, by SEEK_DATA/SEEK_HOLE (a file system
// without them reports all of it as data).
std::vector<std::pair<uint64_t, uint64_t>> file_data(int fd, uint64_t from, uint64_t to) {
  std::vector<std::pair<uint64_t, uint64_t>> v;
  uint64_t pos = from;
  while (pos < to) {
    off_t d = lseek(fd, off_t(pos), SEEK_DATA);
    if (d < 0) {
      if (errno == ENXIO) break;  // no data after pos
      v.push_back({pos, to - pos});
      break;
    }
    if (uint64_t(d) >= to) break;
    off_t h = lseek(fd, d, SEEK_HOLE);
    uint64_t end = h < 0 ? to : std::min<uint64_t>(uint64_t(h), to);
    v.push_back({uint64_t(d), end - uint64_t(d)});
    pos = end;
  }
  return v;
}

}  // namespace

bool is_zero(const uint8_t* p, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    memcpy(&w, p + i, 8);
    if (w) return false;
  }
  for (; i < n; i++)
    if (p[i]) return false;
  return true;
}

DiskSource disk_source(const GptDisk& disk, const std::vector<std::string>& images) {
  if (images.size() != disk.partitions.size())
    throw Error("disk", "one image per partition expected (" + std::to_string(disk.partitions.size()) +
                            " partitions, " + std::to_string(images.size()) + " images)");
  DiskSource s;
  s.size = disk.size_bytes;
  std::string primary = gpt_primary(disk);
  s.extents.push_back({0, primary.size(), "", 0, primary});
  for (size_t i = 0; i < images.size(); i++) {
    const auto& p = disk.partitions[i];
    uint64_t cap = (p.last_lba - p.first_lba + 1) * kSector, n = file_size(images[i]);
    if (n > cap)
      throw Error(images[i], "image (" + std::to_string(n) + " bytes) larger than partition '" + p.name + "' (" +
                                 std::to_string(cap) + " bytes)");
    if (n) s.extents.push_back({p.first_lba * kSector, n, images[i], 0, ""});
  }
  std::string backup = gpt_backup(disk);
  s.extents.push_back({gpt_backup_offset(disk), backup.size(), "", 0, backup});
  std::sort(s.extents.begin(), s.extents.end(), [](auto& a, auto& b) { return a.offset < b.offset; });
  for (size_t i = 1; i < s.extents.size(); i++)
    if (s.extents[i - 1].offset + s.extents[i - 1].length > s.extents[i].offset)
      throw Error("disk", "extents overlap at byte " + std::to_string(s.extents[i].offset));
  return s;
}

DiskSource file_disk_source(const std::string& path) {
  DiskSource s;
  uint64_t n = file_size(path);
  s.size = (n + kSector - 1) / kSector * kSector;
  if (n) s.extents.push_back({0, n, path, 0, ""});
  return s;
}

DiskReader::DiskReader(const DiskSource& source) : src_(source) {
  for (const auto& e : src_.extents) {
    if (e.offset + e.length > src_.size)
      throw Error("disk", "extent at byte " + std::to_string(e.offset) + " ends past the disk's size");
    int fd = -1;
    if (!e.file.empty()) {
      fd = open(e.file.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) {
        for (int f : fds_)
          if (f >= 0) close(f);
        throw Error(e.file, std::string("open: ") + strerror(errno));
      }
    }
    fds_.push_back(fd);
  }
  // Data ranges in disk coordinates, merged.
  for (size_t i = 0; i < src_.extents.size(); i++) {
    const auto& e = src_.extents[i];
    if (fds_[i] < 0) {
      data_.push_back({e.offset, e.length});
      continue;
    }
    for (auto [off, len] : file_data(fds_[i], e.file_offset, e.file_offset + e.length))
      data_.push_back({e.offset + (off - e.file_offset), len});
  }
  std::vector<std::pair<uint64_t, uint64_t>> merged;
  for (auto r : data_) {
    if (!merged.empty() && merged.back().first + merged.back().second >= r.first)
      merged.back().second =
          std::max(merged.back().first + merged.back().second, r.first + r.second) - merged.back().first;
    else
      merged.push_back(r);
  }
  data_ = std::move(merged);
}

DiskReader::~DiskReader() {
  for (int f : fds_)
    if (f >= 0) close(f);
}

void DiskReader::read(uint64_t offset, uint64_t len, uint8_t* buf) const {
  if (offset + len > src_.size || offset + len < offset)
    throw Error("disk", "read of " + std::to_string(len) + " bytes at " + std::to_string(offset) +
                            " past the disk's size " + std::to_string(src_.size));
  memset(buf, 0, len);
  // The first extent that ends after offset.
  auto it = std::upper_bound(src_.extents.begin(), src_.extents.end(), offset,
                             [](uint64_t o, const DiskExtent& e) { return o < e.offset + e.length; });
  for (; it != src_.extents.end() && it->offset < offset + len; ++it) {
    uint64_t from = std::max(offset, it->offset), to = std::min(offset + len, it->offset + it->length);
    uint8_t* dst = buf + (from - offset);
    if (int fd = fds_[size_t(it - src_.extents.begin())]; fd >= 0)
      pread_all(fd, dst, to - from, it->file_offset + (from - it->offset), it->file);
    else
      memcpy(dst, it->bytes.data() + (from - it->offset), to - from);
  }
}

}  // namespace mi

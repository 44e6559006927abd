// Sparse raw writer: pwrite of non-zero runs only, ftruncate for the full size.
#include "formats/raw.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "common/error.h"

namespace mi {
namespace {

struct Fd {
  int fd = -1;
  ~Fd() { if (fd >= 0) close(fd); }
};

void pwrite_all(int fd, const char* p, size_t n, uint64_t off, const std::string& what) {
  while (n > 0) {
    ssize_t w = pwrite(fd, p, n, off_t(off));
    if (w < 0) {
      if (errno == EINTR) continue;
      throw Error(what, std::string("write: ") + strerror(errno));
    }
    p += w; n -= size_t(w); off += uint64_t(w);
  }
}

bool all_zero(const char* p, size_t n) {
  for (size_t i = 0; i < n; i++) if (p[i]) return false;
  return true;
}

uint64_t file_size(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) throw Error(path, std::string("stat: ") + strerror(errno));
  return uint64_t(st.st_size);
}

}  // namespace

uint64_t allocated_bytes(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) throw Error(path, std::string("stat: ") + strerror(errno));
  return uint64_t(st.st_blocks) * 512;
}

uint64_t copy_sparse(const std::string& src, int fd, uint64_t offset) {
  Fd in{open(src.c_str(), O_RDONLY | O_CLOEXEC)};
  if (in.fd < 0) throw Error(src, std::string("open: ") + strerror(errno));
  constexpr size_t kChunk = 1 << 20, kBlock = 4096;
  std::unique_ptr<char[]> buf(new char[kChunk]);
  uint64_t pos = 0, written = 0;
  for (;;) {
    ssize_t got = pread(in.fd, buf.get(), kChunk, off_t(pos));
    if (got < 0) {
      if (errno == EINTR) continue;
      throw Error(src, std::string("read: ") + strerror(errno));
    }
    if (got == 0) break;
    // Write each maximal run of non-zero blocks in one call.
    size_t n = size_t(got), i = 0;
    while (i < n) {
      size_t len = std::min(kBlock, n - i);
      if (all_zero(buf.get() + i, len)) { i += len; continue; }
      size_t j = i + len;
      while (j < n) {
        size_t l2 = std::min(kBlock, n - j);
        if (all_zero(buf.get() + j, l2)) break;
        j += l2;
      }
      pwrite_all(fd, buf.get() + i, j - i, offset + pos + i, src);
      written += j - i;
      i = j;
    }
    pos += uint64_t(got);
  }
  return written;
}

void write_raw_disk(const std::string& path, const GptDisk& disk, const std::vector<std::string>& images) {
  if (images.size() != disk.partitions.size()) throw Error(path, "one image per partition expected");
  for (size_t i = 0; i < images.size(); i++) {
    const auto& p = disk.partitions[i];
    uint64_t cap = (p.last_lba - p.first_lba + 1) * kSector;
    if (file_size(images[i]) > cap)
      throw Error(images[i], "image (" + std::to_string(file_size(images[i])) + " bytes) larger than partition '" +
                                 p.name + "' (" + std::to_string(cap) + " bytes)");
  }
  Fd out{open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)};
  if (out.fd < 0) throw Error(path, std::string("create: ") + strerror(errno));
  if (ftruncate(out.fd, off_t(disk.size_bytes)) != 0) throw Error(path, std::string("truncate: ") + strerror(errno));
  std::string primary = gpt_primary(disk), backup = gpt_backup(disk);
  pwrite_all(out.fd, primary.data(), primary.size(), 0, path);
  for (size_t i = 0; i < images.size(); i++) copy_sparse(images[i], out.fd, disk.partitions[i].first_lba * kSector);
  pwrite_all(out.fd, backup.data(), backup.size(), gpt_backup_offset(disk), path);
  if (fsync(out.fd) != 0) throw Error(path, std::string("fsync: ") + strerror(errno));
}

}  // namespace mi

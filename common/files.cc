// Whole-file read and atomic write (temp + fsync + rename): outputs appear whole or not at all.
#include "common/files.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/error.h"

namespace mi {

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(path, std::string("cannot read: ") + strerror(errno));
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string temp_name_for(const std::string& path) {
  std::filesystem::path p(path);
  auto dir = p.parent_path();
  return (dir / ("." + p.filename().string() + ".tmp." + std::to_string(getpid()))).string();
}

static void fsync_dir(const std::string& path) {
  auto dir = std::filesystem::path(path).parent_path();
  int fd = open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
}

void remove_stale_temporaries(const std::string& path) {
  std::filesystem::path p(path);
  auto dir = p.parent_path().empty() ? std::filesystem::path(".") : p.parent_path();
  const std::string prefix = "." + p.filename().string() + ".tmp.";
  std::error_code ec;
  for (auto& e : std::filesystem::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    std::string digits = name.substr(prefix.size());
    if (digits.empty() || digits.size() > 10 || digits.find_first_not_of("0123456789") != std::string::npos) continue;
    long pid = std::stol(digits);
    if (pid == long(getpid())) continue;
    if (pid > 0 && kill(pid_t(pid), 0) == 0) continue;  // alive: a concurrent build's
    if (pid > 0 && errno == EPERM) continue;            // alive, another user's
    std::error_code rm;
    std::filesystem::remove(e.path(), rm);
  }
}

void commit_rename(const std::string& tmp, const std::string& path) {
  // The content first: a rename that reaches the disk before the data would leave a file of
  // zeros under the final name after a crash.
  int fd = open(tmp.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || fsync(fd) != 0) {
    int e = errno;
    if (fd >= 0) close(fd);
    unlink(tmp.c_str());
    throw Error(path, std::string("cannot flush before renaming into place: ") + strerror(e));
  }
  close(fd);
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    unlink(tmp.c_str());
    throw Error(path, std::string("cannot rename into place: ") + strerror(e));
  }
  fsync_dir(path);
}

void write_file_atomic(const std::string& path, const std::string& data, mode_t mode) {
  remove_stale_temporaries(path);
  std::string tmp = temp_name_for(path);
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) throw Error(path, std::string("cannot create: ") + strerror(errno));
  fchmod(fd, mode);  // not subject to umask: the mode asked for is the mode written
  size_t off = 0;
  while (off < data.size()) {
    ssize_t w = write(fd, data.data() + off, data.size() - off);
    if (w < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      close(fd);
      unlink(tmp.c_str());
      throw Error(path, std::string("cannot write: ") + strerror(e));
    }
    off += size_t(w);
  }
  if (fsync(fd) != 0 || close(fd) != 0) {
    unlink(tmp.c_str());
    throw Error(path, std::string("cannot flush: ") + strerror(errno));
  }
  commit_rename(tmp, path);
}

UniqueFd::~UniqueFd() {
  if (fd >= 0) close(fd);
}

UniqueFd create_file(const std::string& path, mode_t mode) {
  UniqueFd f(open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
  if (f.fd < 0) throw Error(path, std::string("create: ") + strerror(errno));
  return f;
}

void pwrite_all(int fd, const void* data, size_t n, uint64_t off, const std::string& what) {
  auto* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = pwrite(fd, p, n, off_t(off));
    if (w < 0) {
      if (errno == EINTR) continue;
      throw Error(what, std::string("write: ") + strerror(errno));
    }
    p += w;
    n -= size_t(w);
    off += uint64_t(w);
  }
}

void fsync_or_throw(int fd, const std::string& what) {
  if (fsync(fd) != 0) throw Error(what, std::string("fsync: ") + strerror(errno));
}

uint64_t free_bytes(const std::string& dir) {
  struct statvfs v {};
  if (statvfs(dir.c_str(), &v) != 0) throw Error(dir, std::string("statvfs: ") + strerror(errno));
  return uint64_t(v.f_bavail) * v.f_frsize;
}

void require_free_space(const std::string& dir, uint64_t need, const std::string& what) {
  uint64_t have = free_bytes(dir);
  if (have >= need) return;
  auto mb = [](uint64_t b) { return std::to_string((b + (1 << 20) - 1) >> 20) + " MiB"; };
  throw Error(
      dir, mb(have) + " free, but " + what + " needs about " + mb(need) + "; free some space or use another directory");
}

}  // namespace mi

// File helpers: whole-file read, the atomic write (temp file in the same directory, fsync,
// rename) through which every output of the project appears, and the few descriptor-level
// helpers the streaming writers (formats/) share.
#pragma once
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace mi {

std::string read_file(const std::string& path);
// Writes `data` to `path` atomically with `mode`; never leaves a half-written `path`.
void write_file_atomic(const std::string& path, const std::string& data, mode_t mode = 0644);
// Renames a finished temporary output onto its final name (same file system): fsyncs the
// temporary's content first, renames, then fsyncs the directory, so that after a crash `path`
// is either the old file or the whole new one.
void commit_rename(const std::string& tmp, const std::string& path);
// A temporary name next to `path`, unique to this process: "<dir>/.<name>.tmp.<pid>".
std::string temp_name_for(const std::string& path);
// Removes the temporaries of `path` ("<dir>/.<name>.tmp.<pid>") left by processes that no longer
// run (a killed build); those of live processes (a concurrent build) are left alone.
void remove_stale_temporaries(const std::string& path);

// An open file descriptor, closed when it goes out of scope (-1: none).
struct UniqueFd {
  int fd = -1;
  UniqueFd() = default;
  explicit UniqueFd(int f) : fd(f) {}
  UniqueFd(UniqueFd&& o) noexcept : fd(o.fd) { o.fd = -1; }
  UniqueFd& operator=(UniqueFd&&) = delete;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd();
};
// Creates or truncates `path` for writing (O_CLOEXEC, `mode`); mi::Error{path, "create: ..."}.
UniqueFd create_file(const std::string& path, mode_t mode = 0644);
// Writes all n bytes at `off` (EINTR retried); mi::Error{what, "write: ..."} otherwise.
void pwrite_all(int fd, const void* p, size_t n, uint64_t off, const std::string& what);
// fsync, or mi::Error{what, "fsync: ..."}.
void fsync_or_throw(int fd, const std::string& what);

// Bytes available to this process on the file system holding `dir` (statvfs f_bavail).
uint64_t free_bytes(const std::string& dir);

// Throws mi::Error naming `dir` when its file system has fewer than `need` bytes free, saying
// how much is free, what needs the space (`what`) and how much it needs.
void require_free_space(const std::string& dir, uint64_t need, const std::string& what);

}  // namespace mi

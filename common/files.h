// File helpers: whole-file read, and the atomic write (temp file in the same directory,
// fsync, rename) through which every output of the project appears.
#pragma once
#include <string>
#include <sys/types.h>

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

}  // namespace mi

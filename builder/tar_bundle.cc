// write_tar (tar_bundle.h): libarchive's pax writer (gzip filter without a timestamp) onto a
// temporary next to the output, renamed into place once whole.
#include "builder/tar_bundle.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "common/error.h"
#include "common/files.h"

namespace mi {
namespace {

constexpr size_t kChunk = 1 << 20;

// The archive being written; freed on every path (its file is a UniqueFd beside it).
struct Writer {
  std::string out;
  archive* a = archive_write_new();
  ~Writer() {
    if (a) archive_write_free(a);
  }
  [[noreturn]] void fail(const std::string& what) const {
    const char* e = archive_error_string(a);
    throw Error(out, what + ": " + (e ? e : "libarchive error"));
  }
};

void add_entry(Writer& w, const TarEntry& t, uint64_t epoch) {
  UniqueFd in;
  uint64_t size = t.data.size();
  if (!t.file.empty()) {
    in.fd = open(t.file.c_str(), O_RDONLY | O_CLOEXEC);
    struct stat st {};
    if (in.fd < 0 || fstat(in.fd, &st) != 0) throw Error(t.file, std::string("cannot read: ") + strerror(errno));
    size = uint64_t(st.st_size);
  }
  archive_entry* e = archive_entry_new();
  archive_entry_set_pathname(e, t.name.c_str());
  archive_entry_set_filetype(e, t.directory ? AE_IFDIR : AE_IFREG);
  archive_entry_set_perm(e, t.mode);
  archive_entry_set_size(e, t.directory ? 0 : la_int64_t(size));
  archive_entry_set_uid(e, 0);
  archive_entry_set_gid(e, 0);
  archive_entry_set_mtime(e, time_t(epoch), 0);
  int rc = archive_write_header(w.a, e);
  archive_entry_free(e);
  if (rc != ARCHIVE_OK) w.fail("header of " + t.name);
  if (t.directory) return;
  if (in.fd < 0) {
    if (archive_write_data(w.a, t.data.data(), t.data.size()) != la_ssize_t(t.data.size())) w.fail("data of " + t.name);
    return;
  }
  std::string buf(kChunk, '\0');
  uint64_t done = 0;
  while (done < size) {
    ssize_t n = read(in.fd, buf.data(), size_t(std::min<uint64_t>(kChunk, size - done)));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error(t.file, std::string("read: ") + strerror(errno));
    if (n == 0) throw Error(t.file, "changed size while being archived");
    if (archive_write_data(w.a, buf.data(), size_t(n)) != la_ssize_t(n)) w.fail("data of " + t.name);
    done += uint64_t(n);
  }
}

void write_to(const std::string& tmp, const std::string& out, const std::vector<TarEntry>& entries, uint64_t epoch,
              bool gzip) {
  UniqueFd file = create_file(tmp);  // outlives the archive, which may still write on free
  Writer w{out};
  if (archive_write_set_format_pax_restricted(w.a) != ARCHIVE_OK) w.fail("pax format");
  if (gzip) {
    if (archive_write_add_filter_gzip(w.a) != ARCHIVE_OK) w.fail("gzip filter");
    // No time in the gzip header: the same inputs give the same bytes.
    if (archive_write_set_filter_option(w.a, "gzip", "timestamp", nullptr) != ARCHIVE_OK) w.fail("gzip timestamp");
  }
  if (archive_write_open_fd(w.a, file.fd) != ARCHIVE_OK) w.fail("open");
  for (const auto& t : entries) add_entry(w, t, epoch);
  if (archive_write_close(w.a) != ARCHIVE_OK) w.fail("close");
}

}  // namespace

void write_tar(const std::string& out, std::vector<TarEntry> entries, uint64_t epoch, bool gzip) {
  std::sort(entries.begin(), entries.end(), [](const TarEntry& a, const TarEntry& b) { return a.name < b.name; });
  for (size_t i = 1; i < entries.size(); i++)
    if (entries[i].name == entries[i - 1].name) throw Error(out, "two tar entries named '" + entries[i].name + "'");
  std::filesystem::path dir = std::filesystem::path(out).parent_path();
  if (!dir.empty()) std::filesystem::create_directories(dir);
  remove_stale_temporaries(out);
  std::string tmp = temp_name_for(out);
  try {
    write_to(tmp, out, entries, epoch, gzip);
    commit_rename(tmp, out);
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    throw;
  }
}

}  // namespace mi

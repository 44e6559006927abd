// The rootfs tar writer: our own walk of the tree (sorted, no symlink followed, no mount
// crossed), each file's metadata read by libarchive's read_disk (xattrs, ACLs, file flags),
// made deterministic (names from the tree's passwd/group, clamped whole-second mtimes, no
// atime/ctime, sorted xattrs, numeric ACL qualifiers), and written as pax (restricted: a
// plain ustar header unless an entry needs more; xattrs as SCHILY.xattr.*, ACLs as
// SCHILY.acl.*). libarchive names each pax extended header "<dir>/PaxHeader/<name>" (no pid)
// and, given the gzip option below, writes no timestamp in the gzip header.
#include "formats/tar_writer.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <locale.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <sstream>
#include <tuple>
#include <utility>
#include <vector>

#include "common/error.h"
#include "common/files.h"

namespace fs = std::filesystem;

namespace mi {
namespace {

// id → name from the tree's /etc/passwd or /etc/group ("name:x:id:..."); the first name of an
// id wins, as getpwuid() answers. Empty when the file is missing, or is (or is under) a
// symlink, which could point out of the tree.
std::map<la_int64_t, std::string> id_names(const std::string& root, const std::string& file) {
  std::map<la_int64_t, std::string> names;
  std::error_code ec;
  fs::path etc = fs::path(root) / "etc";
  if (!fs::is_directory(fs::symlink_status(etc, ec)) || !fs::is_regular_file(fs::symlink_status(etc / file, ec)))
    return names;
  std::istringstream in(read_file((etc / file).string()));
  std::string line;
  while (std::getline(in, line)) {
    size_t a = line.find(':');
    size_t b = a == std::string::npos ? a : line.find(':', a + 1);
    size_t c = b == std::string::npos ? b : line.find(':', b + 1);
    if (c == std::string::npos || a == 0) continue;
    std::string id = line.substr(b + 1, c - b - 1);
    if (id.empty() || id.size() > 10 || id.find_first_not_of("0123456789") != std::string::npos) continue;
    names.emplace(std::stoll(id), line.substr(0, a));
  }
  return names;
}

// libarchive's uname/gname lookup hook, answering from one of the maps above.
const char* lookup_name(void* names, la_int64_t id) {
  auto& m = *static_cast<std::map<la_int64_t, std::string>*>(names);
  auto it = m.find(id);
  return it == m.end() ? nullptr : it->second.c_str();
}

struct Node {
  std::string name;  // in the archive: "." or "./etc/passwd"
  std::string path;  // on disk
  struct stat st;
};

struct stat lstat_or_throw(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) throw Error(path, std::string("cannot read: ") + strerror(errno));
  return st;
}

// Appends the entries below the directory `dir` (archive name `name`): each directory's
// names in byte order, a subdirectory's contents right after it; a directory on another file
// system than `dev` is listed, not entered.
void walk(const std::string& dir, const std::string& name, dev_t dev, std::vector<Node>& out) {
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    names.push_back(it->path().filename().string());
  if (ec) throw Error(dir, "cannot list: " + ec.message());
  std::sort(names.begin(), names.end());
  for (const auto& n : names) {
    Node node{name + "/" + n, dir + "/" + n, lstat_or_throw(dir + "/" + n)};
    bool enter = S_ISDIR(node.st.st_mode) && node.st.st_dev == dev;
    out.push_back(node);
    if (enter) walk(node.path, node.name, dev, out);
  }
}

// While libarchive converts names to the UTF-8 of pax headers, the thread's character set is
// UTF-8: a UTF-8 file name (Debian has some, e.g. in /usr/share/ca-certificates) is then kept
// as it is. Under the "C" locale libarchive cannot convert it and marks the entry
// hdrcharset=BINARY instead (still the same bytes on extraction). Names that are not valid
// UTF-8 get that marking either way.
struct Utf8Ctype {
  locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", locale_t(0));
  locale_t old = utf8 ? uselocale(utf8) : locale_t(0);
  Utf8Ctype() = default;
  Utf8Ctype(const Utf8Ctype&) = delete;
  Utf8Ctype& operator=(const Utf8Ctype&) = delete;
  ~Utf8Ctype() {
    if (!utf8) return;
    uselocale(old);
    freelocale(utf8);
  }
};

using Writer = std::unique_ptr<archive, decltype(&archive_write_free)>;
using DiskReader = std::unique_ptr<archive, decltype(&archive_read_free)>;
using Entry = std::unique_ptr<archive_entry, decltype(&archive_entry_free)>;

std::string why(archive* a, const std::string& what) {
  const char* s = archive_error_string(a);
  return what + ": " + (s ? s : "libarchive error");
}

// The entry's xattrs in name order (listxattr's order is the file system's).
void sort_xattrs(archive_entry* e) {
  std::vector<std::pair<std::string, std::string>> xs;
  archive_entry_xattr_reset(e);
  const char* name;
  const void* value;
  size_t size;
  while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK)
    xs.emplace_back(name, std::string(static_cast<const char*>(value), size));
  std::sort(xs.begin(), xs.end());
  archive_entry_xattr_clear(e);
  // xattr_add_entry() puts an entry first in the list: the last added is the first written.
  for (auto it = xs.rbegin(); it != xs.rend(); ++it)
    archive_entry_xattr_add_entry(e, it->first.c_str(), it->second.data(), it->second.size());
}

// The entry's ACL entries with numeric qualifiers only ("user:1234:rw-", not
// "user:alice:rw-:1234"): GNU tar gives an ACL's text to acl_from_text(), which resolves a
// name on the extracting host (unknown there, or another id) and refuses the name-plus-id
// form; numeric ids mean the same in every tool, as the numeric owners do.
void numeric_acl(archive_entry* e) {
  struct Ace {
    int type, permset, tag, qual;
  };
  std::vector<Ace> aces;
  int types = archive_entry_acl_types(e);
  if (types == 0) return;
  archive_entry_acl_reset(e, types);
  Ace a;
  const char* name;
  while (archive_entry_acl_next(e, types, &a.type, &a.permset, &a.tag, &a.qual, &name) == ARCHIVE_OK) aces.push_back(a);
  archive_entry_acl_clear(e);
  for (const auto& x : aces) archive_entry_acl_add_entry(e, x.type, x.permset, x.tag, x.qual, nullptr);
}

// Streams exactly st_size bytes of `fd` into the archive's current entry.
void copy_data(archive* w, int fd, const Node& n, const std::string& out) {
  std::vector<char> buf(1 << 16);
  int64_t left = n.st.st_size;
  while (left > 0) {
    ssize_t r = read(fd, buf.data(), size_t(std::min<int64_t>(left, int64_t(buf.size()))));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) throw Error(n.path, std::string("read: ") + strerror(errno));
    if (r == 0) throw Error(n.path, "shrank while being archived");
    if (archive_write_data(w, buf.data(), size_t(r)) != r) throw Error(out, why(w, "write"));
    left -= r;
  }
  char c;
  if (read(fd, &c, 1) > 0) throw Error(n.path, "grew while being archived");
}

}  // namespace

void write_rootfs_tar(const std::string& root, const std::string& path, const TarOptions& o) {
  if (!o.compression.empty() && o.compression != "none" && o.compression != "zstd" && o.compression != "gzip")
    throw Error("compression", "unknown compression '" + o.compression + "' for tar (none, zstd or gzip)");
  const bool newc = o.format == "newc";
  if (!newc && o.format != "pax") throw Error("format", "unknown archive format '" + o.format + "' (pax or newc)");
  if (!newc && o.top != ".") throw Error("top", "a pax tar's top is always '.'");
  if (o.top.empty() || o.top[0] == '/' || o.top.back() == '/' || o.top.find("..") != std::string::npos)
    throw Error("top", "'" + o.top + "' must be a relative path without '..'");
  struct stat root_st = lstat_or_throw(root);
  if (!S_ISDIR(root_st.st_mode)) throw Error(root, "not a directory");
  std::vector<Node> nodes;
  // newc: the parents of `top` first (the kernel's unpacker makes no missing directory).
  for (size_t slash = o.top.find('/'); newc && slash != std::string::npos; slash = o.top.find('/', slash + 1))
    nodes.push_back({o.top.substr(0, slash), root, root_st});
  nodes.push_back({o.top, root, root_st});
  walk(root, o.top, root_st.st_dev, nodes);

  auto users = id_names(root, "passwd");
  auto groups = id_names(root, "group");
  Utf8Ctype utf8;  // before the archives exist: libarchive reads the character set once per archive

  DiskReader disk(archive_read_disk_new(), archive_read_free);
  if (!disk) throw Error(root, "libarchive: out of memory");
  archive_read_disk_set_symlink_physical(disk.get());
  // No sparse map (GNU.sparse headers would depend on where the file system left holes).
  if (archive_read_disk_set_behavior(disk.get(), ARCHIVE_READDISK_NO_SPARSE) != ARCHIVE_OK ||
      archive_read_disk_set_uname_lookup(disk.get(), &users, lookup_name, nullptr) != ARCHIVE_OK ||
      archive_read_disk_set_gname_lookup(disk.get(), &groups, lookup_name, nullptr) != ARCHIVE_OK)
    throw Error(root, why(disk.get(), "libarchive read_disk setup"));

  Writer w(archive_write_new(), archive_write_free);
  if (!w) throw Error(path, "libarchive: out of memory");
  int r = newc ? archive_write_set_format_cpio_newc(w.get()) : archive_write_set_format_pax_restricted(w.get());
  // xattrs as SCHILY.xattr.* only, which GNU tar reads too (it warns about every
  // LIBARCHIVE.xattr.* keyword, which libarchive also writes by default).
  if (r == ARCHIVE_OK && !newc) r = archive_write_set_format_option(w.get(), "pax", "xattrheader", "SCHILY");
  if (r == ARCHIVE_OK && o.compression == "zstd") r = archive_write_add_filter_zstd(w.get());
  if (r == ARCHIVE_OK && o.compression == "gzip") {
    r = archive_write_add_filter_gzip(w.get());
    if (r == ARCHIVE_OK) r = archive_write_set_filter_option(w.get(), "gzip", "timestamp", nullptr);
  }
  if (r != ARCHIVE_OK) throw Error(path, why(w.get(), "libarchive setup"));

  UniqueFd out = create_file(path);
  if (archive_write_open_fd(w.get(), out.fd) != ARCHIVE_OK) throw Error(path, why(w.get(), "open"));

  std::map<std::pair<dev_t, ino_t>, std::string> first_link;  // hard links: the first name written
  int64_t ino = 0;
  for (const auto& n : nodes) {
    if (S_ISSOCK(n.st.st_mode)) continue;  // tar has no socket type; a socket is a runtime thing
    Entry e(archive_entry_new(), archive_entry_free);
    if (!e) throw Error(n.path, "libarchive: out of memory");
    archive_entry_copy_sourcepath(e.get(), n.path.c_str());
    archive_entry_copy_pathname(e.get(), n.name.c_str());
    UniqueFd in;
    if (S_ISREG(n.st.st_mode)) {
      in.fd = open(n.path.c_str(), O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
      if (in.fd < 0) throw Error(n.path, std::string("open: ") + strerror(errno));
    }
    if (archive_read_disk_entry_from_file(disk.get(), e.get(), in.fd, &n.st) != ARCHIVE_OK)
      throw Error(n.path, why(disk.get(), "metadata"));
    archive_entry_set_mtime(e.get(), std::min<int64_t>(n.st.st_mtime, int64_t(o.epoch)), 0);
    archive_entry_unset_atime(e.get());
    archive_entry_unset_ctime(e.get());
    archive_entry_unset_birthtime(e.get());
    sort_xattrs(e.get());
    numeric_acl(e.get());
    bool data = S_ISREG(n.st.st_mode);
    if (newc) {
      // The initramfs unpacker needs neither; the build host's numbers would change the bytes.
      archive_entry_xattr_clear(e.get());
      archive_entry_acl_clear(e.get());
      archive_entry_set_dev(e.get(), 0);
      archive_entry_set_ino64(e.get(), ++ino);
      archive_entry_set_nlink(e.get(), S_ISDIR(n.st.st_mode) ? 2 : 1);
      if (n.name != o.top && n.path == root) archive_entry_set_mode(e.get(), S_IFDIR | 0755);
    } else if (n.st.st_nlink > 1 && !S_ISDIR(n.st.st_mode) && !S_ISLNK(n.st.st_mode)) {
      auto [it, first] = first_link.emplace(std::make_pair(n.st.st_dev, n.st.st_ino), n.name);
      if (!first) {
        archive_entry_copy_hardlink(e.get(), it->second.c_str());
        archive_entry_set_size(e.get(), 0);
        data = false;
      }
    }
    // ARCHIVE_WARN: a name kept as bytes (hdrcharset=BINARY), still written whole.
    if (archive_write_header(w.get(), e.get()) < ARCHIVE_WARN) throw Error(path, why(w.get(), n.path));
    if (data) copy_data(w.get(), in.fd, n, path);
  }
  if (archive_write_close(w.get()) != ARCHIVE_OK) throw Error(path, why(w.get(), "close"));
  fsync_or_throw(out.fd, path);
  int fd = out.fd;
  out.fd = -1;
  if (close(fd) != 0) throw Error(path, std::string("close: ") + strerror(errno));
}

}  // namespace mi

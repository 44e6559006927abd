// write_rootfs_tar() against other people's tools: bsdtar and GNU tar list the owners (numeric
// and the names of the tree's own /etc/passwd), modes, links and device numbers; extracted by
// either, getcap, getfattr and getfacl find the file capability, the user xattr and the ACL.
// The same tree gives the same bytes (a later mtime is clamped to the epoch), pax headers have
// stable names and no atime/ctime, zstd and gzip archives list the same; a missing root, an
// unwritable output or an unknown compression is an error naming it.
#include "formats/tar_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include "common/error.h"
#include "common/files.h"
#include "common/process.h"
#include "skip.h"
#include "temp_dir.h"

namespace fs = std::filesystem;

namespace {

const char* kUtf8Name = "F\xc5\x91tan\xc3\xbas\xc3\xadtv\xc3\xa1ny.crt";  // "Főtanúsítvány.crt"

// The oracles and what they need; false (after skip_or_fail) when one is missing.
bool have_oracles() {
  if (geteuid() != 0) {
    mi::test::skip_or_fail("the tar writer test builds its tree as root (mknod, chown, setcap)");
    return false;
  }
  const std::vector<std::pair<std::string, std::string>> tools = {
      {"bsdtar", "libarchive-tools"}, {"tar", "tar"},     {"setcap", "libcap2-bin"}, {"getcap", "libcap2-bin"},
      {"getfattr", "attr"},           {"setfacl", "acl"}, {"getfacl", "acl"}};
  for (const auto& [tool, pkg] : tools) {
    if (!mi::have_program(tool)) {
      mi::test::skip_or_fail(tool + " (" + pkg + ") is not installed");
      return false;
    }
  }
  return true;
}

void put(const std::string& path, const std::string& data, mode_t mode) {
  std::ofstream(path) << data;
  REQUIRE(chmod(path.c_str(), mode) == 0);
}

// The tree every test archives, under `dir`/root; returns its path.
std::string make_tree(const std::string& dir) {
  std::string r = dir + "/root";
  for (auto d : {"", "/etc", "/bin", "/dir", "/dir/sub"}) fs::create_directory(r + d);
  REQUIRE(chmod((r + "/dir").c_str(), 0750) == 0);
  put(r + "/etc/passwd", "root:x:0:0:root:/root:/bin/sh\nalice:x:1234:5678::/home/alice:/bin/sh\n", 0644);
  put(r + "/etc/group", "root:x:0:\nstaff:x:5678:\n", 0644);
  put(r + "/bin/plain", "plain\n", 0644);
  put(r + "/bin/tool", "#!/bin/sh\n", 0755);
  put(r + "/bin/suid", "suid\n", 04755);
  REQUIRE(link((r + "/bin/tool").c_str(), (r + "/bin/tool-hard").c_str()) == 0);
  REQUIRE(symlink("bin/tool", (r + "/link").c_str()) == 0);
  REQUIRE(symlink("/etc/shadow", (r + "/abs").c_str()) == 0);  // never followed to the host's
  REQUIRE(mkfifo((r + "/fifo").c_str(), 0640) == 0);
  REQUIRE(mknod((r + "/null").c_str(), S_IFCHR | 0666, makedev(1, 3)) == 0);
  REQUIRE(chmod((r + "/null").c_str(), 0666) == 0);
  put(r + "/owned", "alice's\n", 0600);
  REQUIRE(chown((r + "/owned").c_str(), 1234, 5678) == 0);
  put(r + "/xattr", "x\n", 0644);
  // listxattr() gives them in the order set (ext4), not sorted.
  REQUIRE(setxattr((r + "/xattr").c_str(), "user.mi", "hello", 5, 0) == 0);
  REQUIRE(setxattr((r + "/xattr").c_str(), "user.zz", "last", 4, 0) == 0);
  REQUIRE(setxattr((r + "/xattr").c_str(), "user.bb", "first", 5, 0) == 0);
  // A hole of 1 MiB, then data: archived as plain data, no GNU.sparse map.
  put(r + "/sparse", "", 0644);
  fs::resize_file(r + "/sparse", 1 << 20);
  std::ofstream(r + "/sparse", std::ios::in | std::ios::out | std::ios::binary).seekp(1 << 20) << "end";
  put(r + "/ping", "ping\n", 0755);
  mi::run({"setcap", "cap_net_raw+ep", r + "/ping"});
  put(r + "/acl", "acl\n", 0640);
  mi::run({"setfacl", "-m", "u:1234:rw", r + "/acl"});
  put(r + "/dir/sub/deep", "deep\n", 0644);
  put(r + "/" + kUtf8Name, "cert\n", 0644);
  return r;
}

// The line of `listing` (bsdtar or GNU tar -tv) for `name`, split on blanks.
std::vector<std::string> line_of(const std::string& listing, const std::string& name) {
  std::istringstream in(listing);
  std::string line;
  while (std::getline(in, line)) {
    size_t at = line.find(" " + name);
    if (at == std::string::npos) continue;
    std::string rest = line.substr(at + 1 + name.size());
    if (!rest.empty() && rest.rfind(" -> ", 0) != 0 && rest.rfind(" link to ", 0) != 0) continue;
    std::vector<std::string> words;
    std::istringstream w(line);
    for (std::string s; w >> s;) words.push_back(s);
    return words;
  }
  FAIL("no line for " << name << " in:\n" << listing);
  return {};
}

struct TarHeader {
  std::string name;
  char type;
  std::string body;  // of a pax extended header ('x', 'g')
};

// The ustar headers of an uncompressed tar, read by hand (name with prefix, size, type).
std::vector<TarHeader> tar_headers(const std::string& t) {
  std::vector<TarHeader> out;
  for (size_t off = 0; off + 512 <= t.size();) {
    const char* b = t.data() + off;
    if (std::string(b, 512) == std::string(512, '\0')) break;
    std::string name(b, strnlen(b, 100));
    std::string prefix(b + 345, strnlen(b + 345, 155));
    if (!prefix.empty()) name = prefix + "/" + name;
    uint64_t size = std::stoull(std::string(b + 124, strnlen(b + 124, 12)), nullptr, 8);
    char type = b[156];
    out.push_back({name, type, type == 'x' || type == 'g' ? t.substr(off + 512, size) : ""});
    bool data = type == '0' || type == '\0' || type == 'x' || type == 'g';
    off += 512 + (data ? (size + 511) / 512 * 512 : 0);
  }
  return out;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const mi::Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("bsdtar and GNU tar read back owners, modes, links, devices, xattrs, the capability and the ACL") {
  if (!have_oracles()) return;
  mi::test::TempDir t("mi-tar");
  std::string root = make_tree(t.path);
  std::string out = t.path + "/rootfs.tar";
  mi::write_rootfs_tar(root, out, {.epoch = 1700000000});

  auto names = mi::run({"bsdtar", "-tvf", out}).out;
  auto ids = mi::run({"bsdtar", "--numeric-owner", "-tvf", out}).out;
  CHECK(line_of(names, "./")[0] == "drwxr-xr-x");
  CHECK(line_of(names, "./dir/")[0] == "drwxr-x---");
  CHECK(line_of(names, "./bin/plain")[0] == "-rw-r--r--");
  CHECK(line_of(names, "./bin/tool")[0] == "-rwxr-xr-x");
  CHECK(line_of(names, "./bin/suid")[0] == "-rwsr-xr-x");
  CHECK(line_of(names, "./dir/sub/deep")[0] == "-rw-r--r--");
  auto owned = line_of(names, "./owned");
  CHECK((owned[0] == "-rw-------" && owned[2] == "alice" && owned[3] == "staff"));
  auto owned_ids = line_of(ids, "./owned");
  CHECK((owned_ids[2] == "1234" && owned_ids[3] == "5678"));
  CHECK((line_of(ids, "./bin/plain")[2] == "0" && line_of(ids, "./bin/plain")[3] == "0"));
  auto hard = line_of(names, "./bin/tool-hard");
  CHECK((hard[0][0] == 'h' && hard.back() == "./bin/tool"));
  auto link = line_of(names, "./link");
  CHECK((link[0][0] == 'l' && link.back() == "bin/tool"));
  CHECK(line_of(names, "./abs").back() == "/etc/shadow");
  CHECK(line_of(names, "./fifo")[0] == "prw-r-----");
  auto dev = line_of(names, "./null");
  CHECK((dev[0] == "crw-rw-rw-" && dev[4] == "1,3"));
  // '+': an ACL. libarchive's mode carries the ACL's group:: entry (r), not its mask (rw) that
  // st_mode shows, as bsdtar -c writes it too; extracted with the ACL, the mask is back (below).
  CHECK(line_of(names, "./acl")[0] == "-rw-r-----+");

  // GNU tar reads it without a warning (no keyword it does not know) and agrees.
  auto gnu = mi::run({"tar", "--xattrs", "--acls", "-tvf", out});
  CHECK(gnu.err == "");
  auto g = line_of(gnu.out, "./owned");
  CHECK((g[0] == "-rw-------" && g[1] == "alice/staff"));
  CHECK(line_of(mi::run({"tar", "--numeric-owner", "-tvf", out}).out, "./owned")[1] == "1234/5678");
  CHECK(line_of(gnu.out, "./null")[2] == "1,3");

  // Extracted by each tool: what the kernel, getcap, getfattr and getfacl then find.
  std::vector<std::pair<std::string, std::vector<std::string>>> extractors = {
      {"bsdtar", {"bsdtar", "--xattrs", "--acls", "--numeric-owner", "-xpf", out, "-C"}},
      {"gnu-tar", {"tar", "--xattrs", "--xattrs-include=*", "--acls", "--numeric-owner", "-xpf", out, "-C"}}};
  for (auto& [tool, argv] : extractors) {
    INFO(tool);
    std::string x = t.path + "/x-" + tool;
    fs::create_directory(x);
    argv.push_back(x);
    auto r = mi::run(argv);
    CHECK(r.err == "");
    struct stat st;
    REQUIRE(lstat((x + "/owned").c_str(), &st) == 0);
    CHECK((st.st_uid == 1234 && st.st_gid == 5678 && (st.st_mode & 07777) == 0600));
    REQUIRE(lstat((x + "/bin/suid").c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 04755);
    REQUIRE(lstat((x + "/null").c_str(), &st) == 0);
    CHECK((S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3)));
    REQUIRE(lstat((x + "/fifo").c_str(), &st) == 0);
    CHECK(S_ISFIFO(st.st_mode));
    struct stat a, b;
    REQUIRE(lstat((x + "/bin/tool").c_str(), &a) == 0);
    REQUIRE(lstat((x + "/bin/tool-hard").c_str(), &b) == 0);
    CHECK((a.st_ino == b.st_ino && a.st_nlink == 2));
    CHECK(fs::read_symlink(x + "/link") == "bin/tool");
    CHECK(mi::read_file(x + "/dir/sub/deep") == "deep\n");
    CHECK(mi::read_file(x + "/sparse") == std::string(1 << 20, '\0') + "end");
    CHECK(mi::read_file(x + "/" + kUtf8Name) == "cert\n");
    CHECK(mi::run({"getcap", x + "/ping"}).out.find("cap_net_raw=ep") != std::string::npos);
    CHECK(mi::run({"getfattr", "-d", x + "/xattr"}).out.find("user.mi=\"hello\"") != std::string::npos);
    auto acl = mi::run({"getfacl", "-n", x + "/acl"}).out;
    CHECK((acl.find("user:1234:rw-") != std::string::npos && acl.find("group::r--") != std::string::npos &&
           acl.find("mask::rw-") != std::string::npos));
  }
}

TEST_CASE("the same tree gives the same bytes; mtimes later than the epoch are clamped to it") {
  if (!have_oracles()) return;
  mi::test::TempDir t("mi-tar");
  std::string root = make_tree(t.path);
  uint64_t epoch = uint64_t(time(nullptr)) - 3600;  // every file of the tree is newer
  struct timespec old[2] = {{0, UTIME_OMIT}, {1000000000, 123}};
  REQUIRE(utimensat(AT_FDCWD, (root + "/bin/plain").c_str(), old, AT_SYMLINK_NOFOLLOW) == 0);
  std::string a = t.path + "/a.tar", b = t.path + "/b.tar", c = t.path + "/c.tar";
  mi::write_rootfs_tar(root, a, {.epoch = epoch});
  // A touch later, and on a directory: the same archive.
  struct timespec later[2] = {{0, UTIME_OMIT}, {time(nullptr) + 100, 5}};
  REQUIRE(utimensat(AT_FDCWD, (root + "/bin/tool").c_str(), later, AT_SYMLINK_NOFOLLOW) == 0);
  REQUIRE(utimensat(AT_FDCWD, (root + "/dir").c_str(), later, AT_SYMLINK_NOFOLLOW) == 0);
  mi::write_rootfs_tar(root, b, {.epoch = epoch});
  CHECK(mi::read_file(a) == mi::read_file(b));
  mi::write_rootfs_tar(root, c, {.epoch = epoch - 1});  // the epoch is what the mtimes carry
  CHECK(mi::read_file(a) != mi::read_file(c));

  std::string x = t.path + "/x";
  fs::create_directory(x);
  mi::run({"bsdtar", "--numeric-owner", "-xpf", a, "-C", x});
  struct stat st;
  REQUIRE(lstat((x + "/bin/tool").c_str(), &st) == 0);
  CHECK((uint64_t(st.st_mtim.tv_sec) == epoch && st.st_mtim.tv_nsec == 0));
  REQUIRE(lstat((x + "/bin/plain").c_str(), &st) == 0);  // older than the epoch: kept, whole seconds
  CHECK((st.st_mtim.tv_sec == 1000000000 && st.st_mtim.tv_nsec == 0));
}

TEST_CASE("pax headers have stable names, no atime or ctime, and UTF-8 names as they are") {
  if (!have_oracles()) return;
  mi::test::TempDir t("mi-tar");
  std::string root = make_tree(t.path);
  std::string out = t.path + "/rootfs.tar";
  mi::write_rootfs_tar(root, out, {.epoch = 1700000000});
  auto headers = tar_headers(mi::read_file(out));
  REQUIRE(headers.size() > 10);
  CHECK(headers[0].name == "./");
  std::string pid = std::to_string(getpid());
  int pax = 0;
  bool utf8_path = false;
  for (size_t i = 0; i < headers.size(); i++) {
    const auto& h = headers[i];
    INFO(h.name << " " << h.body);
    CHECK(h.type != 'g');  // no global header
    if (h.type != 'x') continue;
    pax++;
    REQUIRE(i + 1 < headers.size());
    CHECK(h.name.find("/PaxHeader/") != std::string::npos);
    CHECK(h.name.find(pid) == std::string::npos);
    for (auto k : {" atime=", " ctime=", "creationtime", "hdrcharset", "LIBARCHIVE.", "GNU.sparse"})
      CHECK(h.body.find(k) == std::string::npos);
    if (headers[i + 1].name == "./xattr") {  // xattrs in name order, whatever listxattr's
      size_t bb = h.body.find("SCHILY.xattr.user.bb=first\n"), mi = h.body.find("SCHILY.xattr.user.mi=hello\n"),
             zz = h.body.find("SCHILY.xattr.user.zz=last\n");
      CHECK((zz != std::string::npos && bb < mi && mi < zz));
    }
    if (headers[i + 1].name == "./ping") CHECK(h.name == "./PaxHeader/ping");
    if (h.body.find(std::string(" path=./") + kUtf8Name + "\n") != std::string::npos) utf8_path = true;
  }
  CHECK(pax >= 4);  // ping, xattr, acl, the UTF-8 name
  CHECK(utf8_path);
}

TEST_CASE("zstd and gzip archives list the same as the plain one; gzip carries no timestamp") {
  if (!have_oracles()) return;
  mi::test::TempDir t("mi-tar");
  std::string root = make_tree(t.path);
  mi::write_rootfs_tar(root, t.path + "/plain.tar", {.epoch = 1700000000});
  auto want = mi::run({"bsdtar", "--numeric-owner", "-tvf", t.path + "/plain.tar"}).out;
  for (std::string comp : {"zstd", "gzip"}) {
    INFO(comp);
    std::string out = t.path + "/rootfs.tar." + comp;
    mi::write_rootfs_tar(root, out, {.epoch = 1700000000, .compression = comp});
    std::string bytes = mi::read_file(out);
    REQUIRE(bytes.size() > 10);
    if (comp == "zstd") CHECK(bytes.substr(0, 4) == "\x28\xb5\x2f\xfd");
    if (comp == "gzip") CHECK((bytes.substr(0, 2) == "\x1f\x8b" && bytes.substr(4, 4) == std::string(4, '\0')));
    CHECK(mi::run({"bsdtar", "--numeric-owner", "-tvf", out}).out == want);
  }
}

TEST_CASE("a missing root, an unwritable output or an unknown compression is an error naming it") {
  mi::test::TempDir t("mi-tar");
  std::string out = t.path + "/rootfs.tar";
  std::string missing = t.path + "/no-such-root";
  CHECK(error_of([&] { mi::write_rootfs_tar(missing, out); }).find(missing) != std::string::npos);
  CHECK(!fs::exists(out));
  put(t.path + "/file", "x", 0644);
  CHECK(error_of([&] { mi::write_rootfs_tar(t.path + "/file", out); }).find(t.path + "/file: not a directory") !=
        std::string::npos);
  std::string root = t.path + "/root";
  fs::create_directory(root);
  std::string unwritable = t.path + "/no-such-dir/rootfs.tar";
  CHECK(error_of([&] { mi::write_rootfs_tar(root, unwritable); }).find(unwritable) != std::string::npos);
  CHECK(error_of([&] { mi::write_rootfs_tar(root, out, {.compression = "xz"}); }).find("compression") !=
        std::string::npos);
}

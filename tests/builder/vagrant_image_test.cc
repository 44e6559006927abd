// The vagrant box's user (builder/vagrant_image.cc) on a small tree: useradd's entries (home on
// /var, locked password, the spec's date), the key file Vagrant replaces (owner, modes), the
// sudoers drop-in as sudo's own visudo reads it, no useradd residue, and the key the same as
// Debian's vagrant package ships. Needs root (useradd --root chroots): skipped otherwise.
#include "builder/vagrant_image.h"

#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "common/files.h"
#include "common/process.h"
#include "skip.h"
#include "temp_dir.h"

namespace fs = std::filesystem;

namespace {

void make_tree(const std::string& t) {
  fs::create_directories(t + "/etc");
  fs::create_directories(t + "/var");
  mi::write_file_atomic(t + "/etc/passwd", "root:x:0:0:root:/root:/bin/bash\n");
  mi::write_file_atomic(t + "/etc/group", "root:x:0:\n");
  mi::write_file_atomic(t + "/etc/shadow", "root:*:19000:0:99999:7:::\n", 0640);
  mi::write_file_atomic(t + "/etc/gshadow", "root:*::\n", 0640);
}

struct stat stat_of(const std::string& p) {
  struct stat st {};
  REQUIRE(lstat(p.c_str(), &st) == 0);
  return st;
}

}  // namespace

TEST_CASE("the box's vagrant user: home and key on /var, sudo without a password, nothing else") {
  if (geteuid() != 0) return mi::test::skip_or_fail("needs root (useradd --root chroots)");
  mi::test::TempDir d("mi-vagrant-user");
  std::string tree = d.path + "/tree", var = d.path + "/var";
  make_tree(tree);
  fs::create_directories(var);
  mi::add_vagrant_user(tree, var, "1764000000");

  std::string passwd = mi::read_file(tree + "/etc/passwd");
  CHECK(passwd.find("\nvagrant:x:1000:1000:Vagrant:/var/home/vagrant:/bin/bash\n") != std::string::npos);
  // Locked password (keys only), last changed on SOURCE_DATE_EPOCH's day: 1764000000 / 86400.
  CHECK(mi::read_file(tree + "/etc/shadow").find("\nvagrant:!:20416:") != std::string::npos);
  for (const char* residue : {"/etc/.pwd.lock", "/etc/passwd-", "/etc/shadow-", "/etc/group-", "/etc/gshadow-"})
    CHECK_FALSE(fs::exists(tree + residue));

  std::string keys = var + "/home/vagrant/.ssh/authorized_keys";
  CHECK(mi::read_file(keys) == std::string(mi::kVagrantInsecurePublicKey) + "\n");
  for (const auto& [p, mode] :
       {std::pair{var + "/home/vagrant", 0750}, std::pair{var + "/home/vagrant/.ssh", 0700}, std::pair{keys, 0600}}) {
    auto st = stat_of(p);
    INFO(p);
    CHECK((st.st_mode & 07777) == unsigned(mode));
    CHECK(st.st_uid == 1000);
    CHECK(st.st_gid == 1000);
  }
  // A spec that already names a `vagrant` user is told so.
  CHECK_THROWS_WITH(mi::add_vagrant_user(tree, var, "1764000000"), Catch::Contains("rename the spec's user"));

  auto sudoers = stat_of(tree + "/etc/sudoers.d/vagrant");
  CHECK((sudoers.st_mode & 07777) == 0440);
  CHECK(sudoers.st_uid == 0);
  if (!mi::have_program("visudo")) return mi::test::skip_or_fail("visudo not found (sudo)");
  CHECK(mi::run({"visudo", "-c", "-q", "-f", tree + "/etc/sudoers.d/vagrant"}, {.check = false}).exit_code == 0);
}

TEST_CASE("the key is Vagrant's insecure public key, as Debian's vagrant package ships it") {
  std::string found;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/usr/share/rubygems-integration/all/gems", ec))
    if (e.path().filename().string().rfind("vagrant-", 0) == 0 && fs::exists(e.path() / "keys/vagrant.pub"))
      found = (e.path() / "keys/vagrant.pub").string();
  if (found.empty()) return mi::test::skip_or_fail("Debian's vagrant package is not installed");
  std::string pub = mi::read_file(found);
  while (!pub.empty() && (pub.back() == '\n' || pub.back() == ' ')) pub.pop_back();
  CHECK(pub == mi::kVagrantInsecurePublicKey);
}

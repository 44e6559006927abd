// Unit tests of the image pipeline's pieces that need no mirror and no VM: the mmdebstrap
// invocation and apt pins, overlays (modes kept, root-owned), fstab, the ESP (mtools, checked
// with mdir), the erofs/ext4 partition tools, derived disk identities, and the component
// rules (an artifact that cannot be verified is an error, an optional unresolved one is absent).
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "builder/assemble.h"
#include "builder/esp.h"
#include "builder/finalize.h"
#include "builder/image_build.h"
#include "builder/rootfs.h"
#include "common/digest.h"
#include "common/error.h"
#include "common/files.h"
#include "common/process.h"

namespace fs = std::filesystem;

namespace {

std::string tmpdir() {
  char t[] = "/tmp/mi-pipeline-test.XXXXXX";
  REQUIRE(mkdtemp(t) != nullptr);
  return t;
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

}  // namespace

TEST_CASE("only the pinned packages may come from another suite") {
  std::string p = mi::apt_pin_preferences({{"bullseye", {"consul"}}});
  REQUIRE(p.find("Package: *\nPin: release n=bullseye\nPin-Priority: -1\n") != std::string::npos);
  REQUIRE(p.find("Package: consul\nPin: release n=bullseye\nPin-Priority: 990\n") != std::string::npos);
  REQUIRE(mi::apt_pin_preferences({}).empty());
}

TEST_CASE("mmdebstrap gets one run with pins set up before installing and erofs in the initramfs") {
  mi::RootfsRequest r;
  r.packages = {"linux-image-amd64", "consul", "zookeeper"};
  r.suite_pins = {{"bullseye", {"consul"}}};
  auto a = mi::mmdebstrap_argv(r, "/t");
  REQUIRE(a[0] == "mmdebstrap");
  REQUIRE(contains(a, "--mode=root"));
  REQUIRE(contains(a, "--include=linux-image-amd64,consul,zookeeper"));
  REQUIRE(contains(a, "--setup-hook=mkdir -p \"$1/etc/apt/preferences.d\" && cp \"$MI_PINS_FILE\" "
                      "\"$1/etc/apt/preferences.d/mi-pins\""));
  REQUIRE(mi::mmdebstrap_env(r, "/p/mi-pins").at("MI_PINS_FILE") == "/p/mi-pins");
  REQUIRE(contains(a, "deb http://deb.debian.org/debian bookworm main"));
  REQUIRE(contains(a, "deb http://deb.debian.org/debian bullseye main"));
  bool erofs = false, initramfs = false;
  for (const auto& x : a) {
    erofs |= x.find("echo erofs >>") != std::string::npos;
    initramfs |= x.find("update-initramfs -u -k all") != std::string::npos;
  }
  REQUIRE(erofs);
  REQUIRE(initramfs);
  // The cache key follows the inputs.
  auto k1 = mi::rootfs_key(r);
  r.packages.push_back("less");
  REQUIRE(mi::rootfs_key(r) != k1);
}

TEST_CASE("overlays keep file modes, are owned by root and never loosen existing directories") {
  std::string d = tmpdir();
  std::string src = d + "/overlay", tree = d + "/tree";
  fs::create_directories(src + "/etc/x");
  fs::create_directories(tree + "/etc");
  chmod((tree + "/etc").c_str(), 0755);
  chmod((src + "/etc").c_str(), 0777);  // a sloppy checkout must not make /etc world-writable
  mi::write_file_atomic(src + "/etc/x/script", "#!/bin/sh\n", 0750);
  mi::write_file_atomic(src + "/etc/x/conf", "a=1\n", 0640);
  REQUIRE(chown((src + "/etc/x/conf").c_str(), 1234, 1234) == 0);
  fs::create_symlink("conf", src + "/etc/x/link");
  mi::apply_overlay(src, tree);
  struct stat st {};
  REQUIRE(stat((tree + "/etc").c_str(), &st) == 0);
  REQUIRE((st.st_mode & 07777) == 0755);
  REQUIRE(stat((tree + "/etc/x/script").c_str(), &st) == 0);
  REQUIRE((st.st_mode & 07777) == 0750);
  REQUIRE(stat((tree + "/etc/x/conf").c_str(), &st) == 0);
  REQUIRE((st.st_mode & 07777) == 0640);
  REQUIRE(st.st_uid == 0);
  REQUIRE(st.st_gid == 0);
  REQUIRE(fs::is_symlink(tree + "/etc/x/link"));
  REQUIRE(fs::read_symlink(tree + "/etc/x/link") == "conf");
  REQUIRE(mi::read_file(tree + "/etc/x/conf") == "a=1\n");
  REQUIRE_THROWS_AS(mi::apply_overlay(d + "/missing", tree), mi::Error);
  fs::remove_all(d);
}

TEST_CASE("the base overlay ships DHCP on every wired interface and the status service") {
  std::string b = std::string(MI_SOURCE_DIR) + "/overlays/base";
  std::string net = mi::read_file(b + "/etc/systemd/network/80-mi-dhcp.network");
  REQUIRE(net.find("[Match]\nType=ether") != std::string::npos);
  REQUIRE(net.find("[Network]\nDHCP=yes") != std::string::npos);
  struct stat st {};
  REQUIRE(stat((b + "/usr/lib/mi/mi-console-status").c_str(), &st) == 0);
  REQUIRE((st.st_mode & 0111) != 0);
  std::string unit = mi::read_file(b + "/usr/lib/systemd/system/mi-console-status.service");
  REQUIRE(unit.find("After=multi-user.target") != std::string::npos);
  REQUIRE(unit.find("StandardOutput=journal+console") != std::string::npos);
}

TEST_CASE("fstab: read-only erofs root, /var by PARTUUID, tmpfs /tmp") {
  auto f = mi::image_fstab("11111111-2222-4333-8444-555555555555", "66666666-7777-4888-9999-000000000000");
  REQUIRE(f.find("PARTUUID=11111111-2222-4333-8444-555555555555\t/\terofs\tro\t") != std::string::npos);
  REQUIRE(f.find("PARTUUID=66666666-7777-4888-9999-000000000000\t/var\text4\t") != std::string::npos);
  REQUIRE(f.find("tmpfs\t/tmp\ttmpfs\t") != std::string::npos);
}

TEST_CASE("disk identities are derived from the seed and the role") {
  auto a = mi::derive_disk_ids("mi", "all-in-one");
  auto b = mi::derive_disk_ids("mi", "all-in-one");
  auto c = mi::derive_disk_ids("mi", "control");
  REQUIRE(a.disk_guid == b.disk_guid);
  REQUIRE(a.root_partuuid == b.root_partuuid);
  REQUIRE(a.disk_guid != c.disk_guid);
  REQUIRE(a.root_partuuid != a.var_partuuid);
  REQUIRE(a.esp_volume_id.size() == 8);
  // The console is the serial port: the last console= wins.
  auto cmd = mi::kernel_cmdline("u");
  REQUIRE(cmd.rfind("console=ttyS0,115200") == cmd.size() - std::string("console=ttyS0,115200").size());
  REQUIRE(cmd.find("root=PARTUUID=u rootfstype=erofs ro") == 0);
}

TEST_CASE("the ESP holds systemd-boot, the loader entry, kernel and initrd (no mounts)") {
  std::string d = tmpdir();
  std::string tree = d + "/tree";
  fs::create_directories(tree + "/boot");
  fs::create_directories(tree + "/usr/lib/systemd/boot/efi");
  mi::write_file_atomic(tree + "/usr/lib/systemd/boot/efi/systemd-bootx64.efi", "MZ-fake-loader");
  mi::write_file_atomic(tree + "/boot/vmlinuz-6.1.0-9-amd64", "old-kernel");
  mi::write_file_atomic(tree + "/boot/initrd.img-6.1.0-9-amd64", "old-initrd");
  mi::write_file_atomic(tree + "/boot/vmlinuz-6.1.0-18-amd64", "kernel");
  mi::write_file_atomic(tree + "/boot/initrd.img-6.1.0-18-amd64", "initrd");
  mi::write_file_atomic(tree + "/boot/vmlinuz-6.1.0-20-amd64", "kernel-without-initrd");
  mi::EspRequest r{tree, d + "/esp.img", 64, "1234abcd", "mi test", "root=PARTUUID=x ro", "1700000000"};
  auto res = mi::make_esp(r);
  REQUIRE(res.kernel_version == "6.1.0-18-amd64");  // newest with an initrd, by version order
  mi::RunOptions o;
  o.env["MTOOLS_SKIP_CHECK"] = "1";
  auto type = [&](const std::string& p) { return mi::run({"mtype", "-i", r.image, p}, o).out; };
  REQUIRE(type("::/EFI/BOOT/BOOTX64.EFI") == "MZ-fake-loader");
  REQUIRE(type("::/EFI/systemd/systemd-bootx64.efi") == "MZ-fake-loader");
  REQUIRE(type("::/mi/6.1.0-18-amd64/linux") == "kernel");
  REQUIRE(type("::/mi/6.1.0-18-amd64/initrd") == "initrd");
  REQUIRE(type("::/loader/loader.conf").find("timeout 0\ndefault mi.conf\n") == 0);
  std::string entry = type("::/loader/entries/mi.conf");
  REQUIRE(entry.find("linux /mi/6.1.0-18-amd64/linux\n") != std::string::npos);
  REQUIRE(entry.find("options root=PARTUUID=x ro\n") != std::string::npos);
  auto info = mi::run({"minfo", "-i", r.image, "::"}, o).out;
  REQUIRE(info.find("serial number: 1234ABCD") != std::string::npos);
  fs::remove_all(d);
}

TEST_CASE("erofs root and ext4 /var get the derived UUIDs") {
  std::string d = tmpdir();
  fs::create_directories(d + "/root/etc");
  mi::write_file_atomic(d + "/root/etc/hello", "hi\n");
  fs::create_directories(d + "/var/lib/mi");
  auto ids = mi::derive_disk_ids("seed", "r");
  mi::make_erofs(d + "/root", d + "/root.erofs", ids.root_fs_uuid, "1700000000");
  mi::make_var_ext4(d + "/var", d + "/var.ext4", 16, ids.var_fs_uuid, ids.var_hash_seed, "1700000000");
  auto blk = [&](const std::string& img) {
    return mi::run({"blkid", "-p", "-o", "export", img}, {.check = false}).out;
  };
  REQUIRE(blk(d + "/root.erofs").find("TYPE=erofs") != std::string::npos);
  REQUIRE(blk(d + "/root.erofs").find("UUID=" + mi::uuid_string(ids.root_fs_uuid)) != std::string::npos);
  REQUIRE(blk(d + "/var.ext4").find("TYPE=ext4") != std::string::npos);
  REQUIRE(blk(d + "/var.ext4").find("UUID=" + mi::uuid_string(ids.var_fs_uuid)) != std::string::npos);
  auto ls = mi::run({"debugfs", "-R", "ls -l /lib", d + "/var.ext4"}).out;
  REQUIRE(ls.find("mi") != std::string::npos);
  // Same inputs, same bytes: the erofs image is reproducible.
  mi::make_erofs(d + "/root", d + "/root2.erofs", ids.root_fs_uuid, "1700000000");
  REQUIRE(mi::sha256_file_hex(d + "/root.erofs") == mi::sha256_file_hex(d + "/root2.erofs"));
  fs::remove_all(d);
}

TEST_CASE("artifact components: unverifiable is an error, optional unresolved is absent") {
  std::string d = tmpdir();
  mi::Spec spec;
  spec.dir = d;
  spec.name = "t";
  mi::ResolvedRole role;
  role.name = "r";
  role.components = {"mesos"};
  mi::ImageOptions io;
  io.out_dir = d + "/out";
  io.formats = {"raw"};

  mi::Component c;
  c.name = "mesos";
  c.source = "artifact";
  spec.components["mesos"] = c;
  // Required and unresolved: a clear error naming the component and how to provide it.
  REQUIRE_THROWS_WITH(mi::build_role_image(spec, role, io), Catch::Contains("mesos") && Catch::Contains("sha256"));
  // A local file whose sha256 does not match.
  mi::write_file_atomic(d + "/mesos.tar", "not really a tarball");
  spec.components["mesos"].path = "mesos.tar";
  spec.components["mesos"].sha256 = std::string(64, '0');
  REQUIRE_THROWS_WITH(mi::build_role_image(spec, role, io), Catch::Contains("sha256"));
  // No sha256 at all: cannot be verified, so never included.
  spec.components["mesos"].sha256 = "";
  REQUIRE_THROWS_WITH(mi::build_role_image(spec, role, io), Catch::Contains("cannot be verified"));
  // Unknown formats are refused before anything runs.
  io.formats = {"cdrom"};
  REQUIRE_THROWS_WITH(mi::build_role_image(spec, role, io), Catch::Contains("unknown format 'cdrom'"));
  fs::remove_all(d);
}

TEST_CASE("finalize: users log in by key only, no per-node identity, no build residue") {
  std::string d = tmpdir();
  std::string t = d + "/tree";
  // A minimal root: the account databases useradd edits, an sshd with host keys, caches, logs.
  fs::create_directories(t + "/etc/ssh");
  fs::create_directories(t + "/etc/skel");
  fs::create_directories(t + "/home");
  fs::create_directories(t + "/var/lib/apt/lists");
  fs::create_directories(t + "/var/cache/apt/archives");
  fs::create_directories(t + "/var/log/journal");
  fs::create_directories(t + "/var/lib/dbus");
  fs::create_directories(t + "/tmp");
  mi::write_file_atomic(t + "/etc/passwd", "root:x:0:0:root:/root:/bin/bash\n");
  mi::write_file_atomic(t + "/etc/group", "root:x:0:\nsudo:x:27:\n");
  mi::write_file_atomic(t + "/etc/shadow", "root:*:19000:0:99999:7:::\n", 0640);
  mi::write_file_atomic(t + "/etc/gshadow", "root:*::\nsudo:*::\n", 0640);
  mi::write_file_atomic(t + "/etc/machine-id", "0123456789abcdef0123456789abcdef\n");
  mi::write_file_atomic(t + "/etc/ssh/ssh_host_ed25519_key", "secret", 0600);
  mi::write_file_atomic(t + "/etc/ssh/ssh_host_ed25519_key.pub", "public");
  mi::write_file_atomic(t + "/etc/ssh/sshd_config", "# config\n");
  mi::write_file_atomic(t + "/var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages", "x");
  mi::write_file_atomic(t + "/var/cache/apt/archives/x.deb", "x");
  mi::write_file_atomic(t + "/var/cache/apt/pkgcache.bin", "x");
  mi::write_file_atomic(t + "/var/log/dpkg.log", "x");
  mi::write_file_atomic(t + "/tmp/leftover", "x");

  mi::FinalizeRequest r;
  r.tree = t;
  mi::User u;
  u.name = "ops";
  u.groups = {"sudo"};
  u.ssh_keys = {"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample ops@laptop"};
  r.users = {u};
  r.hostname = "mi-test";
  r.root_partuuid = "r";
  r.var_partuuid = "v";
  r.extra_files = {{"/usr/lib/mi/cluster.yaml", "name: mi\n"}};
  r.source_date_epoch = "1764000000";
  mi::finalize_rootfs(r);

  REQUIRE(mi::read_file(t + "/etc/machine-id").empty());
  REQUIRE_FALSE(fs::exists(t + "/etc/ssh/ssh_host_ed25519_key"));
  REQUIRE_FALSE(fs::exists(t + "/etc/ssh/ssh_host_ed25519_key.pub"));
  REQUIRE(fs::exists(t + "/etc/ssh/sshd_config"));
  REQUIRE(fs::is_empty(t + "/var/cache/apt/archives"));
  REQUIRE_FALSE(fs::exists(t + "/var/cache/apt/pkgcache.bin"));
  REQUIRE_FALSE(fs::exists(t + "/var/log/dpkg.log"));
  REQUIRE(fs::is_directory(t + "/var/log/journal"));
  REQUIRE_FALSE(fs::exists(t + "/tmp/leftover"));
  REQUIRE(fs::is_directory(t + "/var/lib/apt/lists/partial"));
  REQUIRE(mi::read_file(t + "/etc/hostname") == "mi-test\n");
  REQUIRE(mi::read_file(t + "/usr/lib/mi/cluster.yaml") == "name: mi\n");

  // The user: in sudo, password locked ("!"), the key in place with sshd's required modes.
  std::string passwd = mi::read_file(t + "/etc/passwd");
  REQUIRE(passwd.find("\nops:x:") != std::string::npos);
  std::string shadow = mi::read_file(t + "/etc/shadow");
  auto at = shadow.find("\nops:");
  REQUIRE(at != std::string::npos);
  REQUIRE(shadow.substr(at + 5, 7) == "!:20416");  // last changed: SOURCE_DATE_EPOCH's day, not the build's
  REQUIRE(mi::read_file(t + "/etc/group").find("sudo:x:27:ops") != std::string::npos);
  std::string keys = t + "/home/ops/.ssh/authorized_keys";
  REQUIRE(mi::read_file(keys) == u.ssh_keys[0] + "\n");
  struct stat st {};
  REQUIRE(stat(keys.c_str(), &st) == 0);
  REQUIRE((st.st_mode & 0777) == 0600);
  REQUIRE(st.st_uid != 0);
  REQUIRE(stat((t + "/home/ops/.ssh").c_str(), &st) == 0);
  REQUIRE((st.st_mode & 0777) == 0700);

  // A group that the image lacks is an error naming it.
  mi::User bad = u;
  bad.name = "other";
  bad.groups = {"docker"};
  r.users = {bad};
  REQUIRE_THROWS_WITH(mi::finalize_rootfs(r), Catch::Contains("docker"));

  // /var moves out to its own partition tree, leaving the mount point.
  mi::split_var(t, d + "/var-tree");
  REQUIRE(fs::is_directory(d + "/var-tree/log/journal"));
  REQUIRE(fs::is_empty(t + "/var"));
  fs::remove_all(d);
}

TEST_CASE("a baked-in binary brings the packages of its shared libraries") {
  // This test binary links OpenSSL's libcrypto and libstdc++, like mi-firstboot.
  auto pkgs = mi::runtime_packages(fs::read_symlink("/proc/self/exe"));
  REQUIRE(contains(pkgs, "libc6"));
  REQUIRE(contains(pkgs, "libssl3"));
  REQUIRE(contains(pkgs, "libstdc++6"));
  REQUIRE(mi::runtime_packages(std::string(MI_SOURCE_DIR) + "/overlays/README.md").empty());
}

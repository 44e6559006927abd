// Image tier: the all-in-one's outputs besides the qcow2 (built once by the image_build test into
// $MI_IMAGE_DIR), each read by its consumer's own tools: the VMDK and the VHD hold the qcow2's
// very disk (qemu-img compare) and boot under QEMU/TCG (mi-status ready); the OpenStack files
// are valid JSON and a shell command line that passes the qcow2 to `openstack image create`;
// the AMI tar holds the VHD (the same disk) with the JSON `aws ec2` takes; the root file system
// tar lists, with bsdtar, the files, owners and modes the image has.
#include <archive.h>
#include <archive_entry.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "builder/boot.h"
#include "builder/inspect.h"
#include "builder/signing.h"
#include "common/digest.h"
#include "common/files.h"
#include "common/process.h"
#include "image_dir.h"
#include "skip.h"
#include "temp_dir.h"

namespace fs = std::filesystem;

namespace {

std::string dir() { return mi::test::image_dir(); }

std::string out(const std::string& ext) {
  std::string p = dir() + "/mi-all-in-one." + ext;
  INFO(p << " (built by the image_build test)");
  REQUIRE(fs::exists(p));
  return p;
}

nlohmann::json info(const std::string& path, const std::string& fmt) {
  return nlohmann::json::parse(mi::run({"qemu-img", "info", "-f", fmt, "--output=json", path}).out);
}

bool same_disk(const std::string& a, const std::string& fa, const std::string& b, const std::string& fb) {
  auto r = mi::run({"qemu-img", "compare", "-f", fa, "-F", fb, a, b}, {.check = false});
  INFO(r.out << r.err);
  return r.exit_code == 0;
}

// A TCP port on 127.0.0.1 that nothing listens on now (the kernel's choice).
int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  close(fd);
  return ntohs(a.sin_port);
}

// The manifest's record of `name` in $MI_IMAGE_DIR/manifest.json.
nlohmann::json manifest_role(const std::string& name) {
  auto manifest = nlohmann::json::parse(mi::read_file(dir() + "/manifest.json"));
  for (const auto& r : manifest["roles"])
    if (r["name"] == name) return r;
  FAIL("no role " << name << " in " << dir() << "/manifest.json");
  return nullptr;
}

// Vagrant's own insecure private key, as Debian's vagrant package ships it.
std::string vagrant_insecure_key() {
  for (const auto& e : fs::directory_iterator("/usr/share/rubygems-integration/all/gems"))
    if (e.path().filename().string().rfind("vagrant-", 0) == 0 && fs::exists(e.path() / "keys/vagrant"))
      return (e.path() / "keys/vagrant").string();
  return "";
}

// What the tar comparison compares of a file: type ('f' 'd' 'l' or other), mode, owner, and
// the sha256 of a file's content or a symlink's target.
struct Facts {
  char type = '?';
  unsigned mode = 0, uid = 0, gid = 0;
  std::string data;
  bool operator==(const Facts& o) const {
    return type == o.type && mode == o.mode && uid == o.uid && gid == o.gid && data == o.data;
  }
};
std::string show(const Facts& f) {
  char m[8];
  snprintf(m, sizeof m, "%04o", f.mode);
  return std::string(1, f.type) + " " + m + " " + std::to_string(f.uid) + ":" + std::to_string(f.gid) + " " + f.data;
}

// Every entry of a tar, read with libarchive, by path without "./" (hard links get their
// target's facts).
std::map<std::string, Facts> tar_facts(const std::string& tar) {
  std::map<std::string, Facts> m;
  archive* a = archive_read_new();
  archive_read_support_format_tar(a);
  REQUIRE(archive_read_open_filename(a, tar.c_str(), 1 << 20) == ARCHIVE_OK);
  archive_entry* e;
  for (int r; (r = archive_read_next_header(a, &e)) != ARCHIVE_EOF;) {
    INFO(tar << ": " << archive_error_string(a));
    REQUIRE(r >= ARCHIVE_WARN);  // a warning (an unknown pax key, say) still gives the entry
    std::string path = archive_entry_pathname(e);
    if (path.rfind("./", 0) == 0) path = path.substr(2);
    while (!path.empty() && path.back() == '/') path.pop_back();
    if (path.empty() || path == ".") continue;
    Facts f;
    f.mode = archive_entry_perm(e);
    f.uid = unsigned(archive_entry_uid(e));
    f.gid = unsigned(archive_entry_gid(e));
    if (const char* hl = archive_entry_hardlink(e)) {
      std::string target = hl;
      if (target.rfind("./", 0) == 0) target = target.substr(2);
      f = m[target];
    } else if (archive_entry_filetype(e) == AE_IFREG) {
      f.type = 'f';
      std::string data;
      char buf[1 << 16];
      for (la_ssize_t n; (n = archive_read_data(a, buf, sizeof buf)) > 0;) data.append(buf, size_t(n));
      f.data = mi::sha256_hex(data);
    } else if (archive_entry_filetype(e) == AE_IFDIR) {
      f.type = 'd';
    } else if (archive_entry_filetype(e) == AE_IFLNK) {
      f.type = 'l';
      f.data = archive_entry_symlink(e);
    }
    m[path] = f;
  }
  archive_read_free(a);
  return m;
}

// The same facts of an extracted tree, under `prefix`.
void dir_facts(const std::string& dir, const std::string& prefix, std::map<std::string, Facts>& m) {
  for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator(); ++it) {
    std::string rel = prefix + it->path().lexically_relative(dir).string();
    struct stat st {};
    REQUIRE(lstat(it->path().c_str(), &st) == 0);
    Facts f;
    f.mode = st.st_mode & 07777;
    f.uid = st.st_uid;
    f.gid = st.st_gid;
    if (S_ISREG(st.st_mode)) f.type = 'f', f.data = mi::sha256_file_hex(it->path());
    if (S_ISDIR(st.st_mode)) f.type = 'd';
    if (S_ISLNK(st.st_mode)) f.type = 'l', f.data = fs::read_symlink(it->path()).string();
    m[rel] = f;
  }
}

}  // namespace

TEST_CASE("the VMDK (streamOptimized) and the VHD (fixed) hold the qcow2's disk", "[image]") {
  std::string q = out("qcow2"), vmdk = out("vmdk"), vhd = out("vhd");
  auto qi = info(q, "qcow2");
  auto vi = info(vmdk, "vmdk");
  CHECK(vi["format-specific"]["data"]["create-type"] == "streamOptimized");
  CHECK(vi["virtual-size"] == qi["virtual-size"]);
  CHECK(info(vhd, "vpc")["virtual-size"] == qi["virtual-size"]);  // a whole MiB already
  CHECK(same_disk(q, "qcow2", vmdk, "vmdk"));
  CHECK(same_disk(q, "qcow2", vhd, "vpc"));
  CHECK(mi::run({"qemu-img", "check", "-f", "vmdk", vmdk}, {.check = false}).exit_code == 0);
}

TEST_CASE("openstack: Glance properties and the create command for the qcow2", "[image]") {
  std::string q = out("qcow2");
  auto g = nlohmann::json::parse(mi::read_file(out("glance.json")));
  INFO(g.dump());
  CHECK(g["disk_format"] == "qcow2");
  CHECK(g["container_format"] == "bare");
  CHECK(g["hw_firmware_type"] == "uefi");
  CHECK(g["os_distro"] == "debian");
  CHECK(g["os_version"] == "12");
  CHECK(g["hw_qemu_guest_agent"] == "yes");  // qemu-guest-agent is in the image
  // The command line as the openstack client receives it: a stand-in that prints its argv.
  mi::test::TempDir t("mi-outputs");
  mi::write_file_atomic(t.path + "/openstack", "#!/bin/sh\nfor a in \"$@\"; do echo \"$a\"; done\n", 0755);
  mi::RunOptions o;
  o.env["PATH"] = t.path + ":/usr/bin:/bin";
  auto r = mi::run({"sh", out("openstack.sh")}, o);
  CHECK(r.out.find("image\ncreate\n") == 0);
  CHECK(r.out.find("--file\nmi-all-in-one.qcow2\n") != std::string::npos);
  CHECK(r.out.find("--property\nhw_firmware_type=uefi\n") != std::string::npos);
  CHECK(r.out.find("--disk-format\nqcow2\n") != std::string::npos);
}

TEST_CASE("ami: the VHD and the JSON aws ec2 takes, in one tar", "[image]") {
  std::string tar = out("ami.tar");
  auto list = mi::run({"bsdtar", "-tf", tar}).out;
  CHECK(list.find("mi-all-in-one.ami/mi-all-in-one.vhd\n") != std::string::npos);
  CHECK(list.find("mi-all-in-one.ami/README\n") != std::string::npos);
  mi::test::TempDir t("mi-outputs");
  mi::run({"bsdtar", "-xf", tar, "-C", t.path});
  std::string d = t.path + "/mi-all-in-one.ami";
  auto reg = nlohmann::json::parse(mi::read_file(d + "/register-image.json"));
  INFO(reg.dump());
  CHECK(reg["Architecture"] == "x86_64");
  CHECK(reg["BootMode"] == "uefi-preferred");
  CHECK(reg["EnaSupport"] == true);
  CHECK(reg["ImdsSupport"] == "v2.0");
  auto imp = nlohmann::json::parse(mi::read_file(d + "/import-snapshot.json"));
  CHECK(imp.dump().find("\"VHD\"") != std::string::npos);
  CHECK(same_disk(out("qcow2"), "qcow2", d + "/mi-all-in-one.vhd", "vpc"));
}

TEST_CASE("tar: the root file system with its owners and modes", "[image]") {
  auto list = mi::run({"bsdtar", "-tvf", out("tar")}).out;
  auto line = [&](const std::string& path) {
    auto p = list.find(" " + path + "\n");
    if (p == std::string::npos) p = list.find(" " + path + "/\n");  // a directory
    if (p == std::string::npos) p = list.find(" " + path + " -> ");
    if (p == std::string::npos) return std::string();
    auto b = list.rfind('\n', p);
    return list.substr(b == std::string::npos ? 0 : b + 1, p - (b == std::string::npos ? 0 : b + 1));
  };
  INFO(list.substr(0, 2000));
  CHECK(line("./usr/bin/mi-firstboot").find("-rwxr-xr-x") == 0);
  CHECK(line("./usr/bin/mi-firstboot").find("root") != std::string::npos);
  CHECK_FALSE(line("./usr/sbin/qemu-ga").empty());
  CHECK_FALSE(line("./usr/lib/mi/cluster.yaml").empty());
  CHECK(line("./var/lib/zookeeper").find("zookeeper") != std::string::npos);  // by the image's own names
  CHECK(line("./etc/machine-id").find(" 0 ") != std::string::npos);           // empty: made on first boot
  // What EC2 needs of the kernel (Nitro: ENA network, EBS as NVMe): Debian's modules.
  CHECK(list.find("/kernel/drivers/net/ethernet/amazon/ena/ena.ko\n") != std::string::npos);
  CHECK(list.find("/kernel/drivers/nvme/host/nvme.ko\n") != std::string::npos);
}

TEST_CASE("the VHD and the VMDK each boot by UEFI and by BIOS under QEMU/TCG", "[image]") {
  for (auto [ext, firmware] :
       {std::pair{"vhd", "uefi"}, std::pair{"vhd", "bios"}, std::pair{"vmdk", "bios"}, std::pair{"vmdk", "uefi"}}) {
    mi::BootOptions o;
    o.image = out(ext);
    o.firmware = firmware;
    o.check = true;
    o.wait_cluster = false;
    o.timeout_s = 1200;
    o.memory_mb = 2048;
    o.console_log = dir() + "/console-" + ext + "-" + firmware + ".log";
    o.expect = {"rootfs=erofs", "var-fs=ext4", "consul=1.8.7", "failed-units=none"};
    auto c = mi::boot_check(o);
    for (const auto& f : c.failures) std::cout << "  [" << ext << "] FAIL: " << f << "\n";
    std::cout << "  [" << ext << "] console: " << c.console_log << std::endl;
    INFO(ext << " " << firmware);
    CHECK(c.reached_ready);
    CHECK(c.passed);
  }
}

TEST_CASE("vagrant: both boxes are added by vagrant, and `vagrant up`'s login works on the box's disk", "[image]") {
  std::string box = out("box"), vbox = out("virtualbox.box");
  if (!mi::have_program("vagrant")) return mi::test::skip_or_fail("vagrant not found (Debian's vagrant package)");
  if (!mi::have_program("ssh")) return mi::test::skip_or_fail("ssh not found (openssh-client)");
  std::string key = vagrant_insecure_key();
  if (key.empty()) return mi::test::skip_or_fail("Vagrant's insecure key not found in Debian's vagrant package");
  mi::test::TempDir t("mi-vagrant");

  // What Vagrant itself says of the boxes.
  mi::RunOptions v;
  v.env["VAGRANT_HOME"] = t.path + "/vagrant.d";
  v.env["VAGRANT_CHECKPOINT_DISABLE"] = "1";
  v.timeout_seconds = 600;
  mi::run({"vagrant", "box", "add", "--name", "mi/all-in-one", box}, v);
  mi::run({"vagrant", "box", "add", "--name", "mi/all-in-one", vbox}, v);
  auto list = mi::run({"vagrant", "box", "list"}, v).out;
  INFO(list);
  CHECK(list.find("mi/all-in-one (libvirt, 0)") != std::string::npos);
  CHECK(list.find("mi/all-in-one (virtualbox, 0)") != std::string::npos);

  // Both providers get the same disk; the role's other outputs never have the vagrant user.
  mi::run({"bsdtar", "-xf", box, "-C", t.path, "box.img"});
  mi::run({"bsdtar", "-xf", vbox, "-C", t.path, "box-disk001.vmdk"});
  std::string img = t.path + "/box.img";
  CHECK(same_disk(img, "qcow2", t.path + "/box-disk001.vmdk", "vmdk"));
  CHECK_FALSE(same_disk(img, "qcow2", out("qcow2"), "qcow2"));
  std::string passwd = mi::run({"bsdtar", "-xOf", out("tar"), "./etc/passwd"}).out;
  CHECK(passwd.find("root:") == 0);
  CHECK(passwd.find("vagrant") == std::string::npos);
  CHECK(mi::run({"bsdtar", "-tf", out("tar")}).out.find("./etc/sudoers.d/vagrant\n") == std::string::npos);

  // Boot the box's disk and do what `vagrant up` does over SSH: log in as vagrant with the
  // insecure key, sudo without a password, replace the key; then only the new key logs in.
  std::string ikey = t.path + "/insecure", nkey = t.path + "/new";
  mi::write_file_atomic(ikey, mi::read_file(key), 0600);
  mi::run({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "mi-test", "-f", nkey});
  int port = free_port();
  auto ssh = [&](const std::string& k, const std::vector<std::string>& cmd, const std::string& in = "") {
    std::vector<std::string> a = {"ssh",
                                  "-p",
                                  std::to_string(port),
                                  "-i",
                                  k,
                                  "-o",
                                  "IdentitiesOnly=yes",
                                  "-o",
                                  "StrictHostKeyChecking=no",
                                  "-o",
                                  "UserKnownHostsFile=/dev/null",
                                  "-o",
                                  "BatchMode=yes",
                                  "-o",
                                  "ConnectTimeout=30",
                                  "-o",
                                  "LogLevel=ERROR",
                                  "vagrant@127.0.0.1"};
    a.insert(a.end(), cmd.begin(), cmd.end());
    mi::RunOptions o;
    o.check = false;
    o.input = in;
    o.timeout_seconds = 120;
    return mi::run(a, o);
  };
  std::vector<std::string> seen;
  mi::BootOptions o;
  o.image = img;
  o.check = true;
  o.wait_cluster = false;
  o.timeout_s = 1200;
  o.console_log = dir() + "/console-vagrant.log";
  o.host_forwards = {"tcp:127.0.0.1:" + std::to_string(port) + "-:22"};
  o.while_running = [&]() -> std::vector<std::string> {
    std::vector<std::string> f;
    auto who = ssh(ikey, {"sudo", "-n", "id", "-un"});
    seen.push_back("insecure key, sudo -n id -un: exit " + std::to_string(who.exit_code) + " " + who.out + who.err);
    if (who.out != "root\n") f.push_back("vagrant with the insecure key could not sudo: " + who.err);
    auto put = ssh(ikey, {"sh", "-c", "'cat > ~/.ssh/authorized_keys && pwd'"}, mi::read_file(nkey + ".pub"));
    seen.push_back("replace the key: exit " + std::to_string(put.exit_code) + " " + put.out + put.err);
    if (put.out != "/var/home/vagrant\n") f.push_back("the key could not be replaced: " + put.err);
    auto again = ssh(nkey, {"id", "-un"});
    seen.push_back("new key: exit " + std::to_string(again.exit_code) + " " + again.out);
    if (again.out != "vagrant\n") f.push_back("the new key does not log in: " + again.err);
    if (ssh(ikey, {"true"}).exit_code == 0) f.push_back("the insecure key still logs in after it was replaced");
    return f;
  };
  auto c = mi::boot_check(o);
  for (const auto& s : seen) std::cout << "  [vagrant] " << s << "\n";
  for (const auto& f : c.failures) std::cout << "  [vagrant] FAIL: " << f << "\n";
  std::cout << "  [vagrant] console: " << c.console_log << std::endl;
  CHECK(c.reached_ready);
  CHECK(seen.size() == 3);
  CHECK(c.passed);
}

TEST_CASE("tar: the same files as the disk's erofs root and ext4 /var (path, mode, owner, digest)", "[image]") {
  if (!mi::have_program("fsck.erofs") || !mi::have_program("debugfs") || !mi::have_program("sfdisk"))
    return mi::test::skip_or_fail("fsck.erofs, debugfs or sfdisk not found (erofs-utils, e2fsprogs, fdisk)");
  mi::test::TempDir t("mi-tar-vs-disk");
  std::string raw = t.path + "/disk.raw";
  mi::run({"qemu-img", "convert", "-O", "raw", out("qcow2"), raw});
  auto parts = nlohmann::json::parse(mi::run({"sfdisk", "-J", raw}).out)["partitiontable"]["partitions"];
  auto extract = [&](const std::string& name, const std::string& file) {
    for (const auto& p : parts)
      if (p["name"] == name)
        return mi::run({"dd", "if=" + raw, "of=" + file, "bs=512", "skip=" + std::to_string(p["start"].get<uint64_t>()),
                        "count=" + std::to_string(p["size"].get<uint64_t>()), "conv=sparse", "status=none"}),
               true;
    return false;
  };
  REQUIRE(extract("root-x86-64", t.path + "/root.erofs"));
  REQUIRE(extract("var", t.path + "/var.ext4"));
  fs::remove(raw);
  fs::create_directories(t.path + "/root");
  fs::create_directories(t.path + "/var");
  mi::run({"fsck.erofs", "--extract=" + t.path + "/root", "--preserve", t.path + "/root.erofs"});
  mi::run({"debugfs", "-R", "rdump / " + t.path + "/var", t.path + "/var.ext4"});
  std::map<std::string, Facts> disk;
  dir_facts(t.path + "/root", "", disk);
  dir_facts(t.path + "/var", "var/", disk);
  disk.erase("var/lost+found");  // ext4's own

  auto tar = tar_facts(out("tar"));
  // The extractors drop special bits (fsck.erofs 1.5 chmods, then chowns, which clears
  // set-user/group-ID; debugfs's rdump drops the sticky bit): where only those differ, the mode
  // is read in the image itself, with libguestfs.
  std::vector<std::string> setid;
  for (const auto& [path, f] : tar)
    if (auto d = disk.find(path); d != disk.end() && (f.mode & 07000) && (d->second.mode & 07000) == 0) {
      d->second.mode |= f.mode & 07000;
      if (d->second == f) setid.push_back(path);
      d->second.mode &= ~07000u;
    }
  if (!setid.empty()) {
    std::string script = "run\nmount-ro /dev/sda2 /\nmount-ro /dev/sda3 /var\n";
    for (const auto& p : setid) script += "statns \"/" + p + "\"\n";
    mi::RunOptions o;
    o.input = script;
    o.env["LIBGUESTFS_BACKEND_SETTINGS"] = "force_tcg";  // no nested KVM here
    o.timeout_seconds = 900;
    std::istringstream in(mi::run({"guestfish", "--ro", "-a", out("qcow2")}, o).out);
    size_t i = 0;
    for (std::string line; std::getline(in, line) && i < setid.size();)
      if (line.rfind("st_mode: ", 0) == 0) disk[setid[i++]].mode = unsigned(std::stoul(line.substr(9))) & 07777;
    CHECK(i == setid.size());
  }
  std::vector<std::string> diffs;
  for (const auto& [path, f] : tar) {
    auto d = disk.find(path);
    if (d == disk.end())
      diffs.push_back("only in the tar: " + path);
    else if (!(d->second == f))
      diffs.push_back(path + ": tar " + show(f) + ", disk " + show(d->second));
  }
  for (const auto& [path, f] : disk)
    if (!tar.count(path)) diffs.push_back("only on the disk: " + path);
  std::string first;
  for (size_t i = 0; i < diffs.size() && i < 20; i++) first += diffs[i] + "\n";
  INFO(diffs.size() << " differences; first:\n" << first);
  CHECK(tar.size() > 10000);  // the whole root, not a stub
  CHECK(tar.count("usr/bin/mi-firstboot") == 1);
  CHECK(tar["usr/bin/sudo"].mode == 04755);  // set-user-ID kept, in the tar and (above) on the disk
  CHECK(diffs.empty());
}

TEST_CASE("the build's signed manifest covers every output, byte for byte", "[image]") {
  std::string pub = fs::path(dir()).parent_path().string() + "/sign.pub";  // image_build's key
  REQUIRE(fs::exists(pub));
  size_t checked = 0;
  auto problems = mi::verify_outdir(dir(), pub, &checked);
  for (const auto& p : problems) std::cout << "  [verify] " << p << "\n";
  CHECK(problems.empty());
  CHECK(checked >= 12);  // qcow2, vmdk, vhd, openstack (+ 2 side files), ami, tar, 2 boxes, iso, pxe, sbom
}

TEST_CASE("inspect: the qcow2 and the VMDK say what they are, as manifest.json does", "[image]") {
  nlohmann::json role = manifest_role("all-in-one");
  for (const auto& ext : {"qcow2", "vmdk"}) {
    auto i = mi::inspect_image(out(ext));
    INFO(mi::inspection_text(i));
    CHECK(i.role == "all-in-one");
    CHECK(i.cluster == "mi");
    REQUIRE(i.build.is_object());
    CHECK(i.build["source_date_epoch"] == role["source_date_epoch"]);
    // The root's stage keys are the manifest's, in order (bootstrap .. finalize).
    REQUIRE(i.build["stages"].size() >= 5);
    for (size_t s = 0; s < i.build["stages"].size(); s++) CHECK(i.build["stages"][s] == role["stages"][s]);
    bool consul = false;
    for (const auto& c : i.build["components"]) consul = consul || (c["name"] == "consul" && c["version"] == "1.8.7");
    CHECK(consul);
    REQUIRE(i.partitions.size() == 4);
    CHECK(i.partitions[0].name == "esp");
    CHECK(i.partitions[0].fs_type == "vfat");
    CHECK(i.partitions[1].name == "root-x86-64");
    CHECK(i.partitions[1].fs_type == "erofs");
    CHECK(i.partitions[2].fs_type == "ext4");
    CHECK(i.virtual_size == info(out("qcow2"), "qcow2")["virtual-size"].get<uint64_t>());
    bool zk = false;
    for (const auto& [n, v] : i.packages) zk = zk || (n == "zookeeper" && v.rfind("3.8", 0) == 0);
    CHECK(zk);
  }
}

TEST_CASE("sbom: the SPDX document lists every package the manifest lists, with its purl", "[image]") {
  nlohmann::json role = manifest_role("all-in-one");
  auto sbom = nlohmann::json::parse(mi::read_file(out("spdx.json")));
  CHECK(sbom["spdxVersion"] == "SPDX-2.3");
  std::map<std::string, std::string> in_sbom;
  for (const auto& p : sbom["packages"])
    if (p.contains("externalRefs")) in_sbom[p["name"]] = p["versionInfo"];
  REQUIRE(role["packages"].size() > 100);
  CHECK(in_sbom.size() == role["packages"].size());
  for (const auto& p : role["packages"]) CHECK(in_sbom[p["name"].get<std::string>()] == p["version"]);
  CHECK(in_sbom.count("consul") == 1);
}

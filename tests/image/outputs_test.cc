// Image tier: the all-in-one's outputs besides the qcow2 (built once by the image_build test into
// $MI_IMAGE_DIR), each read by its consumer's own tools: the VMDK and the VHD hold the qcow2's
// very disk (qemu-img compare) and boot under QEMU/TCG (mi-status ready); the OpenStack files
// are valid JSON and a shell command line that passes the qcow2 to `openstack image create`;
// the AMI tar holds the VHD (the same disk) with the JSON `aws ec2` takes; the root file system
// tar lists, with bsdtar, the files, owners and modes the image has.
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "builder/boot.h"
#include "common/files.h"
#include "common/process.h"
#include "skip.h"
#include "temp_dir.h"

namespace fs = std::filesystem;

namespace {

std::string dir() {
  const char* d = getenv("MI_IMAGE_DIR");
  REQUIRE(d != nullptr);  // set by tests/image/CMakeLists.txt
  return d;
}

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

// Vagrant's own insecure private key, as Debian's vagrant package ships it.
std::string vagrant_insecure_key() {
  for (const auto& e : fs::directory_iterator("/usr/share/rubygems-integration/all/gems"))
    if (e.path().filename().string().rfind("vagrant-", 0) == 0 && fs::exists(e.path() / "keys/vagrant"))
      return (e.path() / "keys/vagrant").string();
  return "";
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

TEST_CASE("the VHD boots (UEFI) and the VMDK boots (BIOS) under QEMU/TCG", "[image]") {
  for (auto [ext, firmware] : {std::pair{"vhd", "uefi"}, std::pair{"vmdk", "bios"}}) {
    mi::BootOptions o;
    o.image = out(ext);
    o.firmware = firmware;
    o.check = true;
    o.wait_cluster = false;
    o.timeout_s = 1200;
    o.memory_mb = 2048;
    o.console_log = dir() + "/console-" + ext + ".log";
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

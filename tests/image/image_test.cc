// Image tier: builds the default spec's all-in-one image with the real `mibuild` binary, looks
// inside it with libguestfs (nothing a clone must not share, the right units enabled), then
// boots it under QEMU/TCG with OVMF (UEFI) and with SeaBIOS (BIOS) and asserts from the serial
// console (mi-console-status) that it reached multi-user.target with a read-only erofs root, a
// writable ext4 /var, Consul 1.8.7 and ZooKeeper 3.8 installed and running.
#include <catch2/catch.hpp>

#include <stdlib.h>

#include <filesystem>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "builder/boot.h"
#include "common/process.h"

namespace fs = std::filesystem;

namespace {

// The built image, shared by the test cases (built once, in order).
std::string g_image;
std::string g_dir;

std::string guestfish(const std::string& image, const std::string& script) {
  mi::RunOptions o;
  o.input = script;
  // /dev/kvm may exist here but nested KVM does not work on these machines: TCG only.
  o.env["LIBGUESTFS_BACKEND_SETTINGS"] = "force_tcg";
  o.timeout_seconds = 900;
  return mi::run({"guestfish", "--ro", "-a", image}, o).out;
}

// Development shortcut: MI_IMAGE_TEST_REUSE=<image> tests an image built before (never set in CI).
bool reuse() {
  const char* dev = getenv("MI_IMAGE_TEST_REUSE");
  if (!dev) return false;
  g_image = dev;
  g_dir = fs::path(dev).parent_path();
  setenv("MI_KEEP_IMAGE", "1", 1);
  std::cout << "MI_IMAGE_TEST_REUSE set: testing " << g_image << " without building it" << std::endl;
  return true;
}

}  // namespace

TEST_CASE("mibuild builds the all-in-one image", "[image]") {
  if (reuse()) return;
  char t[] = "/var/tmp/mi-image-test.XXXXXX";
  REQUIRE(mkdtemp(t) != nullptr);
  g_dir = t;
  std::string mibuild = std::string(MI_BINARY_DIR) + "/builder/mibuild";
  REQUIRE(fs::exists(mibuild));
  mi::RunOptions o;
  o.check = false;
  o.cwd = MI_SOURCE_DIR;
  o.timeout_seconds = 1800;
  auto r = mi::run({mibuild, "build", std::string(MI_SOURCE_DIR) + "/spec.yaml", "-r", "all-in-one", "-f", "qcow2", "-o",
                    g_dir + "/out", "--work-dir", g_dir + "/work"},
                   o);
  std::cout << r.out << r.err.substr(r.err.size() > 4000 ? r.err.size() - 4000 : 0) << std::endl;
  REQUIRE(r.exit_code == 0);
  g_image = g_dir + "/out/mi-all-in-one.qcow2";
  REQUIRE(fs::exists(g_image));
  REQUIRE(fs::exists(g_dir + "/out/manifest.json"));
  REQUIRE_FALSE(fs::exists(g_dir + "/out/mi-all-in-one.raw"));  // only the formats asked for
  auto check = mi::run({"qemu-img", "check", g_image}, {.check = false});
  INFO(check.out << check.err);
  REQUIRE(check.exit_code == 0);
}

TEST_CASE("the image holds no per-node identity and enables the right units", "[image]") {
  if (g_image.empty()) reuse();
  REQUIRE_FALSE(g_image.empty());
  std::string out = guestfish(g_image,
                              "run\n"
                              "mount-ro /dev/sda2 /\n"
                              "mount-ro /dev/sda3 /var\n"
                              "echo machine-id-size\nfilesize /etc/machine-id\n"
                              "echo ssh-host-keys\nglob-expand /etc/ssh/ssh_host_*\n"
                              "echo consul-enabled\nexists /etc/systemd/system/multi-user.target.wants/consul.service\n"
                              "echo zookeeper-enabled\nexists /etc/systemd/system/multi-user.target.wants/zookeeper.service\n"
                              "echo status-enabled\nexists /etc/systemd/system/multi-user.target.wants/mi-console-status.service\n"
                              "echo networkd-enabled\nexists /etc/systemd/system/multi-user.target.wants/systemd-networkd.service\n"
                              "echo dhcp\ncat /etc/systemd/network/80-mi-dhcp.network\n"
                              "echo pins\ncat /etc/apt/preferences.d/mi-pins\n"
                              "echo fstab\ncat /etc/fstab\n"
                              "echo apt-lists\nglob-expand /var/lib/apt/lists/*_Packages\n"
                              "echo cluster\ncat /usr/lib/mi/cluster.yaml\n"
                              "echo end\n");
  INFO(out);
  // The output split at our `echo` markers: marker → the lines printed after it.
  std::map<std::string, std::string> sec;
  {
    static const std::set<std::string> marks = {"machine-id-size", "ssh-host-keys", "consul-enabled",
                                                "zookeeper-enabled", "status-enabled", "networkd-enabled", "dhcp",
                                                "pins", "fstab", "apt-lists", "cluster", "end"};
    std::istringstream in(out);
    std::string cur;
    for (std::string line; std::getline(in, line);) {
      if (marks.count(line)) { cur = line; sec[cur]; continue; }
      if (!cur.empty()) sec[cur] += (sec[cur].empty() ? "" : "\n") + line;
    }
  }
  REQUIRE(sec.count("end"));
  auto section = [&](const std::string& name) { return sec[name]; };
  CHECK(section("machine-id-size") == "0");
  CHECK(section("ssh-host-keys") == "");
  CHECK(section("consul-enabled") == "false");
  CHECK(section("zookeeper-enabled") == "false");
  CHECK(section("status-enabled") == "true");
  CHECK(section("networkd-enabled") == "true");
  CHECK(section("dhcp").find("Type=ether") != std::string::npos);
  CHECK(section("dhcp").find("DHCP=yes") != std::string::npos);
  CHECK(section("pins").find("Pin-Priority: -1") != std::string::npos);
  CHECK(section("fstab").find("\terofs\tro") != std::string::npos);
  CHECK(section("apt-lists") == "");
  CHECK(section("cluster").find("datacenter") != std::string::npos);
}

namespace {

mi::BootCheck boot(const std::string& firmware) {
  mi::BootOptions o;
  o.image = g_image;
  o.firmware = firmware;
  o.check = true;
  o.timeout_s = 900;
  o.memory_mb = 2048;
  o.console_log = g_dir + "/console-" + firmware + ".log";
  o.expect = {"rootfs=erofs", "var-fs=ext4", "consul=1.8.7", "zookeeper=3.8", "ssh-hostkeys=var", "failed-units=none",
              "firstboot=installed"};
  auto c = mi::boot_check(o);
  for (const auto& l : c.status_lines) std::cout << "  [" << firmware << "] mi-status: " << l << "\n";
  for (const auto& f : c.failures) std::cout << "  [" << firmware << "] FAIL: " << f << "\n";
  std::cout << "console: " << c.console_log << std::endl;
  return c;
}

bool g_booted_uefi = false;

}  // namespace

TEST_CASE("the image boots under QEMU/TCG with OVMF (UEFI) and reports itself healthy", "[image]") {
  if (g_image.empty()) reuse();
  REQUIRE_FALSE(g_image.empty());
  auto c = boot("uefi");
  REQUIRE(c.reached_ready);
  REQUIRE(c.failures.empty());
  REQUIRE(c.passed);
  g_booted_uefi = true;
}

TEST_CASE("the same image boots under QEMU/TCG with SeaBIOS (BIOS) and reports itself healthy", "[image]") {
  if (g_image.empty()) reuse();
  REQUIRE_FALSE(g_image.empty());
  auto c = boot("bios");
  REQUIRE(c.reached_ready);
  REQUIRE(c.failures.empty());
  REQUIRE(c.passed);
  // Clean up only when everything passed: a failure leaves the image and consoles for a look.
  if (g_booted_uefi && getenv("MI_KEEP_IMAGE") == nullptr) fs::remove_all(g_dir);
}

// Image tier: the default spec's all-in-one image (built once by the image_build test), looked
// inside with libguestfs (nothing a clone must not share, the right units enabled), then booted
// under QEMU/TCG with OVMF (UEFI), with no seed at all: it must form its one-node cluster by
// itself (mi-cluster-status: first boot done, Consul leader, ZooKeeper standalone, the service
// name resolving, Consul and ZooKeeper started from mi-firstboot's units after their
// configuration was written); and with SeaBIOS (BIOS): a read-only erofs root, a writable ext4 /var,
// Consul 1.8.7 and ZooKeeper 3.8 installed, no failed unit (mi-console-status).
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

// The all-in-one image, built once for the whole image tier by the `image_build` test (a ctest
// fixture) into $MI_IMAGE_DIR.
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

void find_image() {
  if (!g_image.empty()) return;
  const char* dir = getenv("MI_IMAGE_DIR");
  REQUIRE(dir != nullptr);  // set by tests/image/CMakeLists.txt
  g_dir = dir;
  g_image = g_dir + "/mi-all-in-one.qcow2";
  std::cout << "testing " << g_image << " (built by the image_build test)" << std::endl;
  REQUIRE(fs::exists(g_image));
}

}  // namespace

TEST_CASE("the built image passes qemu-img check", "[image]") {
  find_image();
  auto check = mi::run({"qemu-img", "check", g_image}, {.check = false});
  INFO(check.out << check.err);
  REQUIRE(check.exit_code == 0);
}

TEST_CASE("the image holds no per-node identity and enables the right units", "[image]") {
  find_image();
  std::string out = guestfish(g_image,
                              "run\n"
                              "mount-ro /dev/sda2 /\n"
                              "mount-ro /dev/sda3 /var\n"
                              "echo machine-id-size\nfilesize /etc/machine-id\n"
                              "echo ssh-host-keys\nglob-expand /etc/ssh/ssh_host_*\n"
                              "echo status-enabled\nexists /etc/systemd/system/multi-user.target.wants/mi-console-status.service\n"
                              "echo networkd-enabled\nexists /etc/systemd/system/multi-user.target.wants/systemd-networkd.service\n"
                              "echo firstboot-enabled\nexists /etc/systemd/system/multi-user.target.wants/mi-firstboot.service\n"
                              "echo cluster-status-enabled\nexists /etc/systemd/system/multi-user.target.wants/mi-cluster-status.service\n"
                              "echo machine-id-enabled\nexists /etc/systemd/system/sysinit.target.wants/mi-machine-id.service\n"
                              "echo hosts\ncat /etc/hosts\n"
                              "echo hostname\ncat /etc/hostname\n"
                              "echo var-mi\nglob-expand /var/lib/mi/*\n"
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
    static const std::set<std::string> marks = {"machine-id-size", "ssh-host-keys", "status-enabled", "networkd-enabled", "firstboot-enabled",
                                                "cluster-status-enabled", "machine-id-enabled", "hosts", "hostname",
                                                "var-mi", "dhcp",
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
  CHECK(section("status-enabled") == "true");
  CHECK(section("networkd-enabled") == "true");
  CHECK(section("dhcp").find("Type=ether") != std::string::npos);
  CHECK(section("dhcp").find("DHCP=yes") != std::string::npos);
  CHECK(section("pins").find("Pin-Priority: -1") != std::string::npos);
  CHECK(section("fstab").find("\terofs\tro") != std::string::npos);
  CHECK(section("apt-lists") == "");
  CHECK(section("cluster").find("datacenter") != std::string::npos);
  // The image runs first boot on every boot, keeps its machine-id on /var, reports on the console.
  CHECK(section("firstboot-enabled") == "true");
  CHECK(section("cluster-status-enabled") == "true");
  CHECK(section("machine-id-enabled") == "true");
  // Nothing per node: no baked host name in /etc/hosts, no state, no secret on /var.
  CHECK(section("hosts").find("127.0.1.1") == std::string::npos);
  CHECK(section("var-mi") == "");
  // An all-in-one image forms its one-node cluster alone; no secret in its defaults.
  CHECK(section("cluster").find("control_count: 1") != std::string::npos);
  CHECK(section("cluster").find("role: all-in-one") != std::string::npos);
  CHECK(section("cluster").find("secret") == std::string::npos);
}

namespace {

mi::BootCheck boot(const std::string& firmware, bool cluster) {
  mi::BootOptions o;
  o.image = g_image;
  o.firmware = firmware;
  o.check = true;
  o.wait_cluster = cluster;
  o.timeout_s = 1200;
  o.memory_mb = 2048;
  o.console_log = g_dir + "/console-" + firmware + ".log";
  o.expect = {"rootfs=erofs", "var-fs=ext4", "consul=1.8.7", "zookeeper=3.8", "ssh-hostkeys=var", "failed-units=none",
              "firstboot=installed", "firstboot-unit=enabled", "machine-id=set"};
  auto c = mi::boot_check(o);
  for (const auto& l : c.status_lines) std::cout << "  [" << firmware << "] mi-status: " << l << "\n";
  for (const auto& l : c.cluster_lines) std::cout << "  [" << firmware << "] mi-cluster: " << l << "\n";
  if (cluster) std::cout << "  [" << firmware << "] " << mi::cluster_summary(c) << "\n";
  for (const auto& f : c.failures) std::cout << "  [" << firmware << "] FAIL: " << f << "\n";
  std::cout << "console: " << c.console_log << std::endl;
  return c;
}

}  // namespace

TEST_CASE("with no seed at all, the all-in-one VM forms its one-node cluster (UEFI, OVMF)", "[image]") {
  find_image();
  auto c = boot("uefi", true);
  REQUIRE(c.reached_ready);
  REQUIRE(c.failures.empty());
  REQUIRE(c.passed);
  REQUIRE(c.cluster_formed);
  auto& k = c.cluster;
  CHECK(k["role"] == "all-in-one");
  CHECK(k["firstboot"] == "done");
  CHECK(k["node"].rfind("all-in-one-", 0) == 0);  // named from its machine-id, not the image
  CHECK(k["node"].size() == std::string("all-in-one-").size() + 6);
  CHECK(k["consul-members"] == "1");
  CHECK(k["consul-leader"] == k["address"]);
  CHECK(k["zookeeper-mode"] == "standalone");
  CHECK(k["zookeeper-dns"] == k["address"]);  // the service name resolves through dnsmasq
  // What the boot did, from systemd's journal in the VM: each service ran from the unit
  // mi-firstboot generated and first started after mi-firstboot wrote its configuration.
  CHECK(k["consul-start"].rfind("after-config (", 0) == 0);
  CHECK(k["zookeeper-start"].rfind("after-config (", 0) == 0);
}

TEST_CASE("the same image boots under QEMU/TCG with SeaBIOS (BIOS) and reports itself healthy", "[image]") {
  find_image();
  auto c = boot("bios", false);
  REQUIRE(c.reached_ready);
  REQUIRE(c.failures.empty());
  REQUIRE(c.passed);
}

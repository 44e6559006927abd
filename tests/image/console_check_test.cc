// The boot check's verdict on a console (builder/boot.h evaluate_console): it passes only when
// the image printed every expected status, and fails when the status feature is missing.
#include <algorithm>
#include <catch2/catch.hpp>

#include "builder/boot.h"

namespace {
const char* kGood =
    "[  OK  ] Reached target multi-user.target\r\n"
    "[   73.8] mi-console-status[307]: mi-status: root=ro\r\n"
    "[   73.9] mi-console-status[307]: mi-status: rootfs=erofs\r\n"
    "[   74.1] mi-console-status[307]: mi-status: var=rw\r\n"
    "[   74.7] mi-console-status[307]: mi-status: multi-user=active\r\n"
    "[   80.4] mi-console-status[307]: mi-status: consul=1.8.7\r\n"
    "[   86.9] mi-console-status[307]: mi-status: zookeeper=3.8.0\r\n"
    "[   87.5] mi-console-status[307]: mi-status: ready\r\n";
}

TEST_CASE("a console with every status passes, versions match by prefix") {
  auto c = mi::evaluate_console(kGood, {"consul=1.8.7", "zookeeper=3.8", "rootfs=erofs"});
  INFO(c.failures.size());
  REQUIRE(c.passed);
  REQUIRE(c.reached_ready);
  REQUIRE(c.status_lines.size() == 7);
  REQUIRE(c.status_lines[0] == "root=ro");
}

TEST_CASE("a console without status lines fails") {
  auto c = mi::evaluate_console("[  OK  ] Reached target multi-user.target\r\nlogin: ", {});
  REQUIRE_FALSE(c.passed);
  REQUIRE_FALSE(c.failures.empty());
}

TEST_CASE("wrong values, a degraded image, a broken component or a missing ready fail") {
  std::string s = kGood;
  REQUIRE_FALSE(mi::evaluate_console(s, {"consul=1.9"}).passed);
  REQUIRE_FALSE(mi::evaluate_console(s, {"zookeeper=3.8.1"}).passed);
  REQUIRE_FALSE(mi::evaluate_console(s, {"docker=20"}).passed);
  std::string rw = s;
  rw.replace(rw.find("root=ro"), 7, "root=rw");
  REQUIRE_FALSE(mi::evaluate_console(rw, {}).passed);
  std::string degraded = s;
  degraded.replace(degraded.find("mi-status: ready"), 16, "mi-status: degraded");
  REQUIRE_FALSE(mi::evaluate_console(degraded, {}).passed);
  std::string broken = s;
  broken.replace(broken.find("consul=1.8.7"), 12, "consul=broken");
  REQUIRE_FALSE(mi::evaluate_console(broken, {}).passed);
  std::string cut = s.substr(0, s.find("[   87.5]"));
  REQUIRE_FALSE(mi::evaluate_console(cut, {}).passed);
}

TEST_CASE("a service started other than from mi-firstboot's configuration fails the check") {
  std::string s = kGood;
  s += "mi-cluster-status[400]: mi-cluster: consul-start=after-config (config 40.91 s, started 41.02 s, unit "
       "/run/systemd/system/consul.service)\r\n"
       "mi-cluster-status[400]: mi-cluster: zookeeper-start=not-started\r\n"
       "mi-cluster-status[400]: mi-cluster: formed\r\n";
  auto ok = mi::evaluate_console(s, {});
  CHECK(ok.passed);
  CHECK(ok.cluster["zookeeper-start"] == "not-started");
  for (std::string bad : {"BEFORE-config (config 50.00 s, started 41.02 s, unit /run/systemd/system/consul.service)",
                          "not-from-mi-firstboot (started 12.00 s)"}) {
    std::string b = s;
    b.replace(b.find("not-started"), 11, bad);
    auto c = mi::evaluate_console(b, {});
    INFO(bad);
    CHECK_FALSE(c.passed);
    REQUIRE(c.failures.size() == 1);
    CHECK(c.failures[0].find("zookeeper-start=") == 0);
  }
}

TEST_CASE("unknown firmware and missing images are refused with a clear error") {
  mi::BootOptions o;
  o.image = "/nonexistent.qcow2";
  o.firmware = "coreboot";
  o.check = true;
  REQUIRE_THROWS_WITH(mi::boot_check(o), Catch::Contains("unknown firmware"));
  o.firmware = "bios";
  REQUIRE_THROWS_WITH(mi::boot_check(o), Catch::Contains("image not found"));
}

TEST_CASE("QEMU runs under TCG, UEFI with OVMF pflash, BIOS with SeaBIOS, network restricted") {
  mi::BootOptions o;
  o.image = "disk.qcow2";
  auto has = [](const std::vector<std::string>& a, const std::string& s) {
    for (const auto& x : a)
      if (x.find(s) != std::string::npos) return true;
    return false;
  };
  auto uefi = mi::qemu_argv(o, "qcow2", "/tmp/vars.fd", "/tmp/console.log", "/tmp/mon.sock");
  REQUIRE(has(uefi, "tcg"));
  REQUIRE(has(uefi, "OVMF_CODE_4M.fd"));
  REQUIRE(has(uefi, "file=/tmp/vars.fd"));
  REQUIRE(has(uefi, "restrict=on"));
  REQUIRE(has(uefi, "snapshot=on"));  // a check never writes the image
  REQUIRE(has(uefi, "file:/tmp/console.log"));
  o.firmware = "bios";
  auto bios = mi::qemu_argv(o, "qcow2", "", "/tmp/console.log", "/tmp/mon.sock");
  REQUIRE_FALSE(has(bios, "pflash"));
  auto interactive = mi::qemu_argv(o, "qcow2", "", "", "");
  REQUIRE(has(interactive, "mon:stdio"));
  REQUIRE_FALSE(has(interactive, "snapshot=on"));
  // A network boot: no disk, -boot n, QEMU's TFTP serving the bundle, the host reachable.
  o.image = "";
  o.tftp_dir = "/tmp/bundle";
  o.boot_file = "first.ipxe";
  auto net = mi::qemu_argv(o, "", "", "/tmp/console.log", "/tmp/mon.sock");
  REQUIRE_FALSE(has(net, "if=virtio"));
  REQUIRE(has(net, "user,id=n0,tftp=/tmp/bundle,bootfile=first.ipxe"));
  REQUIRE_FALSE(has(net, "restrict=on"));
  REQUIRE(std::find(net.begin(), net.end(), "-boot") + 1 < net.end());
  REQUIRE(*(std::find(net.begin(), net.end(), "-boot") + 1) == "n");
}

TEST_CASE("--cdrom: the image is a read-only CD-ROM that the firmware boots first, no virtio disk") {
  mi::BootOptions o;
  o.image = "live.iso";
  o.cdrom = true;
  auto a = mi::qemu_argv(o, "raw", "/tmp/vars.fd", "/tmp/console.log", "/tmp/mon.sock");
  auto at = [&](const std::string& s) {
    for (size_t i = 0; i < a.size(); ++i)
      if (a[i] == s) return i + 1 < a.size() ? a[i + 1] : std::string();
    return std::string("(none)");
  };
  CHECK(at("-device") == "ide-cd,drive=cd0,bootindex=0");
  std::string drive;
  for (size_t i = 0; i + 1 < a.size(); ++i)
    if (a[i] == "-drive" && a[i + 1].find("id=cd0") != std::string::npos) drive = a[i + 1];
  CHECK(drive == "if=none,id=cd0,media=cdrom,readonly=on,format=raw,file=live.iso");
  for (const auto& x : a) CHECK(x.find("if=virtio") == std::string::npos);
}

TEST_CASE("a kernel panic on the console is a failure that names it") {
  auto c = mi::evaluate_console(
      "Begin: Mounting root file system ... /init: 246: .: Can't open /scripts/mi-live\n"
      "[    8.170464] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000200\n");
  CHECK_FALSE(c.passed);
  REQUIRE(!c.failures.empty());  // first, before the missing status lines it explains
  CHECK(c.failures[0] ==
        "the kernel panicked: Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000200");
}

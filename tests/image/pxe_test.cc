// Image tier: the all-in-one's PXE bundle (built by the image_build test into
// $MI_IMAGE_DIR/mi-all-in-one.pxe/) booted with no disk at all: QEMU `-boot n`, the virtio
// NIC's built-in iPXE gets the bundle's iPXE script from QEMU's user-net TFTP server, TFTP
// brings the kernel, initrd and /var seed, and the initramfs (builder/initramfs/mi-live)
// fetches the erofs root over HTTP from a server this test runs on 127.0.0.1 (the guest's
// 10.0.2.2), checks its sha256 and mounts it. The console must say what a disk boot says
// (mi-status: ready, its one-node cluster formed), with / the erofs and /var a tmpfs.
#include <stdlib.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <thread>

#include "builder/boot.h"
#include "common/files.h"
#include "common/process.h"
#include "http_file_server.h"
#include "image_dir.h"
#include "skip.h"
#include "temp_dir.h"

namespace fs = std::filesystem;

TEST_CASE("the all-in-one boots from its PXE bundle (iPXE, TFTP, root over HTTP) and forms its cluster", "[image]") {
  const std::string bundle = mi::test::image_dir() + "/mi-all-in-one.pxe";
  INFO(bundle << " (built by the image_build test)");
  REQUIRE(fs::is_regular_file(bundle + "/mi-all-in-one.ipxe"));
  if (!mi::have_program("qemu-system-x86_64")) return mi::test::skip_or_fail("qemu-system-x86_64 not found");
  if (!fs::exists("/usr/lib/ipxe/qemu/efi-virtio.rom"))
    return mi::test::skip_or_fail("QEMU's iPXE ROMs not found (package ipxe-qemu)");

  mi::test::HttpFileServer http(bundle);
  REQUIRE(http.port() != 0);
  // The TFTP root: the bundle's files, and a first script that points the bundle's own script
  // at this test's HTTP server (what a site's chain script or --pxe-url does) and chains it.
  mi::test::TempDir t("mi-pxe-boot");
  const std::string tftp = t.path + "/tftp";
  fs::create_directories(tftp);
  for (const auto& e : fs::directory_iterator(bundle))
    fs::create_symlink(e.path(), tftp + "/" + e.path().filename().string());
  mi::write_file_atomic(tftp + "/test.ipxe", "#!ipxe\nset mi-url http://10.0.2.2:" + std::to_string(http.port()) +
                                                 "/\nchain mi-all-in-one.ipxe\n");

  mi::BootOptions o;
  o.tftp_dir = tftp;
  o.boot_file = "test.ipxe";
  o.firmware = "bios";  // SeaBIOS runs the NIC's iPXE option ROM
  o.check = true;
  o.wait_cluster = true;
  o.timeout_s = 1500;
  o.memory_mb = 3072;  // the root lives in RAM
  o.console_log = mi::test::image_dir() + "/console-pxe.log";
  o.expect = {"root=ro",          "rootfs=erofs",      "var-fs=tmpfs",        "consul=1.8.7",  "zookeeper=3.8",
              "ssh-hostkeys=var", "failed-units=none", "firstboot=installed", "machine-id=set"};
  fs::remove(o.console_log);  // a previous run's must not be read as this one's
  auto start = std::chrono::steady_clock::now();
  // How long the firmware part took (SeaBIOS, iPXE's DHCP, TFTP of the kernel, initrd and
  // seed): until the kernel's first line is on the console. A measurement only: polled.
  std::atomic<bool> done{false};
  double kernel_at = -1;
  std::thread watch([&] {
    while (!done && kernel_at < 0) {
      std::error_code ec;
      if (fs::exists(o.console_log, ec) && mi::read_file(o.console_log).find("Linux version") != std::string::npos)
        kernel_at = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  });
  auto c = mi::boot_check(o);
  done = true;
  watch.join();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  uint64_t tftp_bytes = 0;
  for (const char* f : {"vmlinuz", "initrd", "var-seed.cpio.gz"}) tftp_bytes += fs::file_size(bundle + "/" + f);
  std::cout << "  [pxe] kernel started " << kernel_at << " s after QEMU (firmware, iPXE, TFTP of " << tftp_bytes
            << " bytes)\n";
  for (const auto& l : c.status_lines) std::cout << "  [pxe] mi-status: " << l << "\n";
  for (const auto& l : c.cluster_lines) std::cout << "  [pxe] mi-cluster: " << l << "\n";
  std::cout << "  [pxe] " << mi::cluster_summary(c) << "\n";
  for (const auto& f : c.failures) std::cout << "  [pxe] FAIL: " << f << "\n";
  std::cout << "  [pxe] boot to cluster formed: " << int(secs) << " s (QEMU TCG)\n";
  bool root_sent = false;
  for (const auto& s : http.sent()) {
    std::cout << "  [pxe] HTTP " << s.status << " " << s.path << ": " << s.bytes << " bytes in " << s.seconds << " s";
    if (s.seconds > 0) std::cout << " (" << double(s.bytes) / 1048576 / s.seconds << " MiB/s)";
    std::cout << "\n";
    if (s.path == "/root.erofs" && s.status == 200 && s.bytes == fs::file_size(bundle + "/root.erofs"))
      root_sent = true;
  }
  std::string console = mi::read_file(c.console_log);
  for (const char* l : {"mi-live: fetched ", "mi-live: sha256 of the root file checked", "mi-live: root "})
    if (auto p = console.find(l); p != std::string::npos)
      std::cout << "  [pxe] " << console.substr(p, console.find('\n', p) - p) << "\n";
  std::cout << "console: " << c.console_log << std::endl;
  CHECK(root_sent);
  CHECK(kernel_at > 0);
  CHECK(console.find("mi-live: sha256 of the root file checked") != std::string::npos);
  REQUIRE(c.reached_ready);
  CHECK(c.failures.empty());
  CHECK(c.passed);
  REQUIRE(c.cluster_formed);
  CHECK(c.cluster["role"] == "all-in-one");
  CHECK(c.cluster["consul-members"] == "1");
  CHECK(c.cluster["zookeeper-mode"] == "standalone");
}

// Image tier: the all-in-one's hybrid ISO (`-f iso`, built once by the image_build test into
// $MI_IMAGE_DIR), read by other people's tools: xorriso's El Torito report (a BIOS and a UEFI
// boot image), sfdisk on the ISO as a disk (GPT with the EFI system partition, GRUB's MBR code),
// bsdtar's listing of the volume and its grub.cfg, mtools in the EFI partition (systemd-boot and
// the same kernel command line), the root's sha256 on the command line checked against the file
// on the volume; then booted under QEMU/TCG as a CD-ROM by UEFI (OVMF, to the formed one-node
// cluster) and by BIOS (SeaBIOS), and as a USB stick / hard disk by BIOS (the hybrid MBR).
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <regex>

#include "builder/boot.h"
#include "common/digest.h"
#include "common/files.h"
#include "common/process.h"
#include "image_dir.h"
#include "skip.h"
#include "temp_dir.h"

namespace fs = std::filesystem;

namespace {

std::string dir() { return mi::test::image_dir(); }

std::string iso() {
  std::string p = dir() + "/mi-all-in-one.iso";
  INFO(p << " (built by the image_build test)");
  REQUIRE(fs::exists(p));
  return p;
}

bool have(const std::string& tool) {
  if (mi::have_program(tool)) return true;
  mi::test::skip_or_fail(tool + " not installed (scripts/setup.sh installs it)");
  return false;
}

// The one kernel line of a config text after `keyword` ("linux /mi/.../linux " or "options ").
std::string line_after(const std::string& text, const std::string& keyword) {
  auto p = text.find(keyword);
  if (p == std::string::npos) return "";
  auto e = text.find('\n', p);
  return text.substr(p + keyword.size(), e - p - keyword.size());
}

mi::BootCheck boot(const std::string& firmware, bool cdrom, bool cluster, const std::string& name) {
  mi::BootOptions o;
  o.image = iso();
  o.firmware = firmware;
  o.cdrom = cdrom;
  o.check = true;
  o.wait_cluster = cluster;
  o.timeout_s = 1200;
  o.console_log = dir() + "/console-iso-" + name + ".log";
  // As the disk image's boot test, but /var is a tmpfs on a live boot.
  o.expect = {"rootfs=erofs",      "var-fs=tmpfs",        "consul=1.8.7",           "zookeeper=3.8",
              "failed-units=none", "firstboot=installed", "firstboot-unit=enabled", "machine-id=set"};
  auto t0 = std::chrono::steady_clock::now();
  auto c = mi::boot_check(o);
  auto s = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - t0).count();
  for (const auto& l : c.status_lines) std::cout << "  [" << name << "] mi-status: " << l << "\n";
  if (cluster) std::cout << "  [" << name << "] " << mi::cluster_summary(c) << "\n";
  for (const auto& f : c.failures) std::cout << "  [" << name << "] FAIL: " << f << "\n";
  std::cout << "  [" << name << "] " << s << " s to " << (cluster ? "the formed cluster" : "ready")
            << " (console: " << c.console_log << ")" << std::endl;
  return c;
}

}  // namespace

TEST_CASE("El Torito: a BIOS and a UEFI boot image (xorriso's report)", "[image]") {
  if (!have("xorriso")) return;
  auto r = mi::run({"xorriso", "-indev", iso(), "-report_el_torito", "plain"});
  std::string out = r.out + r.err;
  INFO(out);
  CHECK(std::regex_search(out, std::regex(R"(El Torito boot img :\s+1\s+BIOS\s+y\s+none)")));
  CHECK(std::regex_search(out, std::regex(R"(El Torito boot img :\s+2\s+UEFI\s+y\s+none)")));
  CHECK(out.find("El Torito img path :   1  /grub/eltorito.img") != std::string::npos);
  CHECK(out.find("Volume id    : 'MI_ALL_IN_ONE'") != std::string::npos);
}

TEST_CASE("as a disk: GRUB's MBR and a GPT with the volume and the EFI system partition (sfdisk)", "[image]") {
  if (!have("sfdisk")) return;
  auto j = nlohmann::json::parse(mi::run({"sfdisk", "--json", iso()}).out);
  INFO(j.dump(2));
  auto& pt = j["partitiontable"];
  CHECK(pt["label"] == "gpt");
  bool esp = false;
  for (const auto& p : pt["partitions"])
    if (p["type"] == "C12A7328-F81F-11D2-BA4B-00A0C93EC93B") esp = true;
  CHECK(esp);
  // GRUB's boot_hybrid.img is the MBR's code (it names itself in its error strings).
  std::string mbr(512, '\0');
  std::ifstream(iso(), std::ios::binary).read(mbr.data(), 512);
  CHECK(mbr.find("GRUB") != std::string::npos);
  CHECK(uint8_t(mbr[510]) == 0x55);
  CHECK(uint8_t(mbr[511]) == 0xaa);
}

TEST_CASE("the volume: root, kernel, initrd, GRUB; the command line names the root and its sha256", "[image]") {
  if (!have("bsdtar")) return;
  auto list = mi::run({"bsdtar", "-tf", iso()}).out;
  INFO(list);
  CHECK(list.find("live/root.erofs\n") != std::string::npos);
  CHECK(list.find("grub/grub.cfg\n") != std::string::npos);
  CHECK(list.find("grub/eltorito.img\n") != std::string::npos);
  CHECK(std::regex_search(list, std::regex(R"(mi/[^/\n]+/linux\n)")));
  CHECK(std::regex_search(list, std::regex(R"(mi/[^/\n]+/initrd\n)")));
  CHECK(std::regex_search(list, std::regex(R"(mi/[^/\n]+/var-seed\n)")));
  std::string cfg = mi::run({"bsdtar", "-xOf", iso(), "grub/grub.cfg"}).out;
  std::string cmd = line_after(cfg, "/linux ");
  INFO(cfg);
  CHECK(cmd.rfind("boot=mi-live mi.live.root=label:MI_ALL_IN_ONE:/live/root.erofs mi.live.sha256=", 0) == 0);
  CHECK(cmd.find(" fstab=no") != std::string::npos);
  CHECK(cmd.find("console=ttyS0,115200") != std::string::npos);
  CHECK(std::regex_search(cfg, std::regex(R"(initrd /mi/[^/]+/initrd /mi/[^/]+/var-seed\n)")));
  std::smatch m;
  REQUIRE(std::regex_search(cmd, m, std::regex("mi.live.sha256=([0-9a-f]{64})")));
  mi::test::TempDir t("mi-iso");
  mi::run({"bsdtar", "-xf", iso(), "-C", t.path, "live/root.erofs"});
  CHECK(mi::sha256_file_hex(t.path + "/live/root.erofs") == m[1].str());

  SECTION("the EFI partition: systemd-boot with the same kernel command line (mtools)") {
    if (!have("mtype")) return;
    auto j = nlohmann::json::parse(mi::run({"sfdisk", "--json", iso()}).out);
    uint64_t start = 0;
    for (const auto& p : j["partitiontable"]["partitions"])
      if (p["type"] == "C12A7328-F81F-11D2-BA4B-00A0C93EC93B") start = p["start"].get<uint64_t>() * 512;
    REQUIRE(start > 0);
    mi::RunOptions o;
    o.env["MTOOLS_SKIP_CHECK"] = "1";
    std::string img = "-i" + iso() + "@@" + std::to_string(start);
    auto dir = mi::run({"mdir", img, "-/", "-b", "::/"}, o).out;
    INFO(dir);
    CHECK(dir.find("::/EFI/BOOT/BOOTX64.EFI") != std::string::npos);
    auto entry = mi::run({"mtype", img, "::/loader/entries/mi.conf"}, o).out;
    INFO(entry);
    CHECK(line_after(entry, "options ") == cmd);
    CHECK(std::regex_search(entry, std::regex(R"(initrd /mi/[^/]+/initrd\ninitrd /mi/[^/]+/var-seed\n)")));
  }
}

TEST_CASE("the ISO as a CD-ROM by UEFI (OVMF): the one-node cluster forms with no seed", "[image]") {
  auto c = boot("uefi", true, true, "cdrom-uefi");
  REQUIRE(c.reached_ready);
  REQUIRE(c.failures.empty());
  REQUIRE(c.passed);
  CHECK(c.cluster["role"] == "all-in-one");
  CHECK(c.cluster["consul-members"] == "1");
  CHECK(c.cluster["zookeeper-mode"] == "standalone");
}

TEST_CASE("the ISO as a CD-ROM by BIOS (SeaBIOS) reports itself healthy", "[image]") {
  auto c = boot("bios", true, false, "cdrom-bios");
  REQUIRE(c.reached_ready);
  REQUIRE(c.failures.empty());
  REQUIRE(c.passed);
}

TEST_CASE("the ISO as a USB stick / hard disk by BIOS (the hybrid MBR) reports itself healthy", "[image]") {
  auto c = boot("bios", false, false, "disk-bios");
  REQUIRE(c.reached_ready);
  REQUIRE(c.failures.empty());
  REQUIRE(c.passed);
}

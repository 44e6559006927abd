// The hybrid ISO's pure parts (builder/iso.cc): the volume label, the live kernel command line
// (the live-boot interface PXE shares), GRUB's El Torito config, the volume date, the files on
// the volume, and xorriso's argv (which boot record goes where). The ISO itself, read by
// xorriso, sfdisk and bsdtar and booted by both firmwares, is tested in tests/image/iso_test.cc.
#include "builder/iso.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "builder/bios.h"
#include "common/error.h"

namespace {

// The argument after `opt` in argv ("(none)" when absent), and how often `opt` occurs.
std::string after(const std::vector<std::string>& a, const std::string& opt) {
  for (size_t i = 0; i + 1 < a.size(); ++i)
    if (a[i] == opt) return a[i + 1];
  return "(none)";
}
size_t count(const std::vector<std::string>& a, const std::string& opt) {
  size_t n = 0;
  for (const auto& x : a) n += x == opt;
  return n;
}

}  // namespace

TEST_CASE("iso_label: ISO 9660 d-characters, upper case, at most 32") {
  CHECK(mi::iso_label("mi", "all-in-one") == "MI_ALL_IN_ONE");
  CHECK(mi::iso_label("dc1.prod", "control") == "DC1_PROD_CONTROL");
  CHECK(mi::iso_label("a-very-long-spec-name", "compute-role") == "A_VERY_LONG_SPEC_NAME_COMPUTE_RO");
  CHECK(mi::iso_label("a-very-long-spec-name", "compute-role").size() == 32);
  // Nothing that could end a kernel argument or a GRUB word.
  CHECK(mi::iso_label("x y:z'\"", "r\n") == "X_Y_Z___R_");
}

TEST_CASE("live_cmdline: boot=mi-live, the root by label and path, its sha256, no fstab, the console") {
  std::string h(64, 'a');
  CHECK(mi::live_cmdline("MI_ALL_IN_ONE", h, "console=tty0 console=ttyS0,115200") ==
        "boot=mi-live mi.live.root=label:MI_ALL_IN_ONE:/live/root.erofs mi.live.sha256=" + h +
            " fstab=no console=tty0 console=ttyS0,115200");
  CHECK(mi::live_cmdline("L", "", "") == "boot=mi-live mi.live.root=label:L:/live/root.erofs fstab=no");
}

TEST_CASE("GRUB's El Torito core finds the volume by label and reads /grub/grub.cfg there") {
  CHECK(mi::eltorito_early_cfg("MI_ALL_IN_ONE") ==
        "search --no-floppy --label --set=root MI_ALL_IN_ONE\nset prefix=($root)/grub\n");
}

TEST_CASE("iso_volume_date: UTC, YYYYMMDDhhmmsscc") {
  CHECK(mi::iso_volume_date("1764000000") == "2025112416000000");
  CHECK(mi::iso_volume_date("0") == "1970010100000000");
  CHECK_THROWS_AS(mi::iso_volume_date(""), mi::Error);
  CHECK_THROWS_AS(mi::iso_volume_date("-5"), mi::Error);
  CHECK_THROWS_AS(mi::iso_volume_date("99999999999999"), mi::Error);  // past the year 2999
}

TEST_CASE("iso_files: the root at /live/root.erofs, the kernel and initrds where grub.cfg names them") {
  mi::IsoRequest r;
  r.tree = "/t";
  r.root_image = "/w/root.erofs";
  r.var_seed = "/w/var-seed.cpio.gz";
  auto f = mi::iso_files(r, "6.1.0-41-amd64");
  REQUIRE(f.size() == 4);
  CHECK(f[0].iso_path == "live/root.erofs");
  CHECK(f[0].source == "/w/root.erofs");
  CHECK(f[1].iso_path == "mi/6.1.0-41-amd64/linux");
  CHECK(f[1].source == "/t/boot/vmlinuz-6.1.0-41-amd64");
  CHECK(f[2].iso_path == "mi/6.1.0-41-amd64/initrd");
  CHECK(f[2].source == "/t/boot/initrd.img-6.1.0-41-amd64");
  CHECK(f[3].iso_path == "mi/6.1.0-41-amd64/var-seed");
  CHECK(f[3].source == "/w/var-seed.cpio.gz");
  r.var_seed = "";
  CHECK(mi::iso_files(r, "6.1.0-41-amd64").size() == 3);
}

TEST_CASE("grub.cfg of the ISO: the /var seed is the second initrd") {
  std::string c = mi::grub_cfg("mi all-in-one", "6.1.0-41-amd64", "boot=mi-live", true);
  CHECK(c.find("  linux /mi/6.1.0-41-amd64/linux boot=mi-live\n") != std::string::npos);
  CHECK(c.find("  initrd /mi/6.1.0-41-amd64/initrd /mi/6.1.0-41-amd64/var-seed\n") != std::string::npos);
  // The disk's grub.cfg has no seed: its /var is a partition.
  CHECK(mi::grub_cfg("t", "v", "ro").find("  initrd /mi/v/initrd\n") != std::string::npos);
}

TEST_CASE("xorriso_argv: El Torito for BIOS and UEFI, GRUB's MBR, the EFI image as GPT partition 2") {
  const std::string guid = "2303cd2a-73c7-424a-a298-25632da7f446";
  auto a = mi::xorriso_argv(
      {"/w/volume", "/w/efi.img", "/t/boot_hybrid.img", "MI_X", "1764000000", guid, "/o/.x.iso.tmp.1"});
  REQUIRE(a.size() > 4);
  CHECK(a[0] == "xorriso");
  CHECK(a[1] == "-as");
  CHECK(a[2] == "mkisofs");
  CHECK(a.back() == "/w/volume");
  CHECK(after(a, "-o") == "/o/.x.iso.tmp.1");
  CHECK(after(a, "-V") == "MI_X");
  CHECK(count(a, "--modification-date=2025112416000000") == 1);
  CHECK(after(a, "--gpt_disk_guid") == guid);  // from the spec's seed, not from the date
  // CD, BIOS: GRUB's El Torito core with its boot info patched.
  CHECK(after(a, "-b") == "grub/eltorito.img");
  CHECK(count(a, "--grub2-boot-info") == 1);
  CHECK(count(a, "-boot-info-table") == 1);
  CHECK(after(a, "-boot-load-size") == "4");
  // USB, BIOS: GRUB's hybrid MBR.
  CHECK(after(a, "--grub2-mbr") == "/t/boot_hybrid.img");
  // UEFI: the EFI image as appended partition 2 (type EFI system), and El Torito's EFI entry
  // pointing at that very partition (one copy of the bytes on the medium).
  auto ap = std::find(a.begin(), a.end(), "-append_partition");
  REQUIRE(ap + 3 < a.end());
  CHECK(ap[1] == "2");
  CHECK(ap[2] == "0xef");
  CHECK(ap[3] == "/w/efi.img");
  CHECK(count(a, "-appended_part_as_gpt") == 1);
  CHECK(after(a, "-e") == "--interval:appended_partition_2:all::");
  // The EFI entry is an alternative entry after the BIOS one.
  auto b = std::find(a.begin(), a.end(), "-b"), alt = std::find(a.begin(), a.end(), "-eltorito-alt-boot"),
       e = std::find(a.begin(), a.end(), "-e");
  CHECK(b < alt);
  CHECK(alt < e);
  // A bad epoch is an error, not a current date.
  CHECK_THROWS_AS(mi::xorriso_argv({"/w", "/e", "/h", "L", "now", guid, "/o"}), mi::Error);
}

// The hybrid ISO (`mibuild build -f iso`): the image's own kernel, initrd and erofs root (the very
// file that is the disk's root partition) on an iso9660 volume that boots by BIOS and by UEFI,
// from a CD and from a USB stick. BIOS: GRUB's i386-pc-eltorito core (El Torito, from a CD) and
// GRUB's boot_hybrid.img as the MBR (from a disk), both reading /grub/grub.cfg on the volume.
// UEFI: a FAT image with systemd-boot, its entry, the kernel and the initrd (made as esp.h makes
// the ESP), which is both the El Torito EFI image (CD) and an appended GPT partition (disk).
// The image's /var comes as a second initrd (the /var seed, live_var.h), copied onto a tmpfs.
// The kernel boots by the live-boot interface: boot=mi-live mi.live.root=label:LABEL:/live/root.erofs.
// Flow: finalize.h → make_erofs() (assemble.h) → write_iso() → out_dir/<name>-<role>.iso.
#pragma once
#include <string>
#include <vector>

namespace mi {

struct IsoRequest {
  std::string tree;           // the finalized root tree: kernel, initrd, GRUB i386-pc, systemd-boot
  std::string root_image;     // the erofs root, as /live/root.erofs
  std::string var_seed;       // the image's /var as a second initrd (live_var.h), as /mi/<version>/var-seed;
                              // empty: none (/var starts empty)
  std::string work;           // scratch directory (staged volume, EFI image); removed when done
  std::string output;         // the .iso, written atomically
  std::string label;          // iso_label()
  std::string title;          // menu title
  std::string console_args;   // kernel console options (esp.h kernel_console_args())
  std::string efi_volume_id;  // 8 hex digits: the FAT serial of the EFI image
  std::string disk_guid;      // the GPT's disk GUID (xorriso varies it for the partitions' GUIDs)
  std::string source_date_epoch;
};

// Where the root file lives on the volume.
inline constexpr const char* kIsoRootPath = "/live/root.erofs";

// The iso9660 volume id for a spec name and role: upper case, [A-Z0-9_] (ISO 9660 d-characters;
// anything else becomes '_'), at most 32 characters. "mi", "all-in-one" → "MI_ALL_IN_ONE".
std::string iso_label(const std::string& spec_name, const std::string& role);

// The live kernel command line: boot=mi-live, the root by label and path, its sha256, fstab=no,
// then the console options.
std::string live_cmdline(const std::string& label, const std::string& root_sha256, const std::string& console_args);

// The config built into GRUB's El Torito core: find the volume by its label (from a CD and from
// a USB stick alike), then read /grub/grub.cfg on it.
std::string eltorito_early_cfg(const std::string& label);

// ISO 9660's volume date for an epoch (UTC): "YYYYMMDDhhmmss00", what GRUB's --fs-uuid matches.
std::string iso_volume_date(const std::string& source_date_epoch);

// One file of the volume: its path on the ISO (relative, no leading '/') and where it comes from.
struct IsoFile {
  std::string iso_path;
  std::string source;
};

// The files of the volume besides grub.cfg and the El Torito core (which write_iso() makes).
std::vector<IsoFile> iso_files(const IsoRequest& req, const std::string& kernel_version);

// xorriso's argv (mkisofs emulation) for the staged volume `stage`, the EFI image, GRUB's
// boot_hybrid.img, to `out`. The El Torito BIOS image is <stage>/grub/eltorito.img.
struct XorrisoInputs {
  std::string stage, efi_image, boot_hybrid, label, source_date_epoch, disk_guid, out;
};
std::vector<std::string> xorriso_argv(const XorrisoInputs& in);

// Stages the volume, makes the GRUB core and the EFI image, runs xorriso, renames into place.
void write_iso(const IsoRequest& req);

}  // namespace mi

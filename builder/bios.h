// BIOS boot (SeaBIOS and real PCs): GRUB's i386-pc boot.img in the protective MBR's code area and
// its core.img in a GPT "BIOS boot" partition, both taken from the image's own grub-pc-bin, and a
// grub.cfg on the ESP booting the same kernel, initrd and command line as the systemd-boot entry.
// What `grub-install` would do, done on the disk file (no devices, no mounts).
// Flow: esp.h (grub.cfg on the ESP) → make_bios_core() → assemble.h (partition) → install_bios_boot().
#pragma once
#include <string>

#include "formats/disk_source.h"
#include "formats/gpt.h"

namespace mi {

// The GRUB config on the ESP (/grub/grub.cfg): serial + screen, no menu, one entry. With
// `var_seed`, /mi/<version>/var-seed is a second initrd (a live boot's /var seed, iso.h).
std::string grub_cfg(const std::string& title, const std::string& kernel_version, const std::string& cmdline,
                     bool var_seed = false);

// Builds core.img (grub-mkimage with the tree's i386-pc modules) that finds the ESP by its FAT
// serial (`esp_volume_id`, 8 hex digits) and reads /grub/grub.cfg there. Throws when the tree
// has no grub-pc-bin.
void make_bios_core(const std::string& tree, const std::string& esp_volume_id, const std::string& core_img);

// Puts the tree's boot.img into the MBR code area of the disk (the first bytes of `source`'s
// first extent, the primary GPT; the partition table and signature stay) pointing at core.img in
// disk.partitions[part], and patches core.img's first block list in its image file (the extent
// of that partition), as grub-bios-setup does.
void install_bios_boot(const std::string& tree, const GptDisk& disk, DiskSource& source, size_t part);

}  // namespace mi

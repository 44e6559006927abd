// The EFI system partition: a FAT image made with mkfs.vfat and filled with mtools (no mounts):
// systemd-boot from the image's own systemd-boot-efi (so loader and kernel match the image),
// loader.conf, one Boot Loader Specification entry, and the kernel + initrd from the tree's /boot.
// Flow: finalize.h → make_esp() → assemble.h (partition 1 of the GPT).
#pragma once
#include <cstdint>
#include <string>

namespace mi {

struct EspRequest {
  std::string tree;          // the finalized root tree (kernel, initrd, systemd-boot from here)
  std::string image;         // the FAT image to write
  uint64_t size_mb = 256;
  std::string volume_id;     // 8 hex digits
  std::string title;         // menu title of the entry
  std::string cmdline;       // kernel options
  std::string source_date_epoch;
  std::string grub_cfg;      // when set: written to /grub/grub.cfg for BIOS boot (bios.h)
  std::string var_seed;      // when set: a live boot's /var seed (a second initrd), as /mi/<version>/var-seed
};

struct EspResult {
  std::string kernel_version;
};

EspResult make_esp(const EspRequest& req);

// The kernel command line of the image (the last console= becomes /dev/console: serial).
std::string kernel_cmdline(const std::string& root_partuuid);

// Its console options alone, which a live boot (iso.h) shares.
std::string kernel_console_args();

// The newest kernel version with both vmlinuz-<v> and initrd.img-<v> in tree/boot.
std::string find_kernel(const std::string& tree);

}  // namespace mi

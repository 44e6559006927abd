// GRUB i386-pc embedding by hand: boot.img's kernel-sector field (0x5c) gets core.img's LBA, the
// drive-check jump (0x66) becomes NOPs for hard disks, and diskboot's block list (the last 12
// bytes of core.img's first sector) gets the rest of core.img: LBA+1, sectors-1, segment 0x820.
// Offsets from GRUB 2.06 include/grub/i386/pc/boot.h and util/setup.c.
#include "builder/bios.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "common/endian.h"
#include "common/error.h"
#include "common/files.h"
#include "common/process.h"

namespace fs = std::filesystem;

namespace mi {
namespace {

constexpr size_t kKernelSector = 0x5c;
constexpr size_t kDriveCheck = 0x66;
constexpr size_t kMbrCodeEnd = 0x1b8;  // disk signature + partition table start here: kept

std::string grub_dir(const std::string& tree) {
  std::string d = tree + "/usr/lib/grub/i386-pc";
  if (!fs::exists(d + "/boot.img")) throw Error(d, "GRUB for BIOS not in the image (package grub-pc-bin)");
  return d;
}

void pwrite_at(const std::string& path, uint64_t off, const std::string& data) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) throw Error(path, std::string("open: ") + strerror(errno));
  ssize_t w = pwrite(fd, data.data(), data.size(), off_t(off));
  int e = errno;
  close(fd);
  if (w != ssize_t(data.size())) throw Error(path, std::string("write: ") + strerror(e));
}

std::string pread_at(const std::string& path, uint64_t off, size_t n) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(path, std::string("open: ") + strerror(errno));
  std::string s(n, '\0');
  ssize_t r = pread(fd, s.data(), n, off_t(off));
  close(fd);
  if (r != ssize_t(n)) throw Error(path, "short read");
  return s;
}

}  // namespace

std::string grub_cfg(const std::string& title, const std::string& kv, const std::string& cmdline, bool var_seed) {
  return "# mibuild: BIOS boot of the same kernel, initrd and options as loader/entries/mi.conf.\n"
         "serial --unit=0 --speed=115200\n"
         "terminal_input serial console\n"
         "terminal_output serial console\n"
         "set timeout=0\n"
         "menuentry '" +
         title +
         "' {\n"
         "  linux /mi/" +
         kv + "/linux " + cmdline +
         "\n"
         "  initrd /mi/" +
         kv + "/initrd" + (var_seed ? " /mi/" + kv + "/var-seed" : "") +
         "\n"
         "}\n";
}

void make_bios_core(const std::string& tree, const std::string& esp_volume_id, const std::string& core_img) {
  std::string dir = grub_dir(tree);
  if (esp_volume_id.size() != 8) throw Error("bios", "ESP volume id must be 8 hex digits");
  std::string fat_uuid = esp_volume_id.substr(0, 4) + "-" + esp_volume_id.substr(4);
  for (auto& c : fat_uuid) c = char(toupper(c));
  std::string early = core_img + ".early.cfg";
  write_file_atomic(early, "search --no-floppy --fs-uuid --set=root " + fat_uuid + "\nset prefix=($root)/grub\n");
  fs::remove(core_img);
  run({"grub-mkimage", "-O", "i386-pc", "-d", dir, "-o", core_img, "-c", early, "-p", "/grub",
       // Everything grub.cfg needs is built in: nothing is loaded from the ESP but the config.
       "biosdisk", "part_gpt", "fat", "search", "search_fs_uuid", "normal", "configfile", "linux", "echo", "test",
       "serial", "terminal", "gzio"});
  fs::remove(early);
}

void install_bios_boot(const std::string& tree, const GptDisk& disk, DiskSource& source, size_t part) {
  if (part >= disk.partitions.size()) throw Error("bios", "no such partition");
  if (source.extents.empty() || source.extents[0].offset != 0 || source.extents[0].bytes.size() < kMbrCodeEnd)
    throw Error("bios", "the disk does not start with the GPT's bytes");
  std::string boot = read_file(grub_dir(tree) + "/boot.img");
  if (boot.size() != 512) throw Error("boot.img", "expected 512 bytes");
  const auto& p = disk.partitions[part];
  uint64_t core_lba = p.first_lba;
  auto* b = reinterpret_cast<uint8_t*>(boot.data());
  put_le64(b + kKernelSector, core_lba);
  b[kDriveCheck] = 0x90;
  b[kDriveCheck + 1] = 0x90;
  source.extents[0].bytes.replace(0, kMbrCodeEnd, boot, 0, kMbrCodeEnd);

  // core.img's first sector, in its image file: the block list for the rest of it.
  const DiskExtent* core = nullptr;
  for (const auto& e : source.extents)
    if (e.offset == core_lba * kSector && !e.file.empty()) core = &e;
  if (!core) throw Error("bios", "no core.img at the BIOS boot partition's first sector");
  std::string first = pread_at(core->file, core->file_offset, kSector);
  auto* f = reinterpret_cast<uint8_t*>(first.data());
  uint16_t sectors = uint16_t((core->length + kSector - 1) / kSector);
  put_le64(f + 500, core_lba + 1);
  put_le16(f + 508, uint16_t(sectors - 1));
  put_le16(f + 510, 0x820);
  pwrite_at(core->file, core->file_offset, first);
}

}  // namespace mi

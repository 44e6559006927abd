// write_iso(): stage the volume under work/ (the root by hard link, the kernel, initrd and /var
// seed copied, grub.cfg as the disk's ESP has it), GRUB's El Torito core by grub-mkimage from the
// tree's own modules, the EFI image by make_esp() (mkfs.vfat + mtools, no mounts), then one
// xorriso run in its mkisofs emulation with grub-mkrescue's hybrid options. Every staged file and
// directory gets the epoch as its mtime, xorriso runs with SOURCE_DATE_EPOCH (volume dates) and
// the GPT's GUID comes from the spec's seed: the same inputs give the same bytes.
#include "builder/iso.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>

#include "builder/bios.h"
#include "builder/esp.h"
#include "common/digest.h"
#include "common/error.h"
#include "common/files.h"
#include "common/process.h"

namespace fs = std::filesystem;

namespace mi {
namespace {

bool all_digits(const std::string& s) {
  if (s.empty()) return false;
  for (unsigned char c : s)
    if (!std::isdigit(c)) return false;
  return true;
}

void set_mtime(const std::string& path, time_t t) {
  struct timespec ts[2] = {{t, 0}, {t, 0}};
  if (utimensat(AT_FDCWD, path.c_str(), ts, AT_SYMLINK_NOFOLLOW) != 0)
    throw Error(path, std::string("utimensat: ") + strerror(errno));
}

// Every file and directory under (and including) dir, children first, gets mtime t.
void clamp_tree(const std::string& dir, time_t t) {
  std::vector<std::string> paths;
  for (const auto& e : fs::recursive_directory_iterator(dir)) paths.push_back(e.path().string());
  for (auto it = paths.rbegin(); it != paths.rend(); ++it) set_mtime(*it, t);
  set_mtime(dir, t);
}

// Built into GRUB's El Torito core: everything grub.cfg needs, from a CD (biosdisk, iso9660)
// and from a disk (part_msdos, part_gpt); nothing is loaded from the volume but the config.
const std::vector<std::string> kEltoritoModules = {"biosdisk",     "iso9660", "part_msdos", "part_gpt", "search",
                                                   "search_label", "normal",  "configfile", "linux",    "echo",
                                                   "test",         "serial",  "terminal",   "gzio"};

// A MiB count for the EFI image: the files it holds, FAT's own overhead and room, at least the
// 64 MiB FAT32 wants for its cluster count.
uint64_t efi_image_mb(uint64_t file_bytes) {
  uint64_t mb = (file_bytes + file_bytes / 8) / (1024 * 1024) + 16;
  return mb < 64 ? 64 : mb;
}

}  // namespace

std::string iso_label(const std::string& spec_name, const std::string& role) {
  std::string s = spec_name + "_" + role;
  for (auto& c : s) c = std::isalnum(static_cast<unsigned char>(c)) ? char(std::toupper(c)) : '_';
  if (s.size() > 32) s.resize(32);
  return s;
}

std::string live_cmdline(const std::string& label, const std::string& root_sha256, const std::string& console_args) {
  std::string s = "boot=mi-live mi.live.root=label:" + label + ":" + kIsoRootPath;
  if (!root_sha256.empty()) s += " mi.live.sha256=" + root_sha256;
  s += " fstab=no";
  if (!console_args.empty()) s += " " + console_args;
  return s;
}

std::string eltorito_early_cfg(const std::string& label) {
  return "search --no-floppy --label --set=root " + label + "\nset prefix=($root)/grub\n";
}

std::string iso_volume_date(const std::string& epoch) {
  if (!all_digits(epoch)) throw Error("SOURCE_DATE_EPOCH", "must be decimal seconds, got '" + epoch + "'");
  time_t t = time_t(std::stoll(epoch));
  struct tm tm {};
  if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 > 2999)
    throw Error("SOURCE_DATE_EPOCH", "out of ISO 9660's range (1970..2999): " + epoch);
  char buf[32];
  strftime(buf, sizeof buf, "%Y%m%d%H%M%S00", &tm);
  return buf;
}

std::vector<IsoFile> iso_files(const IsoRequest& req, const std::string& kv) {
  std::string k = "mi/" + kv;  // the same paths as on the ESP: grub_cfg() (bios.h) names them
  std::vector<IsoFile> f = {{std::string(kIsoRootPath).substr(1), req.root_image},
                            {k + "/linux", req.tree + "/boot/vmlinuz-" + kv},
                            {k + "/initrd", req.tree + "/boot/initrd.img-" + kv}};
  if (!req.var_seed.empty()) f.push_back({k + "/var-seed", req.var_seed});
  return f;
}

std::vector<std::string> xorriso_argv(const XorrisoInputs& in) {
  std::vector<std::string> a = {"xorriso", "-as", "mkisofs", "-o", in.out, "-V", in.label};
  auto add = [&](std::initializer_list<std::string> args) { a.insert(a.end(), args); };
  add({"--modification-date=" + iso_volume_date(in.source_date_epoch)});
  add({"--gpt_disk_guid", in.disk_guid});  // else "modification-date": the same for every role
  add({"-r"});                             // Rock Ridge, with sane owners and modes
  add({"-iso-level", "3"});                // the root may be larger than 4 GiB
  // USB, BIOS: GRUB's MBR, which loads the El Torito core from the volume; partition 1 (the
  // volume) starts at 2 KiB block 16 so that it is mountable from a disk.
  add({"--grub2-mbr", in.boot_hybrid, "-partition_offset", "16", "--mbr-force-bootable"});
  // USB, UEFI: the EFI image as GPT partition 2, an EFI system partition.
  add({"-append_partition", "2", "0xef", in.efi_image, "-appended_part_as_gpt"});
  add({"-c", "grub/boot.cat"});
  // CD, BIOS: GRUB's El Torito core (no emulation, 4 sectors loaded, patched boot info).
  add({"-b", "grub/eltorito.img", "-no-emul-boot", "-boot-load-size", "4", "-boot-info-table", "--grub2-boot-info"});
  // CD, UEFI: the same EFI image (the bytes of partition 2), as El Torito's EFI entry.
  add({"-eltorito-alt-boot", "-e", "--interval:appended_partition_2:all::", "-no-emul-boot"});
  add({in.stage});
  return a;
}

void write_iso(const IsoRequest& req) {
  const std::string grub_dir = req.tree + "/usr/lib/grub/i386-pc";
  for (const char* f : {"/boot_hybrid.img", "/cdboot.img"})
    if (!fs::exists(grub_dir + f)) throw Error(grub_dir + f, "GRUB for BIOS not in the image (package grub-pc-bin)");
  if (!fs::is_regular_file(req.root_image)) throw Error(req.root_image, "the erofs root was not written");
  if (!req.var_seed.empty() && !fs::is_regular_file(req.var_seed))
    throw Error(req.var_seed, "the /var seed was not written");
  const time_t t = time_t(std::stoll(all_digits(req.source_date_epoch) ? req.source_date_epoch : "0"));
  const std::string kv = find_kernel(req.tree);

  fs::remove_all(req.work);
  const std::string stage = req.work + "/volume";
  fs::create_directories(stage + "/grub");
  uint64_t efi_bytes = 0;
  for (const auto& f : iso_files(req, kv)) {
    std::string to = stage + "/" + f.iso_path;
    fs::create_directories(fs::path(to).parent_path());
    if (f.source == req.root_image) {
      std::error_code ec;
      fs::create_hard_link(f.source, to, ec);  // hundreds of MiB: linked, not copied
      if (ec) fs::copy_file(f.source, to);
    } else {
      fs::copy_file(f.source, to);
      efi_bytes += fs::file_size(f.source);
    }
  }
  const std::string cmdline = live_cmdline(req.label, sha256_file_hex(req.root_image), req.console_args);
  write_file_atomic(stage + "/grub/grub.cfg", grub_cfg(req.title, kv, cmdline, !req.var_seed.empty()));

  // BIOS: GRUB's El Torito core, everything grub.cfg needs built in.
  const std::string early = req.work + "/early.cfg";
  write_file_atomic(early, eltorito_early_cfg(req.label));
  std::vector<std::string> mkimage = {
      "grub-mkimage", "-O",   "i386-pc-eltorito", "-d", grub_dir, "-o", stage + "/grub/eltorito.img", "-c", early,
      "-p",           "/grub"};
  mkimage.insert(mkimage.end(), kEltoritoModules.begin(), kEltoritoModules.end());
  run(mkimage);
  clamp_tree(stage, t);

  // UEFI: systemd-boot, its entry, the kernel and the initrd on a FAT image.
  const std::string efi = req.work + "/efi.img";
  const std::string boot_efi = req.tree + "/usr/lib/systemd/boot/efi/systemd-bootx64.efi";
  if (fs::exists(boot_efi)) efi_bytes += 2 * fs::file_size(boot_efi);
  // The seed from the staged volume: its mtime is the epoch (the seed's own is the build's clock),
  // and mcopy -m keeps it on the FAT.
  const std::string staged_seed = req.var_seed.empty() ? "" : stage + "/mi/" + kv + "/var-seed";
  make_esp({req.tree, efi, efi_image_mb(efi_bytes), req.efi_volume_id, req.title, cmdline, req.source_date_epoch, "",
            staged_seed});

  remove_stale_temporaries(req.output);
  const std::string tmp = temp_name_for(req.output);
  fs::remove(tmp);
  RunOptions ro;
  ro.env["SOURCE_DATE_EPOCH"] = req.source_date_epoch;
  try {
    run(xorriso_argv({stage, efi, grub_dir + "/boot_hybrid.img", req.label, req.source_date_epoch, req.disk_guid, tmp}),
        ro);
  } catch (...) {
    fs::remove(tmp);
    throw;
  }
  commit_rename(tmp, req.output);
  fs::remove_all(req.work);
}

}  // namespace mi

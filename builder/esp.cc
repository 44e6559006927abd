// ESP writer: mkfs.vfat -C creates the image file itself; mmd/mcopy (mtools) write into it by
// offset-free access to the file, so nothing is mounted.
#include "builder/esp.h"

#include <filesystem>

#include "common/error.h"
#include "common/files.h"
#include "common/process.h"

namespace fs = std::filesystem;

namespace mi {
namespace {

// Version-aware "a < b" for kernel versions like 6.1.0-18-amd64.
bool version_less(const std::string& a, const std::string& b) {
  return run({"dpkg", "--compare-versions", a, "lt", b}, {.check = false}).exit_code == 0;
}

}  // namespace

std::string kernel_console_args() { return "console=tty0 console=ttyS0,115200"; }

std::string kernel_cmdline(const std::string& root_partuuid) {
  return "root=PARTUUID=" + root_partuuid + " rootfstype=erofs ro " + kernel_console_args();
}

std::string find_kernel(const std::string& tree) {
  std::string best;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(tree + "/boot", ec)) {
    std::string n = e.path().filename();
    if (n.rfind("vmlinuz-", 0) != 0) continue;
    std::string v = n.substr(8);
    if (!fs::exists(tree + "/boot/initrd.img-" + v)) continue;
    if (best.empty() || version_less(best, v)) best = v;
  }
  if (best.empty()) throw Error(tree + "/boot", "no kernel with an initrd found (is the kernel package installed?)");
  return best;
}

EspResult make_esp(const EspRequest& req) {
  EspResult res;
  res.kernel_version = find_kernel(req.tree);
  std::string boot_efi = req.tree + "/usr/lib/systemd/boot/efi/systemd-bootx64.efi";
  if (!fs::exists(boot_efi)) throw Error(boot_efi, "systemd-boot not in the image (package systemd-boot-efi)");

  fs::remove(req.image);
  RunOptions env;
  if (!req.source_date_epoch.empty()) env.env["SOURCE_DATE_EPOCH"] = req.source_date_epoch;
  env.env["MTOOLS_SKIP_CHECK"] = "1";
  // --invariant: the volume label's directory entry gets a fixed time, not the clock's (-i still sets the serial).
  run({"mkfs.vfat", "-C", "--invariant", "-F", "32", "-n", "ESP", "-i", req.volume_id, req.image,
       std::to_string(req.size_mb * 1024)},
      env);

  // Staging files whose mtimes are the epoch, copied with -m so FAT times are reproducible.
  std::string stage = req.image + ".files";
  fs::remove_all(stage);
  fs::create_directories(stage);
  std::string kv = res.kernel_version;
  write_file_atomic(stage + "/loader.conf", "timeout 0\ndefault mi.conf\neditor no\nconsole-mode keep\n");
  write_file_atomic(stage + "/mi.conf", "title " + req.title + "\nversion " + kv + "\nlinux /mi/" + kv +
                                            "/linux\ninitrd /mi/" + kv + "/initrd\n" +
                                            (req.var_seed.empty() ? "" : "initrd /mi/" + kv + "/var-seed\n") +
                                            "options " + req.cmdline + "\n");
  if (!req.grub_cfg.empty()) write_file_atomic(stage + "/grub.cfg", req.grub_cfg);
  if (!req.source_date_epoch.empty())
    run({"touch", "--date=@" + req.source_date_epoch, stage + "/loader.conf", stage + "/mi.conf"});
  if (!req.source_date_epoch.empty() && !req.grub_cfg.empty())
    run({"touch", "--date=@" + req.source_date_epoch, stage + "/grub.cfg"});

  auto img = "-i" + req.image;
  run({"mmd", img, "::/EFI", "::/EFI/BOOT", "::/EFI/systemd", "::/loader", "::/loader/entries", "::/mi", "::/mi/" + kv},
      env);
  auto copy = [&](const std::string& from, const std::string& to) { run({"mcopy", img, "-m", "-o", from, to}, env); };
  copy(boot_efi, "::/EFI/BOOT/BOOTX64.EFI");
  copy(boot_efi, "::/EFI/systemd/systemd-bootx64.efi");
  copy(stage + "/loader.conf", "::/loader/loader.conf");
  copy(stage + "/mi.conf", "::/loader/entries/mi.conf");
  copy(req.tree + "/boot/vmlinuz-" + kv, "::/mi/" + kv + "/linux");
  copy(req.tree + "/boot/initrd.img-" + kv, "::/mi/" + kv + "/initrd");
  if (!req.var_seed.empty()) copy(req.var_seed, "::/mi/" + kv + "/var-seed");
  if (!req.grub_cfg.empty()) {
    run({"mmd", img, "::/grub"}, env);
    copy(stage + "/grub.cfg", "::/grub/grub.cfg");
  }
  fs::remove_all(stage);
  return res;
}

}  // namespace mi

// mmdebstrap driver: --mode=root (we run as root), variant apt plus the explicit package list,
// extra suites as additional sources with apt pins written by a setup hook before any package
// is installed, and erofs added to the initramfs by a customize hook (the root is erofs), with
// the live-boot script (boot=mi-live, builder/initramfs/mi-live) and the modules it needs.
#include "builder/rootfs.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/digest.h"
#include "common/error.h"
#include "common/files.h"
#include "common/process.h"

namespace fs = std::filesystem;

namespace mi {

std::vector<std::string> mounts_under(const std::string& dir) {
  std::vector<std::string> found;
  std::string d = fs::absolute(dir).lexically_normal().string();
  while (d.size() > 1 && d.back() == '/') d.pop_back();
  std::ifstream f("/proc/self/mountinfo");
  for (std::string line; std::getline(f, line);) {
    std::istringstream in(line);
    std::string id, parent, devno, root, mnt;
    in >> id >> parent >> devno >> root >> mnt;
    if (mnt == d || mnt.rfind(d + "/", 0) == 0) found.push_back(mnt);
  }
  return found;
}

void remove_tree_checked(const std::string& dir) {
  auto m = mounts_under(dir);
  if (!m.empty())
    throw Error(dir, "not removing: " + m.front() + " is still mounted (left by an interrupted mmdebstrap?); unmount it first");
  fs::remove_all(dir);
}

std::string apt_pin_preferences(const std::map<std::string, std::vector<std::string>>& suite_pins) {
  std::string s;
  for (const auto& [suite, pkgs] : suite_pins) {
    s += "# Nothing from " + suite + " unless named below (mibuild: components pinned to " + suite + ").\n";
    s += "Package: *\nPin: release n=" + suite + "\nPin-Priority: -1\n\n";
    for (const auto& p : pkgs) s += "Package: " + p + "\nPin: release n=" + suite + "\nPin-Priority: 990\n\n";
  }
  return s;
}

namespace {

bool one_word(const std::string& s) {
  if (s.empty()) return false;
  for (unsigned char c : s)
    if (c <= ' ' || c == 0x7f) return false;
  return true;
}

}  // namespace

std::vector<std::string> mmdebstrap_argv(const RootfsRequest& req, const std::string& target) {
  // The spec's loader checked these against their grammars; a request built otherwise must not
  // smuggle a second line into sources.list either.
  if (!one_word(req.release)) throw Error("rootfs", "release must be one word without control characters");
  if (!one_word(req.mirror)) throw Error("rootfs", "mirror must be one word without control characters");
  for (const auto& [suite, _] : req.suite_pins)
    if (!one_word(suite)) throw Error("rootfs", "suite must be one word without control characters");
  for (char ch : req.source_date_epoch)
    if (ch < '0' || ch > '9') throw Error("rootfs", "SOURCE_DATE_EPOCH must be digits");
  std::string include;
  for (const auto& p : req.packages) include += (include.empty() ? "" : ",") + p;
  std::vector<std::string> a = {"mmdebstrap", "--mode=root", "--variant=apt", "--components=main",
                                // No fsync per file: an interrupted bootstrap is thrown away whole,
                                // and the outputs made from the tree are fsynced when committed.
                                "--dpkgopt=force-unsafe-io", "--include=" + include,
                                // Pins must exist before apt resolves anything. The file comes by
                                // the environment: no path is pasted into the hook's shell text.
                                "--setup-hook=mkdir -p \"$1/etc/apt/preferences.d\" && "
                                "cp \"$MI_PINS_FILE\" \"$1/etc/apt/preferences.d/mi-pins\""};
  // The root is erofs: the initramfs must be able to mount it.
  a.push_back(
      "--customize-hook=grep -qx erofs \"$1/etc/initramfs-tools/modules\" || echo erofs >> "
      "\"$1/etc/initramfs-tools/modules\"");
  // A disk-less boot (builder/initramfs/mi-live): the script, and what it loads besides the
  // NIC drivers MODULES=most brings: loop (the root file), af_packet (DHCP), isofs (an ISO).
  if (!req.live_script.empty())
    a.push_back(
        "--customize-hook=install -D -m 0755 \"$MI_LIVE_SCRIPT\" \"$1/etc/initramfs-tools/scripts/mi-live\" && "
        "for m in loop af_packet isofs; do grep -qx $m \"$1/etc/initramfs-tools/modules\" || "
        "echo $m >> \"$1/etc/initramfs-tools/modules\"; done");
  // SOURCE_DATE_EPOCH only here (reproducible initramfs): given to mmdebstrap itself, an old
  // epoch makes its in-chroot apt stage find no packages.
  a.push_back("--customize-hook=" +
              (req.source_date_epoch.empty() ? std::string() : "SOURCE_DATE_EPOCH=" + req.source_date_epoch + " ") +
              "chroot \"$1\" update-initramfs -u -k all");
  a.push_back(req.release);
  a.push_back(target);
  a.push_back("deb " + req.mirror + " " + req.release + " main");
  for (const auto& [suite, pkgs] : req.suite_pins) a.push_back("deb " + req.mirror + " " + suite + " main");
  return a;
}

std::map<std::string, std::string> mmdebstrap_env(const RootfsRequest& req, const std::string& prefs_file,
                                                  const std::string& live_script_file) {
  std::map<std::string, std::string> env = {{"DEBIAN_FRONTEND", "noninteractive"}, {"MI_PINS_FILE", prefs_file}};
  if (!req.live_script.empty()) env["MI_LIVE_SCRIPT"] = live_script_file;
  return env;
}

std::string rootfs_key(const RootfsRequest& req) {
  std::ostringstream s;
  s << "rootfs-v1\n" << apt_pin_preferences(req.suite_pins) << "epoch=" << req.source_date_epoch << "\n";
  if (!req.live_script.empty()) s << "mi-live=" << sha256_hex(req.live_script) << "\n";
  for (const auto& a : mmdebstrap_argv(req, "TARGET")) s << a << "\n";
  return sha256_hex(s.str());
}

std::string bootstrap_rootfs(const RootfsRequest& req, const std::string& cache_dir, const std::string& log_path) {
  if (req.packages.empty()) throw Error("rootfs", "no packages to install");
  fs::create_directories(cache_dir);
  std::string key = rootfs_key(req);
  std::string tree = cache_dir + "/rootfs-" + key.substr(0, 16);
  if (fs::exists(tree + "/etc/os-release") || fs::is_symlink(tree + "/etc/os-release")) return tree;

  std::string tmp = cache_dir + "/.rootfs-" + key.substr(0, 16) + ".tmp";
  remove_tree_checked(tmp);  // leftover of an interrupted run
  // The setup hook copies it to /etc/apt/preferences.d/mi-pins.
  std::string prefs_dir = cache_dir + "/.pins-" + key.substr(0, 16);
  fs::create_directories(prefs_dir);
  std::string prefs = prefs_dir + "/mi-pins";
  write_file_atomic(prefs, apt_pin_preferences(req.suite_pins));
  std::string live = prefs_dir + "/mi-live";
  if (!req.live_script.empty()) write_file_atomic(live, req.live_script);
  RunOptions ro;
  ro.env = mmdebstrap_env(req, fs::absolute(prefs).string(), fs::absolute(live).string());
  ro.check = false;
  auto r = run(mmdebstrap_argv(req, tmp), ro);
  if (!log_path.empty()) {
    fs::create_directories(fs::path(log_path).parent_path());
    write_file_atomic(log_path, r.out + r.err);
  }
  if (r.exit_code != 0) {
    try {
      remove_tree_checked(tmp);
    } catch (const Error&) {
      // Reported below with mmdebstrap's own error; the tree stays for a look.
    }
    std::string tail = r.err.size() > 3000 ? "..." + r.err.substr(r.err.size() - 3000) : r.err;
    throw Error("mmdebstrap", "bootstrap failed with exit " + std::to_string(r.exit_code) +
                                  (log_path.empty() ? "" : " (full log: " + log_path + ")") + ":\n" + tail);
  }
  fs::remove_all(prefs_dir);
  fs::rename(tmp, tree);
  return tree;
}

std::vector<PackageVersion> installed_packages(const std::string& tree) {
  auto r = run({"dpkg-query", "--admindir=" + tree + "/var/lib/dpkg", "-W", "-f", "${db:Status-Abbrev} ${Package} ${Version}\n"});
  std::vector<PackageVersion> out;
  std::istringstream in(r.out);
  for (std::string status, name, version; in >> status >> name >> version;)
    if (status.rfind("ii", 0) == 0) out.push_back({name, version});
  return out;
}

}  // namespace mi

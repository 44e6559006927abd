// The bootstrap stage: one mmdebstrap run that installs the base system, the kernel, the role's
// packages and its Debian components (other suites pinned to the named packages alone) into a
// directory tree, cached by a key over all of its inputs.
// Flow: image_build.cc → bootstrap_rootfs() → finalize.h (overlays, users, hygiene) → assemble.h.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "builder/image_build.h"

namespace mi {

struct RootfsRequest {
  std::string release = "bookworm";
  std::string mirror = "http://deb.debian.org/debian";
  std::vector<std::string> packages;                            // installed in the one run
  std::map<std::string, std::vector<std::string>> suite_pins;   // other suite → the only packages taken from it
  std::string source_date_epoch;
  // The live-boot script (live_script.h), installed as /etc/initramfs-tools/scripts/mi-live
  // before update-initramfs when not empty; part of the key.
  std::string live_script;
};

// The apt preferences that let only the named packages come from each extra suite.
std::string apt_pin_preferences(const std::map<std::string, std::vector<std::string>>& suite_pins);

// The mmdebstrap argv for `req`, bootstrapping into `target`. Its hooks are fixed shell text:
// the one file they need reaches them through the environment (mmdebstrap_env), never by a
// path pasted into the text. (Artifact .debs are installed afterwards: artifacts.h.)
std::vector<std::string> mmdebstrap_argv(const RootfsRequest& req, const std::string& target);
// The environment the hooks read: MI_PINS_FILE (the preferences above) and MI_LIVE_SCRIPT (a
// file holding req.live_script, written beside it by bootstrap_rootfs).
std::map<std::string, std::string> mmdebstrap_env(const RootfsRequest& req, const std::string& prefs_file,
                                                  const std::string& live_script_file = "");

// sha256 over everything that determines the bootstrapped tree.
std::string rootfs_key(const RootfsRequest& req);

// Returns the path of a bootstrapped tree for `req` under `cache_dir` (reused when present, else
// built into a temporary and renamed). mmdebstrap's output is written to `log_path`.
std::string bootstrap_rootfs(const RootfsRequest& req, const std::string& cache_dir, const std::string& log_path);

// Mount points at or below `dir` (from /proc/self/mountinfo).
std::vector<std::string> mounts_under(const std::string& dir);
// remove_all, refused (mi::Error) while anything is mounted below `dir`: a chroot left with /dev
// or /proc mounted must never be deleted through.
void remove_tree_checked(const std::string& dir);

// Every package installed in `tree` with its version (dpkg's database of the tree).
std::vector<PackageVersion> installed_packages(const std::string& tree);

}  // namespace mi

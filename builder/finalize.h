// The finalize stage: turns a bootstrapped tree into the root of an immutable image. Applies
// the overlays, bakes in mi-firstboot and extra files, creates the users (SSH keys only), sets
// which units are enabled, writes fstab/hostname, and removes everything that must not be
// shared by clones (machine-id content, SSH host keys) or that is build residue (caches, logs).
// Flow: rootfs.h → finalize_rootfs() → split_var() → assemble.h.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "builder/spec.h"

namespace mi {

struct FinalizeRequest {
  std::string tree;
  std::vector<std::string> overlay_dirs;  // absolute, applied in order
  std::vector<User> users;
  std::vector<std::string> enable;   // units enabled (must exist)
  std::vector<std::string> disable;  // units disabled when they exist (consul, zookeeper, ...)
  std::string hostname;
  std::string root_partuuid;
  std::string var_partuuid;
  std::string firstboot_binary;   // optional
  std::string source_date_epoch;  // the users' /etc/shadow dates (else the build's day)
  std::vector<std::pair<std::string, std::string>> extra_files;
};

void finalize_rootfs(const FinalizeRequest& req);

// (uid, gid, home) of `user` from the tree's /etc/passwd; throws mi::Error when it is missing.
struct PwEntry {
  unsigned uid = 0, gid = 0;
  std::string home;
};
PwEntry passwd_entry(const std::string& tree, const std::string& user);
bool passwd_has(const std::string& tree, const std::string& user);

// Copies the overlay directory `src` onto `tree`: file contents and modes kept, everything owned
// by root, existing directories left as they are, new ones 0755, symlinks copied as symlinks.
void apply_overlay(const std::string& src, const std::string& tree);

// The fstab of the image: / erofs read-only, /var by PARTUUID, /tmp tmpfs.
std::string image_fstab(const std::string& root_partuuid, const std::string& var_partuuid);

// Moves tree/var to `var_tree` (the content of the /var partition), leaving an empty mount point.
void split_var(const std::string& tree, const std::string& var_tree);

// Sets the mtime of everything under `dir` newer than `epoch` to `epoch` (SOURCE_DATE_EPOCH).
void clamp_mtimes(const std::string& dir, const std::string& epoch);

}  // namespace mi

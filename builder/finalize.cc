// Finalize: in-place edits of the tree through files and offline tools only (`useradd --root`,
// `systemctl --root`): nothing is mounted and nothing runs inside the image.
#include "builder/finalize.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "builder/rootfs.h"
#include "common/error.h"
#include "common/files.h"
#include "common/process.h"

namespace fs = std::filesystem;

namespace mi {
namespace {

bool unit_exists(const std::string& tree, const std::string& unit) {
  for (const char* d : {"/etc/systemd/system/", "/usr/lib/systemd/system/", "/lib/systemd/system/"}) {
    std::error_code ec;
    if (fs::exists(fs::symlink_status(tree + d + unit, ec))) return true;
  }
  return false;
}

void remove_glob_children(const std::string& dir, bool files_only) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return;
  std::vector<fs::path> victims;
  for (auto it = fs::recursive_directory_iterator(dir, ec); it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (ec) break;
    auto st = it->symlink_status();
    if (files_only ? !fs::is_directory(st) : it.depth() == 0) victims.push_back(it->path());
    if (!files_only && it.depth() == 0 && fs::is_directory(st)) it.disable_recursion_pending();
  }
  for (const auto& v : victims) fs::remove_all(v);
}

bool group_exists(const std::string& tree, const std::string& group) {
  std::ifstream f(tree + "/etc/group");
  for (std::string line; std::getline(f, line);)
    if (line.rfind(group + ":", 0) == 0) return true;
  return false;
}

void write_in_tree(const std::string& tree, const std::string& path, const std::string& content, mode_t mode) {
  if (path.empty() || path[0] != '/') throw Error(path, "image paths must be absolute");
  fs::path p = tree + path;
  fs::create_directories(p.parent_path());
  write_file_atomic(p, content, mode);
}

void add_user(const std::string& tree, const User& u, const std::string& epoch) {
  std::vector<std::string> argv = {"useradd", "--root", tree, "--create-home", "--user-group", "--shell", "/bin/bash"};
  std::string groups;
  for (const auto& g : u.groups) {
    if (!group_exists(tree, g))
      throw Error(u.pos.str(), "user " + u.name + ": group '" + g +
                                   "' does not exist in the image (install the package that provides it)");
    groups += (groups.empty() ? "" : ",") + g;
  }
  if (!groups.empty()) argv.insert(argv.end(), {"--groups", groups});
  argv.push_back(u.name);
  RunOptions ro;
  if (!epoch.empty()) ro.env["SOURCE_DATE_EPOCH"] = epoch;  // /etc/shadow's "last changed" day
  run(argv, ro);
  // useradd leaves the password field "!": locked for password logins; keys are the only way in.
  auto pw = passwd_entry(tree, u.name);
  std::string ssh = tree + pw.home + "/.ssh";
  fs::create_directories(ssh);
  std::string keys;
  for (const auto& k : u.ssh_keys) keys += k + "\n";
  write_file_atomic(ssh + "/authorized_keys", keys, 0600);
  for (const auto& p : {ssh, ssh + "/authorized_keys"})
    if (lchown(p.c_str(), pw.uid, pw.gid) != 0) throw Error(p, std::string("chown: ") + strerror(errno));
  chmod(ssh.c_str(), 0700);
}

}  // namespace

PwEntry passwd_entry(const std::string& tree, const std::string& user) {
  std::ifstream f(tree + "/etc/passwd");
  for (std::string line; std::getline(f, line);) {
    std::vector<std::string> fields;
    std::stringstream ss(line);
    for (std::string x; std::getline(ss, x, ':');) fields.push_back(x);
    if (fields.size() >= 6 && fields[0] == user)
      return {unsigned(std::stoul(fields[2])), unsigned(std::stoul(fields[3])), fields[5]};
  }
  throw Error("users", "user " + user + " missing from the image's /etc/passwd after useradd");
}

bool passwd_has(const std::string& tree, const std::string& user) {
  std::ifstream f(tree + "/etc/passwd");
  for (std::string line; std::getline(f, line);)
    if (line.rfind(user + ":", 0) == 0) return true;
  return false;
}

void apply_overlay(const std::string& src, const std::string& tree) {
  std::error_code ec;
  if (!fs::is_directory(src, ec)) throw Error(src, "overlay directory does not exist");
  for (auto it = fs::recursive_directory_iterator(src); it != fs::recursive_directory_iterator(); ++it) {
    fs::path rel = it->path().lexically_relative(src);  // not fs::relative: it follows symlinks
    fs::path dst = fs::path(tree) / rel;
    struct stat st {};
    if (lstat(it->path().c_str(), &st) != 0) throw Error(it->path(), std::string("stat: ") + strerror(errno));
    if (S_ISDIR(st.st_mode)) {
      if (!fs::exists(fs::symlink_status(dst))) {
        fs::create_directory(dst);
        chmod(dst.c_str(), 0755);
        if (lchown(dst.c_str(), 0, 0) != 0) throw Error(dst, std::string("chown: ") + strerror(errno));
      }
      continue;
    }
    if (fs::is_directory(fs::symlink_status(dst)))
      throw Error(it->path(), "overlay file would replace a directory in the image");
    fs::remove(dst);
    if (S_ISLNK(st.st_mode)) {
      fs::create_symlink(fs::read_symlink(it->path()), dst);
    } else if (S_ISREG(st.st_mode)) {
      fs::copy_file(it->path(), dst);
      chmod(dst.c_str(), st.st_mode & 07777);
    } else {
      throw Error(it->path(), "overlays may hold only files, directories and symlinks");
    }
    if (lchown(dst.c_str(), 0, 0) != 0) throw Error(dst, std::string("chown: ") + strerror(errno));
  }
}

std::string image_fstab(const std::string& root_partuuid, const std::string& var_partuuid) {
  return "# mibuild: the root is a read-only erofs image shared by every node of the role;\n"
         "# everything a node writes lives on its own /var partition.\n"
         "PARTUUID=" +
         root_partuuid +
         "\t/\terofs\tro\t0\t0\n"
         "PARTUUID=" +
         var_partuuid +
         "\t/var\text4\tdefaults,nodev\t0\t2\n"
         "tmpfs\t/tmp\ttmpfs\tmode=1777,nosuid,nodev\t0\t0\n";
}

void finalize_rootfs(const FinalizeRequest& req) {
  const std::string& t = req.tree;
  for (const auto& o : req.overlay_dirs) apply_overlay(o, t);
  if (!req.firstboot_binary.empty()) {
    if (!fs::exists(req.firstboot_binary)) throw Error(req.firstboot_binary, "mi-firstboot binary not found");
    fs::create_directories(t + "/usr/bin");
    fs::copy_file(req.firstboot_binary, t + "/usr/bin/mi-firstboot", fs::copy_options::overwrite_existing);
    chmod((t + "/usr/bin/mi-firstboot").c_str(), 0755);
  }
  for (const auto& [path, content] : req.extra_files) write_in_tree(t, path, content, 0644);
  for (const auto& u : req.users) {
    if (passwd_has(t, u.name)) throw Error(u.pos.str(), "user " + u.name + " already exists in the image");
    add_user(t, u, req.source_date_epoch);
  }

  // Units: enable what the image runs, disable what mi-firstboot starts later.
  // The spec's loader checked the names; a request made otherwise still never names a path or
  // an option.
  for (const auto& u : req.enable)
    if (u.empty() || u[0] == '-' || u[0] == '.' || u.find('/') != std::string::npos)
      throw Error("units", "'" + one_line(u) + "' is not a unit name");
  for (const auto& u : req.enable)
    if (!unit_exists(t, u)) throw Error(u, "unit to enable not found in the image (is its package installed?)");
  if (!req.enable.empty()) {
    std::vector<std::string> argv = {"systemctl", "--root=" + t, "enable", "--"};
    argv.insert(argv.end(), req.enable.begin(), req.enable.end());
    run(argv);
  }
  std::vector<std::string> off;
  for (const auto& u : req.disable)
    if (unit_exists(t, u)) off.push_back(u);
  if (!off.empty()) {
    std::vector<std::string> argv = {"systemctl", "--root=" + t, "disable", "--"};
    argv.insert(argv.end(), off.begin(), off.end());
    run(argv);
  }

  write_file_atomic(t + "/etc/fstab", image_fstab(req.root_partuuid, req.var_partuuid));
  write_file_atomic(t + "/etc/hostname", req.hostname + "\n");
  // No 127.0.1.1 line: every clone gets its own name on first boot (mi-firstboot), which
  // nss-myhostname resolves; a name baked in here would be the same on every node.
  write_file_atomic(t + "/etc/hosts",
                    "127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost "
                    "ip6-loopback\nff02::1\t\tip6-allnodes\nff02::2\t\tip6-allrouters\n");

  // Identity that clones must not share: an empty machine-id means "first boot" to systemd;
  // SSH host keys are made on first boot under /var (overlays/base, mi-ssh-hostkeys).
  write_file_atomic(t + "/etc/machine-id", "", 0444);
  fs::remove(t + "/var/lib/dbus/machine-id");
  fs::remove(t + "/var/lib/systemd/random-seed");
  for (const auto& e : fs::directory_iterator(t + "/etc/ssh"))
    if (e.path().filename().string().rfind("ssh_host_", 0) == 0) fs::remove(e.path());

  // Build residue.
  remove_glob_children(t + "/var/lib/apt/lists", true);
  fs::create_directories(t + "/var/lib/apt/lists/partial");
  remove_glob_children(t + "/var/cache/apt", true);
  for (const char* f : {"/var/cache/debconf/config.dat-old", "/var/cache/debconf/templates.dat-old",
                        "/var/cache/debconf/passwords.dat-old"})
    fs::remove(t + f);
  fs::remove(t + "/var/cache/ldconfig/aux-cache");
  remove_glob_children(t + "/var/log", true);  // files only: keep the directories services expect
  remove_glob_children(t + "/tmp", false);
  remove_glob_children(t + "/var/tmp", false);
  for (const char* f : {"/etc/ssh/sshd_config.ucf-old", "/etc/.pwd.lock", "/etc/passwd-", "/etc/group-", "/etc/shadow-",
                        "/etc/gshadow-", "/etc/subuid-", "/etc/subgid-"})
    fs::remove(t + f);
}

void split_var(const std::string& tree, const std::string& var_tree) {
  remove_tree_checked(var_tree);
  fs::create_directories(fs::path(var_tree).parent_path());
  fs::rename(tree + "/var", var_tree);
  fs::create_directory(tree + "/var");
  chmod((tree + "/var").c_str(), 0755);
  chmod(var_tree.c_str(), 0755);
}

void clamp_mtimes(const std::string& dir, const std::string& epoch) {
  run({"find", dir, "-newermt", "@" + epoch, "-exec", "touch", "--no-dereference", "--date=@" + epoch, "{}", "+"});
}

}  // namespace mi

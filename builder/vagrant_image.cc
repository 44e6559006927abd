// The vagrant boxes' own disk: the role's root and /var with the `vagrant` user added, on the
// role's ESP (see vagrant_image.h).
#include "builder/vagrant_image.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "builder/bios.h"
#include "builder/finalize.h"
#include "builder/rootfs.h"
#include "builder/vagrant_box.h"
#include "common/error.h"
#include "common/files.h"
#include "common/process.h"

namespace fs = std::filesystem;

namespace mi {

const char kVagrantInsecurePublicKey[] =
    "ssh-rsa "
    "AAAAB3NzaC1yc2EAAAABIwAAAQEA6NF8iallvQVp22WDkTkyrtvp9eWW6A8YVr+kz4TjGYe7gHzIw+niNltGEFHzD8+v1I2YJ6oXevct1YeS0o9HZ"
    "yN1Q9qgCgzUFtdOKLv6IedplqoPkcmF0aYet2PkEDo3MlTBckFXPITAMzF8dJSIFo9D8HfdOV0IAdx4O7PtixWKn5y2hMNG0zQPyUecp4pzC6kivA"
    "IhyfHilFR61RGL+GPXQ2MWZWFYbAGjyiYJnAmCP3NOTd0jMZEnDkbUvxhMmBYSdETk1rRgm+R4LOzFUGaHqHDLKLX+FIPKcF96hrucXzcWyLbIbEg"
    "E98OHlnVYCzRdK8jlqm8tehUc9c9WhQ== vagrant insecure public key";

std::string vagrant_sudoers() {
  return "# mibuild: the vagrant box's user (Vagrant provisions through sudo -n)\nvagrant ALL=(ALL) NOPASSWD: ALL\n";
}

namespace {

constexpr char kHome[] = "/var/home/vagrant";

void chown_or_throw(const std::string& p, unsigned uid, unsigned gid) {
  if (lchown(p.c_str(), uid, gid) != 0) throw Error(p, std::string("chown: ") + strerror(errno));
}

void copy_tree(const std::string& from, const std::string& to) {
  remove_tree_checked(to);
  run({"cp", "-a", "--reflink=auto", from, to});
}

}  // namespace

void add_vagrant_user(const std::string& tree, const std::string& var_tree, const std::string& epoch) {
  if (passwd_has(tree, "vagrant"))
    throw Error("users", "the vagrant box adds its own `vagrant` user; rename the spec's user of that name");
  RunOptions ro;
  ro.env["SOURCE_DATE_EPOCH"] = epoch;  // the shadow file's "last changed" day
  run({"useradd", "--root", tree, "--home-dir", kHome, "--no-create-home", "--user-group", "--shell", "/bin/bash",
       "--comment", "Vagrant", "vagrant"},
      ro);
  for (const char* f : {"/etc/.pwd.lock", "/etc/passwd-", "/etc/group-", "/etc/shadow-", "/etc/gshadow-"})
    fs::remove(tree + f);  // useradd's backups and lock: build residue
  auto pw = passwd_entry(tree, "vagrant");
  // The home is on the /var partition (under var_tree here): Vagrant replaces the key there.
  std::string home = var_tree + (pw.home.substr(std::string("/var").size()));
  fs::create_directories(home + "/.ssh");
  write_file_atomic(home + "/.ssh/authorized_keys", std::string(kVagrantInsecurePublicKey) + "\n", 0600);
  chmod((var_tree + "/home").c_str(), 0755);
  chmod(home.c_str(), 0750);
  chmod((home + "/.ssh").c_str(), 0700);
  for (const auto& p : {home, home + "/.ssh", home + "/.ssh/authorized_keys"}) chown_or_throw(p, pw.uid, pw.gid);
  fs::create_directories(tree + "/etc/sudoers.d");
  write_file_atomic(tree + "/etc/sudoers.d/vagrant", vagrant_sudoers(), 0440);
}

std::vector<std::string> write_vagrant_boxes(const VagrantDiskRequest& req) {
  const std::string vtree = req.work + "/vagrant-tree", vvar = req.work + "/vagrant-var";
  const std::string root = req.work + "/vagrant-root.erofs", var = req.work + "/vagrant-var.ext4";
  const std::string qcow2 = req.work + "/vagrant-box.qcow2", vmdk = req.work + "/vagrant-box.vmdk";
  copy_tree(req.tree, vtree);
  copy_tree(req.var_tree, vvar);
  add_vagrant_user(vtree, vvar, req.epoch);
  clamp_mtimes(vvar, req.epoch);  // the root's times are set by mkfs.erofs -T
  make_erofs(vtree, root, req.ids.root_fs_uuid, req.epoch);
  make_var_ext4(vvar, var, req.var_mb, req.ids.var_fs_uuid, req.ids.var_hash_seed, req.epoch);

  AssembledDisk disk = assemble_disk(req.ids, {req.esp, root, var, req.bios});
  install_bios_boot(vtree, disk.layout, disk.source, 3);
  DiskReader reader(disk.source);
  write_disk_format("qcow2", reader, qcow2, req.formats);
  write_disk_format("vmdk", reader, vmdk, req.formats);

  std::vector<std::string> out = {req.out_dir + "/" + req.base + ".box"};
  out.push_back(virtualbox_box_path(out[0]));
  const uint64_t epoch = std::stoull(req.epoch);
  for (const auto& o : out) remove_stale_temporaries(o);
  write_libvirt_box(qcow2, out[0], epoch);
  write_virtualbox_box(vmdk, req.base, req.seed, out[1], epoch);
  for (const auto& p : {vtree, vvar, root, var, qcow2, vmdk}) remove_tree_checked(p);
  return out;
}

}  // namespace mi

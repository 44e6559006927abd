// The disk inside the `vagrant` boxes: a variant of a role's disk that alone has the `vagrant`
// user Vagrant logs in as — Vagrant's well-known insecure key (which `vagrant up` replaces on
// first boot, as it does for every box), passwordless sudo, and a home on /var so that the key
// can be replaced under a read-only root. No other output has that user or key.
//
// Flow: image_build (after the role's own disk outputs) → copies of the finalized root and /var
// trees → add_vagrant_user() → make_erofs() + make_var_ext4() → assemble_disk() with the role's
// own ESP and BIOS core → qcow2 + streamOptimized VMDK → vagrant_box.h's two boxes.
#pragma once
#include <string>
#include <vector>

#include "builder/assemble.h"
#include "formats/disk_formats.h"

namespace mi {

// Vagrant's insecure public key (keys/vagrant.pub in Vagrant's sources; Debian's vagrant
// package ships the same file).
extern const char kVagrantInsecurePublicKey[];

// /etc/sudoers.d/vagrant: passwordless sudo for `vagrant` only (Vagrant runs its provisioning
// through `sudo -n`).
std::string vagrant_sudoers();

// Adds the user to `tree` (/etc/passwd, group, shadow through `useradd --root`: password locked,
// keys only; its dates from `epoch`, SOURCE_DATE_EPOCH) with its home at /var/home/vagrant, created in `var_tree` (the
// /var partition's content) holding .ssh/authorized_keys = the insecure key, and the sudoers drop-in. Throws mi::Error
// when the tree already has a `vagrant` user (a spec user of that name).
void add_vagrant_user(const std::string& tree, const std::string& var_tree, const std::string& epoch);

struct VagrantDiskRequest {
  std::string tree, var_tree;  // the role's finalized root (with /var split off) and /var: only read
  std::string work;            // a scratch directory of this role
  DiskIds ids;                 // the role's: the ESP's kernel line names its root PARTUUID
  std::string esp, bios;       // the role's ESP and BIOS core images, used as they are
  uint64_t var_mb = 0;
  std::string epoch;  // SOURCE_DATE_EPOCH
  DiskFormatOptions formats;
  std::string seed, base, out_dir;  // "<out_dir>/<base>.box" and "<base>.virtualbox.box"
};

// Writes both boxes (by atomic rename) and returns their paths: libvirt, then VirtualBox.
std::vector<std::string> write_vagrant_boxes(const VagrantDiskRequest& req);

}  // namespace mi

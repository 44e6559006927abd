// The `vagrant` output: Vagrant boxes of a role's image, one per provider, made from the disks
// already written (Vagrant's box format: a tar with metadata.json, the provider's files and
// a Vagrantfile of defaults that a project's Vagrantfile overrides).
//
//   OUTDIR/<name>-<role>.box             libvirt (vagrant-libvirt), gzip-compressed tar:
//                                        box.img (the qcow2), metadata.json
//                                        {"format":"qcow2","provider":"libvirt","virtual_size":GiB},
//                                        Vagrantfile (4096 MB, 2 CPUs, q35, OVMF, virtio disk)
//   OUTDIR/<name>-<role>.virtualbox.box  VirtualBox, plain tar (the VMDK's grains are already
//                                        deflated): box.ovf, box-disk001.vmdk (streamOptimized),
//                                        metadata.json {"provider":"virtualbox"}, Vagrantfile
//
// box.ovf is an OVF 1.0 envelope as `VBoxManage export` writes one: References (the VMDK and
// its size), DiskSection (capacity, the streamOptimized format URI, vbox:uuid), a NAT network,
// one VirtualSystem with OS Debian_64 (CIM 96), 2 CPUs, 4096 MB, an AHCI (SATA) controller
// holding the disk and an E1000 adapter on NAT; then the vbox:Machine extension (settings
// 1.16, VirtualBox 6.0 and later) that VirtualBox imports whole: the same hardware plus EFI
// firmware and an I/O APIC (needed for more than one CPU). Its disk attachment names the disk
// by the vbox:uuid of the DiskSection. The UUIDs come from derive_uuid(seed, label).
//
// Flow: write_disk_format() (formats/) qcow2 + vmdk → write_libvirt_box() / write_virtualbox_box().
#pragma once
#include <cstdint>
#include <string>

namespace mi {

// "<dir>/<base>.box" → "<dir>/<base>.virtualbox.box".
std::string virtualbox_box_path(const std::string& libvirt_box);

// A qcow2's virtual size (from its header) and a VMDK's capacity in bytes (from its sparse
// header). Throw mi::Error naming the file when it is not one.
uint64_t qcow2_virtual_size(const std::string& path);
uint64_t vmdk_capacity(const std::string& path);

std::string libvirt_box_metadata(uint64_t virtual_size);  // virtual_size in bytes, rounded up to GiB
std::string libvirt_box_vagrantfile();
// The box: `qcow2` as box.img, entries sorted, dated `epoch`, by atomic rename.
void write_libvirt_box(const std::string& qcow2, const std::string& out, uint64_t epoch);

struct VirtualboxOvf {
  std::string vm_name;       // the VirtualSystem's id and the VM's name ("<name>-<role>")
  uint64_t vmdk_size = 0;    // box-disk001.vmdk's size in bytes
  uint64_t capacity = 0;     // the disk's virtual size in bytes
  std::string machine_uuid;  // "xxxxxxxx-xxxx-..." (no braces)
  std::string disk_uuid;
};

std::string virtualbox_ovf(const VirtualboxOvf& o);
std::string virtualbox_box_metadata();
std::string virtualbox_box_vagrantfile();
// The box: `vmdk` (a streamOptimized VMDK) as box-disk001.vmdk with box.ovf for `vm_name`,
// UUIDs derived from `seed`.
void write_virtualbox_box(const std::string& vmdk, const std::string& vm_name, const std::string& seed,
                          const std::string& out, uint64_t epoch);

}  // namespace mi

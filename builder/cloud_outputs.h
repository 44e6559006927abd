// The `openstack` and `ami` outputs: what a cloud needs beside the disk to make an image of it.
// Each is a pure function of the disk already written and the image's identity.
//
// openstack (beside OUTDIR/<name>-<role>.qcow2):
//   <base>.glance.json   the body of Glance's POST /v2/images: name, container_format bare,
//                        disk_format qcow2 and the image properties Nova reads (below)
//   <base>.openstack.sh  the same as one `openstack image create` command line (mode 0755),
//                        run from anywhere: it changes to its own directory for the file
// Properties (OpenStack Glance, "Useful image properties"): hw_firmware_type=uefi,
// hw_machine_type=q35, hw_disk_bus=virtio, hw_vif_model=virtio, hw_qemu_guest_agent=yes|no,
// os_type=linux, os_distro=debian, os_version=<Debian version>. The disk bus is virtio-blk:
// Nova's default for KVM, in Debian's kernel and initramfs, and the bus `mibuild boot` tests
// every image on; the root is found by PARTUUID, so /dev/vda vs /dev/sda does not matter.
// virtio-scsi (hw_disk_bus=scsi) would also need hw_scsi_model=virtio-scsi, for TRIM only.
//
// ami (OUTDIR/<name>-<role>.ami.tar): one directory <base>.ami/ holding
//   <base>.vhd            the fixed VHD
//   import-snapshot.json  `aws ec2 import-snapshot --disk-container file://...`
//   register-image.json   `aws ec2 register-image --cli-input-json file://...`
//   README                the commands in order, and the user-data that carries the secret
// The JSON carries two placeholders the README replaces: S3_BUCKET and SNAPSHOT_ID.
// BootMode is uefi-preferred (the image boots UEFI and legacy BIOS: UEFI where the instance
// type has it, BIOS on older types); ImdsSupport v2.0 (mi-firstboot reads EC2 metadata with
// IMDSv2 only), so instances require session tokens and get a hop limit of 2.
//
// Flow: write_disk_format() (formats/) → write_openstack_files() / write_ami_tar() → out_dir.
#pragma once
#include <cstdint>
#include <string>

namespace mi {

struct OpenstackImage {
  std::string qcow2;           // the qcow2 already written: OUTDIR/<name>-<role>.qcow2
  std::string name;            // the spec's name: the Glance image is "<name>-<role>"
  std::string role;            // control, compute, all-in-one
  std::string debian_version;  // os_version, e.g. "12"
  bool guest_agent = false;    // the image runs qemu-guest-agent
};

// "<name>-<role>": the Glance image name and the base of the file names.
std::string openstack_image_name(const OpenstackImage& o);
// <base>.glance.json's text (sorted keys, 2-space indent, newline at the end).
std::string glance_json(const OpenstackImage& o);
// <base>.openstack.sh's text: #!/bin/sh, cd to its directory, `exec openstack image create ...`.
std::string openstack_create_script(const OpenstackImage& o);
// Writes both beside the qcow2, each by atomic rename. Throws mi::Error on a bad field.
void write_openstack_files(const OpenstackImage& o);

// `s` as one POSIX shell word: as is when it is only [A-Za-z0-9_./:=@%+,-] (and not empty),
// else in single quotes with each ' written as '\''.
std::string shell_quote(const std::string& s);

struct AmiImage {
  std::string vhd;        // the fixed VHD already written
  uint64_t vhd_size = 0;  // its size in bytes (checked against the file)
  std::string base;       // "<name>-<role>": the AMI name and the tar's directory
  uint64_t epoch = 0;     // SOURCE_DATE_EPOCH: the date of every tar entry
};

std::string ami_import_snapshot_json(const AmiImage& a);
std::string ami_register_image_json(const AmiImage& a);
std::string ami_readme(const AmiImage& a);
// Writes the tar (entries sorted, uid/gid 0, mtime = epoch) to `out` by atomic rename.
void write_ami_tar(const AmiImage& a, const std::string& out);

}  // namespace mi

// The `pxe` output: a directory `<out>/<name>.pxe/` that a TFTP + HTTP server hands to
// machines booting from the network. The image's own kernel and initrd go over TFTP (or HTTP
// when the iPXE script came over HTTP); the initramfs (builder/initramfs/mi-live) fetches the
// read-only erofs root over HTTP into RAM, checks its sha256 and mounts it (docs/pxe.md says
// why the root is not carried in the initrd nor sent over TFTP).
// Flow: image_build.cc → split_var, make_erofs, write_var_seed (live_var.h) →
//       write_pxe_bundle() → out_dir (a temporary directory, renamed whole).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace mi {

struct PxeBundleRequest {
  std::string out_dir;   // the bundle becomes <out_dir>/<name>.pxe/
  std::string name;      // "<spec>-<role>", e.g. "mi-all-in-one"
  std::string role;      // mi.role= on the kernel line: control | compute | all-in-one
  std::string kernel;    // the image's /boot/vmlinuz-<version>
  std::string initrd;    // its /boot/initrd.img-<version> (holds the mi-live script)
  std::string var_seed;  // live_var.h: the image's /var tree as a second initrd
  std::string root;      // the erofs root (the disk's root partition image), linked or copied
  // Where the bundle directory is served over HTTP, "http://HOST[:PORT]/PATH/" (checked by
  // pxe_url_error). Empty: the iPXE script uses http://${next-server}/<name>.pxe/ and
  // pxelinux.cfg/default says to replace PXE-SERVER.
  std::string url;
  // Cluster arguments on every kernel line (mi.cluster=..., mi.dc=...; firstboot/
  // source_cmdline.cc reads them), each `mi.KEY=VALUE` without spaces or quotes.
  std::vector<std::string> cluster_args;
  uint64_t epoch = 0;  // SOURCE_DATE_EPOCH: the mtime of every file in the bundle
};

// "" when `url` is a usable base URL, else why not (names the flag and what would be valid).
std::string pxe_url_error(const std::string& url);

// The kernel arguments every boot of the bundle passes (without mi.live.root's base, which
// differs between the iPXE script and pxelinux): boot=mi-live, the sha256, mi.role, ...
std::string pxe_kernel_args(const PxeBundleRequest& req, const std::string& root_url, const std::string& root_sha256);

// The file texts, for the tests and the writer.
std::string pxe_ipxe_script(const PxeBundleRequest& req, const std::string& root_sha256);
std::string pxe_pxelinux_cfg(const PxeBundleRequest& req, const std::string& root_sha256);
std::string pxe_dnsmasq_example(const PxeBundleRequest& req);

// Writes the bundle: vmlinuz, initrd, var-seed.cpio.gz, root.erofs, <name>.ipxe,
// pxelinux.cfg/default, dnsmasq.conf.example and SHA256SUMS (sha256sum -c format), into a
// temporary directory renamed onto <out_dir>/<name>.pxe (an older bundle is replaced whole).
// Returns the bundle's path. Throws mi::Error naming the field or file.
std::string write_pxe_bundle(const PxeBundleRequest& req);

}  // namespace mi

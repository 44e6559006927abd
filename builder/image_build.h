// The image pipeline of `mibuild`: from a validated Spec and one resolved role to bootable,
// read-only GPT disks (raw, qcow2, vmdk, vhd). Called by the CLI (`mibuild build`) once per role.
// Flow: rootfs (mmdebstrap) → finalize (overlays, users, first-boot hygiene) → erofs root +
//       ext4 /var + FAT ESP → GPT assemble (a DiskSource) → formats (formats/disk_formats.h).
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "builder/spec.h"

namespace mi {

struct ImageOptions {
  std::string work_dir;                         // scratch (rootfs tree, partition images); default: <out_dir>/.work
  std::string out_dir = "out";                  // where <base>.<format> appear (atomic rename)
  std::vector<std::string> formats = {"raw"};   // disk formats: "raw" | "qcow2" | "vmdk" | "vhd"
  std::string compression;                      // qcow2 clusters: "" (none), "zlib", "zstd"
  std::string base_name;                        // default: "<spec.name>-<role>", e.g. "mi-all-in-one"
  bool keep_work = false;                       // keep the rootfs tree and partition images afterwards
  std::string firstboot_binary;                 // if set: installed as /usr/bin/mi-firstboot (must exist)
  // Extra files written into the root after the overlays (path in image → content, mode 0644),
  // e.g. {"/usr/lib/mi/cluster.yaml", <the spec's cluster defaults>}.
  std::vector<std::pair<std::string, std::string>> extra_files;
  std::string log_path;                         // mmdebstrap's output goes here (default <work_dir>/<role>/mmdebstrap.log)
  // The plan's stages that decide the root's content (bootstrap .. finalize) with their keys:
  // recorded in the image's /usr/lib/mi/build.json, which `mibuild inspect` reads.
  std::vector<std::pair<std::string, std::string>> stage_keys;
  std::string pxe_url;                          // pxe: where the bundle is served over HTTP (pxe_bundle.h); "" default
};

struct ImageOutput {
  std::string path;
  std::string format;  // "raw" | "qcow2" | "vmdk" | "vhd"
  uint64_t size = 0;   // bytes on disk of the file (allocated size is smaller for sparse raw)
  std::string sha256;
};

struct PackageVersion {
  std::string name;
  std::string version;
};

struct ComponentStatus {
  std::string name;
  bool present = false;
  std::string version;  // what is in the image, when known
  std::string note;     // e.g. "optional artifact without url/path: not included"
  std::string artifact_source;  // artifact in the image: "url <url>" or "path <path>", as the spec gives it
  std::string artifact_sha256;  // and the verified digest of what was installed
};

struct ImageResult {
  std::vector<ImageOutput> outputs;
  std::vector<PackageVersion> packages;      // every Debian package installed in the image
  std::vector<ComponentStatus> components;   // one per component of the role
  std::string source_date_epoch;             // the timestamps used
};

// The Debian packages (of this host, the image's release) holding the shared libraries `binary`
// links against: installed with a baked-in binary (mi-firstboot) so that it runs in the image.
std::vector<std::string> runtime_packages(const std::string& binary);

// Builds the image of `role`. Throws mi::Error on any failure; leaves only temporaries behind.
ImageResult build_role_image(const Spec& spec, const ResolvedRole& role, const ImageOptions& opts);

}  // namespace mi

// `mibuild inspect IMAGE [--json]`: opens any disk output (raw, qcow2, vmdk, vhd) read-only
// with the libguestfs library (its appliance: nothing of the image is mounted on this host) and
// reports what it is — the partition layout (GPT name, type, size, file system, label), and from
// the root and /var partitions the role and name (/usr/lib/mi/cluster.yaml), what built it
// (/usr/lib/mi/build.json: mibuild version, SOURCE_DATE_EPOCH, the stage keys that manifest.json
// records for the role), its components and the Debian versions of the stack's packages.
// Flow: main.cc inspect → inspect_image() → inspection_text() | inspection_json().
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace mi {

struct InspectedPartition {
  int number = 0;
  std::string name;                  // the GPT partition name ("esp", "root-x86-64", "var", "bios-boot")
  std::string type_guid;             // the GPT type GUID
  uint64_t start = 0, size = 0;      // bytes
  std::string fs_type, label, uuid;  // empty when the partition has no file system
};

struct ImageInspection {
  std::string image, format;
  uint64_t virtual_size = 0;
  std::vector<InspectedPartition> partitions;
  std::string role, cluster;  // from /usr/lib/mi/cluster.yaml
  nlohmann::json build;       // /usr/lib/mi/build.json, or null (an image from an older mibuild)
  std::vector<std::pair<std::string, std::string>> packages;  // (package, version) of the stack's packages
};

// Throws mi::Error naming the image when libguestfs cannot open it or it is not a mibuild image.
ImageInspection inspect_image(const std::string& image);

std::string inspection_text(const ImageInspection& i);
nlohmann::json inspection_json(const ImageInspection& i);

// The versions of `wanted` packages in a dpkg status file's text (installed ones only), in the
// order given; packages not installed are left out.
std::vector<std::pair<std::string, std::string>> dpkg_versions(const std::string& status,
                                                               const std::vector<std::string>& wanted);

}  // namespace mi

// Partition images through their canonical tools (mkfs.erofs, mke2fs -d: no loop devices, no
// mounts), then our own GPT + sparse raw writer from formats/.
#include "builder/assemble.h"

#include <filesystem>

#include "common/error.h"
#include "common/process.h"
#include "formats/raw.h"

namespace fs = std::filesystem;

namespace mi {

DiskIds derive_disk_ids(const std::string& seed, const std::string& role) {
  DiskIds d;
  d.disk_guid = derive_uuid(seed, role + "/disk");
  d.esp_partuuid = derive_uuid(seed, role + "/esp-partition");
  d.root_partuuid = derive_uuid(seed, role + "/root-partition");
  d.var_partuuid = derive_uuid(seed, role + "/var-partition");
  d.bios_partuuid = derive_uuid(seed, role + "/bios-boot-partition");
  d.root_fs_uuid = derive_uuid(seed, role + "/root");
  d.var_fs_uuid = derive_uuid(seed, role + "/var");
  d.var_hash_seed = derive_uuid(seed, role + "/var-hash-seed");
  d.esp_volume_id = to_hex(derive_uuid(seed, role + "/esp").data(), 4);
  return d;
}

void make_erofs(const std::string& tree, const std::string& image, const Uuid& fs_uuid, const std::string& epoch) {
  fs::remove(image);
  std::vector<std::string> argv = {"mkfs.erofs", "--quiet", "-zlz4hc", "-U", uuid_string(fs_uuid)};
  if (!epoch.empty()) argv.push_back("-T" + epoch);
  argv.insert(argv.end(), {image, tree});
  run(argv);
}

void make_var_ext4(const std::string& dir, const std::string& image, uint64_t size_mb, const Uuid& fs_uuid,
                   const Uuid& hash_seed, const std::string& epoch) {
  fs::remove(image);
  RunOptions o;
  if (!epoch.empty()) o.env["E2FSPROGS_FAKE_TIME"] = epoch;
  run({"mke2fs", "-q", "-F", "-t", "ext4", "-L", "var", "-d", dir, "-U", uuid_string(fs_uuid), "-E",
       "hash_seed=" + uuid_string(hash_seed) + ",root_owner=0:0", image, std::to_string(size_mb) + "M"},
      o);
}

AssembledDisk assemble_disk(const DiskIds& ids, const DiskImages& images) {
  auto size = [](const std::string& p) -> uint64_t {
    std::error_code ec;
    auto s = fs::file_size(p, ec);
    if (ec) throw Error(p, "partition image missing: " + ec.message());
    return s;
  };
  std::vector<GptPartition> parts = {
      {"esp", gpt_type_esp(), ids.esp_partuuid, size(images.esp), 0},
      {"root-x86-64", gpt_type_root_x86_64(), ids.root_partuuid, size(images.root), kGptAttrReadOnly},
      {"var", gpt_type_var(), ids.var_partuuid, size(images.var), 0},
  };
  std::vector<std::string> files = {images.esp, images.root, images.var};
  if (!images.bios.empty()) {
    parts.push_back({"bios-boot", gpt_type_bios_boot(), ids.bios_partuuid, size(images.bios), 0});
    files.push_back(images.bios);
  }
  AssembledDisk d;
  d.layout = gpt_layout(ids.disk_guid, parts);
  d.source = disk_source(d.layout, files);
  return d;
}

}  // namespace mi

// Assemble: the partition images (read-only erofs root, ext4 /var, the ESP from esp.h) and the
// GPT disk holding them, as a DiskSource the format writers stream from (no raw disk written).
// Flow: finalize.h + esp.h → make_erofs() + make_var_ext4() → assemble_disk() → bios.h →
// formats/disk_formats.h.
#pragma once
#include <cstdint>
#include <string>

#include "common/digest.h"
#include "formats/disk_source.h"
#include "formats/gpt.h"

namespace mi {

// The identities of one image, all derived from (seed, role) so rebuilding gives the same disk.
struct DiskIds {
  Uuid disk_guid{};
  Uuid esp_partuuid{}, root_partuuid{}, var_partuuid{}, bios_partuuid{};
  Uuid root_fs_uuid{}, var_fs_uuid{}, var_hash_seed{};
  std::string esp_volume_id;  // 8 hex digits (FAT serial)
};
DiskIds derive_disk_ids(const std::string& seed, const std::string& role);

// mkfs.erofs (lz4hc, fixed UUID and timestamps) of `tree` into `image`.
void make_erofs(const std::string& tree, const std::string& image, const Uuid& fs_uuid, const std::string& epoch);

// mke2fs -t ext4 -d `dir` into `image` of `size_mb` MiB (fixed UUID, hash seed and times).
void make_var_ext4(const std::string& dir, const std::string& image, uint64_t size_mb, const Uuid& fs_uuid,
                   const Uuid& hash_seed, const std::string& epoch);

struct DiskImages {
  std::string esp, root, var;  // partition image files
  std::string bios;            // optional: GRUB core.img for a BIOS boot partition (partition 4)
};

struct AssembledDisk {
  GptDisk layout;
  DiskSource source;  // primary GPT, the partition images at their offsets, backup GPT
};

// Lays out ESP, root (read-only attribute), var [and BIOS boot, partition 4] on a GPT.
AssembledDisk assemble_disk(const DiskIds& ids, const DiskImages& images);

}  // namespace mi

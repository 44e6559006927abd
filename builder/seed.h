// `mibuild seed`: the NoCloud seed a fleet boots with. A small file system labelled CIDATA
// holding `meta-data` and `user-data` (#cloud-config with an `mi:` key, the schema of
// firstboot/config_sources.h), which mi-firstboot finds by its label on first boot. It carries
// the fleet secret, so the secret never has to be in an image. Written as ISO 9660 (libarchive)
// or FAT (mkfs.vfat + mtools), without mounts, mode 0600, by atomic rename.
#pragma once
#include <string>
#include <vector>

namespace mi {

struct SeedRequest {
  std::string secret_file;  // the fleet secret: one line, mode 0600/0640/0400/0440
  std::string out;          // the seed image to write
  std::string format = "iso";  // iso | vfat
  // Optional per-node and cluster fields; empty = the image's defaults apply.
  std::string role, node, address, interface, instance_id;
  std::string cluster, datacenter, discovery;
  int control_count = 0;  // 0 = the image's default
  std::vector<std::string> peers, wan_join;
};

struct SeedFiles {
  std::string meta_data, user_data;
};

// Reads the fleet secret from `path`: a regular file that only its owner (and at most its
// group, reading) can access, one line of 16..4096 printable characters. Throws mi::Error
// naming the file and the fix.
std::string read_fleet_secret(const std::string& path);

// Makes a new fleet secret file (64 hex digits from getrandom, mode 0600); refuses to
// overwrite an existing file.
void make_fleet_secret(const std::string& path);

// meta-data and user-data for `req` (checked: role, node name, addresses, counts).
SeedFiles seed_files(const SeedRequest& req, const std::string& secret);

// Writes the seed image (format from req.format).
void write_seed(const SeedRequest& req);

}  // namespace mi

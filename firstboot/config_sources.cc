// Reading every config source in precedence order (config_sources.h), and finding and
// mounting the NoCloud / config-drive seed file systems by label. Called first by
// mi-firstboot; the seeds are unmounted again once read.
#include "firstboot/config_sources.h"

#include <sys/stat.h>

#include "common/error.h"
#include "common/process.h"

namespace mi::firstboot {

std::string find_device_by_label(const std::string& label) {
  std::string upper = label;
  for (auto& ch : upper) ch = char(toupper(static_cast<unsigned char>(ch)));
  for (const std::string& l : {label, upper}) {
    std::string link = "/dev/disk/by-label/" + l;
    char buf[4096];
    if (realpath(link.c_str(), buf)) return buf;
  }
  // udev may not have made the links yet (early boot): ask blkid directly.
  if (!have_program("blkid")) return "";
  for (const std::string& l : {label, upper}) {
    RunOptions o;
    o.check = false;
    RunResult r = run({"blkid", "-t", "LABEL=" + l, "-o", "device"}, o);
    if (r.exit_code == 0 && !r.out.empty()) return r.out.substr(0, r.out.find('\n'));
  }
  return "";
}

void mount_readonly(const std::string& device, const std::string& mountpoint) {
  mkdir(mountpoint.c_str(), 0700);
  run({"mount", "-o", "ro,nosuid,nodev,noexec", device, mountpoint});
}

void unmount_seed(const std::string& mountpoint) { run({"umount", mountpoint}); }

std::vector<ConfigLayer> read_all_sources(const SourcePaths& p) {
  std::vector<ConfigLayer> layers;
  layers.push_back(read_cluster_yaml(p.defaults_file));

  // A seed given as a directory is read as is; otherwise look for the labelled file system,
  // mount it read-only for the time of reading, and unmount it.
  auto seed = [&](const std::string& dir, const std::string& label, auto reader) {
    if (!dir.empty() || !p.find_seeds) return reader(dir);
    std::string dev = find_device_by_label(label);
    if (dev.empty()) return reader(std::string());
    mkdir(p.run_dir.c_str(), 0700);
    std::string mnt = p.run_dir + "/seed-" + label;
    mount_readonly(dev, mnt);
    try {
      auto layer = reader(mnt);
      unmount_seed(mnt);
      return layer;
    } catch (...) {
      unmount_seed(mnt);
      throw;
    }
  };
  layers.push_back(seed(p.nocloud_dir, "cidata", read_nocloud));
  layers.push_back(seed(p.configdrive_dir, "config-2", read_configdrive));

  ConfigLayer ec2 = read_ec2_metadata(p.metadata_url, p.metadata_timeout_ms);
  if (ec2.present) {
    layers.push_back(ec2);
  } else {
    layers.push_back(read_openstack_metadata(p.metadata_url, p.metadata_timeout_ms));
  }
  layers.push_back(read_cmdline(p.cmdline_file));
  return layers;
}

NodeConfig load_node_config(const SourcePaths& paths) {
  return merge_layers(read_all_sources(paths), paths.machine_id_file);
}

}  // namespace mi::firstboot

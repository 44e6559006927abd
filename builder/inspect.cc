// `mibuild inspect` through the libguestfs C library (see inspect.h).
#include "builder/inspect.h"

#include <guestfs.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <memory>
#include <sstream>

#include "common/error.h"
#include "common/process.h"

namespace mi {
namespace {

// The stack's packages whose versions an operator asks about first.
const std::vector<std::string> kStackPackages = {
    "consul", "zookeeper", "docker.io",         "dnsmasq-base", "openjdk-17-jre-headless",
    "mesos",  "marathon",  "linux-image-amd64", "systemd"};

struct Guest {
  guestfs_h* g;
  std::string image;
  explicit Guest(const std::string& img) : g(guestfs_create()), image(img) {
    if (!g) throw Error(img, "libguestfs: could not create a handle");
    guestfs_set_error_handler(g, nullptr, nullptr);  // errors are thrown by fail(), once
  }
  ~Guest() { guestfs_close(g); }
  [[noreturn]] void fail(const std::string& what) const {
    const char* e = guestfs_last_error(g);
    throw Error(image, "libguestfs: " + what + ": " + (e ? e : "failed"));
  }
  // A string libguestfs allocated, freed here; "" when the call failed and `optional`.
  std::string str(char* s, const std::string& what, bool optional = false) const {
    if (!s) {
      if (optional) return "";
      fail(what);
    }
    std::string r = s;
    free(s);
    return r;
  }
  std::string file(const std::string& path) const {
    size_t n = 0;
    char* p = guestfs_read_file(g, path.c_str(), &n);
    if (!p) fail("read " + path);
    std::string r(p, n);
    free(p);
    return r;
  }
  bool exists(const std::string& path) const { return guestfs_exists(g, path.c_str()) == 1; }
};

std::string disk_format(const std::string& image) {
  auto j = nlohmann::json::parse(run({"qemu-img", "info", "--output=json", "-U", image}).out);
  std::string f = j.value("format", "");
  if (f.empty()) throw Error(image, "qemu-img could not tell its format");
  return f;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> dpkg_versions(const std::string& status,
                                                               const std::vector<std::string>& wanted) {
  std::map<std::string, std::string> installed;
  std::istringstream in(status + "\n\n");
  std::string pkg, version, state;
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) {
      if (!pkg.empty() && state.find(" installed") != std::string::npos) installed[pkg] = version;
      pkg.clear(), version.clear(), state.clear();
    } else if (line.rfind("Package: ", 0) == 0) {
      pkg = line.substr(9);
    } else if (line.rfind("Version: ", 0) == 0) {
      version = line.substr(9);
    } else if (line.rfind("Status: ", 0) == 0) {
      state = line.substr(7);
    }
  }
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& w : wanted)
    if (auto it = installed.find(w); it != installed.end()) out.push_back(*it);
  return out;
}

ImageInspection inspect_image(const std::string& image) {
  ImageInspection r;
  r.image = image;
  r.format = disk_format(image);
  Guest g(image);
  // Nested KVM does not work on every host that builds images: TCG is slow but always there.
  if (!getenv("LIBGUESTFS_BACKEND_SETTINGS")) {
    char tcg[] = "force_tcg";
    char* settings[] = {tcg, nullptr};
    guestfs_set_backend_settings(g.g, settings);
  }
  if (guestfs_add_drive_opts(g.g, image.c_str(), GUESTFS_ADD_DRIVE_OPTS_READONLY, 1, GUESTFS_ADD_DRIVE_OPTS_FORMAT,
                             r.format.c_str(), -1) != 0)
    g.fail("add the disk");
  if (guestfs_launch(g.g) != 0) g.fail("launch the appliance");
  int64_t size = guestfs_blockdev_getsize64(g.g, "/dev/sda");
  if (size < 0) g.fail("size of the disk");
  r.virtual_size = uint64_t(size);

  std::unique_ptr<guestfs_partition_list, decltype(&guestfs_free_partition_list)> parts(
      guestfs_part_list(g.g, "/dev/sda"), guestfs_free_partition_list);
  if (!parts) g.fail("read the partition table (is this a disk image mibuild wrote?)");
  std::string root, var;
  for (uint32_t i = 0; i < parts->len; i++) {
    InspectedPartition p;
    p.number = parts->val[i].part_num;
    p.start = parts->val[i].part_start;
    p.size = parts->val[i].part_size;
    p.name = g.str(guestfs_part_get_name(g.g, "/dev/sda", p.number), "partition name", true);
    p.type_guid = g.str(guestfs_part_get_gpt_type(g.g, "/dev/sda", p.number), "partition type", true);
    std::string dev = "/dev/sda" + std::to_string(p.number);
    p.fs_type = g.str(guestfs_vfs_type(g.g, dev.c_str()), "file system type", true);
    if (!p.fs_type.empty()) {
      p.label = g.str(guestfs_vfs_label(g.g, dev.c_str()), "label", true);
      p.uuid = g.str(guestfs_vfs_uuid(g.g, dev.c_str()), "uuid", true);
    }
    if (p.name.rfind("root", 0) == 0) root = dev;
    if (p.name == "var") var = dev;
    r.partitions.push_back(p);
  }
  if (root.empty()) throw Error(image, "no root partition (GPT name root-*): not an image mibuild wrote");
  if (guestfs_mount_ro(g.g, root.c_str(), "/") != 0) g.fail("mount the root " + root);
  if (!var.empty() && guestfs_mount_ro(g.g, var.c_str(), "/var") != 0) g.fail("mount /var " + var);

  if (g.exists("/usr/lib/mi/cluster.yaml")) {
    YAML::Node c = YAML::Load(g.file("/usr/lib/mi/cluster.yaml"));
    if (c["role"]) r.role = c["role"].as<std::string>();
    if (c["cluster"] && c["cluster"]["name"]) r.cluster = c["cluster"]["name"].as<std::string>();
  }
  if (g.exists("/usr/lib/mi/build.json")) {
    try {
      r.build = nlohmann::json::parse(g.file("/usr/lib/mi/build.json"));
    } catch (const nlohmann::json::exception&) {
      throw Error(image, "/usr/lib/mi/build.json is not JSON");
    }
  }
  if (g.exists("/var/lib/dpkg/status")) r.packages = dpkg_versions(g.file("/var/lib/dpkg/status"), kStackPackages);
  return r;
}

nlohmann::json inspection_json(const ImageInspection& i) {
  nlohmann::json j = {{"image", i.image}, {"format", i.format},   {"virtual_size", i.virtual_size},
                      {"role", i.role},   {"cluster", i.cluster}, {"build", i.build}};
  j["partitions"] = nlohmann::json::array();
  for (const auto& p : i.partitions)
    j["partitions"].push_back({{"number", p.number},
                               {"name", p.name},
                               {"type", p.type_guid},
                               {"start", p.start},
                               {"size", p.size},
                               {"fs", p.fs_type},
                               {"label", p.label},
                               {"uuid", p.uuid}});
  j["packages"] = nlohmann::json::object();
  for (const auto& [n, v] : i.packages) j["packages"][n] = v;
  return j;
}

std::string inspection_text(const ImageInspection& i) {
  std::ostringstream o;
  o << i.image << ": " << i.format << ", " << i.virtual_size << " bytes\n";
  o << "role: " << (i.role.empty() ? "(unknown)" : i.role) << (i.cluster.empty() ? "" : ", cluster " + i.cluster)
    << "\n";
  if (i.build.is_object()) {
    o << "built by: mibuild " << i.build.value("mibuild_version", "?") << ", SOURCE_DATE_EPOCH "
      << i.build.value("source_date_epoch", "?") << "\n";
    if (i.build.contains("stages") && i.build["stages"].is_array())
      for (const auto& s : i.build["stages"])
        o << "  stage " << s.value("name", "?") << " " << s.value("key", "?") << "\n";
    if (i.build.contains("components") && i.build["components"].is_array()) {
      o << "components:";
      for (const auto& c : i.build["components"])
        o << " " << c.value("name", "?")
          << (c.value("present", false) ? (c.value("version", "").empty() ? "" : " " + c.value("version", ""))
                                        : " (absent)")
          << ",";
      o.seekp(-1, std::ios_base::cur);
      o << "\n";
    }
  } else {
    o << "built by: (no /usr/lib/mi/build.json: an image from an older mibuild)\n";
  }
  if (!i.packages.empty()) {
    o << "packages:";
    for (const auto& [n, v] : i.packages) o << " " << n << " " << v << ",";
    o.seekp(-1, std::ios_base::cur);
    o << "\n";
  }
  o << "partitions:\n";
  for (const auto& p : i.partitions) {
    char line[256];
    snprintf(line, sizeof line, "  %d %-12s start %12llu size %12llu  %-6s %s%s\n", p.number, p.name.c_str(),
             (unsigned long long)p.start, (unsigned long long)p.size, p.fs_type.empty() ? "-" : p.fs_type.c_str(),
             p.label.empty() ? "" : ("label " + p.label + " ").c_str(),
             p.uuid.empty() ? "" : ("uuid " + p.uuid).c_str());
    o << line;
  }
  return o.str();
}

}  // namespace mi

// `mibuild seed` (seed.h): NoCloud meta-data + user-data, packed as an ISO 9660 image by
// libarchive or as a FAT image by mkfs.vfat + mcopy. Nothing is mounted; the secret goes
// only into user-data, in files and temporaries no one but the owner can read.
#include "builder/seed.h"

#include <archive.h>
#include <fcntl.h>
#include <archive_entry.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>

#include "common/digest.h"
#include "common/error.h"
#include "common/net.h"
#include "common/files.h"
#include "common/process.h"
#include "firstboot/cluster_rules.h"

namespace fs = std::filesystem;

namespace mi {
namespace {

// Names as mi-firstboot accepts them (firstboot/cluster_rules.h): a seed it would refuse is
// refused here.
bool valid_name(const std::string& s) { return firstboot::valid_node_name(s); }

void check_addresses(const std::vector<std::string>& v, const char* field) {
  for (const auto& a : v)
    if (!is_ip(a)) throw Error(field, "'" + a + "' is not an IPv4 or IPv6 address");
}

// A file written 0600 from the start (no window in which others could read it).
void write_private(const std::string& path, const std::string& data) {
  write_file_atomic(path, data, 0600);
}

void write_iso(const SeedFiles& f, const std::string& out) {
  archive* a = archive_write_new();
  auto fail = [&](const std::string& what) {
    std::string why = what + ": " + (archive_error_string(a) ? archive_error_string(a) : "libarchive error");
    archive_write_free(a);
    throw Error(out, why);
  };
  if (archive_write_set_format_iso9660(a) != ARCHIVE_OK) fail("iso9660 format");
  // The label NoCloud readers look for (cloud-init and mi-firstboot accept CIDATA and cidata;
  // ISO 9660 volume ids are upper case). Rock Ridge keeps the file names as they are.
  if (archive_write_set_format_option(a, "iso9660", "volume-id", "CIDATA") != ARCHIVE_OK) fail("volume-id");
  if (archive_write_set_format_option(a, "iso9660", "rockridge", "1") != ARCHIVE_OK) fail("rockridge");
  if (archive_write_set_format_option(a, "iso9660", "joliet", "1") != ARCHIVE_OK) fail("joliet");
  int fd = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    archive_write_free(a);
    throw Error(out, std::string("cannot create: ") + strerror(errno));
  }
  if (archive_write_open_fd(a, fd) != ARCHIVE_OK) {
    close(fd);
    fail("open");
  }
  for (const auto& [name, data] : {std::pair{"meta-data", &f.meta_data}, std::pair{"user-data", &f.user_data}}) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0400);
    archive_entry_set_size(e, la_int64_t(data->size()));
    archive_entry_set_mtime(e, 0, 0);
    if (archive_write_header(a, e) != ARCHIVE_OK) {
      archive_entry_free(e);
      close(fd);
      fail(std::string("header of ") + name);
    }
    if (archive_write_data(a, data->data(), data->size()) != la_ssize_t(data->size())) {
      archive_entry_free(e);
      close(fd);
      fail(std::string("data of ") + name);
    }
    archive_entry_free(e);
  }
  if (archive_write_close(a) != ARCHIVE_OK) {
    close(fd);
    fail("close");
  }
  archive_write_free(a);
  if (fsync(fd) != 0 || close(fd) != 0) throw Error(out, std::string("write: ") + strerror(errno));
}

void write_vfat(const SeedFiles& f, const std::string& out) {
  // A private staging directory for the two files mcopy reads.
  std::string stage = out + ".files";
  fs::remove_all(stage);
  fs::create_directory(stage);
  chmod(stage.c_str(), 0700);
  try {
    write_private(stage + "/meta-data", f.meta_data);
    write_private(stage + "/user-data", f.user_data);
    RunOptions env;
    env.env["MTOOLS_SKIP_CHECK"] = "1";
    fs::remove(out);
    // 1 MiB; -C creates the file (with the umask: tightened below before any data goes in).
    run({"mkfs.vfat", "-C", "-n", "CIDATA", out, "1024"}, env);
    chmod(out.c_str(), 0600);
    for (const char* n : {"meta-data", "user-data"}) run({"mcopy", "-i", out, "-o", stage + "/" + n, std::string("::") + n}, env);
  } catch (...) {
    fs::remove_all(stage);
    throw;
  }
  fs::remove_all(stage);
}

}  // namespace

std::string read_fleet_secret(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) throw Error(path, std::string("secret file: ") + strerror(errno));
  if (S_ISDIR(st.st_mode)) throw Error(path, "secret file: is a directory (give the file that holds the secret)");
  if (!S_ISREG(st.st_mode)) throw Error(path, "secret file: not a regular file");
  if (st.st_mode & 0137) {
    char m[8];
    snprintf(m, sizeof m, "%04o", unsigned(st.st_mode & 07777));
    throw Error(path, std::string("secret file: mode ") + m +
                          " lets others than its owner at it; make it 0600 (or 0640 for a group that reads it)");
  }
  std::string s = read_file(path);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  if (s.size() < 16) throw Error(path, "secret file: the secret is shorter than 16 characters (`mibuild seed --new-secret` makes one)");
  if (s.size() > 4096) throw Error(path, "secret file: the secret is longer than 4096 characters");
  for (unsigned char c : s)
    if (c < 0x21 || c > 0x7e) throw Error(path, "secret file: one line of printable characters without spaces, please");
  return s;
}

void make_fleet_secret(const std::string& path) {
  if (fs::exists(fs::symlink_status(path))) throw Error(path, "already exists; a fleet keeps its secret (remove it first to make a new fleet)");
  unsigned char buf[32];
  size_t got = 0;
  while (got < sizeof buf) {
    ssize_t n = getrandom(buf + got, sizeof buf - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error("getrandom", strerror(errno));
    got += size_t(n);
  }
  write_private(path, to_hex(buf, sizeof buf) + "\n");
}

SeedFiles seed_files(const SeedRequest& r, const std::string& secret) {
  if (!r.role.empty() && r.role != "control" && r.role != "compute" && r.role != "all-in-one")
    throw Error("--role", "'" + r.role + "' is not a role (control, compute, all-in-one)");
  if (!r.node.empty() && !valid_name(r.node))
    throw Error("--node", "'" + r.node + "' must be 1..64 letters, digits, '-', '_', '.'");
  if (!r.address.empty() && !is_ip(r.address)) throw Error("--address", "'" + r.address + "' is not an IP address");
  if (!r.interface.empty() && !valid_name(r.interface)) throw Error("--iface", "'" + r.interface + "' is not an interface name");
  if (r.control_count < 0 || (r.control_count > 0 && r.control_count % 2 == 0))
    throw Error("--control-count", std::to_string(r.control_count) +
                                       " is not an odd count (an even number of control nodes adds no fault "
                                       "tolerance and more ways to tie)");
  if (!r.discovery.empty() && r.discovery != "static" && r.discovery != "dns" && r.discovery != "beacon" &&
      r.discovery != "cloud")
    throw Error("--discovery", "'" + r.discovery + "' is not a method (static, dns, beacon, cloud)");
  if (!r.cluster.empty() && !firstboot::valid_cluster_name(r.cluster))
    throw Error("--cluster", "'" + r.cluster + "' must be letters, digits, '-', '_', '.'");
  if (!r.datacenter.empty() && !firstboot::valid_datacenter(r.datacenter))
    throw Error("--datacenter", "'" + r.datacenter + "' must be letters, digits, '-', '_'");
  check_addresses(r.peers, "--peers");
  check_addresses(r.wan_join, "--wan-join");

  YAML::Emitter u;
  u << YAML::BeginMap << YAML::Key << "mi" << YAML::Value << YAML::BeginMap;
  u << YAML::Key << "secret" << YAML::Value << YAML::DoubleQuoted << secret;
  if (!r.role.empty()) u << YAML::Key << "role" << YAML::Value << r.role;
  if (!r.node.empty()) u << YAML::Key << "node" << YAML::Value << r.node;
  if (!r.address.empty()) u << YAML::Key << "address" << YAML::Value << r.address;
  if (!r.interface.empty()) u << YAML::Key << "iface" << YAML::Value << r.interface;
  bool cluster = !r.cluster.empty() || !r.datacenter.empty() || r.control_count || !r.discovery.empty() ||
                 !r.peers.empty() || !r.wan_join.empty();
  if (cluster) {
    u << YAML::Key << "cluster" << YAML::Value << YAML::BeginMap;
    if (!r.cluster.empty()) u << YAML::Key << "name" << YAML::Value << r.cluster;
    if (!r.datacenter.empty()) u << YAML::Key << "datacenter" << YAML::Value << r.datacenter;
    if (r.control_count) u << YAML::Key << "control_count" << YAML::Value << r.control_count;
    if (!r.discovery.empty() || !r.peers.empty()) {
      u << YAML::Key << "discovery" << YAML::Value << YAML::BeginMap;
      u << YAML::Key << "method" << YAML::Value << (r.discovery.empty() ? "static" : r.discovery);
      if (!r.peers.empty()) u << YAML::Key << "peers" << YAML::Value << YAML::Flow << r.peers;
      u << YAML::EndMap;
    }
    if (!r.wan_join.empty()) u << YAML::Key << "wan_join" << YAML::Value << YAML::Flow << r.wan_join;
    u << YAML::EndMap;
  }
  u << YAML::EndMap << YAML::EndMap;
  SeedFiles f;
  f.user_data = "#cloud-config\n# Written by `mibuild seed`: mi-firstboot's settings for this node or fleet.\n" +
                std::string(u.c_str()) + "\n";
  // A stable instance id unless one is given: the same settings give the same seed.
  std::string iid = r.instance_id.empty() ? "iid-mi-" + sha256_hex(f.user_data).substr(0, 16) : r.instance_id;
  if (!valid_name(iid)) throw Error("--instance-id", "'" + iid + "' must be 1..64 letters, digits, '-', '_', '.'");
  f.meta_data = "instance-id: " + iid + "\n";
  if (!r.node.empty()) f.meta_data += "local-hostname: " + r.node + "\n";
  return f;
}

void write_seed(const SeedRequest& r) {
  if (r.format != "iso" && r.format != "vfat") throw Error("--format", "'" + r.format + "' is not a seed format (iso, vfat)");
  if (r.out.empty()) throw Error("--out", "name the seed image to write");
  SeedFiles f = seed_files(r, read_fleet_secret(r.secret_file));
  fs::path dir = fs::path(r.out).parent_path();
  if (!dir.empty()) fs::create_directories(dir);
  std::string tmp = temp_name_for(r.out);
  try {
    if (r.format == "iso")
      write_iso(f, tmp);
    else
      write_vfat(f, tmp);
    chmod(tmp.c_str(), 0600);
    commit_rename(tmp, r.out);
  } catch (...) {
    fs::remove(tmp);
    throw;
  }
}

}  // namespace mi

// Consul agent configuration: a server on control / all-in-one nodes (bootstrap_expect = the
// expected control count, so Consul's own Raft forms the quorum), a client on compute nodes;
// both join the discovered control nodes, gossip encrypted with a key derived from the
// cluster secret. Also the gossip key derivation and the shared ensure_file().
#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/digest.h"
#include "common/error.h"
#include "common/files.h"
#include "common/net.h"
#include "firstboot/writers.h"

namespace mi::firstboot {

bool is_compute_role(Role r) { return r == Role::compute || r == Role::all_in_one; }

std::string consul_gossip_key(const std::string& secret, const std::string& cluster) {
  if (secret.empty()) throw Error("secret", "no cluster secret: the Consul gossip key is derived from it");
  return base64(hkdf_sha256(secret, "mi-firstboot consul gossip", "cluster=" + cluster, 32));
}

namespace {

// retry_join entries: bare addresses with the default port, "addr:port" (IPv6 bracketed)
// when the tests shift ports.
std::string join_entry(const std::string& addr, int port, int default_port) {
  if (port == default_port) return addr;
  return host_port(addr, port);
}

}  // namespace

std::vector<GeneratedFile> consul_files(const WriterInput& in) {
  using nlohmann::ordered_json;
  const auto& c = in.cfg;
  bool server = is_control(c.role);
  ordered_json j;
  j["datacenter"] = c.datacenter;
  j["node_name"] = c.node_name;
  j["data_dir"] = in.layout.consul_data_dir();
  j["server"] = server;
  if (server) j["bootstrap_expect"] = c.control_count;
  j["bind_addr"] = in.address;
  j["advertise_addr"] = in.address;
  if (server) j["advertise_addr_wan"] = in.address;
  // The HTTP API and DNS only on loopback: no ACLs yet, so nothing else may reach them.
  j["client_addr"] = "127.0.0.1";
  ordered_json join = ordered_json::array();
  if (!in.cloud_join.empty()) join.push_back(in.cloud_join);
  for (const auto& a : in.join)
    if (a != in.address) join.push_back(join_entry(a, in.cfg.ports.consul_serf_lan, 8301));
  j["retry_join"] = join;
  // Retry often: the default (30 s) makes a cluster of nodes booting together slow to form.
  j["retry_interval"] = "3s";
  if (server && !c.wan_join.empty()) {
    ordered_json wan = ordered_json::array();
    for (const auto& a : c.wan_join) wan.push_back(join_entry(a, in.cfg.ports.consul_serf_wan, 8302));
    j["retry_join_wan"] = wan;
    j["retry_interval_wan"] = "5s";
  }
  j["encrypt"] = consul_gossip_key(c.secret, c.cluster);
  j["ports"] = {{"http", in.cfg.ports.consul_http},
                {"dns", in.cfg.ports.consul_dns},
                {"server", in.cfg.ports.consul_server},
                {"serf_lan", in.cfg.ports.consul_serf_lan},
                {"serf_wan", in.cfg.ports.consul_serf_wan}};
  j["disable_update_check"] = true;
  // HashiCorp's production recommendation: Raft timing at 1x rather than the default 5x
  // (which is tuned for the smallest instances); leader election takes ~1 s instead of ~7 s.
  j["performance"] = {{"raft_multiplier", 1}};
  j["leave_on_terminate"] = false;
  j["skip_leave_on_interrupt"] = true;
  j["node_meta"] = {{"mi_role", role_name(c.role)}, {"mi_cluster", c.cluster}};
  j["log_level"] = "INFO";
  GeneratedFile f;
  f.path = in.layout.consul_config_dir() + "/consul.json";
  f.content = j.dump(2) + "\n";
  f.mode = 0640;
  f.group = "consul";
  f.secret = true;
  return {f};
}

std::string file_state(const GeneratedFile& f) {
  struct stat sb;
  if (stat(f.path.c_str(), &sb) != 0) return "new";
  std::string old;
  try {
    old = read_file(f.path);
  } catch (const Error&) {
    return "changed";
  }
  if (old != f.content || (sb.st_mode & 07777) != f.mode) return "changed";
  if (!f.group.empty()) {
    if (const group* g = getgrnam(f.group.c_str()); g && sb.st_gid != g->gr_gid) return "changed";
  }
  return "unchanged";
}

bool ensure_file(const GeneratedFile& f) {
  if (file_state(f) == "unchanged") return false;
  std::filesystem::create_directories(std::filesystem::path(f.path).parent_path());
  write_file_atomic(f.path, f.content, f.mode);
  if (!f.group.empty()) {
    if (const group* g = getgrnam(f.group.c_str()))
      if (chown(f.path.c_str(), uid_t(-1), g->gr_gid) != 0 && geteuid() == 0)
        throw Error(f.path, "cannot give it to group " + f.group);
  }
  return true;
}

}  // namespace mi::firstboot

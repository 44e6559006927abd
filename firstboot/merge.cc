// Precedence: the config layers, lowest first, applied field by field onto the built-in
// NodeConfig defaults; then the secret file is read, the node name defaulted from the
// machine-id (else the host name), and the result validated with errors that point at the
// source that set the value.
#include <arpa/inet.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>

#include "common/error.h"
#include "common/files.h"
#include "firstboot/cluster_rules.h"
#include "firstboot/config_sources.h"
#include "firstboot/discovery.h"
#include "common/net.h"

namespace mi::firstboot {
namespace {

// The secret in `path`, trimmed; "" when the file does not exist (yet) or holds nothing, so
// that the run waits for it. Throws when the file is there but must not be used.
std::string secret_from_file(const std::string& path, const std::string& where) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return "";
    throw Error(where, "secret_file " + path + ": " + strerror(errno));
  }
  if (S_ISDIR(st.st_mode)) throw Error(path, "the secret file is a directory; name the file that holds the secret");
  if (!S_ISREG(st.st_mode)) throw Error(path, "the secret file is not a regular file");
  // Owner: read and write; group: read at most; others: nothing (and no execute bits).
  if ((st.st_mode & 0137) != 0) {
    char mode[8];
    snprintf(mode, sizeof mode, "%04o", unsigned(st.st_mode & 07777));
    throw Error(path, std::string("the secret file has mode ") + mode +
                          ", but only its owner may access it, and its group only read it; fix: chmod 0600 " + path +
                          " (or 0640 to let its group read it)");
  }
  std::string s = read_file(path);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

std::string read_secret_file(const std::string& path, const std::string& where) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0 && errno == ENOENT) throw Error(where, "secret_file " + path + " does not exist");
  std::string s = secret_from_file(path, where);
  if (s.empty()) throw Error(path, "the secret file is empty");
  return s;
}

std::string read_machine_id(const std::string& path) {
  std::string s;
  try {
    s = read_file(path);
  } catch (const Error&) {
    return "";
  }
  while (!s.empty() && isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  if (s.size() != 32) return "";
  for (char& ch : s) {
    ch = char(tolower(static_cast<unsigned char>(ch)));
    if (!isxdigit(static_cast<unsigned char>(ch))) return "";
  }
  return s;
}

NodeConfig merge_layers(const std::vector<ConfigLayer>& layers, const std::string& machine_id_file) {
  NodeConfig c;
  std::map<std::string, std::string> prov;   // field -> "source location"
  std::map<std::string, std::string> where;  // field -> location, for errors
  auto apply = [&](const auto& set, auto& dst, const char* field, const ConfigLayer& L) {
    if (!set.value) return;
    dst = *set.value;
    prov[field] = L.source + " " + set.where;
    where[field] = set.where;
  };
  const ConfigLayer* secret_layer = nullptr;
  for (const ConfigLayer& L : layers) {
    apply(L.role, c.role, "role", L);
    apply(L.cluster, c.cluster, "cluster", L);
    apply(L.datacenter, c.datacenter, "datacenter", L);
    apply(L.control_count, c.control_count, "control_count", L);
    apply(L.discovery, c.discovery, "discovery", L);
    apply(L.static_peers, c.static_peers, "static_peers", L);
    apply(L.dns_name, c.dns_name, "dns_name", L);
    apply(L.beacon_group, c.beacon_group, "beacon_group", L);
    apply(L.cloud_join, c.cloud_join, "cloud_join", L);
    apply(L.wan_join, c.wan_join, "wan_join", L);
    apply(L.node_name, c.node_name, "node_name", L);
    apply(L.address, c.address, "address", L);
    apply(L.interface, c.interface, "interface", L);
    apply(L.state_dir, c.state_dir, "state_dir", L);
    apply(L.instance_id, c.instance_id, "instance_id", L);
    if (L.secret.value || L.secret_file.value) secret_layer = &L;
  }

  // The secret: from the highest layer that gives one, as a value (seed / user-data) or a
  // file; its value never goes into provenance or errors.
  if (secret_layer) {
    if (secret_layer->secret.value) {
      c.secret = *secret_layer->secret.value;
      c.secret_file.clear();
      prov["secret"] = secret_layer->source + " " + secret_layer->secret.where;
    } else {
      c.secret_file = *secret_layer->secret_file.value;
      std::string named = secret_layer->source + " " + secret_layer->secret_file.where;
      c.secret = secret_from_file(c.secret_file, secret_layer->secret_file.where);
      if (c.secret.empty()) {
        // Not there yet (provisioned later) or empty: the run waits for a secret.
        c.secret_note = "secret_file " + c.secret_file + " (named by " + named + ") " +
                        (access(c.secret_file.c_str(), F_OK) == 0 ? "is empty" : "does not exist");
        prov["secret"] = "none: " + c.secret_note;
      } else {
        prov["secret"] = named + " (file " + c.secret_file + ")";
      }
    }
    if (secret_layer->secret.value && c.secret.empty()) throw Error(prov["secret"], "the secret is empty");
  }

  // No source named the node: every clone of an image has the same host name, but its own
  // machine-id (made on first boot), so the default name comes from the machine-id.
  if (c.node_name.empty()) {
    std::string id = read_machine_id(machine_id_file);
    if (!id.empty()) {
      c.node_name = std::string(role_name(c.role)) + "-" + id.substr(0, 6);
      prov["node_name"] = "machine-id";
    } else {
      char host[256] = {};
      gethostname(host, sizeof host - 1);
      c.node_name = std::string(host).substr(0, std::string(host).find('.'));
      prov["node_name"] = "hostname (no machine-id in " + machine_id_file + ")";
    }
    where["node_name"] = prov["node_name"];
  }

  auto at = [&](const char* field) { return where.count(field) ? where[field] : std::string(field); };
  if (c.control_count < 1) throw Error(at("control_count"), "control_count must be at least 1");
  if (c.control_count % 2 == 0)
    throw Error(at("control_count"),
                "control_count " + std::to_string(c.control_count) +
                    " is even: an even number of control nodes adds no fault tolerance over one fewer (a quorum of " +
                    std::to_string(c.control_count / 2 + 1) + " of " + std::to_string(c.control_count) +
                    " survives as many failures as " + std::to_string(c.control_count / 2) + " of " +
                    std::to_string(c.control_count - 1) + ") and gives more ways to split into a tie; use " +
                    std::to_string(c.control_count - 1) + " or " + std::to_string(c.control_count + 1));
  if (!valid_cluster_name(c.cluster))
    throw Error(at("cluster"), "cluster name '" + c.cluster + "' must be letters, digits, '-', '_', '.'");
  if (!valid_datacenter(c.datacenter))
    throw Error(at("datacenter"), "datacenter '" + c.datacenter + "' must be letters, digits, '-', '_'");
  if (!valid_node_name(c.node_name))
    throw Error(at("node_name"), "node name '" + c.node_name + "' must be 1..64 letters, digits, '-', '_', '.'");
  if (!c.address.empty() && !is_ip(c.address))
    throw Error(at("address"), "address '" + c.address + "' is not an IPv4 or IPv6 address");
  if (auto p = check_discovery(c.discovery, c.static_peers.size(), c.dns_name, c.beacon_group, c.cloud_join))
    throw Error(at(p->field.c_str()), p->why);
  if (c.state_dir.empty() || c.state_dir[0] != '/') throw Error(at("state_dir"), "state_dir must be an absolute path");

  // Provenance of every field, "built-in" where no source set it.
  for (const char* f :
       {"role", "cluster", "datacenter", "control_count", "discovery", "static_peers", "dns_name", "beacon_group",
        "cloud_join", "wan_join", "secret", "node_name", "address", "interface", "state_dir", "instance_id"})
    c.provenance.emplace_back(f, prov.count(f) ? prov[f] : "built-in");
  return c;
}

std::string describe_provenance(const NodeConfig& c) {
  std::string out;
  for (auto& [field, src] : c.provenance) out += field + " <- " + src + "\n";
  return out;
}

}  // namespace mi::firstboot

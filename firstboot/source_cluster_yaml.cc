// Source 1 (lowest precedence): the defaults baked into the image by mibuild,
// /usr/lib/mi/cluster.yaml (mirrors the spec's `cluster` block). Also the `mi` YAML schema
// itself, shared with the `mi:` key of cloud-config user-data (source_nocloud.cc).
#include <sys/stat.h>

#include "common/error.h"
#include "common/files.h"
#include "firstboot/source_yaml.h"

namespace mi::firstboot {
namespace {

std::string scalar(const YAML::Node& n, const std::string& path, const std::string& key) {
  if (!n.IsScalar()) throw Error(yaml_where(path, n), key + " must be a single value");
  return n.Scalar();
}

int integer(const YAML::Node& n, const std::string& path, const std::string& key) {
  std::string s = scalar(n, path, key);
  if (s.empty() || s.size() > 6 || s.find_first_not_of("0123456789") != std::string::npos)
    throw Error(yaml_where(path, n), key + " must be a whole number, got '" + s + "'");
  return std::stoi(s);
}

// A list given as a YAML sequence or as one comma-separated string ("a,b,c").
std::vector<std::string> list(const YAML::Node& n, const std::string& path, const std::string& key) {
  std::vector<std::string> out;
  if (n.IsNull()) return out;
  if (n.IsSequence()) {
    for (const auto& e : n) out.push_back(scalar(e, path, key + " entry"));
  } else {
    out = split_list(scalar(n, path, key));
  }
  for (auto& e : out)
    if (e.empty()) throw Error(yaml_where(path, n), key + " has an empty entry");
  return out;
}

void require_map(const YAML::Node& n, const std::string& path, const std::string& what) {
  if (!n.IsMap()) throw Error(yaml_where(path, n), what + " must be a mapping");
}

}  // namespace

std::string yaml_where(const std::string& path, const YAML::Node& n) {
  auto m = n.Mark();
  if (m.line < 0) return path;
  return path + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
}

YAML::Node load_yaml(const std::string& text, const std::string& path) {
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw Error(path + ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1), e.msg);
  }
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t comma = s.find(',', pos);
    if (comma == std::string::npos) comma = s.size();
    std::string item = s.substr(pos, comma - pos);
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (!item.empty()) out.push_back(item);
    pos = comma + 1;
  }
  return out;
}

std::string short_hostname(const std::string& h) { return h.substr(0, h.find('.')); }

void apply_mi_yaml(const YAML::Node& map, const std::string& path, bool allow_secret, ConfigLayer* L) {
  if (map.IsNull()) return;
  require_map(map, path, "the mi settings");
  for (const auto& kv : map) {
    const std::string key = kv.first.Scalar();
    const YAML::Node& v = kv.second;
    const std::string at = yaml_where(path, v);
    if (key == "cluster") {
      if (v.IsNull()) continue;
      require_map(v, path, "cluster");
      for (const auto& ckv : v) {
        const std::string ck = ckv.first.Scalar();
        const YAML::Node& cv = ckv.second;
        const std::string cat = yaml_where(path, cv);
        if (ck == "name")
          L->cluster.set(scalar(cv, path, "cluster.name"), cat);
        else if (ck == "datacenter")
          L->datacenter.set(scalar(cv, path, "cluster.datacenter"), cat);
        else if (ck == "control_count")
          L->control_count.set(integer(cv, path, "cluster.control_count"), cat);
        else if (ck == "wan_join")
          L->wan_join.set(list(cv, path, "cluster.wan_join"), cat);
        else if (ck == "discovery") {
          if (cv.IsNull()) continue;
          require_map(cv, path, "cluster.discovery");
          for (const auto& dkv : cv) {
            const std::string dk = dkv.first.Scalar();
            const YAML::Node& dv = dkv.second;
            const std::string dat = yaml_where(path, dv);
            if (dk == "method")
              L->discovery.set(scalar(dv, path, "discovery.method"), dat);
            else if (dk == "peers")
              L->static_peers.set(list(dv, path, "discovery.peers"), dat);
            else if (dk == "dns_name")
              L->dns_name.set(scalar(dv, path, "discovery.dns_name"), dat);
            else if (dk == "beacon_group")
              L->beacon_group.set(scalar(dv, path, "discovery.beacon_group"), dat);
            else if (dk == "cloud_join")
              L->cloud_join.set(scalar(dv, path, "discovery.cloud_join"), dat);
            else
              throw Error(yaml_where(path, dkv.first),
                          "unknown key cluster.discovery." + dk +
                              " (expected method, peers, dns_name, beacon_group, cloud_join)");
          }
        } else {
          throw Error(yaml_where(path, ckv.first),
                      "unknown key cluster." + ck + " (expected name, datacenter, control_count, discovery, wan_join)");
        }
      }
    } else if (key == "role") {
      L->role.set(parse_role(scalar(v, path, "role"), at), at);
    } else if (key == "secret") {
      if (!allow_secret)
        throw Error(at,
                    "a secret may not be written here (this file is readable by everyone); name a file with "
                    "secret_file, or put it in the seed's user-data");
      L->secret.set(scalar(v, path, "secret"), at);
    } else if (key == "secret_file") {
      L->secret_file.set(scalar(v, path, "secret_file"), at);
    } else if (key == "node" || key == "node_name") {
      L->node_name.set(scalar(v, path, key), at);
    } else if (key == "address") {
      L->address.set(scalar(v, path, key), at);
    } else if (key == "iface" || key == "interface") {
      L->interface.set(scalar(v, path, key), at);
    } else if (key == "state_dir") {
      L->state_dir.set(scalar(v, path, key), at);
    } else {
      throw Error(yaml_where(path, kv.first), "unknown key '" + key +
                                                  "' (expected cluster, role, secret_file, secret, node, address, "
                                                  "iface, state_dir)");
    }
  }
}

void parse_mi_yaml(const std::string& text, const std::string& where, ConfigLayer* layer) {
  apply_mi_yaml(load_yaml(text, where), where, false, layer);
}

ConfigLayer read_cluster_yaml(const std::string& path) {
  ConfigLayer L;
  L.source = "defaults";
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return L;  // an image without defaults: built-ins apply
  L.present = true;
  parse_mi_yaml(read_file(path), path, &L);
  return L;
}

}  // namespace mi::firstboot

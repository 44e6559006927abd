// Source 3: an OpenStack config drive (a file system labelled "config-2"):
// openstack/latest/meta_data.json as Nova writes it (uuid, name, hostname, meta: {...}) and
// openstack/latest/user_data (a #cloud-config with `mi:`, as for NoCloud). Our settings in
// the server's metadata use keys mi_role, mi_cluster, mi_dc, mi_control_count,
// mi_discovery, mi_peers, mi_dns_name, mi_beacon_group, mi_cloud_join, mi_wan_join, mi_node,
// mi_address, mi_iface (all strings: Nova metadata values are strings). The OpenStack
// metadata service (source_metadata.cc) serves the same two files over HTTP.
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/files.h"
#include "firstboot/source_yaml.h"

namespace mi::firstboot {

void parse_openstack_meta(const std::string& text, const std::string& where, ConfigLayer* L) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(where + ":byte " + std::to_string(e.byte), std::string("not valid JSON: ") + e.what());
  } catch (const nlohmann::json::exception& e) {  // e.g. out_of_range: a number too large (1e999)
    throw Error(where, std::string("not valid JSON: ") + e.what());
  }
  if (!j.is_object()) throw Error(where, "meta_data.json must be a JSON object");
  auto str = [&](const nlohmann::json& v, const std::string& field) -> std::string {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_number_integer()) return std::to_string(v.get<long long>());
    throw Error(where + ":" + field, "must be a string");
  };
  if (j.contains("uuid")) L->instance_id.set(str(j["uuid"], "uuid"), where + ":uuid");
  if (j.contains("hostname")) {
    L->node_name.set(short_hostname(str(j["hostname"], "hostname")), where + ":hostname");
  } else if (j.contains("name")) {
    L->node_name.set(str(j["name"], "name"), where + ":name");
  }
  if (!j.contains("meta")) return;
  if (!j["meta"].is_object()) throw Error(where + ":meta", "must be an object");
  for (auto& [k, v] : j["meta"].items()) {
    if (k.rfind("mi_", 0) != 0) continue;  // other people's metadata
    const std::string at = where + ":meta." + k;
    std::string s = str(v, "meta." + k);
    if (k == "mi_role")
      L->role.set(parse_role(s, at), at);
    else if (k == "mi_cluster")
      L->cluster.set(s, at);
    else if (k == "mi_dc")
      L->datacenter.set(s, at);
    else if (k == "mi_control_count") {
      if (s.empty() || s.size() > 6 || s.find_first_not_of("0123456789") != std::string::npos)
        throw Error(at, "must be a whole number, got '" + s + "'");
      L->control_count.set(std::stoi(s), at);
    } else if (k == "mi_discovery")
      L->discovery.set(s, at);
    else if (k == "mi_peers")
      L->static_peers.set(split_list(s), at);
    else if (k == "mi_dns_name")
      L->dns_name.set(s, at);
    else if (k == "mi_beacon_group")
      L->beacon_group.set(s, at);
    else if (k == "mi_cloud_join")
      L->cloud_join.set(s, at);
    else if (k == "mi_wan_join")
      L->wan_join.set(split_list(s), at);
    else if (k == "mi_node")
      L->node_name.set(s, at);
    else if (k == "mi_address")
      L->address.set(s, at);
    else if (k == "mi_iface")
      L->interface.set(s, at);
    else if (k == "mi_secret")
      throw Error(at,
                  "the secret may not be in server metadata (visible to every API user); put it in user_data "
                  "(mi: {secret: ...})");
    else
      throw Error(at,
                  "unknown mi_ key (expected mi_role, mi_cluster, mi_dc, mi_control_count, mi_discovery, "
                  "mi_peers, mi_dns_name, mi_beacon_group, mi_cloud_join, mi_wan_join, mi_node, mi_address, "
                  "mi_iface)");
  }
}

ConfigLayer read_configdrive(const std::string& dir) {
  ConfigLayer L;
  L.source = "configdrive";
  if (dir.empty()) return L;
  const std::string meta = dir + "/openstack/latest/meta_data.json";
  const std::string user = dir + "/openstack/latest/user_data";
  struct stat st {};
  if (stat(meta.c_str(), &st) != 0) return L;
  L.present = true;
  parse_openstack_meta(read_file(meta), meta, &L);
  if (stat(user.c_str(), &st) == 0) parse_user_data(read_file(user), user, &L);
  return L;
}

}  // namespace mi::firstboot

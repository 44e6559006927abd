// Source 5 (highest precedence): mi.* arguments on the kernel command line (/proc/cmdline),
// e.g. from a PXE menu or a boot loader entry. Split as the kernel splits: on spaces, with
// double quotes grouping (`mi.cloud_join="provider=aws tag_key=mi"`). The secret is refused
// here: /proc/cmdline is readable by every user on the node.
#include "common/error.h"
#include "common/files.h"
#include "firstboot/config_sources.h"
#include "firstboot/source_yaml.h"

namespace mi::firstboot {
namespace {

// The kernel's next_arg(): whitespace separates, a double quote toggles quoting and is
// dropped.
std::vector<std::string> split_kernel_args(const std::string& text, const std::string& where) {
  std::vector<std::string> out;
  std::string cur;
  bool in_quote = false, have = false;
  for (char c : text) {
    if (c == '"') {
      in_quote = !in_quote;
      have = true;
    } else if (!in_quote && (c == ' ' || c == '\t' || c == '\n' || c == '\r')) {
      if (have) out.push_back(cur);
      cur.clear();
      have = false;
    } else {
      cur += c;
      have = true;
    }
  }
  if (in_quote) throw Error(where, "unterminated double quote");
  if (have) out.push_back(cur);
  return out;
}

}  // namespace

ConfigLayer parse_cmdline(const std::string& text, const std::string& where) {
  ConfigLayer L;
  L.source = "cmdline";
  L.present = true;
  for (const std::string& arg : split_kernel_args(text, where)) {
    if (arg.rfind("mi.", 0) != 0) continue;
    // mi.live.* are the initramfs's (a disk-less boot, builder/initramfs/mi-live), not ours.
    if (arg.rfind("mi.live.", 0) == 0) continue;
    size_t eq = arg.find('=');
    std::string key = arg.substr(3, eq == std::string::npos ? std::string::npos : eq - 3);
    const std::string at = where + ": mi." + key;
    if (key == "secret")  // never echo the value: it is the secret
      throw Error(at,
                  "the cluster secret may not be given on the kernel command line (/proc/cmdline is readable "
                  "by every user); put it in the seed's user-data (mi: {secret: ...}) or a file named by "
                  "secret_file");
    if (eq == std::string::npos) throw Error(at, "needs a value (mi." + key + "=...)");
    std::string v = arg.substr(eq + 1);
    if (key == "role")
      L.role.set(parse_role(v, at), where);
    else if (key == "cluster")
      L.cluster.set(v, where);
    else if (key == "dc" || key == "datacenter")
      L.datacenter.set(v, where);
    else if (key == "control_count") {
      if (v.empty() || v.size() > 6 || v.find_first_not_of("0123456789") != std::string::npos)
        throw Error(at, "must be a whole number, got '" + v + "'");
      L.control_count.set(std::stoi(v), where);
    } else if (key == "discovery")
      L.discovery.set(v, where);
    else if (key == "peers")
      L.static_peers.set(split_list(v), where);
    else if (key == "wan_join")
      L.wan_join.set(split_list(v), where);
    else if (key == "node")
      L.node_name.set(v, where);
    else if (key == "address")
      L.address.set(v, where);
    else if (key == "iface")
      L.interface.set(v, where);
    else if (key == "dns_name")
      L.dns_name.set(v, where);
    else if (key == "beacon_group")
      L.beacon_group.set(v, where);
    else if (key == "cloud_join")
      L.cloud_join.set(v, where);
    else if (key == "secret_file")
      L.secret_file.set(v, where);
    else if (key == "state_dir")
      L.state_dir.set(v, where);
    else
      throw Error(at,
                  "unknown argument (expected mi.role, mi.cluster, mi.dc, mi.control_count, mi.discovery, "
                  "mi.peers, mi.wan_join, mi.node, mi.address, mi.iface, mi.dns_name, mi.beacon_group, "
                  "mi.cloud_join, mi.secret_file, mi.state_dir)");
  }
  return L;
}

ConfigLayer read_cmdline(const std::string& path) {
  if (path.empty()) return ConfigLayer{"cmdline"};
  return parse_cmdline(read_file(path), path);
}

}  // namespace mi::firstboot

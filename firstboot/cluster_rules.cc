// Discovery settings: one check, used by mi-firstboot and by mibuild validate (cluster_rules.h).
#include "firstboot/cluster_rules.h"

#include <cctype>
#include <cstring>

#include "common/error.h"
#include "firstboot/discovery.h"

namespace mi::firstboot {

std::optional<DiscoveryProblem> check_discovery(const std::string& method, size_t peer_count,
                                                const std::string& dns_name, const std::string& beacon_group,
                                                const std::string& cloud_join) {
  if (method == "static") {
    if (peer_count == 0)
      return DiscoveryProblem{"discovery", "discovery static needs peers (discovery.peers, mi.peers=)"};
  } else if (method == "dns") {
    if (dns_name.empty()) return DiscoveryProblem{"discovery", "discovery dns needs discovery.dns_name"};
  } else if (method == "beacon") {
    try {
      std::string host;
      int port = 0;
      split_host_port(beacon_group, "beacon_group", &host, &port);
    } catch (const Error& e) {
      return DiscoveryProblem{"beacon_group", e.why};
    }
  } else if (method == "cloud") {
    if (cloud_join.empty()) return DiscoveryProblem{"discovery", "discovery cloud needs discovery.cloud_join"};
  } else {
    return DiscoveryProblem{"discovery",
                            "unknown discovery method '" + method + "' (expected static, dns, beacon, cloud)"};
  }
  return std::nullopt;
}

namespace {
bool only(const std::string& s, const char* extra) {
  for (char c : s)
    if (!isalnum(static_cast<unsigned char>(c)) && !strchr(extra, c)) return false;
  return !s.empty();
}
}  // namespace

bool valid_node_name(const std::string& s) { return s.size() <= 64 && only(s, "-_."); }
bool valid_cluster_name(const std::string& s) { return only(s, "-_."); }
bool valid_datacenter(const std::string& s) { return only(s, "-_"); }

}  // namespace mi::firstboot

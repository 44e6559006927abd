// The rules of the cluster-wide settings that both `mibuild validate` (builder/spec.cc, on the
// spec's cluster block) and `mi-firstboot` (merge.cc, on the merged NodeConfig) apply, so that
// the two can never disagree about what a valid discovery setting is.
// Flow: spec.yaml cluster: → check_discovery() ← NodeConfig layers (merge_layers).
#pragma once
#include <cstddef>
#include <optional>
#include <string>

namespace mi::firstboot {

struct DiscoveryProblem {
  std::string field;  // the setting at fault: "discovery" or "beacon_group"
  std::string why;    // one line
};

// Whether the discovery method has what it needs: static → peers, dns → dns_name, beacon → a
// HOST:PORT group, cloud → cloud_join; any other method is unknown.
std::optional<DiscoveryProblem> check_discovery(const std::string& method, size_t peer_count,
                                                const std::string& dns_name, const std::string& beacon_group,
                                                const std::string& cloud_join);

// Names, as mi-firstboot accepts them and as `mibuild seed` writes them: node names are
// 1..64 of letters, digits, '-', '_', '.'; cluster names the same without the length bound;
// datacenters letters, digits, '-', '_' (Consul's rule).
bool valid_node_name(const std::string& s);
bool valid_cluster_name(const std::string& s);
bool valid_datacenter(const std::string& s);

}  // namespace mi::firstboot

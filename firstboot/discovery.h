// Peer discovery, the second first-boot step: NodeConfig → the control nodes to agree with.
// Methods (NodeConfig::discovery): "static" (a list), "dns" (A/AAAA, or SRV when the name
// starts with '_'), "beacon" (authenticated UDP multicast on the LAN, beacon.h), "cloud"
// (a Consul cloud auto-join string, passed through for retry_join instead of addresses).
// Also here: choosing the address to bind to, by asking the kernel for the route to peers.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "firstboot/beacon.h"
#include "firstboot/node_config.h"
#include "common/net.h"

namespace mi::firstboot {

using Clock = std::chrono::steady_clock;

// ---- beacon (beacon_socket.cc) ----
struct BeaconOptions {
  // Where beacons are sent and received: "group:port" (default NodeConfig::beacon_group).
  // A multicast group is joined; a unicast or broadcast address (tests) is just sent to,
  // and the socket listens on the port (SO_REUSEADDR, SO_BROADCAST).
  std::string group;  // "" = NodeConfig::beacon_group
  // Unicast mode (static and dns discovery): beacons go to each of these addresses at the
  // group's port, and every beacon from a sender not among them is answered to its source.
  std::vector<std::string> unicast_targets;
  bool unicast = false;  // true: unicast mode even with no targets (a one-node list)
  // The local interface address to send multicast from and to join the group on
  // (IP_MULTICAST_IF / IP_ADD_MEMBERSHIP). "" = NodeConfig::address, else the kernel's choice.
  std::string interface_address;
  // Own beacons: the first after initial_interval_ms, then each period doubled up to
  // interval_ms. A newly seen node is also answered at once with our beacon.
  int initial_interval_ms = 100;
  int interval_ms = 1000;
  int64_t window_ms = 30000;  // accepted clock skew
  // discover_beacon() only: keep beaconing and listening this long after the expected
  // controls are seen. The run itself needs none: its agent answers for the whole run.
  int linger_ms = 0;
  int ttl = 1;        // multicast TTL: 1 = this LAN; 0 = this host only (tests)
  uint8_t flags = 0;  // sent in every beacon (kBeaconFlagCommitted)
  // Where the replay state (highest sequence per sender address) is kept across restarts
  // of the process, rewritten by atomic rename before a control (or all-in-one) node's beacon
  // is acted on, once per batch taken in; a compute node's beacon alone does not rewrite it
  // (nobody counts its vote). "" = memory only.
  std::string replay_file;
};

// A node the agent has heard, by address (two nodes with one name are two entries).
struct SeenNode {
  std::string name, address;
  Role role = Role::control;
  Bytes32 digest{};
  uint8_t flags = 0;
  bool same_config = false;  // its digest is ours
};

struct BeaconView {
  std::string own_address;                  // the address this node names in its beacons
  std::vector<SeenNode> nodes;              // every authenticated sender but this node, sorted by address
  BeaconCounters counters;                  // drops by reason, summed over the agent's life
  std::vector<std::string> name_conflicts;  // "ctl-1 at 10.0.0.11 and 10.0.0.12" (this node included)
  uint64_t sent = 0;                        // own beacons sent
  uint64_t replay_saves = 0;                // writes of opts.replay_file (at most one per batch taken in)
  std::string send_error;                   // last send failure ("" = none)
  uint64_t version = 0;                     // changes whenever a beacon is accepted
};

// The beacon exchange of one process: a thread with a receiving socket (the group, or the
// port for unicast mode) and a sending socket bound to this node's own address (so that the
// datagrams' source is the address the beacons name), alive from construction to
// destruction. It beacons with backoff, answers newcomers at once, runs what it receives
// through one BeaconFilter for its whole life (replay state loaded from and saved to
// opts.replay_file) and keeps the latest beacon of every sender. The first-boot run keeps
// one from discovery to its end (and with --serve-beacon after), so no linger is needed.
class BeaconAgent {
 public:
  // Throws mi::Error{"beacon", ...} when the sockets cannot be set up or cfg has no secret.
  BeaconAgent(const NodeConfig& cfg, const BeaconOptions& opts = {});
  ~BeaconAgent();
  BeaconAgent(const BeaconAgent&) = delete;
  BeaconAgent& operator=(const BeaconAgent&) = delete;
  BeaconView view() const;
  // Waits until view().version differs from `version` or `until`; true if it changed.
  bool wait_change(uint64_t version, Clock::time_point until) const;
  void set_flags(uint8_t flags);
  const std::string& own_address() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

struct BeaconResult {
  std::vector<Peer> peers;  // every accepted node with our config digest, this one included, sorted by name
  int controls_seen = 0;    // control + all-in-one nodes among peers
  bool complete = false;    // controls_seen >= expected
  // "3 of 3 control nodes seen: 10.0.0.11, 10.0.0.12, 10.0.0.13" or
  // "2 of 3 control nodes seen: 10.0.0.11, 10.0.0.12 (deadline passed)"
  std::string reason;
  BeaconCounters counters;
  std::vector<std::string> mismatched;  // "NAME (ADDRESS)" of nodes with another config digest
  std::vector<std::string> committed;   // names of peers whose beacons carry kBeaconFlagCommitted
  std::vector<std::string> name_conflicts;
  uint64_t sent = 0;       // own beacons sent
  std::string send_error;  // last send failure ("" = none), e.g. no multicast route
};

// A BeaconAgent until `expected_controls` control nodes with our config digest (counting
// itself when it is one) are seen, plus opts.linger_ms, or `deadline`; returns what it has
// either way.
BeaconResult discover_beacon(const NodeConfig& cfg, int expected_controls, Clock::time_point deadline,
                             const BeaconOptions& opts = {});

// A BeaconAgent until `stop` is set (checked at least every 100 ms) or `until`: keeps this
// node visible so that nodes booting later find it; the result holds who was seen.
BeaconResult serve_beacon(const NodeConfig& cfg, const std::atomic<bool>& stop,
                          Clock::time_point until = Clock::time_point::max(), const BeaconOptions& opts = {});

// ---- dns (dns_discovery.cc) ----
struct SrvRecord {
  uint16_t priority = 0, weight = 0, port = 0;
  std::string target;
};
// A/AAAA addresses of `name` (getaddrinfo), deduplicated, IPv4 first. Throws on failure.
std::vector<std::string> resolve_addresses(const std::string& name);
// SRV records of `name` (res_query). Throws on failure or no records.
std::vector<SrvRecord> resolve_srv(const std::string& name);
// Parses a raw DNS answer message (as res_query returns it) into its SRV records.
std::vector<SrvRecord> parse_srv_answer(const unsigned char* msg, int len);

// ---- dispatch (discovery.cc) ----
struct DiscoveryResult {
  std::string method;                   // the method used
  std::vector<Peer> peers;              // control nodes found (names empty when the method gives none)
  std::vector<Peer> others;             // beacon only: compute nodes seen
  std::string retry_join;               // cloud: the auto-join string for Consul's retry_join
  bool complete = false;                // enough control nodes (or cloud: always true)
  std::string reason;                   // human summary for `mi-firstboot status`
  BeaconCounters counters;              // beacon only
  std::vector<std::string> mismatched;  // beacon only
};

// Runs the configured method. static: entries "ADDRESS", "NAME=ADDRESS" or a host name
// (resolved); dns: retried every second until enough control nodes resolve or `deadline`;
// beacon: until enough controls or the deadline; cloud: returns the string at once. Throws mi::Error{"discovery", ...}
// on an unknown method or a method missing its setting.
DiscoveryResult discover_peers(const NodeConfig& cfg, Clock::time_point deadline, const BeaconOptions& beacon = {});

// ---- address choice (discovery.cc) ----
struct AddressChoice {
  std::string address;
  std::string why;  // "named by cmdline", "address of interface eth1", "route to 10.0.0.12", ...
};
// cfg.address if set; else the first address of cfg.interface; else the source address the
// kernel picks on the route to the first peer that is not this node (connect() on a UDP
// socket sends nothing); else the first non-loopback IPv4 address. Throws if none.
AddressChoice choose_bind_address(const NodeConfig& cfg, const std::vector<Peer>& peers);

// The source address the kernel would use towards `peer` (IP literal), "" if none: connect()
// on a UDP socket picks the route and sends nothing.
std::string route_source_address(const std::string& peer);

// split_host_port, is_ip: common/net.h

}  // namespace mi::firstboot

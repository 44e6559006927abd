// NodeConfig: who this node is and what cluster it belongs to, merged from every config
// source (baked-in defaults < NoCloud seed < config drive < cloud metadata < kernel command
// line). The first step of mi-firstboot; every later step reads only this.
#pragma once
#include <string>
#include <vector>

namespace mi::firstboot {

enum class Role { control, compute, all_in_one };

// The cluster-wide ports (part of the config digest every node compares): one place, so the
// config writers and the beacon agree.
struct Ports {
  int zk_client = 2181, zk_peer = 2888, zk_election = 3888;
  int consul_server = 8300, consul_serf_lan = 8301, consul_serf_wan = 8302, consul_http = 8500, consul_dns = 8600;
  int mesos_master = 5050, mesos_agent = 5051, marathon = 8080;
};

struct Peer {
  std::string name;     // node name (hostname), unique in the cluster
  std::string address;  // IPv4/IPv6 literal
  Role role = Role::control;
};

struct NodeConfig {
  Role role = Role::control;
  std::string cluster = "mi";
  std::string datacenter = "dc1";
  int control_count = 3;                   // expected control nodes: odd
  std::string discovery = "static";        // static | dns | beacon | cloud
  std::vector<std::string> static_peers;   // static: addresses of control nodes
  std::string dns_name;                    // dns: A/AAAA or SRV name
  std::string beacon_group = "239.255.77.77:7946";
  std::string cloud_join;                  // a Consul cloud auto-join string, passed through
  std::vector<std::string> wan_join;       // control nodes of other datacenters
  std::string secret;                      // the cluster secret (never from the command line)
  std::string secret_file;                 // where it came from, for messages
  std::string secret_note;                 // no secret: why, when a named secret_file is missing or empty
  std::string node_name;                   // this node's id (default <role>-<machine-id prefix>)
  std::string address;                     // bind address; empty = chosen by route to peers
  std::string interface;                   // or the interface to take it from
  std::string state_dir = "/var/lib/mi";   // state.json, generated configuration
  std::string instance_id;                 // cloud/seed instance id, when a source gives one
  Ports ports;                             // fixed today; in the config digest
  // Where each field came from ("cluster.yaml", "nocloud:meta-data", "cmdline", ...),
  // reported by `mi-firstboot status`.
  std::vector<std::pair<std::string, std::string>> provenance;
};

const char* role_name(Role r);
Role parse_role(const std::string& s, const std::string& where);  // throws mi::Error
// control and all-in-one nodes run the control services (ZooKeeper, Consul server, ...).
inline bool is_control(Role r) { return r != Role::compute; }

}  // namespace mi::firstboot

// state.json: what first boot has committed on this node's /var, step by step. Written
// atomically after every step (and while a step waits, with what it waits on), read back
// on every later start: a killed node resumes at the first unfinished step, and a node
// never changes its identity or its ZooKeeper ensemble once committed. Also here: where
// everything lives under the state dir (Layout) and the ports (Ports).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "firstboot/agreement.h"
#include "firstboot/node_config.h"

namespace mi::firstboot {

// NodeConfig::ports with every port shifted by `offset`: tests that run several nodes on
// one host's loopback (not in namespaces) keep them apart this way.
Ports ports_with_offset(int offset);

// Paths under the state dir (/var/lib/mi by default).
struct Layout {
  std::string state_dir;
  std::string firstboot_dir() const { return state_dir + "/firstboot"; }
  std::string state_file() const { return firstboot_dir() + "/state.json"; }
  std::string run_dir() const { return state_dir + "/run"; }  // pid files, service logs (process runner)
  std::string etc_dir() const { return state_dir + "/etc"; }
  std::string consul_config_dir() const { return etc_dir() + "/consul.d"; }
  std::string consul_data_dir() const { return state_dir + "/consul"; }
  std::string zk_config_dir() const { return etc_dir() + "/zookeeper"; }
  std::string zk_data_dir() const { return state_dir + "/zookeeper"; }
  std::string mesos_dir() const { return etc_dir() + "/mesos"; }
  std::string marathon_dir() const { return etc_dir() + "/marathon"; }
  std::string dnsmasq_dir() const { return etc_dir() + "/dnsmasq.d"; }
  std::string registrator_dir() const { return etc_dir() + "/registrator"; }
};

// The steps, in order.
inline const std::vector<std::string>& step_names() {
  static const std::vector<std::string> names = {"identity", "discover", "consul", "zookeeper", "writers", "register"};
  return names;
}

struct StepRecord {
  std::string name;
  std::string status = "pending";  // pending | running | waiting | done | failed | timed-out
  std::string detail;              // result, or what it waits on / why it failed
  std::string updated;             // UTC, ISO 8601
};

struct FirstbootState {
  int version = 1;
  std::vector<StepRecord> steps;  // one per step_names(), in that order
  // identity
  std::string node_id;         // 32 hex digits, like /etc/machine-id; made on first boot
  std::string consul_node_id;  // UUID, Consul's node-id
  std::string node_name, role, cluster, datacenter;
  // discover
  std::string address, address_reason;  // the bind address and why it was chosen
  std::string discovery_method, discovery_reason, cloud_join;
  std::vector<Peer> peers;                             // control nodes found (not this node)
  std::map<std::string, uint64_t> discovery_counters;  // beacon: accepted, bad_mac, other_cluster, ...
  std::vector<std::string> mismatched;                 // "NAME (ADDRESS)" of nodes with another cluster config
  std::vector<std::string> name_conflicts;             // "NAME at ADDR1 and ADDR2": one name, several nodes
  // zookeeper
  Ensemble ensemble;  // committed once, never changed
  int myid = 0;       // 0: not in the ensemble
  // how the node runs
  std::string runner;
  Ports ports;  // as used by this node (status queries these)
};

FirstbootState fresh_state();
// Missing file: fresh_state(). A file that does not parse is an error (never silently reset).
FirstbootState load_state(const std::string& path);
// Atomic; does nothing when the content is unchanged (a rerun after success changes nothing).
void save_state(const std::string& path, const FirstbootState& st);

std::string state_to_json(const FirstbootState& st);
FirstbootState state_from_json(const std::string& json, const std::string& where);

StepRecord& step_record(FirstbootState& st, const std::string& name);
const StepRecord& step_record(const FirstbootState& st, const std::string& name);
// Index into step_names() of the first step that is not done; step_names().size() when all are.
size_t resume_index(const FirstbootState& st);
bool step_done(const FirstbootState& st, const std::string& name);

std::string utc_now();

}  // namespace mi::firstboot

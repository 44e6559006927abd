// The first-boot run: six steps in order (identity, discover, consul, zookeeper, writers,
// register), each committing its result to <state_dir>/firstboot/state.json before the next
// starts. A killed node resumes at the first unfinished step; steps already done are
// replayed cheaply (configuration rewritten only if it differs, services started only if
// not running, no waiting), so a rerun after success changes nothing. Also: `plan` (what a
// run would write and start) and `status` (steps + the cluster as seen from this node).
#pragma once
#include <chrono>
#include <functional>
#include <ostream>
#include <string>

#include "firstboot/config_sources.h"
#include "firstboot/consul_client.h"
#include "firstboot/service_runner.h"
#include "firstboot/state.h"
#include "firstboot/writers.h"

namespace mi::firstboot {

struct FirstbootOptions {
  SourcePaths sources;    // where NodeConfig comes from
  std::string state_dir;  // "" = NodeConfig::state_dir (/var/lib/mi)
  std::string runner = "systemd";
  int timeout_s = 1800;  // the whole run; a step still waiting then → Outcome::timed_out
  int port_offset = 0;   // added to every port (single-host tests only)
  int poll_ms = 1000;  // how often waits re-check their condition (first after 50 ms, doubling, at most 200 ms during a
                       // wait's first 10 s, then up to this)
  int discovery_slice_s = 5;  // discovery reports progress at least this often
  // The configuration check goes on with a majority that is not yet every expected node only
  // after listening this long (nodes already up answer at once), so that a tie with nodes
  // already present is seen rather than raced; a complete set goes on at once.
  int config_gather_ms = 250;
  // static, dns and beacon discovery: keep answering beacons this long after the run is
  // done, so that nodes booting later (compute nodes, replacements, a misconfigured node that
  // must learn it is the odd one out) find this one; -1 = until SIGTERM/SIGINT. (During the
  // run itself, from the configuration check on, a node always answers.)
  int serve_beacon_s = 0;
  // The identity step (on every run, also a replay) sets the kernel host name to the node
  // name when they differ (sethostname(2)). Off by default: tests share the host's UTS
  // namespace.
  bool set_hostname = false;
};

enum class Outcome { done, timed_out };

// The whole run. Throws mi::Error on failure (the failing step is recorded as failed).
Outcome run_firstboot(const FirstbootOptions& opts, std::ostream& log);

// Loads NodeConfig with the options applied (state dir, port offset).
NodeConfig load_config_for(const FirstbootOptions& opts);

// The ServiceSpecs of the services a node runs, for the runners and `plan`.
ServiceSpec consul_service(const Layout& layout);
ServiceSpec zookeeper_service(const Layout& layout, bool small_heap);
// Optional services, started only where installed (images): mesos-master, marathon,
// mesos-agent, registrator, dnsmasq.
std::vector<ServiceSpec> optional_services(Role role, const Layout& layout);

// The WriterInput a node's committed state gives.
WriterInput writer_input(const NodeConfig& cfg, const FirstbootState& st, const Layout& layout);

// `mi-firstboot plan`: every file a run would write (new/changed/unchanged, contents with
// key material redacted) and every service it would start; touches nothing.
void print_plan(const FirstbootOptions& opts, std::ostream& out);

// `mi-firstboot status`: each step's state, and the cluster as seen from this node (Consul
// leader, peers, members, ZooKeeper mode, ensemble, chosen address and why). Never throws
// for an unreachable service: it says so. Returns 0 when every step is done, 3 otherwise.
int print_status(const std::string& state_dir, bool json, std::ostream& out);

// `mi-firstboot status --console`: the node's state as key=value lines for the serial
// console (an operator and the image test read them), in this order: role, node, address,
// firstboot (done | waiting: WHAT | running: STEP | failed: STEP: WHY | not-started),
// consul-leader (address without port, or none), consul-members (alive LAN members, 0 when
// Consul does not answer), zookeeper-mode (control and all-in-one nodes only: leader,
// follower, standalone or none), machine-id (first 12 hex of `machine_id_file`, or none),
// consul-node-id (when committed), zookeeper-myid (when the node has one). Every value one
// line (control characters escaped). Works before state.json exists; never hangs (1.5 s
// timeouts). Returns 0 when every step is done, 3 otherwise.
int print_console_status(const std::string& state_dir, const std::string& machine_id_file, std::ostream& out);

// sd_notify(3) from libsystemd: one datagram to $NOTIFY_SOCKET, if set; errors ignored.
void sd_notify_message(const std::string& message);

}  // namespace mi::firstboot

// Step 2, discover: the list of control nodes (static, dns) or nothing (beacon, cloud),
// then, for every method but cloud, the configuration check before Consul (config_check.h):
// authenticated beacons exchanged with the control peers (multicast for beacon, unicast to the listed addresses
// for static and dns) until a strict majority agrees on this node's config digest (then
// exactly those nodes are the peers Consul joins), or another digest has the majority (then
// this node stops, naming itself and that digest). A tie or too few nodes is waited on and
// said in status. The beacon agent lives on for the whole run, answering nodes that start
// later; its replay state is kept under the state dir across restarts.
#include <algorithm>
#include <set>
#include <string>
#include <thread>

#include "common/error.h"
#include "firstboot/beacon.h"
#include "firstboot/config_check.h"
#include "firstboot/run_context.h"

namespace mi::firstboot::detail {

namespace {

BeaconOptions beacon_options(const Context& c, const std::vector<std::string>& listed) {
  BeaconOptions o;
  o.replay_file = c.layout.firstboot_dir() + "/beacon-replay.json";
  if (c.cfg.discovery != "beacon") {
    o.unicast = true;
    o.unicast_targets = listed;
  }
  return o;
}

}  // namespace

void start_beacon_agent(Context& c, const std::vector<std::string>& listed) {
  if (c.beacon || c.cfg.discovery == "cloud") return;
  c.beacon = std::make_unique<BeaconAgent>(c.cfg, beacon_options(c, listed));
  c.beacon->set_flags(c.st.ensemble.empty() ? 0 : kBeaconFlagCommitted);
}

bool step_discover(Context& c, bool replay) {
  auto& st = c.st;
  if (replay) {
    c.cfg.address = st.address;
    return true;
  }
  c.progress("running", "discovering control nodes by " + c.cfg.discovery);
  // 1. the list: static (at once), dns (until enough records resolve), cloud (a join string)
  DiscoveryResult d;
  std::vector<std::string> listed;
  if (c.cfg.discovery != "beacon") {
    for (;;) {
      auto slice_end = std::min(c.deadline, Clock::now() + std::chrono::seconds(c.opts.discovery_slice_s));
      d = discover_peers(c.cfg, slice_end);
      if (d.complete || Clock::now() >= c.deadline) break;
      std::string why = d.reason;
      if (auto p = why.find(" (deadline passed"); p != std::string::npos) why.erase(p);
      std::string msg = "waiting for control nodes (" + d.method + "): " + why;
      if (msg != step_record(st, "discover").detail) c.say(msg);
      c.progress("waiting", msg);
      // A static list does not change while we wait (dns waited inside): never spin.
      std::this_thread::sleep_until(slice_end);
    }
    if (!d.complete) {
      c.progress("timed-out", d.reason);
      return false;
    }
    // The check runs over IPv4 (beacon.h); a dual-stack name lists each host twice, so only
    // its IPv4 addresses are the list (an IPv6-only list fails in the agent, with the reason).
    for (const auto& p : d.peers)
      if (p.address.find(':') == std::string::npos &&
          std::find(listed.begin(), listed.end(), p.address) == listed.end())
        listed.push_back(p.address);
    if (listed.empty())
      for (const auto& p : d.peers) listed.push_back(p.address);
  }
  st.discovery_method = c.cfg.discovery;
  if (c.cfg.discovery == "cloud") {
    // Cloud auto-join gives Consul its peers; nobody is known before Consul starts, so no
    // configuration check can run here (docs/firstboot.md: the KV check is all there is).
    auto choice = choose_bind_address(c.cfg, {});
    st.peers.clear();
    st.address = choice.address;
    st.address_reason = choice.why;
    st.discovery_reason = d.reason;
    st.cloud_join = d.retry_join;
    c.cfg.address = st.address;
    c.progress("done", "address " + st.address + " (" + st.address_reason + "); " + d.reason);
    return true;
  }
  // 2. this node's address: named, of its interface, or on the route to the peers / group
  std::vector<Peer> towards = d.peers;
  if (c.cfg.discovery == "beacon") {
    std::string host;
    int port = 0;
    split_host_port(c.cfg.beacon_group, "beacon_group", &host, &port);
    towards = {Peer{"", host, Role::control}};
  }
  auto choice = choose_bind_address(c.cfg, towards);
  st.address = choice.address;
  st.address_reason = choice.why;
  c.cfg.address = st.address;
  // 3. the configuration check, over the beacon agent's view
  start_beacon_agent(c, listed);
  DigestVote self{c.cfg.node_name, st.address, c.cfg.role, config_digest(c.cfg)};
  ConfigDecision dec;
  const auto gather_until = Clock::now() + std::chrono::milliseconds(c.opts.config_gather_ms);
  std::string last_logged;
  for (;;) {
    BeaconView v = c.beacon->view();
    std::vector<DigestVote> votes;
    for (const auto& n : v.nodes) votes.push_back({n.name, n.address, n.role, n.digest});
    dec = decide_config(self, c.cfg.control_count, listed, votes);
    note_beacons(c);
    bool gathered = Clock::now() >= gather_until;
    // Alone, even a one-node cluster listens first: a node already up with another
    // configuration answers within the gather time and makes this one the odd one out.
    if (dec.move == ConfigMove::proceed && (gathered || (dec.complete && !dec.agreeing.empty()))) break;
    if (dec.move == ConfigMove::stop)
      throw Error("config", dec.why +
                                ": stopping before Consul (no Consul, no ZooKeeper on this node); make cluster name, "
                                "datacenter, control_count, ports and secret the same on every node");
    std::string msg =
        "waiting for the control nodes to agree on the cluster configuration (" + c.cfg.discovery + "): " + dec.why;
    if (!st.name_conflicts.empty()) msg += "; one name, several nodes: " + join(st.name_conflicts, ", ");
    if (!v.send_error.empty()) msg += "; cannot send beacons: " + v.send_error;
    // Which kinds of beacons are being dropped (not how many: the line changes only when a
    // new kind appears), so that a node that hears nobody says why.
    std::string dropped;
    for (const auto& [kind, n] : st.discovery_counters)
      if (kind != "accepted" && n > 0)
        dropped += (dropped.empty() ? "" : ", ") + kind +
                   (kind == "stale" ? " (clocks more than 30 s apart?)" : "");
    if (!dropped.empty()) msg += "; dropping beacons: " + dropped;
    if (Clock::now() >= c.deadline) {
      c.progress("timed-out", msg);
      return false;
    }
    if (msg != last_logged) {
      c.say(msg);
      last_logged = msg;
    }
    c.progress("waiting", msg);
    auto wake = std::min(c.deadline, Clock::now() + std::chrono::seconds(1));
    if (!gathered) wake = std::min(wake, gather_until);
    c.beacon->wait_change(v.version, wake);
  }
  st.peers = dec.agreeing;
  st.discovery_reason = (d.reason.empty() ? "" : d.reason + "; ") + dec.why;
  st.cloud_join.clear();
  std::vector<std::string> addrs;
  for (const auto& p : st.peers) addrs.push_back(p.address);
  c.progress("done",
             "address " + st.address + " (" + st.address_reason + "); " + dec.why +
                 (addrs.empty() ? "" : "; peers " + join(addrs, ", ")) +
                 (st.mismatched.empty() ? "" : "; not joined (other configuration): " + join(st.mismatched, ", ")) +
                 (st.name_conflicts.empty() ? "" : "; one name, several nodes: " + join(st.name_conflicts, ", ")));
  return true;
}

}  // namespace mi::firstboot::detail

// The six first-boot steps and their orchestration (see steps.h). Each step is a function
// of the Context; `replay` is true when state.json says the step was done by an earlier run:
// then it only re-ensures files and services and never waits or decides again.
#include "firstboot/steps.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "common/digest.h"
#include "common/error.h"
#include "common/files.h"
#include "firstboot/agreement.h"
#include "firstboot/beacon.h"
#include "firstboot/config_check.h"
#include "firstboot/discovery.h"
#include "firstboot/zk_client.h"

namespace mi::firstboot {

namespace {

struct Context {
  FirstbootOptions opts;
  NodeConfig cfg;
  Layout layout;
  FirstbootState st;
  ServiceRunner* runner = nullptr;
  ConsulAgent consul;
  Clock::time_point deadline;
  std::ostream* log = nullptr;
  std::string current;  // the step running now
  // The beacon exchange (every discovery method but cloud), from the configuration check to
  // the end of the run: it answers nodes that start later, committed flag once committed.
  std::unique_ptr<BeaconAgent> beacon;
  Clock::time_point counters_saved{};

  void say(const std::string& msg) { *log << "mi-firstboot: " << current << ": " << msg << std::endl; }
  void save() { save_state(layout.state_file(), st); }
  // Records what the current step does or waits on, for `status` and systemd.
  void progress(const std::string& status, const std::string& detail) {
    auto& r = step_record(st, current);
    if (r.status == status && r.detail == detail) return;
    r.status = status;
    r.detail = detail;
    r.updated = utc_now();
    save();
    sd_notify_message("STATUS=" + current + ": " + detail);
  }
};

// While the run goes on, the beacon agent keeps hearing nodes: one with another cluster
// configuration, or two with one name, that shows up after discovery is still reported (in
// state.json, so in status, and in the log). Only during steps that are not replays, so that
// a rerun of a done node changes nothing.
void note_beacons(Context& c) {
  if (!c.beacon) return;
  BeaconView v = c.beacon->view();
  auto& st = c.st;
  auto old_counters = st.discovery_counters;
  st.discovery_counters = {{"accepted", v.counters.accepted},
                           {"malformed", v.counters.malformed},
                           {"other_cluster", v.counters.other_cluster},
                           {"bad_mac", v.counters.bad_mac},
                           {"stale", v.counters.stale},
                           {"wrong_source", v.counters.wrong_source},
                           {"replayed", v.counters.replayed},
                           {"config_mismatch", v.counters.config_mismatch}};
  bool news = false;
  for (const auto& n : v.nodes) {
    std::string m = n.name + " (" + n.address + ")";
    if (!n.same_config && std::find(st.mismatched.begin(), st.mismatched.end(), m) == st.mismatched.end()) {
      st.mismatched.push_back(m);
      c.say("node with a different cluster configuration (not joined): " + m);
      news = true;
    }
  }
  for (const auto& n : v.name_conflicts)
    if (std::find(st.name_conflicts.begin(), st.name_conflicts.end(), n) == st.name_conflicts.end()) {
      st.name_conflicts.push_back(n);
      c.say("two nodes show one name (not merged, both reported): " + n);
      news = true;
    }
  // Counters alone are saved at most once a second (they change with every beacon).
  if (news || (st.discovery_counters != old_counters && Clock::now() >= c.counters_saved + std::chrono::seconds(1))) {
    c.counters_saved = Clock::now();
    c.save();
  }
}

// Waits until `check` returns true, re-checking every poll_ms; `check` sets the message
// shown meanwhile. An mi::Error from `check` (service not answering yet) is a reason to
// wait, not a failure. False when the deadline passes.
bool wait_until(Context& c, const std::function<bool(std::string*)>& check) {
  std::string msg, last_logged;
  int pause_ms = 50;
  for (;;) {
    bool ok = false;
    try {
      ok = check(&msg);
    } catch (const Error& e) {
      msg = std::string("waiting: ") + e.what();
    }
    note_beacons(c);
    if (ok) return true;
    c.progress("waiting", msg);
    if (msg != last_logged) {
      c.say(msg);
      last_logged = msg;
    }
    if (Clock::now() >= c.deadline) return false;
    // Soon at first (most conditions hold within a fraction of a second), then every poll_ms.
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min(pause_ms, c.opts.poll_ms)));
    pause_ms = std::min(pause_ms * 2, std::max(c.opts.poll_ms, 1));
  }
}

std::string random_hex(size_t bytes) {
  std::string buf(bytes, '\0');
  size_t got = 0;
  while (got < bytes) {
    ssize_t n = getrandom(buf.data() + got, bytes - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error("getrandom", strerror(errno));
    }
    got += size_t(n);
  }
  return to_hex(reinterpret_cast<const uint8_t*>(buf.data()), bytes);
}

std::string random_uuid() {
  std::string h = random_hex(16);
  h[12] = '4';                                                  // version 4
  h[16] = "89ab"[std::stoi(h.substr(16, 1), nullptr, 16) & 3];  // RFC 4122 variant
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) + "-" + h.substr(20);
}

// Directories the services write to: owned by their user when systemd runs them as it.
void ensure_dir(const std::string& dir, const std::string& owner, mode_t mode) {
  std::filesystem::create_directories(dir);
  chmod(dir.c_str(), mode);
  if (owner.empty()) return;
  if (const passwd* pw = getpwnam(owner.c_str())) {
    if (chown(dir.c_str(), pw->pw_uid, pw->pw_gid) != 0 && geteuid() == 0)
      throw Error(dir, "cannot give it to user " + owner);
  }
}

std::string join_list(const std::vector<std::string>& v, const char* sep = ", ") {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}

// ---------------------------------------------------------------- 1 identity
void step_identity(Context& c, bool replay) {
  auto& st = c.st;
  if (!st.cluster.empty() && st.cluster != c.cfg.cluster)
    throw Error("identity", "this node committed cluster '" + st.cluster + "' but the configuration now says '" +
                                c.cfg.cluster + "'; a node never changes cluster (reinstall /var to move it)");
  if (!st.role.empty() && st.role != role_name(c.cfg.role))
    throw Error("identity", "this node committed role '" + st.role + "' but the configuration now says '" +
                                role_name(c.cfg.role) + "'; a node never changes role (reinstall /var to change it)");
  if (!st.node_name.empty() && st.node_name != c.cfg.node_name) {
    c.say("keeping committed node name '" + st.node_name + "' (configuration says '" + c.cfg.node_name + "')");
    c.cfg.node_name = st.node_name;
  }
  if (!replay) {
    // Made here, on /var, never taken from the image: every node boots the same image.
    if (st.node_id.empty()) st.node_id = random_hex(16);
    if (st.consul_node_id.empty()) st.consul_node_id = random_uuid();
    st.node_name = c.cfg.node_name;
    st.role = role_name(c.cfg.role);
    st.cluster = c.cfg.cluster;
    st.datacenter = c.cfg.datacenter;
    st.runner = c.runner->kind();
    st.ports = c.cfg.ports;
  }
  // Consul takes its node-id from its data dir; written before Consul ever starts.
  bool systemd = std::string(c.runner->kind()) == "systemd";
  ensure_dir(c.layout.consul_data_dir(), systemd ? "consul" : "", 0750);
  ensure_file({c.layout.consul_data_dir() + "/node-id", st.consul_node_id, 0644, "", false});
  if (systemd)
    if (const passwd* pw = getpwnam("consul")) {
      auto p = c.layout.consul_data_dir() + "/node-id";
      if (chown(p.c_str(), pw->pw_uid, pw->pw_gid) != 0) throw Error(p, "cannot give it to user consul");
    }
  if (!replay)
    c.progress("done", "node " + st.node_name + " (" + st.role + "), node id " + st.node_id + ", consul node-id " +
                           st.consul_node_id);
}

// ---------------------------------------------------------------- 2 discover
// The list of control nodes (static, dns) or nothing (beacon, cloud), then, for every method
// but cloud, the configuration check before Consul (config_check.h): authenticated beacons
// exchanged with the control peers (multicast for beacon, unicast to the listed addresses
// for static and dns) until a strict majority agrees on this node's config digest (then
// exactly those nodes are the peers Consul joins), or another digest has the majority (then
// this node stops, naming itself and that digest). A tie or too few nodes is waited on and
// said in status. The beacon agent lives on for the whole run, answering nodes that start
// later; its replay state is kept under the state dir across restarts.
BeaconOptions beacon_options(const Context& c, const std::vector<std::string>& listed) {
  BeaconOptions o;
  o.replay_file = c.layout.firstboot_dir() + "/beacon-replay.json";
  if (c.cfg.discovery != "beacon") {
    o.unicast = true;
    o.unicast_targets = listed;
  }
  return o;
}

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
    }
    if (!d.complete) {
      c.progress("timed-out", d.reason);
      return false;
    }
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
    if (!st.name_conflicts.empty()) msg += "; one name, several nodes: " + join_list(st.name_conflicts);
    if (!v.send_error.empty()) msg += "; cannot send beacons: " + v.send_error;
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
                 (addrs.empty() ? "" : "; peers " + join_list(addrs)) +
                 (st.mismatched.empty() ? "" : "; not joined (other configuration): " + join_list(st.mismatched)) +
                 (st.name_conflicts.empty() ? "" : "; one name, several nodes: " + join_list(st.name_conflicts)));
  return true;
}

// ---------------------------------------------------------------- 3 consul
bool step_consul(Context& c, bool replay) {
  WriterInput in = writer_input(c.cfg, c.st, c.layout);
  bool changed = false;
  for (const auto& f : consul_files(in)) changed |= ensure_file(f);
  if (changed) c.say("wrote " + c.layout.consul_config_dir() + "/consul.json");
  c.runner->start(consul_service(c.layout), changed);
  if (replay) return true;
  c.progress("running", "Consul agent started; waiting for a leader");
  bool server = is_control(c.cfg.role);
  std::string leader;
  bool ok = wait_until(c, [&](std::string* msg) {
    leader = consul_leader(c.consul);
    if (!leader.empty()) return true;
    auto members = consul_members(c.consul);
    std::vector<std::string> seen;
    for (const auto& m : members)
      if (m.server() && m.alive()) seen.push_back(m.address);
    std::sort(seen.begin(), seen.end());
    *msg = "waiting for Consul leader: " + std::to_string(seen.size()) + " of " + std::to_string(c.cfg.control_count) +
           " servers seen" + (seen.empty() ? "" : ": " + join_list(seen)) +
           (server ? "" : " (client, joining " + join_list(in.join) + in.cloud_join + ")");
    return false;
  });
  if (!ok) {
    step_record(c.st, "consul").status = "timed-out";
    c.save();
    return false;
  }
  std::vector<std::string> peers;
  try {
    peers = consul_peers(c.consul);
  } catch (const Error&) {
    // only for the message
  }
  c.progress("done", std::string(server ? "server" : "client") + "; leader " + leader +
                         (peers.empty() ? "" : "; raft peers " + join_list(peers)));
  return true;
}

// ---------------------------------------------------------------- 4 zookeeper
// The ensemble through Consul KV: decided once by the first control node to get here.
bool decide_or_read_ensemble(Context& c) {
  auto key = ensemble_key(c.cfg.cluster);
  bool control = is_control(c.cfg.role);
  Ensemble e;
  bool ok = wait_until(c, [&](std::string* msg) {
    auto kv = consul_kv_get(c.consul, key);
    std::vector<Peer> peers;
    if (!kv && control) {
      // The Raft peers, named from the gossip members.
      std::map<std::string, std::string> names;
      for (const auto& m : consul_members(c.consul)) names[m.address] = m.name;
      for (const auto& p : consul_peers(c.consul)) {
        auto a = strip_port(p);
        peers.push_back({names.count(a) ? names[a] : "", a, Role::control});
      }
    }
    AgreementStep step = agreement_step({}, kv, peers, c.cfg.control_count, control, c.cfg.node_name, key);
    switch (step.move) {
      case AgreementMove::commit:
        e = step.ensemble;
        return true;
      case AgreementMove::propose:
        if (consul_kv_cas(c.consul, key, ensemble_to_json(step.ensemble), 0))
          c.say("decided the ensemble and wrote it to " + key);
        else
          c.say("another node wrote the ensemble first; reading it");
        // Read back at once: everyone uses the stored value, whoever wrote it.
        if (auto stored = consul_kv_get(c.consul, key)) {
          e = agreement_step({}, stored, {}, c.cfg.control_count, control, c.cfg.node_name, key).ensemble;
          return true;
        }
        *msg = "reading the ensemble back from Consul KV " + key;
        return false;
      case AgreementMove::wait:
        *msg = step.why;
        return false;
    }
    return false;
  });
  if (!ok) return false;
  c.st.ensemble = e;
  c.st.myid = my_id(e, c.st.address);  // by address only: a name proves nothing
  std::vector<std::string> m;
  for (const auto& x : e.members) m.push_back(std::to_string(x.myid) + "=" + x.address);
  c.say("committed ensemble " + join_list(m) + (c.st.myid ? "; this node is myid " + std::to_string(c.st.myid) : ""));
  c.save();  // committed before anything is written or started from it
  if (c.beacon) c.beacon->set_flags(kBeaconFlagCommitted);
  return true;
}

// The cluster-wide settings must be the same on every node (DESIGN.md: "one configuration,
// checked before agreeing"). Beacon discovery compares digests before anything starts; for
// every method the first node to get here commits its digest to KV, and a node whose digest
// differs stops its Consul agent, joins no ensemble, and fails naming both sides.
bool check_config_digest(Context& c) {
  auto key = config_digest_key(c.cfg.cluster);
  auto d = config_digest(c.cfg);
  std::string mine = to_hex(d.data(), d.size());
  nlohmann::json me = {{"digest", mine},
                       {"node", c.cfg.node_name},
                       {"control_count", c.cfg.control_count},
                       {"datacenter", c.cfg.datacenter}};
  nlohmann::json theirs;
  bool ok = wait_until(c, [&](std::string* msg) {
    if (auto v = consul_kv_get(c.consul, key)) {
      theirs = nlohmann::json::parse(*v, nullptr, false);
      if (theirs.is_discarded() || !theirs.is_object()) throw Error("consul kv " + key, "not a JSON object");
      return true;
    }
    consul_kv_cas(c.consul, key, me.dump(), 0);
    *msg = "committing the cluster configuration digest to Consul KV " + key;
    return false;
  });
  if (!ok) return false;
  if (theirs.value("digest", "") == mine) return true;
  try {
    c.runner->stop("consul");
  } catch (const Error& e) {
    c.say(std::string("could not stop Consul: ") + e.what());
  }
  throw Error("config", "this node's cluster configuration (digest " + mine.substr(0, 16) + ", control_count " +
                            std::to_string(c.cfg.control_count) + ") differs from the one cluster " + c.cfg.cluster +
                            " committed (digest " + theirs.value("digest", "?").substr(0, 16) + ", control_count " +
                            std::to_string(theirs.value("control_count", 0)) + ", first written by " +
                            theirs.value("node", "?") +
                            "): Consul stopped, no ZooKeeper; make cluster name, datacenter, control_count, ports "
                            "and secret the same on every node");
}

bool step_zookeeper(Context& c, bool replay) {
  auto& st = c.st;
  if (st.ensemble.empty()) {
    if (replay) throw Error("state.json", "zookeeper step is done but no ensemble is committed");
    c.progress("running", "checking the cluster configuration digest in Consul KV");
    if (!check_config_digest(c)) {
      step_record(st, "zookeeper").status = "timed-out";
      c.save();
      return false;
    }
    c.progress("running", "deciding or reading the ZooKeeper ensemble through Consul");
    // After a restart Consul may just be coming up again: the wait absorbs that.
    if (!decide_or_read_ensemble(c)) {
      step_record(st, "zookeeper").status = "timed-out";
      c.save();
      return false;
    }
  }
  // Healthy membership: by address only; a member whose address is not its server.N, or a
  // non-member whose address is some member's, never goes on (and is never reported done).
  if (std::string why = ensemble_health(st.ensemble, st.address, st.myid, st.myid ? "leader" : "");
      !why.empty() && why.rfind("ZooKeeper", 0) != 0)
    throw Error("zookeeper", why +
                                 "; the committed ensemble and this node's address disagree (reinstall /var to "
                                 "rejoin as a new node)");
  if (st.myid == 0) {
    if (!replay) {
      // A node outside the ensemble must not run a ZooKeeper (e.g. one left by an earlier run).
      bool ok = wait_until(c, [&](std::string* msg) {
        std::string mode;
        try {
          mode = zk_status("127.0.0.1", c.cfg.ports.zk_client).mode;
        } catch (const Error&) {
          // nothing answers: as it should be
        }
        *msg = ensemble_health(st.ensemble, st.address, 0, mode);
        return msg->empty();
      });
      if (!ok) {
        step_record(st, "zookeeper").status = "timed-out";
        c.save();
        return false;
      }
      c.progress("done", is_control(c.cfg.role)
                             ? "not in the ensemble (" + std::to_string(st.ensemble.members.size()) +
                                   " members): runs no ZooKeeper"
                             : "compute node: ensemble read (" + zk_url(st.ensemble, c.cfg.ports.zk_client, "") + ")");
    }
    return true;
  }
  WriterInput in = writer_input(c.cfg, st, c.layout);
  bool systemd = std::string(c.runner->kind()) == "systemd";
  ensure_dir(c.layout.zk_data_dir(), systemd ? "zookeeper" : "", 0750);
  bool changed = false;
  for (const auto& f : zookeeper_files(in)) changed |= ensure_file(f);
  c.runner->start(zookeeper_service(c.layout, !systemd), changed);
  std::string mode;
  if (replay) {
    // A later boot: done only while this node is a healthy member. Already healthy (a
    // rerun): nothing changes; else the step says what it waits on until it is again.
    try {
      mode = zk_status("127.0.0.1", c.cfg.ports.zk_client).mode;
    } catch (const Error&) {
      mode.clear();
    }
    if (ensemble_health(st.ensemble, st.address, st.myid, mode).empty()) return true;
  }
  bool ok = wait_until(c, [&](std::string* msg) {
    mode = zk_status("127.0.0.1", c.cfg.ports.zk_client).mode;
    std::string why = ensemble_health(st.ensemble, st.address, st.myid, mode);
    if (why.empty()) return true;
    *msg = "waiting for ZooKeeper quorum: " + why + ", ensemble " + zk_url(st.ensemble, c.cfg.ports.zk_client, "");
    return false;
  });
  if (!ok) {
    step_record(st, "zookeeper").status = "timed-out";
    c.save();
    return false;
  }
  c.progress("done", "myid " + std::to_string(st.myid) + ", " + mode + "; ensemble " +
                         zk_url(st.ensemble, c.cfg.ports.zk_client, ""));
  return true;
}

// ---------------------------------------------------------------- 5 writers
void step_writers(Context& c, bool replay) {
  WriterInput in = writer_input(c.cfg, c.st, c.layout);
  std::vector<GeneratedFile> files;
  for (auto* w : {mesos_files, marathon_files, dnsmasq_files, registrator_files})
    for (auto& f : w(in)) files.push_back(std::move(f));
  std::vector<std::string> written, started, absent;
  for (const auto& f : files)
    if (ensure_file(f)) written.push_back(f.path);
  for (const auto& s : optional_services(c.cfg.role, c.layout)) {
    if (!c.runner->available(s)) {
      absent.push_back(s.name);
      continue;
    }
    // Restarted only when its own settings changed (its env file, or dnsmasq's conf dir).
    bool changed = std::any_of(written.begin(), written.end(), [&](const std::string& w) {
      return w == s.env_file || (s.name == "dnsmasq" && w.rfind(c.layout.dnsmasq_dir() + "/", 0) == 0);
    });
    c.runner->start(s, changed);
    started.push_back(s.name);
  }
  if (replay) return;
  c.progress("done", std::to_string(files.size()) + " files (" + std::to_string(written.size()) + " written)" +
                         (started.empty() ? "" : "; started " + join_list(started)) +
                         (absent.empty() ? "" : "; not installed here: " + join_list(absent)));
}

// ---------------------------------------------------------------- 6 register
bool step_register(Context& c, bool replay) {
  if (replay) return true;  // Consul keeps registrations and WAN members in its data dir
  auto& st = c.st;
  std::vector<std::string> done;
  // The local agent can be slow to answer under packet loss (it syncs with the servers):
  // a failed call is retried until the deadline, never a reason to give up the run.
  ConsulAgent agent = c.consul;
  agent.timeout_ms = 10000;
  if (st.myid > 0) {
    std::string hp = (st.address.find(':') != std::string::npos ? "[" + st.address + "]" : st.address) + ":" +
                     std::to_string(c.cfg.ports.zk_client);
    nlohmann::json def = {
        {"ID", "zookeeper"},
        {"Name", "zookeeper"},
        {"Address", st.address},
        {"Port", c.cfg.ports.zk_client},
        {"Tags", {"myid-" + std::to_string(st.myid)}},
        {"Check", {{"Name", "ZooKeeper client port"}, {"TCP", hp}, {"Interval", "5s"}, {"Timeout", "2s"}}}};
    bool ok = wait_until(c, [&](std::string* msg) {
      *msg = "registering zookeeper in the local Consul agent";
      consul_register_service(agent, def.dump());
      return true;
    });
    if (!ok) {
      step_record(st, "register").status = "timed-out";
      c.save();
      return false;
    }
    done.push_back("registered zookeeper");
  }
  if (is_control(c.cfg.role) && !c.cfg.wan_join.empty()) {
    std::set<std::string> wan_alive;
    try {
      for (const auto& m : consul_members(agent, true))
        if (m.alive()) wan_alive.insert(m.address);
    } catch (const Error&) {
    }
    for (const auto& a : c.cfg.wan_join) {
      if (wan_alive.count(a)) {
        done.push_back("WAN member " + a);
        continue;
      }
      std::string target = a;
      if (c.cfg.ports.consul_serf_wan != 8302)
        target =
            (a.find(':') != std::string::npos ? "[" + a + "]" : a) + ":" + std::to_string(c.cfg.ports.consul_serf_wan);
      try {
        ConsulAgent slow = c.consul;
        slow.timeout_ms = 15000;  // a join waits for the remote side
        consul_join(slow, target, true);
        done.push_back("WAN joined " + a);
      } catch (const Error& e) {
        // retry_join_wan in the config keeps trying; report, do not fail.
        done.push_back("WAN join " + a + " not yet (" + e.why + "; retry_join_wan keeps trying)");
      }
    }
  }
  c.progress("done", done.empty() ? "nothing to register" : join_list(done, "; "));
  return true;
}

std::atomic<bool> g_signalled{false};
void on_signal(int) { g_signalled = true; }

}  // namespace

ServiceSpec consul_service(const Layout& layout) {
  ServiceSpec s;
  s.name = "consul";
  s.description = "Consul agent (configured by mi-firstboot)";
  s.argv = {"consul", "agent", "-config-dir=" + layout.consul_config_dir()};
  s.user = "consul";
  s.log_file = layout.run_dir() + "/consul.log";
  return s;
}

namespace {
// Debian's zookeeper package: CLASSPATH in /etc/zookeeper/conf/environment (sourced by
// zkEnv.sh); zookeeper.jar's manifest names its dependencies. slf4j-simple, when present,
// makes ZooKeeper log to stderr (the unit's journal, or the process runner's log file).
std::string zookeeper_classpath() {
  std::string cp = "/etc/zookeeper/conf:/usr/share/java/zookeeper.jar";
  std::ifstream env("/etc/zookeeper/conf/environment");
  std::string line;
  while (std::getline(env, line)) {
    if (line.rfind("CLASSPATH=", 0) != 0) continue;
    cp = line.substr(10);
    cp.erase(std::remove(cp.begin(), cp.end(), '"'), cp.end());
  }
  if (std::filesystem::exists("/usr/share/java/slf4j-simple.jar")) cp += ":/usr/share/java/slf4j-simple.jar";
  return cp;
}
}  // namespace

ServiceSpec zookeeper_service(const Layout& layout, bool small_heap) {
  ServiceSpec s;
  s.name = "zookeeper";
  s.description = "ZooKeeper (configured by mi-firstboot)";
  s.argv = {"java",
            small_heap ? "-Xmx256m" : "-Xmx1g",
            "-XX:+UseSerialGC",
            "-Dzookeeper.log.dir=" + layout.run_dir(),
            "-cp",
            zookeeper_classpath(),
            "org.apache.zookeeper.server.quorum.QuorumPeerMain",
            layout.zk_config_dir() + "/zoo.cfg"};
  s.user = "zookeeper";
  s.working_dir = layout.zk_data_dir();
  s.log_file = layout.run_dir() + "/zookeeper.log";
  return s;
}

std::vector<ServiceSpec> optional_services(Role role, const Layout& layout) {
  std::vector<ServiceSpec> v;
  auto add = [&](std::string name, std::string env_file) {
    ServiceSpec s;
    s.name = std::move(name);
    s.env_file = std::move(env_file);
    v.push_back(std::move(s));
  };
  if (is_control(role)) {
    add("mesos-master", layout.mesos_dir() + "/mesos-master.env");
    add("marathon", layout.marathon_dir() + "/marathon.env");
  }
  if (is_compute_role(role)) {
    add("mesos-agent", layout.mesos_dir() + "/mesos-agent.env");
    add("registrator", layout.registrator_dir() + "/registrator.env");
  }
  // Debian's dnsmasq init script takes extra options from DNSMASQ_OPTS.
  ServiceSpec d;
  d.name = "dnsmasq";
  d.env = {{"DNSMASQ_OPTS", "--conf-dir=" + layout.dnsmasq_dir()}};
  v.push_back(d);
  return v;
}

WriterInput writer_input(const NodeConfig& cfg, const FirstbootState& st, const Layout& layout) {
  WriterInput in;
  in.cfg = cfg;
  in.address = st.address.empty() ? cfg.address : st.address;
  for (const auto& p : st.peers) in.join.push_back(p.address);
  in.cloud_join = st.cloud_join;
  in.ensemble = st.ensemble;
  in.myid = st.myid;
  in.layout = layout;
  return in;
}

NodeConfig load_config_for(const FirstbootOptions& opts) {
  NodeConfig cfg = load_node_config(opts.sources);
  if (!opts.state_dir.empty()) cfg.state_dir = opts.state_dir;
  if (opts.port_offset) {
    cfg.ports = ports_with_offset(opts.port_offset);
    // The beacon port moves with the others (several nodes on one host's loopback).
    std::string host;
    int port = 0;
    split_host_port(cfg.beacon_group, "beacon_group", &host, &port);
    port = (port + opts.port_offset - 1) % 65535 + 1;
    cfg.beacon_group = (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
  }
  return cfg;
}

void sd_notify_message(const std::string& message) {
  const char* path = getenv("NOTIFY_SOCKET");
  if (!path || !*path) return;
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  size_t len = strlen(path);
  if (len >= sizeof sa.sun_path) return;
  memcpy(sa.sun_path, path, len);
  if (sa.sun_path[0] == '@') sa.sun_path[0] = '\0';  // abstract socket
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  // Best effort by design: systemd not listening must not stop first boot.
  (void)sendto(fd, message.data(), message.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&sa),
               socklen_t(offsetof(sockaddr_un, sun_path) + len));
  close(fd);
}

Outcome run_firstboot(const FirstbootOptions& opts, std::ostream& log) {
  Context c;
  c.opts = opts;
  c.log = &log;
  c.deadline = Clock::now() + std::chrono::seconds(opts.timeout_s);
  c.current = "identity";
  try {
    c.cfg = load_config_for(opts);
  } catch (const Error& e) {
    // Say so in state.json too, when we know where it is: `status` is where people look.
    std::string dir = opts.state_dir.empty() ? NodeConfig{}.state_dir : opts.state_dir;
    Layout l{dir};
    if (std::filesystem::exists(l.firstboot_dir())) {
      FirstbootState st = load_state(l.state_file());
      auto& r = step_record(st, "identity");
      if (r.status != "done") {
        r.status = "failed";
        r.detail = std::string("configuration: ") + e.what();
        r.updated = utc_now();
        save_state(l.state_file(), st);
      }
    }
    throw;
  }
  c.layout.state_dir = c.cfg.state_dir;
  std::filesystem::create_directories(c.layout.firstboot_dir());
  c.st = load_state(c.layout.state_file());
  // A node keeps the ports it started with (status reads them from state.json).
  if (!c.st.node_id.empty() && step_done(c.st, "identity")) c.cfg.ports = c.st.ports;
  auto runner = make_runner(opts.runner, c.layout.run_dir());
  c.runner = runner.get();
  c.consul.base = "http://127.0.0.1:" + std::to_string(c.cfg.ports.consul_http);

  size_t resume = resume_index(c.st);
  if (resume > 0 && resume < step_names().size())
    log << "mi-firstboot: resuming at step " << step_names()[resume] << " (earlier steps done)" << std::endl;
  if (resume == step_names().size())
    log << "mi-firstboot: all steps done earlier; ensuring files and services" << std::endl;
  for (size_t i = 0; i < step_names().size(); i++) {
    const auto& name = step_names()[i];
    c.current = name;
    bool replay = step_done(c.st, name);
    if (!replay) {
      c.progress("running", "started");
      c.say("started");
    }
    bool ok = true;
    try {
      if (name == "identity")
        step_identity(c, replay);
      else if (name == "discover")
        ok = step_discover(c, replay);
      else if (name == "consul")
        ok = step_consul(c, replay);
      else if (name == "zookeeper")
        ok = step_zookeeper(c, replay);
      else if (name == "writers")
        step_writers(c, replay);
      else if (name == "register")
        ok = step_register(c, replay);
    } catch (const Error& e) {
      auto& r = step_record(c.st, name);
      r.status = "failed";
      r.detail = e.what();
      r.updated = utc_now();
      c.save();
      sd_notify_message("STATUS=" + name + " failed: " + e.what());
      throw;
    }
    if (!ok) {
      c.say("timed out: " + step_record(c.st, name).detail);
      sd_notify_message("STATUS=" + name + " timed out: " + step_record(c.st, name).detail);
      return Outcome::timed_out;
    }
    if (!replay) c.say(step_record(c.st, name).detail);
    if (name == "discover" && !c.beacon && c.cfg.discovery != "cloud") {
      // Replayed discovery (a restart): answer again, so that nodes starting later find this one.
      std::vector<std::string> listed;
      for (const auto& p : c.st.peers) listed.push_back(p.address);
      try {
        start_beacon_agent(c, listed);
      } catch (const Error& e) {
        c.say(std::string("not answering beacons: ") + e.what());
      }
    }
  }
  std::string summary = "first boot done: " + std::string(role_name(c.cfg.role)) + " node " + c.cfg.node_name + " at " +
                        c.st.address + (c.st.myid ? ", ZooKeeper myid " + std::to_string(c.st.myid) : "");
  log << "mi-firstboot: " << summary << std::endl;
  sd_notify_message("READY=1\nSTATUS=" + summary);
  if (c.beacon && opts.serve_beacon_s != 0) {
    c.beacon->set_flags(c.st.ensemble.empty() ? 0 : kBeaconFlagCommitted);
    log << "mi-firstboot: answering beacons "
        << (opts.serve_beacon_s < 0 ? "until stopped" : "for " + std::to_string(opts.serve_beacon_s) + " s")
        << std::endl;
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    auto until =
        opts.serve_beacon_s < 0 ? Clock::time_point::max() : Clock::now() + std::chrono::seconds(opts.serve_beacon_s);
    while (!g_signalled && Clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return Outcome::done;
}

}  // namespace mi::firstboot

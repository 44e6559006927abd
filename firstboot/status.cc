// `mi-firstboot status [--json]`: each step's state from state.json (what a waiting step
// waits on), and the cluster as this node sees it right now: Consul leader, Raft peers,
// gossip members (LAN, and WAN on servers), ZooKeeper's mode, the committed ensemble, and
// the chosen address with the reason. Short timeouts: status must never hang. Also
// `status --console`: the same in key=value lines for the serial console.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "firstboot/config_sources.h"
#include "firstboot/steps.h"
#include "firstboot/zk_client.h"

namespace mi::firstboot {

int print_status(const std::string& state_dir, bool json, std::ostream& out) {
  Layout layout{state_dir};
  if (!std::filesystem::exists(layout.state_file()))
    throw Error(layout.state_file(), "no first-boot state here (mi-firstboot run has not started on this node)");
  FirstbootState st = load_state(layout.state_file());
  bool all_done = resume_index(st) == step_names().size();

  using nlohmann::ordered_json;
  ordered_json j;
  j["node"] = {{"name", st.node_name},
               {"role", st.role},
               {"cluster", st.cluster},
               {"datacenter", st.datacenter},
               {"node_id", st.node_id},
               {"address", st.address},
               {"address_reason", st.address_reason}};
  j["discovery"] = {{"method", st.discovery_method},
                    {"reason", st.discovery_reason},
                    {"peers",
                     [&] {
                       ordered_json p = ordered_json::array();
                       for (const auto& x : st.peers) p.push_back({{"name", x.name}, {"address", x.address}});
                       return p;
                     }()},
                    {"counters", st.discovery_counters},
                    {"mismatched", st.mismatched}};
  ordered_json steps = ordered_json::array();
  for (const auto& s : st.steps)
    steps.push_back({{"name", s.name}, {"status", s.status}, {"detail", s.detail}, {"updated", s.updated}});
  j["steps"] = steps;
  j["complete"] = all_done;

  ConsulAgent agent{"http://127.0.0.1:" + std::to_string(st.ports.consul_http), 1500};
  ordered_json consul;
  try {
    consul["leader"] = consul_leader(agent);
    consul["peers"] = consul_peers(agent);
    ordered_json members = ordered_json::array();
    for (const auto& m : consul_members(agent))
      members.push_back({{"name", m.name}, {"address", m.address}, {"server", m.server()}, {"alive", m.alive()}});
    consul["members"] = members;
    if (st.role != "compute") {
      ordered_json wan = ordered_json::array();
      for (const auto& m : consul_members(agent, true))
        wan.push_back({{"name", m.name}, {"address", m.address}, {"datacenter", m.datacenter}, {"alive", m.alive()}});
      consul["wan_members"] = wan;
    }
  } catch (const Error& e) {
    consul["error"] = e.what();
  }
  j["consul"] = consul;

  ordered_json zk;
  ordered_json ens = ordered_json::array();
  for (const auto& m : st.ensemble.members) ens.push_back({{"myid", m.myid}, {"name", m.name}, {"address", m.address}});
  zk["ensemble"] = ens;
  zk["decided_by"] = st.ensemble.decided_by;
  zk["myid"] = st.myid;
  // The committed ensemble must be the one in Consul KV; a difference is worth a loud line.
  if (!st.ensemble.empty() && !consul.contains("error")) {
    try {
      auto kv = consul_kv_get(agent, ensemble_key(st.cluster));
      if (!kv) {
        zk["kv"] = "missing";
      } else {
        Ensemble e = ensemble_from_json(*kv, "consul kv");
        e.decided_by = st.ensemble.decided_by;
        zk["kv"] = ensemble_to_json(e) == ensemble_to_json(st.ensemble) ? "matches" : "DIFFERS";
      }
    } catch (const Error& e) {
      zk["kv"] = std::string("unreadable: ") + e.what();
    }
  }
  if (st.myid > 0) {
    auto info = zk_status("127.0.0.1", st.ports.zk_client, 1500);
    zk["mode"] = info.mode.empty() ? "unreachable or not serving" : info.mode;
    zk["zxid"] = info.zxid;
  }
  j["zookeeper"] = zk;

  if (json) {
    out << j.dump(2) << "\n";
    return all_done ? 0 : 3;
  }
  if (st.node_name.empty())
    out << "node identity not committed yet\n";
  else
    out << "node " << st.node_name << " (" << st.role << ") of cluster " << st.cluster << ", datacenter "
        << st.datacenter << "\n";
  out << "address " << (st.address.empty() ? "(not chosen yet)" : st.address)
      << (st.address_reason.empty() ? "" : " (" + st.address_reason + ")") << "\n";
  if (!st.discovery_method.empty()) {
    out << "discovery: " << st.discovery_method << ": " << st.discovery_reason << "\n";
    std::string dropped;
    for (const auto& [k, v] : st.discovery_counters)
      if (v && k != "accepted") dropped += " " + k + "=" + std::to_string(v);
    if (!dropped.empty()) out << "  beacons dropped:" << dropped << "\n";
    for (const auto& m : st.mismatched) out << "  node with another cluster configuration (not joined): " << m << "\n";
  }
  out << "steps:\n";
  for (size_t i = 0; i < st.steps.size(); i++) {
    const auto& s = st.steps[i];
    char line[64];
    snprintf(line, sizeof line, "  %zu %-10s %-9s ", i + 1, s.name.c_str(), s.status.c_str());
    out << line << s.detail << "\n";
  }
  out << "consul:\n";
  if (consul.contains("error")) {
    out << "  agent not answering: " << consul["error"].get<std::string>() << "\n";
  } else {
    std::string leader = consul["leader"];
    out << "  leader " << (leader.empty() ? "(none)" : leader) << "\n  raft peers";
    for (const auto& p : consul["peers"]) out << " " << p.get<std::string>();
    out << "\n  members";
    for (const auto& m : consul["members"])
      out << " " << m["name"].get<std::string>() << "=" << m["address"].get<std::string>()
          << (m["server"].get<bool>() ? "(server)" : "") << (m["alive"].get<bool>() ? "" : "(down)");
    out << "\n";
    if (consul.contains("wan_members")) {
      out << "  wan members";
      for (const auto& m : consul["wan_members"])
        out << " " << m["name"].get<std::string>() << "=" << m["address"].get<std::string>()
            << (m["alive"].get<bool>() ? "" : "(down)");
      out << "\n";
    }
  }
  out << "zookeeper:\n  ensemble";
  if (st.ensemble.empty()) out << " (not committed yet)";
  for (const auto& m : st.ensemble.members) out << " " << m.myid << "=" << m.name << "@" << m.address;
  if (!st.ensemble.decided_by.empty()) out << " (decided by " << st.ensemble.decided_by << ")";
  out << "\n";
  if (zk.contains("kv"))
    out << "  Consul KV " << ensemble_key(st.cluster) << ": " << zk["kv"].get<std::string>() << "\n";
  if (st.myid > 0)
    out << "  this node: myid " << st.myid << ", mode " << zk["mode"].get<std::string>() << "\n";
  else if (!st.ensemble.empty())
    out << "  this node runs no ZooKeeper\n";
  return all_done ? 0 : 3;
}

namespace {

// One line whatever the value holds: backslash and control characters escaped.
std::string one_line(const std::string& s) {
  std::string o;
  for (unsigned char ch : s) {
    if (ch == '\\') {
      o += "\\\\";
    } else if (ch == '\n') {
      o += "\\n";
    } else if (ch == '\r') {
      o += "\\r";
    } else if (ch == '\t') {
      o += "\\t";
    } else if (ch < 0x20 || ch == 0x7f) {
      char b[8];
      snprintf(b, sizeof b, "\\x%02x", ch);
      o += b;
    } else {
      o += char(ch);
    }
  }
  return o;
}

// done | waiting: STEP: WHAT | running: STEP | failed: STEP: WHY | not-started
std::string firstboot_summary(const FirstbootState& st) {
  size_t i = resume_index(st);
  if (i == step_names().size()) return "done";
  const std::string& name = step_names()[i];
  const StepRecord& r = step_record(st, name);
  std::string what = r.detail.empty() ? name : r.detail;
  if (r.status == "failed") return "failed: " + name + ": " + what;
  if (r.status == "waiting") return "waiting: " + name + ": " + what;
  if (r.status == "timed-out")
    return "waiting: " + name + ": " + what + " (the run timed out; the next one resumes here)";
  if (r.status == "pending" && i == 0) return "not-started";
  return "running: " + name;
}

}  // namespace

int print_console_status(const std::string& state_dir, const std::string& machine_id_file, std::ostream& out) {
  Layout layout{state_dir};
  bool started = std::filesystem::exists(layout.state_file());
  FirstbootState st = fresh_state();
  std::string firstboot = "not-started";
  if (started) {
    try {
      st = load_state(layout.state_file());
      firstboot = firstboot_summary(st);
    } catch (const Error& e) {
      firstboot = std::string("failed: state: ") + e.what();
    }
  }
  bool all_done = firstboot == "done";
  auto none_if_empty = [](const std::string& s) { return s.empty() ? std::string("none") : s; };

  // Consul and ZooKeeper are asked only once mi-firstboot has configured them (their ports
  // are in state.json); 1.5 s each at most, and the members are not asked when the leader
  // call failed.
  std::string leader = "none";
  int alive = 0, servers = 0;
  if (started) {
    ConsulAgent agent{"http://127.0.0.1:" + std::to_string(st.ports.consul_http), 1500};
    try {
      leader = none_if_empty(strip_port(consul_leader(agent)));
      for (const auto& m : consul_members(agent))
        if (m.alive()) {
          alive++;
          servers += m.server();
        }
    } catch (const Error&) {
    }
  }
  out << "role=" << one_line(none_if_empty(st.role)) << "\n";
  out << "node=" << one_line(none_if_empty(st.node_name)) << "\n";
  out << "address=" << one_line(none_if_empty(st.address)) << "\n";
  out << "firstboot=" << one_line(firstboot) << "\n";
  out << "consul-leader=" << one_line(leader) << "\n";
  out << "consul-members=" << alive << "\n";
  out << "consul-servers=" << servers << "\n";
  if (st.role == "control" || st.role == "all-in-one") {
    std::string mode = st.myid > 0 ? zk_status("127.0.0.1", st.ports.zk_client, 1500).mode : "";
    out << "zookeeper-mode=" << one_line(none_if_empty(mode)) << "\n";
    // The servers of the zoo.cfg this node runs, as written (so nodes can be compared).
    std::string servers_line;
    std::ifstream cfg(layout.zk_config_dir() + "/zoo.cfg");
    for (std::string l; std::getline(cfg, l);)
      if (l.rfind("server.", 0) == 0 && l.find('=') != std::string::npos)
        servers_line += (servers_line.empty() ? "" : ",") + l.substr(7, l.find('=') - 7) + "@" + l.substr(l.find('=') + 1);
    if (!servers_line.empty()) out << "zookeeper-servers=" << one_line(servers_line) << "\n";
  }
  // The committed ensemble (every role reads it): what zookeeper.service.consul should name.
  if (!st.ensemble.empty()) {
    std::string ens;
    for (const auto& m : st.ensemble.members) ens += (ens.empty() ? "" : ",") + m.address;
    out << "zookeeper-ensemble=" << one_line(ens) << "\n";
  }
  std::string id = read_machine_id(machine_id_file);
  out << "machine-id=" << (id.empty() ? "none" : id.substr(0, 12)) << "\n";
  if (step_done(st, "identity") && !st.consul_node_id.empty())
    out << "consul-node-id=" << one_line(st.consul_node_id) << "\n";
  if (st.myid > 0) out << "zookeeper-myid=" << st.myid << "\n";
  return all_done ? 0 : 3;
}

}  // namespace mi::firstboot

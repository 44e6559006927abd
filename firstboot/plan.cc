// `mi-firstboot plan`: what a run would do on this node, from the same configuration and
// committed state, without writing, starting or sending anything (no beacon, no Consul).
// Where the run would decide something at run time (peers found by beacon, the ensemble
// written to Consul KV), the plan says so and shows a provisional value.
#include <regex>

#include "common/error.h"
#include "firstboot/discovery.h"
#include "firstboot/fleet_secret.h"
#include "firstboot/steps.h"

namespace mi::firstboot {

namespace {

std::string redact(const GeneratedFile& f) {
  if (!f.secret) return f.content;
  static const std::regex key(R"re(("encrypt"\s*:\s*)"[^"]*")re");
  return std::regex_replace(f.content, key, "$1\"<derived from the cluster secret>\"");
}

void print_file(std::ostream& out, const GeneratedFile& f) {
  char mode[8];
  snprintf(mode, sizeof mode, "%04o", unsigned(f.mode));
  out << "  file " << f.path << " (" << mode << (f.group.empty() ? "" : ", group " + f.group) << ", " << file_state(f)
      << ")\n";
  std::string c = redact(f);
  size_t start = 0;
  while (start < c.size()) {
    size_t end = c.find('\n', start);
    if (end == std::string::npos) end = c.size();
    out << "    | " << c.substr(start, end - start) << "\n";
    start = end + 1;
  }
}

}  // namespace

void print_plan(const FirstbootOptions& opts, std::ostream& out) {
  NodeConfig cfg = load_config_for(opts);
  Layout layout{cfg.state_dir};
  FirstbootState st = load_state(layout.state_file());
  auto runner = make_runner(opts.runner, layout.run_dir());
  out << "mi-firstboot plan for " << role_name(cfg.role) << " node " << cfg.node_name << " of cluster " << cfg.cluster
      << ", datacenter " << cfg.datacenter << " (state dir " << cfg.state_dir << ", runner " << runner->kind() << ")\n";
  SecretResolution secret = resolve_fleet_secret(cfg, false);
  out << "configuration:\n" << describe_provenance(cfg) << "\n";
  if (!secret.ready) {
    if (secret.waiting.empty())
      out << secret.said << "\n";
    else
      out << "PROBLEM: " << secret.waiting << " (run waits at step identity until there is one)\n";
    cfg.secret = "<none>";  // only to render the files below; the key is redacted anyway
  }

  out << "1 identity: ";
  if (!st.node_id.empty())
    out << "committed: node id " << st.node_id << ", consul node-id " << st.consul_node_id << "\n";
  else
    out << "would generate a node id and a Consul node-id on first run (" << layout.consul_data_dir() << "/node-id)\n";

  out << "2 discover: ";
  if (step_done(st, "discover")) {
    out << "committed: address " << st.address << " (" << st.address_reason << "), " << st.peers.size() << " peers\n";
  } else {
    // Only what needs no traffic: static lists. DNS, beacon and cloud run at run time.
    st.peers.clear();
    if (cfg.discovery == "static")
      for (const auto& a : cfg.static_peers) st.peers.push_back({"", a, Role::control});
    if (cfg.discovery == "cloud") st.cloud_join = cfg.cloud_join;
    auto choice = choose_bind_address(cfg, st.peers);
    st.address = choice.address;
    st.address_reason = choice.why;
    std::erase_if(st.peers, [&](const Peer& p) { return p.address == st.address; });
    out << "method " << cfg.discovery << (cfg.discovery == "static" ? "" : " (peers found at run time; none shown)")
        << "; address " << st.address << " (" << st.address_reason << ")\n";
  }

  out << "3 consul: "
      << (is_control(cfg.role) ? "server, bootstrap_expect " + std::to_string(cfg.control_count)
                               : std::string("client"))
      << "\n";
  WriterInput in = writer_input(cfg, st, layout);
  for (const auto& f : consul_files(in)) print_file(out, f);
  out << "  file " << layout.consul_data_dir() << "/node-id\n";
  out << "  start " << runner->describe(consul_service(layout)) << "\n";
  out << "  wait for a Consul leader (/v1/status/leader)\n";

  out << "4 zookeeper: ";
  if (!st.ensemble.empty()) {
    out << "committed ensemble " << zk_url(st.ensemble, cfg.ports.zk_client, "") << ", myid " << st.myid << "\n";
  } else if (is_control(cfg.role)) {
    // Provisional: the real ensemble comes from Consul's Raft peers at run time.
    std::vector<Peer> cands = st.peers;
    cands.push_back({cfg.node_name, st.address, cfg.role});
    try {
      st.ensemble = decide_ensemble(cands, cfg.control_count);
      st.myid = my_id(st.ensemble, st.address);
      out << "decided at run time through Consul KV " << ensemble_key(cfg.cluster)
          << "; provisional from the static peers: " << zk_url(st.ensemble, cfg.ports.zk_client, "") << ", myid "
          << st.myid << "\n";
    } catch (const Error&) {
      out << "decided at run time through Consul KV " << ensemble_key(cfg.cluster) << " (peers not known yet)\n";
    }
  } else {
    out << "read at run time from Consul KV " << ensemble_key(cfg.cluster) << "\n";
  }
  in = writer_input(cfg, st, layout);
  if (st.myid > 0) {
    for (const auto& f : zookeeper_files(in)) print_file(out, f);
    out << "  start " << runner->describe(zookeeper_service(layout, std::string(runner->kind()) != "systemd")) << "\n";
    out << "  wait for ZooKeeper `srvr` Mode: leader or follower\n";
  } else if (!st.ensemble.empty()) {
    out << "  this node is not in the ensemble: no ZooKeeper\n";
  }

  out << "5 writers:\n";
  if (st.ensemble.empty()) out << "  (ZooKeeper URLs below are empty until the ensemble is known)\n";
  for (auto* w : {mesos_files, marathon_files, dnsmasq_files, registrator_files})
    for (const auto& f : w(in)) print_file(out, f);
  for (const auto& s : optional_services(cfg.role, layout))
    out << "  start " << s.name << (runner->available(s) ? "" : " (not installed here: skipped)") << "\n";

  out << "6 register: ";
  if (st.myid > 0 || is_control(cfg.role))
    out << "zookeeper service with a TCP check on port " << cfg.ports.zk_client;
  else
    out << "nothing (Registrator registers containers)";
  if (is_control(cfg.role) && !cfg.wan_join.empty()) {
    out << "; WAN join";
    for (const auto& a : cfg.wan_join) out << " " << a;
  }
  out << "\n";
}

}  // namespace mi::firstboot

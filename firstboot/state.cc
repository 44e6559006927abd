// state.json (de)serialization and the resume point; see state.h.
#include "firstboot/state.h"

#include <ctime>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/files.h"

namespace mi::firstboot {

using nlohmann::ordered_json;

Ports ports_with_offset(int off) {
  Ports p;
  for (int* x : {&p.consul_http, &p.consul_dns, &p.consul_server, &p.consul_serf_lan, &p.consul_serf_wan, &p.zk_client,
                 &p.zk_peer, &p.zk_election, &p.mesos_master, &p.mesos_agent, &p.marathon})
    *x += off;
  return p;
}

FirstbootState fresh_state() {
  FirstbootState st;
  for (const auto& n : step_names()) st.steps.push_back({n, "pending", "", ""});
  return st;
}

std::string utc_now() {
  time_t t = time(nullptr);
  tm g;
  gmtime_r(&t, &g);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &g);
  return buf;
}

std::string state_to_json(const FirstbootState& st) {
  ordered_json steps = ordered_json::array();
  for (const auto& s : st.steps)
    steps.push_back({{"name", s.name}, {"status", s.status}, {"detail", s.detail}, {"updated", s.updated}});
  ordered_json peers = ordered_json::array();
  for (const auto& p : st.peers)
    peers.push_back({{"name", p.name}, {"address", p.address}, {"role", role_name(p.role)}});
  ordered_json ens = ordered_json::array();
  for (const auto& m : st.ensemble.members) ens.push_back({{"myid", m.myid}, {"name", m.name}, {"address", m.address}});
  const Ports& p = st.ports;
  ordered_json j = {
      {"version", st.version},
      {"steps", steps},
      {"identity",
       {{"node_id", st.node_id},
        {"consul_node_id", st.consul_node_id},
        {"node_name", st.node_name},
        {"role", st.role},
        {"cluster", st.cluster},
        {"datacenter", st.datacenter}}},
      {"discover",
       {{"address", st.address},
        {"address_reason", st.address_reason},
        {"method", st.discovery_method},
        {"reason", st.discovery_reason},
        {"cloud_join", st.cloud_join},
        {"peers", peers},
        {"counters", st.discovery_counters},
        {"mismatched", st.mismatched}}},
      {"zookeeper", {{"ensemble", ens}, {"decided_by", st.ensemble.decided_by}, {"myid", st.myid}}},
      {"runner", st.runner},
      {"ports",
       {{"consul_http", p.consul_http},
        {"consul_dns", p.consul_dns},
        {"consul_server", p.consul_server},
        {"consul_serf_lan", p.consul_serf_lan},
        {"consul_serf_wan", p.consul_serf_wan},
        {"zk_client", p.zk_client},
        {"zk_peer", p.zk_peer},
        {"zk_election", p.zk_election},
        {"mesos_master", p.mesos_master},
        {"mesos_agent", p.mesos_agent},
        {"marathon", p.marathon}}},
  };
  if (!st.name_conflicts.empty()) j["discover"]["name_conflicts"] = st.name_conflicts;
  return j.dump(2) + "\n";
}

FirstbootState state_from_json(const std::string& text, const std::string& where) {
  FirstbootState st = fresh_state();
  try {
    auto j = ordered_json::parse(text);
    st.version = j.value("version", 1);
    if (st.version != 1) throw Error(where, "unknown state version " + std::to_string(st.version));
    for (const auto& s : j.value("steps", ordered_json::array())) {
      auto name = s.value("name", "");
      for (auto& rec : st.steps)
        if (rec.name == name) rec = {name, s.value("status", "pending"), s.value("detail", ""), s.value("updated", "")};
    }
    auto id = j.value("identity", ordered_json::object());
    st.node_id = id.value("node_id", "");
    st.consul_node_id = id.value("consul_node_id", "");
    st.node_name = id.value("node_name", "");
    st.role = id.value("role", "");
    st.cluster = id.value("cluster", "");
    st.datacenter = id.value("datacenter", "");
    auto d = j.value("discover", ordered_json::object());
    st.address = d.value("address", "");
    st.address_reason = d.value("address_reason", "");
    st.discovery_method = d.value("method", "");
    st.discovery_reason = d.value("reason", "");
    st.cloud_join = d.value("cloud_join", "");
    for (const auto& p : d.value("peers", ordered_json::array()))
      st.peers.push_back({p.value("name", ""), p.value("address", ""), parse_role(p.value("role", "control"), where)});
    if (d.contains("counters"))
      for (const auto& [k, v] : d["counters"].items()) st.discovery_counters[k] = v.get<uint64_t>();
    for (const auto& m : d.value("mismatched", ordered_json::array())) st.mismatched.push_back(m.get<std::string>());
    for (const auto& m : d.value("name_conflicts", ordered_json::array()))
      st.name_conflicts.push_back(m.get<std::string>());
    auto z = j.value("zookeeper", ordered_json::object());
    for (const auto& m : z.value("ensemble", ordered_json::array()))
      st.ensemble.members.push_back({m.value("myid", 0), m.value("name", ""), m.value("address", "")});
    st.ensemble.decided_by = z.value("decided_by", "");
    st.myid = z.value("myid", 0);
    st.runner = j.value("runner", "");
    auto p = j.value("ports", ordered_json::object());
    Ports& q = st.ports;
    for (auto [k, x] : std::initializer_list<std::pair<const char*, int*>>{{"consul_http", &q.consul_http},
                                                                           {"consul_dns", &q.consul_dns},
                                                                           {"consul_server", &q.consul_server},
                                                                           {"consul_serf_lan", &q.consul_serf_lan},
                                                                           {"consul_serf_wan", &q.consul_serf_wan},
                                                                           {"zk_client", &q.zk_client},
                                                                           {"zk_peer", &q.zk_peer},
                                                                           {"zk_election", &q.zk_election},
                                                                           {"mesos_master", &q.mesos_master},
                                                                           {"mesos_agent", &q.mesos_agent},
                                                                           {"marathon", &q.marathon}})
      *x = p.value(k, *x);
  } catch (const nlohmann::json::exception& e) {
    throw Error(where, std::string("state file does not parse (fix or remove it): ") + e.what());
  }
  return st;
}

FirstbootState load_state(const std::string& path) {
  if (!std::filesystem::exists(path)) return fresh_state();
  return state_from_json(read_file(path), path);
}

void save_state(const std::string& path, const FirstbootState& st) {
  std::string text = state_to_json(st);
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) {
    try {
      if (read_file(path) == text) return;
    } catch (const Error&) {
    }
  }
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  write_file_atomic(path, text, 0644);
}

StepRecord& step_record(FirstbootState& st, const std::string& name) {
  for (auto& s : st.steps)
    if (s.name == name) return s;
  throw Error("state", "no step named " + name);
}

const StepRecord& step_record(const FirstbootState& st, const std::string& name) {
  for (const auto& s : st.steps)
    if (s.name == name) return s;
  throw Error("state", "no step named " + name);
}

size_t resume_index(const FirstbootState& st) {
  const auto& names = step_names();
  for (size_t i = 0; i < names.size(); i++)
    if (step_record(st, names[i]).status != "done") return i;
  return names.size();
}

bool step_done(const FirstbootState& st, const std::string& name) { return step_record(st, name).status == "done"; }

}  // namespace mi::firstboot

// decide_ensemble(): the deterministic choice of the ZooKeeper ensemble from Consul's Raft
// peers; agreement_step()/agreement_round(): how a node gets to the one ensemble through
// Consul KV; its JSON form in Consul KV / state.json.
#include "firstboot/agreement.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "common/error.h"
#include "common/net.h"

namespace mi::firstboot {
namespace {

// Sort key: family rank (IPv4 < IPv6 < other), then the address bytes, then the text.
struct AddressKey {
  int rank = 2;
  std::array<uint8_t, 16> bytes{};
  std::string text;
  auto operator<=>(const AddressKey&) const = default;
};

AddressKey address_key(const std::string& a) {
  AddressKey k;
  k.text = a;
  in_addr v4;
  in6_addr v6;
  if (inet_pton(AF_INET, a.c_str(), &v4) == 1) {
    k.rank = 0;
    memcpy(k.bytes.data(), &v4, 4);
  } else if (inet_pton(AF_INET6, a.c_str(), &v6) == 1) {
    k.rank = 1;
    memcpy(k.bytes.data(), &v6, 16);
  }
  return k;
}

}  // namespace

Ensemble decide_ensemble(const std::vector<Peer>& peers, int n) {
  if (n < 1) throw Error("ensemble", "ensemble size must be at least 1, got " + std::to_string(n));
  // Deduplicate by address; of several names for one address the smallest non-empty one
  // wins, so that the result does not depend on input order.
  std::map<std::string, std::string> by_address;
  for (const auto& p : peers) {
    if (p.address.empty()) continue;
    auto [it, inserted] = by_address.emplace(p.address, p.name);
    if (!inserted && !p.name.empty() && (it->second.empty() || p.name < it->second)) it->second = p.name;
  }
  std::vector<std::pair<AddressKey, std::string>> sorted;
  for (const auto& [addr, name] : by_address) sorted.push_back({address_key(addr), name});
  std::sort(sorted.begin(), sorted.end());
  if (int(sorted.size()) < n)
    throw Error("ensemble", "need " + std::to_string(n) + " control nodes, have " + std::to_string(sorted.size()));
  Ensemble e;
  for (int i = 0; i < n; i++) e.members.push_back({i + 1, sorted[size_t(i)].second, sorted[size_t(i)].first.text});
  return e;
}

AgreementStep agreement_step(const Ensemble& committed, const std::optional<std::string>& kv_value,
                             const std::vector<Peer>& raft_peers, int n, bool control, const std::string& node_name,
                             const std::string& key) {
  AgreementStep s;
  if (!committed.empty()) {
    s.move = AgreementMove::commit;
    s.ensemble = committed;
    return s;
  }
  if (kv_value) {
    s.move = AgreementMove::commit;
    s.ensemble = ensemble_from_json(*kv_value, "consul kv " + key);
    return s;
  }
  if (!control) {
    s.why = "waiting for the ZooKeeper ensemble in Consul KV " + key + " (written by the first control node)";
    return s;
  }
  std::set<std::string> distinct;
  for (const auto& p : raft_peers)
    if (!p.address.empty()) distinct.insert(p.address);
  if (int(distinct.size()) < n) {
    s.why = "waiting for " + std::to_string(n) + " Consul Raft peers to decide the ensemble, have " +
            std::to_string(distinct.size());
    for (auto it = distinct.begin(); it != distinct.end(); ++it) s.why += (it == distinct.begin() ? ": " : ", ") + *it;
    return s;
  }
  s.move = AgreementMove::propose;
  s.ensemble = decide_ensemble(raft_peers, n);
  s.ensemble.decided_by = node_name;
  return s;
}

std::optional<Ensemble> agreement_round(const AgreementIo& io, int n, bool control, const std::string& node_name,
                                        const std::string& key, std::string* why) {
  auto kv = io.read();
  std::vector<Peer> peers;
  if (!kv && control) peers = io.raft_peers();
  AgreementStep step = agreement_step({}, kv, peers, n, control, node_name, key);
  switch (step.move) {
    case AgreementMove::commit:
      return step.ensemble;
    case AgreementMove::propose:
      io.say(io.create(ensemble_to_json(step.ensemble)) ? "decided the ensemble and wrote it to " + key
                                                        : "another node wrote the ensemble first; reading it");
      // Read back at once: everyone uses the stored value, whoever wrote it.
      if (auto stored = io.read()) return agreement_step({}, stored, {}, n, control, node_name, key).ensemble;
      *why = "reading the ensemble back from Consul KV " + key;
      return std::nullopt;
    case AgreementMove::wait:
      break;
  }
  *why = step.why;
  return std::nullopt;
}

std::string ensemble_key(const std::string& cluster) { return "mi/" + cluster + "/zookeeper/ensemble"; }

std::string config_digest_key(const std::string& cluster) { return "mi/" + cluster + "/config-digest"; }

std::string ensemble_to_json(const Ensemble& e) {
  nlohmann::json servers = nlohmann::json::array();
  for (const auto& m : e.members) servers.push_back({{"myid", m.myid}, {"name", m.name}, {"address", m.address}});
  nlohmann::json j = {{"version", 1}, {"decided_by", e.decided_by}, {"servers", servers}};
  return j.dump();
}

Ensemble ensemble_from_json(const std::string& json, const std::string& where) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(json);
  } catch (const nlohmann::json::exception& ex) {
    throw Error(where, std::string("ensemble is not JSON: ") + ex.what());
  }
  if (!j.is_object() || !j.contains("servers") || !j["servers"].is_array())
    throw Error(where, "ensemble has no \"servers\" array");
  Ensemble e;
  try {  // (a field of another type is a type_error: an error of ours, as is a malformed entry)
    e.decided_by = j.value("decided_by", "");
    for (const auto& s : j["servers"])
      e.members.push_back({s.at("myid").get<int>(), s.value("name", ""), s.at("address").get<std::string>()});
  } catch (const nlohmann::json::exception& ex) {
    throw Error(where, std::string("bad ensemble server entry: ") + ex.what());
  }
  // The addresses go into zoo.cfg lines and the names into logs and status: an address is an
  // IP literal, a name one line of printable text (the KV store is written over the network).
  for (const auto& m : e.members) {
    if (!is_ip(m.address)) throw Error(where, "ensemble address '" + m.address + "' is not an IP address");
    if (m.name != one_line(m.name)) throw Error(where, "ensemble name '" + m.name + "' has control characters");
  }
  std::sort(e.members.begin(), e.members.end(), [](auto& a, auto& b) { return a.myid < b.myid; });
  std::set<std::string> addrs;
  for (size_t i = 0; i < e.members.size(); i++) {
    if (e.members[i].myid != int(i) + 1)
      throw Error(where, "ensemble myids are not 1.." + std::to_string(e.members.size()));
    if (e.members[i].address.empty() || !addrs.insert(e.members[i].address).second)
      throw Error(where, "ensemble addresses must be present and distinct");
  }
  if (e.members.empty()) throw Error(where, "ensemble is empty");
  return e;
}

int my_id(const Ensemble& e, const std::string& address) {
  for (const auto& m : e.members)
    if (!address.empty() && m.address == address) return m.myid;
  return 0;
}

std::string ensemble_health(const Ensemble& e, const std::string& address, int myid, const std::string& zk_mode) {
  if (e.empty()) return "no ensemble committed";
  int by_address = my_id(e, address);
  if (myid == 0) {
    if (by_address != 0)
      return "address " + address + " is server." + std::to_string(by_address) + " of the ensemble but this node " +
             "committed no myid";
    if (!zk_mode.empty()) return "not in the ensemble but a ZooKeeper answers here (mode " + zk_mode + ")";
    return "";
  }
  if (by_address != myid)
    return "this node committed myid " + std::to_string(myid) + " but its address " + address +
           (by_address ? " is server." + std::to_string(by_address) : " is not in the ensemble") + " (" +
           [&] {
             std::string s;
             for (const auto& m : e.members) s += (s.empty() ? "" : ", ") + std::to_string(m.myid) + "=" + m.address;
             return s;
           }() +
           ")";
  bool single = e.members.size() == 1;
  if (zk_mode == "leader" || zk_mode == "follower" || (single && zk_mode == "standalone")) return "";
  return "ZooKeeper myid " + std::to_string(myid) + " is " +
         (zk_mode.empty() ? "not serving yet" : "in mode " + zk_mode) +
         (single ? " (want standalone)" : " (want leader or follower)");
}

std::string zk_url(const Ensemble& e, int client_port, const std::string& path) {
  std::string s = "zk://";
  for (size_t i = 0; i < e.members.size(); i++) {
    const auto& a = e.members[i].address;
    s += (i ? "," : "") + host_port(a, client_port);
  }
  return s + path;
}

}  // namespace mi::firstboot

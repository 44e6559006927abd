// decide_config(): the majority rule of config_check.h over the digests a node has seen.
#include "firstboot/config_check.h"

#include <algorithm>
#include <map>
#include <set>

namespace mi::firstboot {

std::string short_digest(const Bytes32& d) { return to_hex(d.data(), d.size()).substr(0, 12); }

ConfigDecision decide_config(const DigestVote& self, int control_count, const std::vector<std::string>& listed,
                             const std::vector<DigestVote>& seen) {
  // One vote per control address; this node's own vote is its own configuration.
  std::map<std::string, DigestVote> by_address;
  for (const auto& v : seen)
    if (is_control(v.role) && !v.address.empty() && v.address != self.address) by_address[v.address] = v;
  bool self_counts = is_control(self.role);
  if (self_counts) by_address[self.address] = self;

  std::set<std::string> list(listed.begin(), listed.end());
  if (self_counts) list.insert(self.address);
  int expected = std::max(control_count, int(listed.empty() ? 0 : list.size()));
  int need = expected / 2 + 1;

  std::map<Bytes32, std::vector<const DigestVote*>> groups;
  for (const auto& [_, v] : by_address) groups[v.digest].push_back(&v);
  int own = int(groups.count(self.digest) ? groups[self.digest].size() : 0);
  const Bytes32* best_other = nullptr;
  int other = 0;
  for (const auto& [d, g] : groups)
    if (d != self.digest && int(g.size()) > other) {
      other = int(g.size());
      best_other = &d;
    }
  auto names = [](const std::vector<const DigestVote*>& g) {
    std::string s;
    for (const auto* v : g) s += (s.empty() ? "" : ", ") + (v->name.empty() ? v->address : v->name + " " + v->address);
    return s;
  };

  ConfigDecision r;
  if (best_other && other >= need && other > own) {
    r.move = ConfigMove::stop;
    r.why = "this node " + self.name + " (" + self.address + ") has cluster configuration digest " +
            short_digest(self.digest) + ", but a majority of the control nodes (" + std::to_string(other) + " of " +
            std::to_string(expected) + ": " + names(groups[*best_other]) + ") has digest " + short_digest(*best_other);
    return r;
  }
  if (own >= need && other < own) {
    r.move = ConfigMove::proceed;
    r.complete = own >= expected;
    for (const auto* v : groups[self.digest])
      if (v->address != self.address) r.agreeing.push_back(Peer{v->name, v->address, v->role});
    r.why = std::to_string(own) + " of " + std::to_string(expected) +
            " control nodes agree on the cluster configuration (digest " + short_digest(self.digest) + ", need " +
            std::to_string(need) + "): " + names(groups[self.digest]);
    return r;
  }
  if (groups.size() > 1) {
    // Largest group first, then by digest: the same text on every node.
    std::vector<std::pair<Bytes32, const std::vector<const DigestVote*>*>> order;
    for (const auto& [d, g] : groups) order.push_back({d, &g});
    std::stable_sort(order.begin(), order.end(),
                     [](const auto& a, const auto& b) { return a.second->size() > b.second->size(); });
    r.why = "configuration digests disagree:";
    for (size_t i = 0; i < order.size(); i++)
      r.why += std::string(i ? "," : "") + " " + std::to_string(order[i].second->size()) + " node" +
               (order[i].second->size() == 1 ? "" : "s") + " " + short_digest(order[i].first) + " (" +
               names(*order[i].second) + ")";
    r.why += "; need " + std::to_string(need) + " of " + std::to_string(expected) + " on one digest";
  } else {
    r.why = std::to_string(own) + " of " + std::to_string(expected) +
            " control nodes agree on the cluster configuration (need " + std::to_string(need) + ")" +
            (own ? ": " + names(groups[self.digest]) : "");
  }
  return r;
}

}  // namespace mi::firstboot

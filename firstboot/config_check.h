// The configuration check before Consul starts (DESIGN.md: "one configuration, checked
// before agreeing"): from the authenticated beacons a node has exchanged with its control
// peers (multicast for beacon discovery, unicast to the listed peers for static and dns),
// whether this node may start Consul, must wait, or must stop. A pure function, so that
// every order of start can be tested without sockets.
//
// The rule. T = floor(E/2) + 1, a strict majority of E = max(control_count, number of listed
// control addresses including this node when it is a control node); static and dns list
// their peers, beacon lists none. Control nodes are counted by address (distinct nodes with
// one name are two nodes), grouped by config digest, this node included when it is a
// control (or all-in-one) node.
//   * stop    some other digest has at least T nodes and more than this node's digest has:
//             this node is the odd one out (named, with the majority's digest)
//   * proceed this node's digest has at least T nodes and more than any other digest: the
//             peers to join are exactly the nodes of this digest
//   * wait    otherwise: not enough nodes yet, or a tie ("configuration digests disagree: 2
//             nodes X, 2 nodes Y"), never guessed
#pragma once
#include <string>
#include <vector>

#include "common/digest.h"
#include "firstboot/node_config.h"

namespace mi::firstboot {

struct DigestVote {
  std::string name;
  std::string address;
  Role role = Role::control;
  Bytes32 digest{};
};

enum class ConfigMove { proceed, wait, stop };

struct ConfigDecision {
  ConfigMove move = ConfigMove::wait;
  std::vector<Peer> agreeing;  // proceed: the control nodes sharing this node's digest (not this node)
  bool complete = false;       // proceed: every expected control node is in the agreeing set
  std::string why;             // one line for status and the log
};

// `self`: this node's name, address, role and digest. `seen`: every authenticated beacon's
// latest vote (compute nodes are ignored). `listed`: the listed control addresses (static /
// dns; empty for beacon).
ConfigDecision decide_config(const DigestVote& self, int control_count, const std::vector<std::string>& listed,
                             const std::vector<DigestVote>& seen);

// The first 12 hex digits of a digest, as messages show it.
std::string short_digest(const Bytes32& d);

}  // namespace mi::firstboot

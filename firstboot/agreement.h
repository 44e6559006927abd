// The one ZooKeeper ensemble of a cluster, decided once through Consul (whose Raft is the
// consensus; we run none of our own): the first control node to get there computes
// decide_ensemble() over Consul's Raft peers and writes it to KV key
// mi/<cluster>/zookeeper/ensemble with check-and-set index 0; every node then reads that one
// value and commits it to state.json, and never changes it afterwards.
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "firstboot/node_config.h"

namespace mi::firstboot {

struct EnsembleMember {
  int myid = 0;  // 1..N
  std::string name;
  std::string address;
};

struct Ensemble {
  std::vector<EnsembleMember> members;  // sorted by myid
  std::string decided_by;               // node name of the writer, for status
  bool empty() const { return members.empty(); }
};

// A pure function: deduplicates `peers` by address (the first non-empty name wins),
// sorts them by address (IPv4 numerically, then IPv6, then anything else as text, ties by
// name), takes the first `n` and numbers them 1..n. Any permutation of the same input gives
// the same result. Throws mi::Error when n < 1 or there are fewer than n distinct peers.
Ensemble decide_ensemble(const std::vector<Peer>& peers, int n);

// One round of the agreement as a node plays it, a pure function (so that it can be
// simulated with hundreds of nodes, loss and restarts): from what the node has committed
// (empty: nothing), the ensemble key's value in KV (nullopt: absent) and the Raft peers it
// sees now, what it does next. A committed ensemble is final; a KV value is adopted as is;
// only a control node proposes, and only with at least n distinct peers.
enum class AgreementMove {
  commit,   // commit `ensemble` (to state.json) and use it
  propose,  // write `ensemble` with check-and-set index 0, then read the key again
  wait,     // `why` says on what
};
struct AgreementStep {
  AgreementMove move = AgreementMove::wait;
  Ensemble ensemble;
  std::string why;
};
AgreementStep agreement_step(const Ensemble& committed, const std::optional<std::string>& kv_value,
                             const std::vector<Peer>& raft_peers, int n, bool control, const std::string& node_name,
                             const std::string& key);

// What one round needs from Consul, as functions: step_zookeeper.cc binds them to the local
// agent (consul_client.h), the simulation in tests/firstboot/agreement_test.cc to a store that
// loses answers, applies writes late, answers reads stale and restarts nodes mid-round.
struct AgreementIo {
  std::function<std::optional<std::string>()> read;     // the ensemble key; nullopt: absent
  std::function<bool(const std::string& json)> create;  // check-and-set index 0: true if written
  std::function<std::vector<Peer>()> raft_peers;        // asked only by a control node
  std::function<void(const std::string& line)> say;     // progress worth a log line
};

// One round of the agreement: read the key; adopt its value, or (a control node that sees n
// Raft peers) propose with create() and read the key again, adopting whatever is stored there,
// whoever wrote it: a node never commits its own proposal on the strength of its own write.
// Returns the ensemble to commit, or nullopt with *why. Any call may throw mi::Error; the
// round is then simply played again from the start (it keeps nothing between rounds).
std::optional<Ensemble> agreement_round(const AgreementIo& io, int n, bool control, const std::string& node_name,
                                        const std::string& key, std::string* why);

// The KV key: "mi/<cluster>/zookeeper/ensemble".
std::string ensemble_key(const std::string& cluster);

// The KV key holding the cluster configuration digest the first node committed:
// "mi/<cluster>/config-digest" (per datacenter, as Consul KV is, and as the digest is).
std::string config_digest_key(const std::string& cluster);

// {"version":1,"decided_by":...,"servers":[{"myid":1,"name":...,"address":...},...]}
std::string ensemble_to_json(const Ensemble& e);
// Validates: myids 1..N each once, addresses present and distinct. Throws mi::Error{where,..}.
Ensemble ensemble_from_json(const std::string& json, const std::string& where);

// This node's myid in the ensemble, found by its address only (names are not unique: clones,
// typos), 0 when its address is not in it.
int my_id(const Ensemble& e, const std::string& address);

// Whether this node is a healthy member of the ensemble it committed: "" when it is, else
// why not. With myid > 0: its address must be server.<myid> of the ensemble and its
// ZooKeeper must say (srvr) leader or follower, or standalone for a one-node ensemble. With
// myid 0: its address must not be in the ensemble and it must run no ZooKeeper
// (`zk_mode` is "" when nothing answers on the client port).
std::string ensemble_health(const Ensemble& e, const std::string& address, int myid, const std::string& zk_mode);

// "zk://10.0.0.11:2181,10.0.0.12:2181,10.0.0.13:2181" + path (no trailing path when "").
std::string zk_url(const Ensemble& e, int client_port, const std::string& path);

}  // namespace mi::firstboot

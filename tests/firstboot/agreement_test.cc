// decide_ensemble(): same input in any order → same ensemble and myids; N smaller than the
// peers; duplicates; IPv4 numeric order; JSON round trip and its validation; agreement_round()
// simulated with hundreds of nodes against a faulty KV store.
#include "firstboot/agreement.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <functional>
#include <random>

#include "common/error.h"

using namespace mi::firstboot;

static std::vector<Peer> peers(std::initializer_list<std::pair<const char*, const char*>> l) {
  std::vector<Peer> v;
  for (auto [n, a] : l) v.push_back({n, a, Role::control});
  return v;
}

TEST_CASE("decide_ensemble numbers the sorted peers 1..N") {
  auto e = decide_ensemble(peers({{"c", "10.0.0.13"}, {"a", "10.0.0.11"}, {"b", "10.0.0.12"}}), 3);
  REQUIRE(e.members.size() == 3);
  CHECK(e.members[0].myid == 1);
  CHECK(e.members[0].address == "10.0.0.11");
  CHECK(e.members[0].name == "a");
  CHECK(e.members[1].address == "10.0.0.12");
  CHECK(e.members[2].myid == 3);
  CHECK(e.members[2].address == "10.0.0.13");
}

TEST_CASE("addresses sort numerically, not as text") {
  auto e = decide_ensemble(peers({{"x", "10.0.0.100"}, {"y", "10.0.0.9"}, {"z", "10.0.0.20"}}), 3);
  CHECK(e.members[0].address == "10.0.0.9");
  CHECK(e.members[1].address == "10.0.0.20");
  CHECK(e.members[2].address == "10.0.0.100");
  // IPv4 before IPv6
  auto m = decide_ensemble(peers({{"six", "fd00::1"}, {"four", "192.168.1.1"}}), 2);
  CHECK(m.members[0].address == "192.168.1.1");
  CHECK(m.members[1].address == "fd00::1");
}

TEST_CASE("N smaller than the peers takes the first N") {
  auto e = decide_ensemble(
      peers({{"e", "10.0.0.15"}, {"d", "10.0.0.14"}, {"c", "10.0.0.13"}, {"b", "10.0.0.12"}, {"a", "10.0.0.11"}}), 3);
  REQUIRE(e.members.size() == 3);
  CHECK(e.members[2].address == "10.0.0.13");
  CHECK(my_id(e, "10.0.0.14") == 0);
  CHECK(my_id(e, "10.0.0.12") == 2);
  CHECK(my_id(e, "") == 0);
}

TEST_CASE("my_id goes by address only: a node that has a member's name but another address is not in it") {
  auto e = decide_ensemble(peers({{"a", "10.0.0.11"}, {"b", "10.0.0.12"}, {"c", "10.0.0.13"}}), 3);
  CHECK(my_id(e, "10.0.0.99") == 0);  // named "c" (a clone, a typo): still not server.3
  CHECK(my_id(e, "10.0.0.13") == 3);
}

TEST_CASE("ensemble_health: a member must be its own server.N and in quorum; a non-member runs no ZooKeeper") {
  auto e = decide_ensemble(peers({{"a", "10.0.0.11"}, {"b", "10.0.0.12"}, {"c", "10.0.0.13"}}), 3);
  CHECK(ensemble_health(e, "10.0.0.12", 2, "follower") == "");
  CHECK(ensemble_health(e, "10.0.0.12", 2, "leader") == "");
  CHECK_THAT(ensemble_health(e, "10.0.0.12", 2, "standalone"), Catch::Contains("want leader or follower"));
  CHECK_THAT(ensemble_health(e, "10.0.0.12", 2, ""), Catch::Contains("not serving yet"));
  // Committed myid 3 but the address is another member's, or in no member.
  CHECK_THAT(ensemble_health(e, "10.0.0.12", 3, "follower"),
             Catch::Contains("committed myid 3 but its address 10.0.0.12 is server.2"));
  CHECK_THAT(ensemble_health(e, "10.0.0.99", 3, "leader"),
             Catch::Contains("address 10.0.0.99 is not in the ensemble (1=10.0.0.11, 2=10.0.0.12, 3=10.0.0.13)"));
  // Not a member: fine only while no ZooKeeper answers here, and only if its address is not a member's.
  CHECK(ensemble_health(e, "10.0.0.14", 0, "") == "");
  CHECK_THAT(ensemble_health(e, "10.0.0.14", 0, "follower"), Catch::Contains("a ZooKeeper answers here"));
  CHECK_THAT(ensemble_health(e, "10.0.0.11", 0, ""), Catch::Contains("is server.1 of the ensemble"));
  // A one-node ensemble is standalone, and only then.
  auto one = decide_ensemble(peers({{"a", "10.0.0.11"}}), 1);
  CHECK(ensemble_health(one, "10.0.0.11", 1, "standalone") == "");
  CHECK(ensemble_health(Ensemble{}, "10.0.0.11", 1, "standalone") == "no ensemble committed");
}

TEST_CASE("duplicates do not change the result") {
  auto a = decide_ensemble(peers({{"a", "10.0.0.11"}, {"b", "10.0.0.12"}, {"c", "10.0.0.13"}}), 3);
  auto b = decide_ensemble(
      peers({{"a", "10.0.0.11"}, {"", "10.0.0.12"}, {"b", "10.0.0.12"}, {"c", "10.0.0.13"}, {"a", "10.0.0.11"}}), 3);
  CHECK(ensemble_to_json(a) == ensemble_to_json(b));
  // Two distinct addresses repeated are still only two peers.
  CHECK_THROWS_AS(decide_ensemble(peers({{"a", "10.0.0.11"}, {"a", "10.0.0.11"}, {"b", "10.0.0.12"}}), 3), mi::Error);
}

TEST_CASE("too few peers or a bad N is an error") {
  CHECK_THROWS_AS(decide_ensemble(peers({{"a", "10.0.0.11"}}), 3), mi::Error);
  CHECK_THROWS_AS(decide_ensemble(peers({{"a", "10.0.0.11"}}), 0), mi::Error);
}

TEST_CASE("any permutation, with duplicates, gives the same ensemble (randomized)") {
  std::mt19937 rng(12345);
  for (int round = 0; round < 300; round++) {
    int count = 1 + int(rng() % 40);
    std::vector<Peer> base;
    for (int i = 0; i < count; i++) {
      std::string addr =
          "10." + std::to_string(rng() % 3) + "." + std::to_string(rng() % 4) + "." + std::to_string(1 + rng() % 254);
      base.push_back({"n" + addr, addr, Role::control});
    }
    // distinct count after the random addresses collided
    std::vector<std::string> addrs;
    for (auto& p : base) addrs.push_back(p.address);
    std::sort(addrs.begin(), addrs.end());
    addrs.erase(std::unique(addrs.begin(), addrs.end()), addrs.end());
    int n = 1 + int(rng() % addrs.size());
    auto reference = ensemble_to_json(decide_ensemble(base, n));
    for (int k = 0; k < 5; k++) {
      auto shuffled = base;
      std::shuffle(shuffled.begin(), shuffled.end(), rng);
      if (rng() % 2) shuffled.push_back(shuffled[rng() % shuffled.size()]);  // a duplicate
      REQUIRE(ensemble_to_json(decide_ensemble(shuffled, n)) == reference);
    }
    auto e = decide_ensemble(base, n);
    REQUIRE(int(e.members.size()) == n);
    for (int i = 0; i < n; i++) REQUIRE(e.members[size_t(i)].myid == i + 1);
  }
}

TEST_CASE("ensemble JSON round trip and validation") {
  auto e = decide_ensemble(peers({{"a", "10.0.0.11"}, {"b", "10.0.0.12"}, {"c", "10.0.0.13"}}), 3);
  e.decided_by = "b";
  auto back = ensemble_from_json(ensemble_to_json(e), "test");
  CHECK(ensemble_to_json(back) == ensemble_to_json(e));
  CHECK(back.decided_by == "b");
  CHECK_THROWS_AS(ensemble_from_json("not json", "t"), mi::Error);
  CHECK_THROWS_AS(ensemble_from_json(R"({"servers":[]})", "t"), mi::Error);
  CHECK_THROWS_AS(ensemble_from_json(R"({"servers":[{"myid":2,"address":"10.0.0.1"}]})", "t"), mi::Error);
  CHECK_THROWS_AS(
      ensemble_from_json(R"({"servers":[{"myid":1,"address":"10.0.0.1"},{"myid":2,"address":"10.0.0.1"}]})", "t"),
      mi::Error);
}

TEST_CASE("zk_url lists the ensemble in myid order") {
  auto e = decide_ensemble(peers({{"b", "10.0.0.12"}, {"a", "10.0.0.11"}}), 2);
  CHECK(zk_url(e, 2181, "/mesos") == "zk://10.0.0.11:2181,10.0.0.12:2181/mesos");
  CHECK(ensemble_key("prod") == "mi/prod/zookeeper/ensemble");
}

// ---- agreement_round(): the protocol, simulated ----
// Hundreds of nodes play the production agreement_round() against a simulated Consul KV and
// a Raft membership that grows as control nodes join, in random order and timing. Faults:
// - a read may be answered stale (by a follower that has not caught up: any earlier value
//   of the key, absent included), or lost;
// - a create (check-and-set index 0) may be lost before it arrives, applied late (after its
//   caller gave up), or applied with its answer lost; the store decides check-and-set itself;
// - a node's view of the Raft peers may be stale;
// - a node's process may die before or after any call, or between a round's answer and
//   writing state.json: it then forgets everything but its state file (the round keeps
//   nothing between calls, so the next round starts from scratch, as after a real restart).
// Properties: every node commits; the key is written once; every node commits that value;
// it is the first n (sorted) of some set of Raft peers that existed. Two deliberately broken
// rounds (a write without check-and-set, a node that commits its own proposal without reading
// the key back) must be caught, so that the simulation is known to have teeth.
namespace {

struct Crash {};  // the node's process dies here

using RoundFn = std::function<std::optional<Ensemble>(const AgreementIo&, int, bool, const std::string&,
                                                      const std::string&, std::string*)>;

// The first property that failed in `sims` random runs, or "" when all held.
std::string simulate(const RoundFn& round, bool store_honours_cas, uint32_t seed, int sims) {
  std::mt19937 rng(seed);
  auto chance = [&](int percent) { return int(rng() % 100) < percent; };
  const std::string key = "mi/sim/zookeeper/ensemble";
  for (int sim = 0; sim < sims; sim++) {
    int controls = 1 + int(rng() % 9);
    int n = std::min(controls, int(1 + 2 * (rng() % 3)));  // 1, 3 or 5, never more than controls
    int computes = int(rng() % 300);
    struct Node {
      std::string name, address;
      bool control;
      std::optional<std::string> state;  // state.json's ensemble: all that survives a restart
    };
    std::vector<Node> nodes;
    std::vector<Peer> control_peers;
    for (int i = 0; i < controls; i++) {
      std::string a = "10.0." + std::to_string(rng() % 4) + "." + std::to_string(10 + i);
      nodes.push_back({"c" + std::to_string(i), a, true, {}});
      control_peers.push_back({"c" + std::to_string(i), a, Role::control});
    }
    for (int i = 0; i < computes; i++)
      nodes.push_back(
          {"w" + std::to_string(i), "10.1." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1), false, {}});
    // Raft membership over time: controls join in random order; history[k] = first k+1 joined.
    auto join_order = control_peers;
    std::shuffle(join_order.begin(), join_order.end(), rng);
    std::vector<std::vector<Peer>> history;
    size_t joined = 0;
    // The KV store: every value the key ever had, in order, and creates not yet applied.
    std::vector<std::string> writes;
    std::vector<std::string> in_flight;
    auto apply_create = [&](const std::string& v) {
      if (!writes.empty() && store_honours_cas) return false;
      writes.push_back(v);
      return true;
    };
    int loss = int(rng() % 40), stale = int(rng() % 50), crash = int(rng() % 10);
    std::string where = "sim " + std::to_string(sim) + " (" + std::to_string(controls) +
                        " controls, n=" + std::to_string(n) + ", " + std::to_string(computes) + " computes, loss " +
                        std::to_string(loss) + "%, stale " + std::to_string(stale) + "%, crash " +
                        std::to_string(crash) + "%): ";

    AgreementIo io;
    io.read = [&]() -> std::optional<std::string> {
      if (chance(crash)) throw Crash{};
      if (chance(loss)) throw mi::Error("consul kv", "read lost");
      size_t seen = chance(stale) ? rng() % (writes.size() + 1) : writes.size();
      if (seen == 0) return std::nullopt;
      return writes[seen - 1];
    };
    io.create = [&](const std::string& v) {
      if (chance(crash)) throw Crash{};
      if (chance(loss)) {
        switch (rng() % 3) {
          case 0:
            break;  // lost on the way
          case 1:
            in_flight.push_back(v);
            break;  // applied later, the caller times out
          case 2:
            apply_create(v);
            break;  // applied, the answer lost
        }
        throw mi::Error("consul kv", "no answer");
      }
      bool written = apply_create(v);
      if (chance(crash)) throw Crash{};  // died with the answer in hand
      return written;
    };
    io.raft_peers = [&] {
      if (chance(loss)) throw mi::Error("consul", "peers lost");
      std::vector<Peer> view;
      if (!history.empty()) view = history[rng() % history.size()];  // possibly stale
      return view;
    };
    io.say = [](const std::string&) {};

    bool all = false;
    for (int step = 0; step < 400000 && !all; step++) {
      if (joined < join_order.size() && chance(5)) joined++;
      while (history.size() < joined)
        history.push_back({join_order.begin(), join_order.begin() + long(history.size()) + 1});
      if (!in_flight.empty() && chance(30)) {  // a delayed create arrives
        size_t k = rng() % in_flight.size();
        apply_create(in_flight[k]);
        in_flight.erase(in_flight.begin() + long(k));
      }
      Node& node = nodes[rng() % nodes.size()];
      if (node.state) {  // committed: step_zookeeper never plays the agreement again
        all = std::all_of(nodes.begin(), nodes.end(), [](const Node& x) { return x.state.has_value(); });
        continue;
      }
      std::optional<Ensemble> got;
      std::string why;
      try {
        got = round(io, n, node.control, node.name, key, &why);
      } catch (const Crash&) {
        continue;  // restarted: nothing in memory survives, state.json is as it was
      } catch (const mi::Error&) {
        continue;  // wait_until plays the round again
      }
      if (!got) continue;
      if (chance(crash)) continue;  // died before state.json was written
      node.state = ensemble_to_json(*got);
    }
    for (const auto& x : nodes)
      if (!x.state) return where + x.name + " never committed";
    if (writes.size() != 1) return where + "the ensemble key was written " + std::to_string(writes.size()) + " times";
    for (const auto& x : nodes)
      if (*x.state != writes[0]) return where + x.name + " committed " + *x.state + " but KV holds " + writes[0];
    Ensemble e = ensemble_from_json(writes[0], "sim");
    if (int(e.members.size()) != n) return where + "the ensemble has " + std::to_string(e.members.size()) + " members";
    bool from_history = false;
    for (const auto& h : history)
      if (int(h.size()) >= n) {
        auto d = decide_ensemble(h, n);
        d.decided_by = e.decided_by;
        from_history |= ensemble_to_json(d) == writes[0];
      }
    if (!from_history) return where + "the ensemble is not the first n of any Raft membership: " + writes[0];
  }
  return "";
}

// A broken round: commits its own proposal, whatever the store kept.
std::optional<Ensemble> commits_own_proposal(const AgreementIo& io, int n, bool control, const std::string& name,
                                             const std::string& key, std::string* why) {
  auto kv = io.read();
  auto s = agreement_step({}, kv, !kv && control ? io.raft_peers() : std::vector<Peer>{}, n, control, name, key);
  if (s.move == AgreementMove::wait) {
    *why = s.why;
    return std::nullopt;
  }
  if (s.move == AgreementMove::propose) io.create(ensemble_to_json(s.ensemble));
  return s.ensemble;
}

}  // namespace

TEST_CASE("agreement simulation: hundreds of nodes, stale reads, lost and late writes, restarts") {
  std::string violation = simulate(agreement_round, true, 20261125, 60);
  INFO(violation);
  CHECK(violation.empty());
}

TEST_CASE("agreement simulation catches a write without check-and-set") {
  std::string violation = simulate(agreement_round, false, 20261130, 60);
  INFO(violation);
  CHECK_FALSE(violation.empty());
}

TEST_CASE("agreement simulation catches a node that commits its own proposal without reading back") {
  std::string violation = simulate(commits_own_proposal, true, 20261130, 60);
  INFO(violation);
  CHECK_FALSE(violation.empty());
}

TEST_CASE("agreement_step: committed is final, KV is adopted, computes never propose") {
  auto e = decide_ensemble(peers({{"a", "10.0.0.11"}, {"b", "10.0.0.12"}, {"c", "10.0.0.13"}}), 3);
  auto other = decide_ensemble(peers({{"x", "10.0.0.21"}, {"y", "10.0.0.22"}, {"z", "10.0.0.23"}}), 3);
  auto s = agreement_step(e, ensemble_to_json(other), {}, 3, true, "a", "k");
  CHECK(s.move == AgreementMove::commit);
  CHECK(ensemble_to_json(s.ensemble) == ensemble_to_json(e));  // never the KV's, once committed
  s = agreement_step({}, ensemble_to_json(other), {}, 3, true, "a", "k");
  CHECK(s.move == AgreementMove::commit);
  CHECK(s.ensemble.members[0].address == "10.0.0.21");
  s = agreement_step({}, std::nullopt, peers({{"a", "10.0.0.11"}, {"b", "10.0.0.12"}, {"c", "10.0.0.13"}}), 3, false,
                     "w", "k");
  CHECK(s.move == AgreementMove::wait);
  s = agreement_step({}, std::nullopt, peers({{"a", "10.0.0.11"}, {"a", "10.0.0.11"}, {"b", "10.0.0.12"}}), 3, true,
                     "a", "k");
  CHECK(s.move == AgreementMove::wait);
  CHECK(s.why == "waiting for 3 Consul Raft peers to decide the ensemble, have 2: 10.0.0.11, 10.0.0.12");
  s = agreement_step({}, std::nullopt, peers({{"a", "10.0.0.11"}, {"b", "10.0.0.12"}, {"c", "10.0.0.13"}}), 3, true,
                     "b", "k");
  CHECK(s.move == AgreementMove::propose);
  CHECK(s.ensemble.decided_by == "b");
  CHECK_THROWS_AS(agreement_step({}, std::string("garbage"), {}, 3, true, "a", "k"), mi::Error);
}

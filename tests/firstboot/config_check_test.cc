// The configuration check before Consul (config_check.h): which digests win, who waits and
// who stops, for every order in which nodes are seen, under static/dns lists and beacon.
#include "firstboot/config_check.h"

#include <algorithm>
#include <catch2/catch.hpp>

#include "firstboot/beacon.h"

using namespace mi::firstboot;
using mi::Bytes32;

namespace {

Bytes32 digest_for(int control_count) {
  NodeConfig c;
  c.secret = "s";
  c.control_count = control_count;
  return config_digest(c);
}
const Bytes32 kGood = digest_for(3), kBad = digest_for(1), kOther = digest_for(5);

DigestVote vote(const std::string& name, int host, const Bytes32& d, Role r = Role::control) {
  return {name, "10.0.0." + std::to_string(host), r, d};
}

std::vector<std::string> listed(std::initializer_list<int> hosts) {
  std::vector<std::string> v;
  for (int h : hosts) v.push_back("10.0.0." + std::to_string(h));
  return v;
}

}  // namespace

TEST_CASE("config check: a strict majority on this node's digest proceeds, with exactly those peers") {
  auto d = decide_config(vote("c1", 11, kGood), 3, listed({11, 12, 13}), {vote("c2", 12, kGood)});
  CHECK(d.move == ConfigMove::proceed);
  REQUIRE(d.agreeing.size() == 1);
  CHECK(d.agreeing[0].address == "10.0.0.12");
  CHECK_THAT(d.why, Catch::Contains("2 of 3 control nodes agree"));
  // Alone: waits, saying how many it needs.
  d = decide_config(vote("c1", 11, kGood), 3, listed({11, 12, 13}), {});
  CHECK(d.move == ConfigMove::wait);
  CHECK(d.why == "1 of 3 control nodes agree on the cluster configuration (need 2): c1 10.0.0.11");
  // A one-node cluster needs nobody.
  d = decide_config(vote("aio", 11, kBad), 1, listed({11}), {});
  CHECK(d.move == ConfigMove::proceed);
  CHECK(d.agreeing.empty());
}

TEST_CASE("config check, static: control_count 1 among 3 good nodes, in every order of start") {
  auto list = listed({11, 12, 13, 31});  // the same list on every node, the odd node y1 at .31
  DigestVote y1 = vote("y1", 31, kBad);
  std::vector<DigestVote> good = {vote("c1", 11, kGood), vote("c2", 12, kGood), vote("c3", 13, kGood)};
  // y1 first (or alone): a list of 4 needs 3 on one digest; it waits, it does not bootstrap alone.
  CHECK(decide_config(y1, 1, list, {}).move == ConfigMove::wait);
  // Any subset of the good nodes seen by y1: waits until they are a majority, then stops.
  for (size_t k = 0; k <= good.size(); k++) {
    std::vector<DigestVote> seen(good.begin(), good.begin() + long(k));
    auto d = decide_config(y1, 1, list, seen);
    INFO(k << " good seen: " << d.why);
    CHECK(d.move == (k == 3 ? ConfigMove::stop : ConfigMove::wait));
    if (k == 3) {
      CHECK_THAT(d.why,
                 Catch::Contains("this node y1 (10.0.0.31) has cluster configuration digest " + short_digest(kBad)));
      CHECK_THAT(d.why, Catch::Contains("has digest " + short_digest(kGood)));
      CHECK_THAT(d.why, Catch::Contains("3 of 4: c1 10.0.0.11, c2 10.0.0.12, c3 10.0.0.13"));
    }
  }
  // The good nodes: with y1 seen or not, they proceed once all three agree, never with y1.
  for (bool with_y1 : {false, true}) {
    std::vector<DigestVote> seen = {good[1], good[2]};
    if (with_y1) seen.push_back(y1);
    auto d = decide_config(good[0], 3, list, seen);
    INFO(d.why);
    CHECK(d.move == ConfigMove::proceed);
    CHECK(d.agreeing.size() == 2);
    CHECK(std::none_of(d.agreeing.begin(), d.agreeing.end(), [](const Peer& p) { return p.name == "y1"; }));
  }
  // Two good nodes and y1: 2 of a list of 4 is no majority: wait, never guess.
  CHECK(decide_config(good[0], 3, list, {good[1], y1}).move == ConfigMove::wait);
}

TEST_CASE("config check: 2 good + 2 bad of expected 3 is a tie, reported and waited on by all four") {
  auto list = listed({11, 12, 31, 32});
  std::vector<DigestVote> all = {vote("c1", 11, kGood), vote("c2", 12, kGood), vote("y1", 31, kBad),
                                 vote("y2", 32, kBad)};
  for (const auto& self : all) {
    std::vector<DigestVote> seen;
    for (const auto& v : all)
      if (v.address != self.address) seen.push_back(v);
    auto d = decide_config(self, self.digest == kGood ? 3 : 1, list, seen);
    INFO(self.name << ": " << d.why);
    CHECK(d.move == ConfigMove::wait);
    CHECK_THAT(d.why, Catch::StartsWith("configuration digests disagree: 2 nodes "));
    CHECK_THAT(d.why, Catch::Contains("2 nodes " + short_digest(kGood) + " (c1 10.0.0.11, c2 10.0.0.12)"));
    CHECK_THAT(d.why, Catch::Contains("2 nodes " + short_digest(kBad) + " (y1 10.0.0.31, y2 10.0.0.32)"));
  }
}

TEST_CASE("config check, beacon: no list; the majority of control_count decides; order does not matter") {
  DigestVote y1 = vote("y1", 31, kOther);  // control_count 5: needs 3 on its digest
  std::vector<DigestVote> good = {vote("c1", 11, kGood), vote("c2", 12, kGood), vote("c3", 13, kGood)};
  CHECK(decide_config(y1, 5, {}, {}).move == ConfigMove::wait);
  CHECK(decide_config(y1, 5, {}, {good[0], good[1]}).move == ConfigMove::wait);
  std::vector<DigestVote> seen = good;
  std::sort(seen.begin(), seen.end(), [](auto& a, auto& b) { return a.name < b.name; });
  std::string first;
  do {
    auto d = decide_config(y1, 5, {}, seen);
    CHECK(d.move == ConfigMove::stop);
    if (first.empty()) first = d.why;
    CHECK(d.why == first);  // the same words whatever the order
  } while (std::next_permutation(seen.begin(), seen.end(), [](auto& a, auto& b) { return a.name < b.name; }));
  // A good node proceeds on 2 of 3, and never lists y1 among its peers.
  auto d = decide_config(good[0], 3, {}, {y1, good[2]});
  CHECK(d.move == ConfigMove::proceed);
  REQUIRE(d.agreeing.size() == 1);
  CHECK(d.agreeing[0].name == "c3");
  // A tie under beacon: 2 and 2 of expected 3.
  d = decide_config(good[0], 3, {}, {good[1], vote("y1", 31, kBad), vote("y2", 32, kBad)});
  CHECK(d.move == ConfigMove::wait);
  CHECK_THAT(d.why, Catch::StartsWith("configuration digests disagree: 2 nodes"));
}

TEST_CASE("config check: nodes are counted by address; one name on two nodes is two votes; compute nodes do not vote") {
  // Two clones both called "ctl" at different addresses: two nodes, both agreeing.
  auto d = decide_config(vote("ctl", 11, kGood), 3, {}, {vote("ctl", 12, kGood)});
  CHECK(d.move == ConfigMove::proceed);
  REQUIRE(d.agreeing.size() == 1);
  CHECK(d.agreeing[0].address == "10.0.0.12");
  // The same address seen twice (its latest beacon) is one vote.
  d = decide_config(vote("c1", 11, kGood), 5, {}, {vote("c2", 12, kGood), vote("c2", 12, kGood)});
  CHECK(d.move == ConfigMove::wait);
  // Compute nodes: they neither count nor are counted; a compute node follows the controls.
  d = decide_config(vote("w1", 21, kGood, Role::compute), 3, {}, {vote("c1", 11, kGood)});
  CHECK(d.move == ConfigMove::wait);
  d = decide_config(vote("w1", 21, kGood, Role::compute), 3, {},
                    {vote("c1", 11, kGood), vote("c2", 12, kGood), vote("w2", 22, kBad, Role::compute)});
  CHECK(d.move == ConfigMove::proceed);
  CHECK(d.agreeing.size() == 2);
  d = decide_config(vote("w1", 21, kBad, Role::compute), 1, {}, {vote("c1", 11, kGood), vote("c2", 12, kGood)});
  CHECK(d.move == ConfigMove::stop);
}

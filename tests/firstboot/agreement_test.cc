// decide_ensemble(): same input in any order → same ensemble and myids; N smaller than the
// peers; duplicates; IPv4 numeric order; JSON round trip and its validation.
#include "firstboot/agreement.h"

#include <algorithm>
#include <catch2/catch.hpp>
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
  CHECK(my_id(e, "10.0.0.14", "d") == 0);
  CHECK(my_id(e, "10.0.0.12", "") == 2);
  CHECK(my_id(e, "", "c") == 3);
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

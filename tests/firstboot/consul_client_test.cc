// consul_client against a real Consul 1.8.7 dev agent, started by the ProcessRunner on
// 127.0.0.1 with shifted ports: leader and peers, members, the ensemble key's check-and-set
// (exactly one of two writers wins, both read the winner's value), service registration;
// and the response parsers on captured bodies.
#include "firstboot/consul_client.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <thread>

#include "common/error.h"
#include "firstboot/agreement.h"
#include "firstboot/http.h"
#include "firstboot/service_runner.h"

using namespace mi::firstboot;
namespace fs = std::filesystem;

TEST_CASE("parsers: peers, members, strip_port") {
  CHECK(parse_consul_peers(R"(["10.0.0.11:8300","10.0.0.12:8300"])") ==
        std::vector<std::string>{"10.0.0.11:8300", "10.0.0.12:8300"});
  auto m = parse_consul_members(
      R"([{"Name":"c1","Addr":"10.0.0.11","Port":8301,"Tags":{"role":"consul","dc":"dc1"},"Status":1},)"
      R"({"Name":"w1","Addr":"10.0.0.21","Port":8301,"Tags":{"role":"node","dc":"dc1"},"Status":4}])");
  REQUIRE(m.size() == 2);
  CHECK(m[0].server());
  CHECK(m[0].alive());
  CHECK_FALSE(m[1].server());
  CHECK_FALSE(m[1].alive());
  CHECK(m[1].datacenter == "dc1");
  CHECK(mi::strip_port("10.0.0.11:8300") == "10.0.0.11");
  CHECK(mi::strip_port("[fd00::1]:8300") == "fd00::1");
  CHECK(mi::strip_port("fd00::1") == "fd00::1");
  CHECK_THROWS_AS(parse_consul_peers("{"), mi::Error);
}

TEST_CASE("a real Consul dev agent: leader, KV check-and-set, registration") {
  auto dir = fs::temp_directory_path() / ("consul_client_test." + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  int off = 21000 + int(getpid() % 90) * 200 + 150;
  auto port = [&](int p) { return std::to_string(p + off); };
  ServiceSpec spec;
  spec.name = "consul";
  spec.argv = {"consul",
               "agent",
               "-dev",
               "-bind=127.0.0.1",
               "-client=127.0.0.1",
               "-node=dev1",
               "-data-dir=" + (dir / "data").string(),
               "-hcl=ports { http = " + port(8500) + ", dns = " + port(8600) + ", server = " + port(8300) +
                   ", serf_lan = " + port(8301) + ", serf_wan = " + port(8302) + ", grpc = -1 }"};
  auto runner = make_process_runner((dir / "run").string());
  runner->start(spec);
  struct Stop {
    ServiceRunner* r;
    fs::path d;
    ~Stop() {
      r->stop("consul");
      fs::remove_all(d);
    }
  } stop{runner.get(), dir};
  CHECK(runner->running("consul"));

  ConsulAgent a{"http://127.0.0.1:" + port(8500), 2000};
  std::string leader;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (leader.empty() && std::chrono::steady_clock::now() < deadline) {
    try {
      leader = consul_leader(a);
    } catch (const mi::Error&) {
      // not listening yet
    }
    if (leader.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(100));  // poll interval
  }
  REQUIRE(leader == "127.0.0.1:" + port(8300));
  CHECK(consul_peers(a) == std::vector<std::string>{leader});
  auto members = consul_members(a);
  REQUIRE(members.size() == 1);
  CHECK(members[0].name == "dev1");
  CHECK(members[0].server());

  // Two writers race for the ensemble key: one wins, both then read the same value.
  std::string key = ensemble_key("cas-test");
  CHECK_FALSE(consul_kv_get(a, key));
  Ensemble e1 = decide_ensemble({{"a", "10.0.0.1", Role::control}}, 1);
  e1.decided_by = "first";
  Ensemble e2 = e1;
  e2.decided_by = "second";
  bool w1 = false, w2 = false;
  std::thread t1([&] { w1 = consul_kv_cas(a, key, ensemble_to_json(e1), 0); });
  std::thread t2([&] { w2 = consul_kv_cas(a, key, ensemble_to_json(e2), 0); });
  t1.join();
  t2.join();
  CHECK(w1 != w2);
  auto stored = consul_kv_get(a, key);
  REQUIRE(stored);
  CHECK(ensemble_from_json(*stored, "kv").decided_by == (w1 ? "first" : "second"));
  CHECK_FALSE(consul_kv_cas(a, key, ensemble_to_json(e1), 0));  // never overwritten
  CHECK(*consul_kv_get(a, key) == *stored);

  consul_register_service(a, R"({"ID":"zookeeper","Name":"zookeeper","Port":2181})");
  auto svc = http_request("GET", a.base + "/v1/agent/services", "", {}, 2000);
  CHECK(svc.body.find("\"zookeeper\"") != std::string::npos);
  CHECK_THROWS_AS(consul_register_service(a, "not json"), mi::Error);

  // A restarted mi-firstboot finds the running agent by its pid file.
  CHECK(make_process_runner((dir / "run").string())->running("consul"));
}

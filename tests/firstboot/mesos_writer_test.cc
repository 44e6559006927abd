// Mesos master/agent environment files against golden files; quorum = majority.
#include <catch2/catch.hpp>

#include "golden_util.h"

using namespace mi::firstboot;

TEST_CASE("mesos-master.env on a control node") {
  auto files = mesos_files(golden::control_input());
  REQUIRE(files.size() == 1);
  CHECK(files[0].path == "/var/lib/mi/etc/mesos/mesos-master.env");
  golden::check("mesos-master.env", files[0].content);
  CHECK(files[0].content.find("MESOS_ZK=zk://10.0.0.11:2181,10.0.0.12:2181,10.0.0.13:2181/mesos\n") !=
        std::string::npos);
  CHECK(files[0].content.find("MESOS_QUORUM=2\n") != std::string::npos);
}

TEST_CASE("mesos quorum is floor(N/2)+1") {
  auto in = golden::control_input();
  for (auto [n, q] : {std::pair{1, 1}, {3, 2}, {5, 3}, {7, 4}}) {
    in.cfg.control_count = n;
    CHECK(mesos_files(in)[0].content.find("MESOS_QUORUM=" + std::to_string(q) + "\n") != std::string::npos);
  }
}

TEST_CASE("mesos-agent.env on a compute node; both on all-in-one") {
  auto files = mesos_files(golden::compute_input());
  REQUIRE(files.size() == 1);
  golden::check("mesos-agent.env", files[0].content);
  auto in = golden::control_input();
  in.cfg.role = Role::all_in_one;
  CHECK(mesos_files(in).size() == 2);
}

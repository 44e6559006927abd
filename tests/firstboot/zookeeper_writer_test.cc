// zoo.cfg and myid against golden files; hosts sorted by myid whatever the input order;
// nothing for a node outside the ensemble.
#include <catch2/catch.hpp>

#include "golden_util.h"

using namespace mi::firstboot;

TEST_CASE("zoo.cfg and myid of ensemble member 1") {
  auto files = zookeeper_files(golden::control_input());
  REQUIRE(files.size() == 2);
  CHECK(files[0].path == "/var/lib/mi/etc/zookeeper/zoo.cfg");
  CHECK(files[1].path == "/var/lib/mi/zookeeper/myid");
  golden::check("zoo.cfg", files[0].content);
  golden::check("myid", files[1].content);
  CHECK(files[0].content.find("admin.enableServer=false\n") != std::string::npos);
  CHECK(files[0].content.find("4lw.commands.whitelist=srvr,mntr,ruok\n") != std::string::npos);
}

TEST_CASE("zoo.cfg is the same on every member; myid differs") {
  auto a = golden::control_input();
  auto b = golden::control_input();
  b.address = "10.0.0.13";
  b.myid = 3;
  CHECK(zookeeper_files(a)[0].content == zookeeper_files(b)[0].content);
  CHECK(zookeeper_files(b)[1].content == "3\n");
}

TEST_CASE("no ZooKeeper files outside the ensemble") { CHECK(zookeeper_files(golden::compute_input()).empty()); }

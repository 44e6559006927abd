// marathon.env against a golden file: --master zk://…/mesos, --zk zk://…/marathon.
#include <catch2/catch.hpp>

#include "golden_util.h"

using namespace mi::firstboot;

TEST_CASE("marathon.env on a control node, none on compute") {
  auto files = marathon_files(golden::control_input());
  REQUIRE(files.size() == 1);
  CHECK(files[0].path == "/var/lib/mi/etc/marathon/marathon.env");
  golden::check("marathon.env", files[0].content);
  CHECK(files[0].content.find("MARATHON_ZK=zk://10.0.0.11:2181,10.0.0.12:2181,10.0.0.13:2181/marathon\n") !=
        std::string::npos);
  CHECK(marathon_files(golden::compute_input()).empty());
}

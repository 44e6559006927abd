// dnsmasq: .consul forwarded to the local Consul DNS port, against a golden file.
#include <catch2/catch.hpp>

#include "golden_util.h"

using namespace mi::firstboot;

TEST_CASE("dnsmasq forwards .consul to 127.0.0.1#8600") {
  auto files = dnsmasq_files(golden::compute_input());
  REQUIRE(files.size() == 1);
  CHECK(files[0].path == "/var/lib/mi/etc/dnsmasq.d/10-consul.conf");
  golden::check("dnsmasq-10-consul.conf", files[0].content);
  CHECK(files[0].content.find("server=/consul/127.0.0.1#8600\n") != std::string::npos);
  CHECK(dnsmasq_files(golden::control_input())[0].content == files[0].content);
}

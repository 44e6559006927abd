// check_discovery: the one rule for discovery settings, used by merge_layers and by mibuild
// validate; and merge_layers really goes through it (same message, field named).
#include "firstboot/cluster_rules.h"

#include <catch2/catch.hpp>

using mi::firstboot::check_discovery;

TEST_CASE("check_discovery: each method needs its setting") {
  CHECK(check_discovery("static", 0, "", "", "")->why == "discovery static needs peers (discovery.peers, mi.peers=)");
  CHECK_FALSE(check_discovery("static", 1, "", "", ""));
  CHECK(check_discovery("dns", 0, "", "", "")->why == "discovery dns needs discovery.dns_name");
  CHECK_FALSE(check_discovery("dns", 0, "c.example.org", "", ""));
  CHECK(check_discovery("cloud", 0, "", "", "")->why == "discovery cloud needs discovery.cloud_join");
  CHECK_FALSE(check_discovery("cloud", 0, "", "", "provider=aws"));
  CHECK_FALSE(check_discovery("beacon", 0, "", "239.255.77.77:7946", ""));
  auto bad = check_discovery("beacon", 0, "", "239.255.77.77", "");
  REQUIRE(bad);
  CHECK(bad->field == "beacon_group");
  auto unknown = check_discovery("gossip", 3, "", "", "");
  REQUIRE(unknown);
  CHECK(unknown->field == "discovery");
  CHECK(unknown->why == "unknown discovery method 'gossip' (expected static, dns, beacon, cloud)");
}

// /usr/lib/mi/cluster.yaml as mibuild bakes it (builder/plan.cc cluster_defaults_yaml), read
// back by mi-firstboot's own parser (firstboot/source_cluster_yaml.cc): the two sides agree.
#include <catch2/catch.hpp>

#include "builder/plan.h"
#include "firstboot/config_sources.h"
#include "temp_spec.h"

using mi::test::TempSpec;
using V = std::vector<std::string>;

TEST_CASE("mi-firstboot reads the cluster defaults mibuild bakes in") {
  TempSpec t(
      "name: t\n"
      "roles: [control]\n"
      "cluster:\n"
      "  name: prod\n"
      "  datacenter: west-1\n"
      "  control_count: 5\n"
      "  discovery:\n"
      "    method: dns\n"
      "    dns_name: _mi._tcp.example.org\n"
      "    peers: [10.0.0.11, '10.0.0.12']\n"
      "  wan_join: [10.1.0.11]\n",
      {{"control", "name: control\n"}, {"custom", "name: custom\n"}});
  mi::Spec s = mi::load_spec(t.spec());
  mi::firstboot::ConfigLayer L;
  mi::firstboot::parse_mi_yaml(mi::cluster_defaults_yaml(s, "control"), "cluster.yaml", &L);
  CHECK(L.cluster.value == "prod");
  CHECK(L.datacenter.value == "west-1");
  CHECK(L.control_count.value == 5);
  CHECK(L.discovery.value == "dns");
  CHECK(L.dns_name.value == "_mi._tcp.example.org");
  CHECK(L.static_peers.value == V{"10.0.0.11", "10.0.0.12"});
  CHECK(L.wan_join.value == V{"10.1.0.11"});
  CHECK(L.role.value == mi::firstboot::Role::control);
  CHECK(!L.secret.value);

  // A role mi-firstboot does not know is left for the node's own configuration to name.
  mi::firstboot::ConfigLayer C;
  mi::firstboot::parse_mi_yaml(mi::cluster_defaults_yaml(s, "custom"), "cluster.yaml", &C);
  CHECK(!C.role.value);
  CHECK(C.beacon_group.value == "239.255.77.77:7946");
}

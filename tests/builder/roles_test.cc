// Role composition (builder/roles.cc): includes flattened in order without duplicates, the
// including role's own entries last; cycles and unknown roles are errors with positions.
#include "builder/roles.h"

#include <catch2/catch.hpp>

#include "common/error.h"
#include "temp_spec.h"

using mi::test::TempSpec;
using V = std::vector<std::string>;

TEST_CASE("all-in-one is control then compute, in order, without duplicates") {
  mi::Spec s = mi::load_spec(MI_SOURCE_DIR "/spec.yaml");
  mi::ResolvedRole control = mi::resolve_role(s, "control");
  mi::ResolvedRole compute = mi::resolve_role(s, "compute");
  mi::ResolvedRole aio = mi::resolve_role(s, "all-in-one");
  CHECK(aio.name == "all-in-one");
  // The union, control's entries first, each once.
  V expect = control.components;
  for (const auto& c : compute.components)
    if (std::find(expect.begin(), expect.end(), c) == expect.end()) expect.push_back(c);
  CHECK(aio.components == expect);
  CHECK(aio.components == V{"zookeeper", "consul", "mesos", "marathon", "docker", "dnsmasq", "registrator"});
  V services = control.services;
  for (const auto& x : compute.services)
    if (std::find(services.begin(), services.end(), x) == services.end()) services.push_back(x);
  CHECK(aio.services == services);
  CHECK(control.components == V{"zookeeper", "consul", "mesos", "marathon"});
  CHECK(compute.components == V{"consul", "docker", "dnsmasq", "mesos", "registrator"});
  // The spec-wide overlays come first for every role.
  CHECK(mi::role_overlays(s, aio) == V{"base"});
}

TEST_CASE("composition keeps include order, own entries last, and drops repeats") {
  TempSpec t("name: t\nroles: [top]\n",
             {{"x", "packages: [p1, p2]\noverlays: [ox]\nservices: [s1.service]\n"},
              {"y", "packages: [p2, p3]\noverlays: [oy, ox]\n"},
              {"z", "include: [y]\npackages: [p4]\n"},
              {"top", "include: [x, z, y]\npackages: [p0, p3]\nservices: [s2.service, s1.service]\n"}},
             {"ox", "oy"});
  mi::Spec s = mi::load_spec(t.spec());
  mi::ResolvedRole r = mi::resolve_role(s, "top");
  CHECK(r.packages == V{"p1", "p2", "p3", "p4", "p0"});
  CHECK(r.overlays == V{"ox", "oy"});
  CHECK(r.services == V{"s1.service", "s2.service"});
}

TEST_CASE("resolve_role throws for a cycle and for an unknown role") {
  // Built by hand: parse_spec would already reject this spec.
  mi::Spec s;
  s.file = "spec.yaml";
  mi::Role a{.name = "a", .include = {"b"}};
  a.include_pos = {mi::Pos{"roles/a.yaml", 2, 11}};
  mi::Role b{.name = "b", .include = {"a"}};
  b.include_pos = {mi::Pos{"roles/b.yaml", 2, 11}};
  s.role_defs = {{"a", a}, {"b", b}};
  try {
    mi::resolve_role(s, "a");
    FAIL("no error");
  } catch (const mi::Error& e) {
    CHECK(e.where == "roles/b.yaml:2:11");
    CHECK(e.why == "role include cycle: a → b → a");
  }
  CHECK_THROWS_WITH(mi::resolve_role(s, "c"), "spec.yaml: unknown role 'c'");
  auto diags = mi::check_role_includes(s);
  REQUIRE(diags.size() == 1);
  CHECK(diags[0].str() == "roles/b.yaml:2:11: include[0]: role include cycle: a → b → a");
}

// Plan keys (builder/plan.cc): stable when nothing changes; when one input changes, that
// stage's key and every later key change while earlier keys stay.
#include "builder/plan.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "common/error.h"
#include "temp_spec.h"

using mi::test::TempSpec;
using V = std::vector<std::string>;

namespace {

const char* kSpec =
    "name: t\n"
    "roles: [a, b]\n"
    "formats: [raw, qcow2]\n"
    "overlays: [o1]\n"
    "base:\n"
    "  packages: [less]\n"
    "components:\n"
    "  c1: {source: debian}\n"
    "  tool: {source: artifact, path: tool.bin, sha256: "
    "98ea6e4f216f2fb4b69fff9b3a44842c38686ca685f3f55dc48c5d3fb1107be4}\n"
    "  opt: {source: artifact, optional: true}\n"
    "disk: {esp_mb: 64, var_mb: 64}\n";

V keys(const mi::Plan& p, const std::string& role) {
  for (const auto& r : p.roles)
    if (r.role == role) {
      V out;
      for (const auto& s : r.stages) out.push_back(s.key);
      return out;
    }
  FAIL("no role " << role);
  return {};
}

mi::Plan plan_of(const TempSpec& t) {
  mi::PlanOptions o;
  o.out_dir = (t.dir / "out").string();
  return mi::make_plan(mi::load_spec(t.spec()), o);
}

// The index of the first stage whose key differs; every later one must differ too.
size_t first_change(const V& before, const V& after) {
  REQUIRE(before.size() == after.size());
  size_t i = 0;
  while (i < before.size() && before[i] == after[i]) i++;
  for (size_t j = i; j < before.size(); j++) CHECK(before[j] != after[j]);
  return i;
}

size_t stage_index(const std::string& name) {
  const auto& n = mi::stage_names();
  return std::find(n.begin(), n.end(), name) - n.begin();
}

struct Fixture {
  TempSpec t{
      kSpec,
      {{"a", "components: [c1, tool, opt]\nservices: [ssh.service]\n"}, {"b", "packages: [curl]\noverlays: [o2]\n"}},
      {"o1", "o2"}};
  Fixture() { t.write("tool.bin", "hi\n"); }
};

}  // namespace

TEST_CASE("the plan lists every stage in order, with outputs and absent components") {
  Fixture f;
  mi::Plan p = plan_of(f.t);
  REQUIRE(p.roles.size() == 2);
  const mi::RolePlan& a = p.roles[0];
  CHECK(a.role == "a");
  V names;
  for (const auto& s : a.stages) names.push_back(s.name);
  CHECK(names == V{"bootstrap", "packages", "components", "overlays", "firstboot", "finalize", "assemble", "formats"});
  for (const auto& s : a.stages) CHECK(s.key.size() == 64);
  REQUIRE(a.outputs.size() == 2);
  CHECK(a.outputs[0].first == "raw");
  CHECK(f.t.strip(a.outputs[0].second) == "out/t-a.raw");
  CHECK(f.t.strip(a.outputs[1].second) == "out/t-a.qcow2");
  CHECK(a.absent == V{"opt (optional; provide components.opt.url+sha256 or path+sha256)"});
  CHECK(a.overlays == V{"o1"});
  CHECK(p.roles[1].overlays == V{"o1", "o2"});
  CHECK(f.t.strip(p.manifest) == "out/manifest.json");
  // Inputs: the spec, the artifact, the roles files, the overlay files.
  V inputs;
  for (const auto& i : p.input_files) inputs.push_back(f.t.strip(i));
  CHECK(inputs == V{"spec.yaml", "tool.bin", "roles/a.yaml", "roles/b.yaml", "overlays/o1/etc/o1.conf",
                    "overlays/o2/etc/o2.conf"});
  // The text printed by --dry-run has each key and output.
  std::string text = mi::format_plan(p);
  CHECK(text.find("    1. bootstrap   " + a.stages[0].key) != std::string::npos);
  CHECK(text.find("    8. formats     " + a.stages[7].key) != std::string::npos);
  CHECK(text.find("not in image: opt (optional;") != std::string::npos);
  // Nothing was written.
  CHECK(!std::filesystem::exists(f.t.dir / "out"));
}

TEST_CASE("plan keys stay the same when nothing changes") {
  Fixture f;
  CHECK(keys(plan_of(f.t), "a") == keys(plan_of(f.t), "a"));
  CHECK(keys(plan_of(f.t), "b") == keys(plan_of(f.t), "b"));
  // Roles share the bootstrap stage (same base), and differ from packages on.
  CHECK(keys(plan_of(f.t), "a")[0] == keys(plan_of(f.t), "b")[0]);
  CHECK(keys(plan_of(f.t), "a")[1] != keys(plan_of(f.t), "b")[1]);
}

TEST_CASE("changing an input changes its stage's key and every later one, not earlier ones") {
  Fixture f;
  V a0 = keys(plan_of(f.t), "a"), b0 = keys(plan_of(f.t), "b");

  SECTION("base packages: everything") {
    std::string s = kSpec;
    s.replace(s.find("[less]"), 6, "[less, jq]");
    f.t.write("spec.yaml", s);
    CHECK(first_change(a0, keys(plan_of(f.t), "a")) == stage_index("bootstrap"));
  }
  SECTION("a role's packages: from packages on, only that role") {
    f.t.write("roles/b.yaml", "packages: [curl, jq]\noverlays: [o2]\n");
    CHECK(first_change(b0, keys(plan_of(f.t), "b")) == stage_index("packages"));
    CHECK(keys(plan_of(f.t), "a") == a0);
  }
  SECTION("the contents of a local artifact: from components on") {
    f.t.write("tool.bin", "changed\n");
    // The declared sha256 no longer matches: the file is still hashed into the key.
    CHECK(first_change(a0, keys(plan_of(f.t), "a")) == stage_index("components"));
  }
  SECTION("one byte of an overlay file: from overlays on") {
    f.t.write("overlays/o1/etc/o1.conf", "o1!\n");
    CHECK(first_change(a0, keys(plan_of(f.t), "a")) == stage_index("overlays"));
  }
  SECTION("an overlay file's mode: from overlays on") {
    chmod((f.t.dir / "overlays/o2/etc/o2.conf").c_str(), 0600);
    CHECK(first_change(b0, keys(plan_of(f.t), "b")) == stage_index("overlays"));
    CHECK(keys(plan_of(f.t), "a") == a0);  // a does not use o2
  }
  SECTION("a new file in an overlay: from overlays on") {
    f.t.write("overlays/o1/etc/new", "");
    CHECK(first_change(a0, keys(plan_of(f.t), "a")) == stage_index("overlays"));
  }
  SECTION("the cluster defaults: from firstboot on") {
    f.t.write("spec.yaml", std::string(kSpec) + "cluster: {datacenter: dc9}\n");
    CHECK(first_change(a0, keys(plan_of(f.t), "a")) == stage_index("firstboot"));
  }
  SECTION("the mi-firstboot binary: from firstboot on") {
    f.t.write("mi-firstboot", "v1");
    mi::PlanOptions o;
    o.firstboot_binary = (f.t.dir / "mi-firstboot").string();
    V k1 = keys(mi::make_plan(mi::load_spec(f.t.spec()), o), "a");
    CHECK(first_change(a0, k1) == stage_index("firstboot"));  // absent → present
    f.t.write("mi-firstboot", "v2");
    CHECK(first_change(k1, keys(mi::make_plan(mi::load_spec(f.t.spec()), o), "a")) == stage_index("firstboot"));
  }
  SECTION("the services: from finalize on") {
    f.t.write("roles/a.yaml", "components: [c1, tool, opt]\nservices: [ssh.service, cron.service]\n");
    CHECK(first_change(a0, keys(plan_of(f.t), "a")) == stage_index("finalize"));
  }
  SECTION("the disk layout: from assemble on") {
    std::string s = kSpec;
    s.replace(s.find("var_mb: 64"), 10, "var_mb: 96");
    f.t.write("spec.yaml", s);
    CHECK(first_change(a0, keys(plan_of(f.t), "a")) == stage_index("assemble"));
  }
  SECTION("the formats: only formats") {
    mi::PlanOptions o;
    o.formats = {"raw"};
    CHECK(first_change(a0, keys(mi::make_plan(mi::load_spec(f.t.spec()), o), "a")) == stage_index("formats"));
  }
}

TEST_CASE("make_plan refuses unknown roles and unsupported formats") {
  Fixture f;
  mi::Spec s = mi::load_spec(f.t.spec());
  mi::PlanOptions o;
  o.roles = {"zz"};
  CHECK_THROWS_WITH(mi::make_plan(s, o), "role zz: unknown role (roles: a, b)");
  o.roles = {};
  o.formats = {"cdrom"};
  CHECK_THROWS_WITH(mi::make_plan(s, o),
                    "formats: unknown format 'cdrom' (supported: raw, qcow2, vmdk, vhd, openstack, ami, vagrant, tar, pxe, iso)");
}

TEST_CASE("per-role cluster defaults: all-in-one expects one control node, control and compute the spec's count") {
  mi::test::TempSpec t(
      "name: t\n"
      "roles: [control, compute, all-in-one]\n"
      "cluster:\n"
      "  control_count: 5\n"
      "  discovery:\n"
      "    method: static\n"
      "    peers: [10.0.0.11, 10.0.0.12]\n",
      {{"control", "name: control\n"},
       {"compute", "name: compute\n"},
       {"all-in-one", "name: all-in-one\ninclude: [control, compute]\n"}});
  mi::Spec s = mi::load_spec(t.spec());
  CHECK(mi::role_control_count(s, "all-in-one") == 1);
  CHECK(mi::role_control_count(s, "control") == 5);
  CHECK(mi::role_control_count(s, "compute") == 5);
  CHECK(mi::cluster_defaults_yaml(s, "all-in-one").find("control_count: 1\n") != std::string::npos);
  CHECK(mi::cluster_defaults_yaml(s, "control").find("control_count: 5\n") != std::string::npos);
  auto notes = mi::cluster_notes(s);
  REQUIRE(notes.size() == 3);
  // Two static peers cannot make five control nodes: validate says so.
  CHECK(notes[0].find("control: cannot form a cluster with these defaults: static discovery lists 2 peers but "
                      "control_count is 5") == 0);
  CHECK(notes[1].find("compute: cannot form a cluster") == 0);
  CHECK(notes[2].find("all-in-one: forms a one-node cluster by itself") == 0);
}

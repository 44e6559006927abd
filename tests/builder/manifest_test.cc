// manifest.json (builder/manifest.cc): its shape, the sha256 of every input, per role stages,
// packages, components present/absent with the reason, artifacts; written atomically.
#include "builder/manifest.h"

#include <catch2/catch.hpp>
#include <filesystem>

#include "common/digest.h"
#include "common/files.h"
#include "temp_spec.h"

using mi::test::TempSpec;
using nlohmann::json;

TEST_CASE("the manifest records inputs, stages, packages, components and artifacts") {
  TempSpec t(
      "name: t\n"
      "roles: [a]\n"
      "overlays: [o1]\n"
      "components:\n"
      "  c1: {source: debian, packages: [p1]}\n"
      "  opt: {source: artifact, optional: true}\n",
      {{"a", "components: [c1, opt]\n"}}, {"o1"});
  mi::Spec s = mi::load_spec(t.spec());
  mi::PlanOptions po;
  po.out_dir = (t.dir / "out").string();
  mi::Plan plan = mi::make_plan(s, po);
  std::filesystem::create_directories(t.dir / "out");
  std::string image = (t.dir / "out/t-a.raw").string();
  mi::write_file_atomic(image, std::string(4096, 'x'));

  mi::RoleRecord rec;
  rec.plan = &plan.roles[0];
  rec.result.outputs = {{image, "raw", 0, ""}};  // size and sha256 left for the manifest to take
  rec.result.packages = {{"p1", "1.2-3"}, {"systemd", "252.19-1~deb12u1"}};
  rec.result.components = {{"c1", true, "1.2", "debian p1 1.2-3"}};
  rec.result.source_date_epoch = "1700000000";

  json m = mi::manifest_json(s, plan, {rec});
  CHECK(m["mibuild_version"] == mi::mibuild_version());
  CHECK(m["spec"]["path"] == t.spec());
  CHECK(m["spec"]["sha256"] == mi::sha256_file_hex(t.spec()));
  REQUIRE(m["inputs"].size() == 3);  // spec, roles/a.yaml, the overlay file
  CHECK(m["inputs"][1]["path"] == (t.dir / "roles/a.yaml").string());
  CHECK(m["inputs"][2]["sha256"] == mi::sha256_hex("o1\n"));
  CHECK(m["formats"] == json::array({"raw"}));
  REQUIRE(m["roles"].size() == 1);
  const json& r = m["roles"][0];
  CHECK(r["name"] == "a");
  CHECK(r["source_date_epoch"] == "1700000000");
  REQUIRE(r["stages"].size() == 8);
  CHECK(r["stages"][0]["name"] == "bootstrap");
  CHECK(r["stages"][7]["key"] == plan.roles[0].stages[7].key);
  CHECK(r["packages"][1] == json({{"name", "systemd"}, {"version", "252.19-1~deb12u1"}}));
  REQUIRE(r["components"].size() == 2);
  CHECK(
      r["components"][0] ==
      json({{"name", "c1"}, {"source", "debian"}, {"present", true}, {"version", "1.2"}, {"note", "debian p1 1.2-3"}}));
  // Not reported by the image build: the plan's reason is recorded.
  CHECK(r["components"][1] == json({{"name", "opt"},
                                    {"source", "artifact"},
                                    {"present", false},
                                    {"reason", "provide components.opt.url+sha256 or path+sha256"}}));
  REQUIRE(r["artifacts"].size() == 1);
  CHECK(r["artifacts"][0] == json({{"path", "t-a.raw"},
                                   {"format", "raw"},
                                   {"size", 4096},
                                   {"sha256", mi::sha256_hex(std::string(4096, 'x'))}}));

  mi::write_manifest(plan.manifest, m);
  CHECK(json::parse(mi::read_file(plan.manifest)) == m);
  int entries = 0;
  for (auto& e : std::filesystem::directory_iterator(t.dir / "out")) entries += e.path().filename().string()[0] == '.';
  CHECK(entries == 0);  // no temporary left behind
}

TEST_CASE("a role is reusable only with the same keys and the same outputs on disk") {
  TempSpec t("name: t\nroles: [a, b]\nformats: [raw]\n", {{"a", "packages: [p1]\n"}, {"b", "packages: [p2]\n"}});
  mi::Spec s = mi::load_spec(t.spec());
  mi::PlanOptions po;
  po.out_dir = (t.dir / "out").string();
  mi::Plan plan = mi::make_plan(s, po);
  std::filesystem::create_directories(t.dir / "out");
  std::string image = plan.roles[0].outputs[0].second;
  mi::write_file_atomic(image, "disk bytes");
  mi::RoleRecord rec{&plan.roles[0], {}};
  rec.result.outputs = {{image, "raw", 0, ""}};
  rec.result.packages = {{"p1", "1.0"}};
  rec.result.components = {};
  json old = json::parse(mi::manifest_json(s, plan, {rec}).dump());

  auto again = mi::reusable_result(old, plan, plan.roles[0]);
  REQUIRE(again);
  REQUIRE(again->outputs.size() == 1);
  CHECK(again->outputs[0].path == image);
  CHECK(again->outputs[0].sha256 == mi::sha256_hex("disk bytes"));
  CHECK(again->packages[0].version == "1.0");

  CHECK(!mi::reusable_result(old, plan, plan.roles[1]));  // never built
  CHECK(!mi::reusable_result(json(), plan, plan.roles[0]));
  CHECK(!mi::reusable_result(json{{"roles", "garbage"}}, plan, plan.roles[0]));

  SECTION("an input changed") {
    t.write("roles/a.yaml", "packages: [p1, p3]\n");
    mi::Plan changed = mi::make_plan(mi::load_spec(t.spec()), po);
    CHECK(!mi::reusable_result(old, changed, changed.roles[0]));
  }
  SECTION("another format asked for") {
    mi::PlanOptions q = po;
    q.formats = {"qcow2"};
    mi::Plan other = mi::make_plan(s, q);
    CHECK(!mi::reusable_result(old, other, other.roles[0]));
  }
  SECTION("the output was modified, same size") {
    mi::write_file_atomic(image, "disk BYTES");
    CHECK(!mi::reusable_result(old, plan, plan.roles[0]));
  }
  SECTION("the output is gone") {
    std::filesystem::remove(image);
    CHECK(!mi::reusable_result(old, plan, plan.roles[0]));
  }
}

// The SPDX SBOM (builder/sbom.cc): the document's required fields, one package per installed
// Debian package with its purl (version characters percent-encoded), artifacts with their
// sha256, SPDXIDs in SPDX's character set and unique, the image CONTAINS each, the date from
// SOURCE_DATE_EPOCH, and the same bytes for the same inputs.
#include "builder/sbom.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

namespace {

mi::SbomRequest request() {
  mi::SbomRequest r;
  r.image_name = "mi-control";
  r.debian_release = "bookworm";
  r.debian_version = "12";
  r.epoch = 1764000000;
  r.identity = "ab12cd";
  r.packages = {{"consul", "1.8.7+dfsg1-2+b3"}, {"libstdc++6", "12.2.0-14"}, {"zookeeper", "3.8.0-11+deb12u2"}};
  mi::ComponentStatus mesos;
  mesos.name = "mesos";
  mesos.present = true;
  mesos.version = "1.11.0";
  mesos.artifact_source = "url https://example.org/mesos.deb";
  mesos.artifact_sha256 = std::string(64, 'a');
  mi::ComponentStatus absent;
  absent.name = "marathon";
  r.components = {mesos, absent};
  return r;
}

}  // namespace

TEST_CASE("sbom: SPDX 2.3, every package and artifact, contained in the image") {
  auto r = request();
  auto j = nlohmann::json::parse(mi::sbom_json(r));
  CHECK(j["spdxVersion"] == "SPDX-2.3");
  CHECK(j["dataLicense"] == "CC0-1.0");
  CHECK(j["SPDXID"] == "SPDXRef-DOCUMENT");
  CHECK(j["creationInfo"]["created"] == "2025-11-24T16:00:00Z");
  CHECK(j["documentNamespace"] == "https://microservices-infrastructure.invalid/spdx/mi-control-ab12cd");
  REQUIRE(j["packages"].size() == 5);  // the image, 3 packages, 1 artifact (marathon is absent)
  CHECK(j["packages"][1]["name"] == "consul");
  CHECK(j["packages"][1]["versionInfo"] == "1.8.7+dfsg1-2+b3");
  CHECK(j["packages"][1]["externalRefs"][0]["referenceLocator"] ==
        "pkg:deb/debian/consul@1.8.7%2Bdfsg1-2%2Bb3?arch=amd64&distro=debian-12");
  CHECK(j["packages"][2]["externalRefs"][0]["referenceLocator"] ==
        "pkg:deb/debian/libstdc%2B%2B6@12.2.0-14?arch=amd64&distro=debian-12");
  CHECK(j["packages"][4]["name"] == "mesos");
  CHECK(j["packages"][4]["downloadLocation"] == "https://example.org/mesos.deb");
  CHECK(j["packages"][4]["checksums"][0]["checksumValue"] == std::string(64, 'a'));
  std::set<std::string> ids;
  for (const auto& p : j["packages"]) {
    std::string id = p["SPDXID"];
    CHECK(std::regex_match(id, std::regex("SPDXRef-[A-Za-z0-9.-]+")));
    CHECK(ids.insert(id).second);
    CHECK(p.contains("downloadLocation"));
  }
  REQUIRE(j["relationships"].size() == 5);
  CHECK(j["relationships"][0]["relationshipType"] == "DESCRIBES");
  for (size_t i = 1; i < 5; i++) {
    CHECK(j["relationships"][i]["spdxElementId"] == "SPDXRef-Image");
    CHECK(j["relationships"][i]["relationshipType"] == "CONTAINS");
    CHECK(ids.count(j["relationships"][i]["relatedSpdxElement"].get<std::string>()) == 1);
  }
  CHECK(mi::sbom_json(r) == mi::sbom_json(request()));  // reproducible
}

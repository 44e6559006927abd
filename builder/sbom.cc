// SPDX 2.3 SBOM of a role image (see sbom.h).
#include "builder/sbom.h"

#include <cctype>
#include <ctime>
#include <nlohmann/json.hpp>

namespace mi {
namespace {

// A purl component: unreserved characters kept, everything else percent-encoded.
std::string pct(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string o;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      o += char(c);
    } else {
      o += '%';
      o += hex[c >> 4];
      o += hex[c & 15];
    }
  }
  return o;
}

// SPDXIDs allow letters, digits, '.' and '-' only.
std::string spdx_id(const std::string& prefix, size_t i, const std::string& name) {
  std::string id = prefix + std::to_string(i) + "-";
  for (unsigned char c : name) id += (std::isalnum(c) || c == '.' || c == '-') ? char(c) : '-';
  return id;
}

std::string iso8601(uint64_t epoch) {
  time_t t = time_t(epoch);
  struct tm tm {};
  gmtime_r(&t, &tm);
  char b[32];
  strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return b;
}

}  // namespace

std::string deb_purl(const std::string& name, const std::string& version, const std::string& debian_version) {
  return "pkg:deb/debian/" + pct(name) + "@" + pct(version) + "?arch=amd64&distro=debian-" + pct(debian_version);
}

std::string sbom_json(const SbomRequest& r) {
  using Json = nlohmann::ordered_json;
  Json doc = {
      {"spdxVersion", "SPDX-2.3"},
      {"dataLicense", "CC0-1.0"},
      {"SPDXID", "SPDXRef-DOCUMENT"},
      {"name", r.image_name},
      {"documentNamespace", "https://microservices-infrastructure.invalid/spdx/" + r.image_name + "-" + r.identity},
      {"creationInfo", {{"created", iso8601(r.epoch)}, {"creators", {"Tool: mibuild"}}}}};
  Json packages = Json::array(), rel = Json::array();
  packages.push_back({{"name", r.image_name},
                      {"SPDXID", "SPDXRef-Image"},
                      {"downloadLocation", "NOASSERTION"},
                      {"primaryPackagePurpose", "OPERATING-SYSTEM"},
                      {"filesAnalyzed", false}});
  rel.push_back({{"spdxElementId", "SPDXRef-DOCUMENT"},
                 {"relationshipType", "DESCRIBES"},
                 {"relatedSpdxElement", "SPDXRef-Image"}});
  size_t i = 0;
  for (const auto& p : r.packages) {
    std::string id = spdx_id("SPDXRef-deb-", ++i, p.name);
    packages.push_back({{"name", p.name},
                        {"SPDXID", id},
                        {"versionInfo", p.version},
                        {"supplier", "Organization: Debian"},
                        {"downloadLocation", "NOASSERTION"},
                        {"filesAnalyzed", false},
                        {"externalRefs",
                         {{{"referenceCategory", "PACKAGE-MANAGER"},
                           {"referenceType", "purl"},
                           {"referenceLocator", deb_purl(p.name, p.version, r.debian_version)}}}}});
    rel.push_back({{"spdxElementId", "SPDXRef-Image"}, {"relationshipType", "CONTAINS"}, {"relatedSpdxElement", id}});
  }
  i = 0;
  for (const auto& c : r.components) {
    if (!c.present || c.artifact_sha256.empty()) continue;  // Debian components are packages above
    std::string id = spdx_id("SPDXRef-artifact-", ++i, c.name);
    Json pkg = {
        {"name", c.name},
        {"SPDXID", id},
        {"versionInfo", c.version.empty() ? "NOASSERTION" : c.version},
        {"downloadLocation", c.artifact_source.rfind("url ", 0) == 0 ? c.artifact_source.substr(4) : "NOASSERTION"},
        {"filesAnalyzed", false},
        {"checksums", {{{"algorithm", "SHA256"}, {"checksumValue", c.artifact_sha256}}}}};
    packages.push_back(pkg);
    rel.push_back({{"spdxElementId", "SPDXRef-Image"}, {"relationshipType", "CONTAINS"}, {"relatedSpdxElement", id}});
  }
  doc["packages"] = packages;
  doc["relationships"] = rel;
  return doc.dump(2) + "\n";
}

}  // namespace mi

// The SBOM of a role image: an SPDX 2.3 JSON document, OUTDIR/<name>-<role>.spdx.json, beside
// manifest.json (which lists it, so a signed manifest covers it). The image is one package
// that CONTAINS every installed Debian package (name, version, a purl
// pkg:deb/debian/NAME@VERSION?arch=amd64&distro=debian-12) and every artifact component (its
// sha256 as the checksum). Dates from SOURCE_DATE_EPOCH, the namespace from the stage keys:
// the same inputs give the same bytes.
// Flow: image_build.cc (after the packages are known) → write_sbom().
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "builder/image_build.h"

namespace mi {

struct SbomRequest {
  std::string image_name;      // "<name>-<role>"
  std::string debian_release;  // "bookworm" (the purl's distro is debian-<version>)
  std::string debian_version;  // "12"
  uint64_t epoch = 0;          // SOURCE_DATE_EPOCH: the document's "created"
  std::string identity;        // what makes the namespace unique: e.g. the finalize stage's key
  std::vector<PackageVersion> packages;
  std::vector<ComponentStatus> components;
};

std::string sbom_json(const SbomRequest& r);

// "pkg:deb/debian/consul@1.8.7%2Bdfsg1-2%2Bb3?arch=amd64&distro=debian-12"
std::string deb_purl(const std::string& name, const std::string& version, const std::string& debian_version);

}  // namespace mi

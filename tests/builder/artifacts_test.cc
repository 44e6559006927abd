// Artifacts: staged under their digest alone, so that no byte of a spec's url or path ever
// reaches the shell text of an mmdebstrap hook; a wrong sha256 stages nothing; a path must be a
// regular file.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <regex>

#include "builder/artifacts.h"
#include "builder/rootfs.h"
#include "common/digest.h"
#include "common/error.h"
#include "common/files.h"

namespace fs = std::filesystem;

namespace {

std::string tmpdir() {
  char t[] = "/tmp/mi-artifacts-test.XXXXXX";
  REQUIRE(mkdtemp(t) != nullptr);
  return t;
}

bool is_hook(const std::string& a) { return a.rfind("--setup-hook=", 0) == 0 || a.rfind("--customize-hook=", 0) == 0; }

}  // namespace

TEST_CASE("artifact kind comes from the url's or path's last element") {
  CHECK(mi::artifact_kind("https://e.org/a/mesos_1.11.0-1_amd64.deb") == "deb");
  CHECK(mi::artifact_kind("https://e.org/a/x.deb?token=1#frag") == "deb");
  CHECK(mi::artifact_kind("files/marathon-1.11.tgz") == "tar");
  CHECK(mi::artifact_kind("files/m.tar.zst") == "tar");
  CHECK(mi::artifact_kind("files/marathon.jar") == "file");
  CHECK(mi::staged_name(std::string(64, 'A'), "deb") == std::string(64, 'a') + ".deb");
  CHECK_THROWS_AS(mi::staged_name("x;rm -rf /", "deb"), mi::Error);
  CHECK_THROWS_AS(mi::staged_name(std::string(64, 'a'), "deb;x"), mi::Error);
}

TEST_CASE("no spec byte reaches the shell text of a hook: url with shell syntax, path with spaces") {
  std::string d = tmpdir();
  mi::Spec spec;
  spec.dir = d;
  spec.name = "t";
  const std::string evil_dir = "my dir $(id)";
  const std::string evil_file = "y;touch${IFS}pwned2;`id`.deb";
  fs::create_directories(d + "/" + evil_dir);
  mi::write_file_atomic(d + "/" + evil_dir + "/" + evil_file, "path artifact bytes");
  const std::string url_bytes = "url artifact bytes";

  mi::Component by_path;
  by_path.name = "p";
  by_path.source = "artifact";
  by_path.path = evil_dir + "/" + evil_file;
  by_path.sha256 = mi::sha256_hex("path artifact bytes");

  mi::Component by_url;
  by_url.name = "u";
  by_url.source = "artifact";
  by_url.url = "https://e.org/x;touch${IFS}pwned;.deb";
  by_url.sha256 = mi::sha256_hex(url_bytes);
  // Already in the download cache (named by digest): no network needed for this test.
  fs::create_directories(d + "/cache/artifacts");
  mi::write_file_atomic(d + "/cache/artifacts/" + by_url.sha256, url_bytes);

  mi::RootfsRequest req;
  req.packages = {"systemd"};
  req.artifact_dir = d + "/stage with space";
  req.source_date_epoch = "1700000000";
  for (const auto* c : {&by_path, &by_url}) {
    mi::StagedArtifact a;
    mi::ComponentStatus st;
    REQUIRE(mi::stage_artifact(spec, *c, d + "/cache", req.artifact_dir, a, st));
    REQUIRE(a.kind == "deb");
    REQUIRE(fs::path(a.file).filename() == a.sha256 + ".deb");
    REQUIRE(mi::read_file(a.file) == (c == &by_url ? url_bytes : "path artifact bytes"));
    req.local_debs.push_back(a.sha256);
  }
  auto argv = mi::mmdebstrap_argv(req, "/target");
  int hooks_with_debs = 0;
  const std::regex digest("[0-9a-f]{64}");
  for (const auto& a : argv) {
    if (!is_hook(a)) continue;
    INFO(a);
    for (const char* spec_bytes : {"touch", "pwned", "IFS", "my dir", "$(id)", "`", ";.deb", "e.org", "stage with"})
      CHECK(a.find(spec_bytes) == std::string::npos);
    if (a.find("mi-artifacts") != std::string::npos) hooks_with_debs++;
    // With the digests taken out, the text is one of a few fixed strings.
    std::string fixed = std::regex_replace(a, digest, "D");
    CHECK((fixed == "--setup-hook=mkdir -p \"$1/etc/apt/preferences.d\" && cp \"$MI_PINS_FILE\" "
                    "\"$1/etc/apt/preferences.d/mi-pins\"" ||
           fixed == "--customize-hook=mkdir -p \"$1/tmp/mi-artifacts\" && cp \"$MI_ARTIFACT_DIR/D.deb\" "
                    "\"$MI_ARTIFACT_DIR/D.deb\" \"$1/tmp/mi-artifacts/\"" ||
           fixed == "--customize-hook=chroot \"$1\" apt-get install -y --no-install-recommends "
                    "/tmp/mi-artifacts/D.deb /tmp/mi-artifacts/D.deb && rm -rf \"$1/tmp/mi-artifacts\"" ||
           fixed == "--customize-hook=grep -qx erofs \"$1/etc/initramfs-tools/modules\" || echo erofs >> "
                    "\"$1/etc/initramfs-tools/modules\"" ||
           fixed == "--customize-hook=SOURCE_DATE_EPOCH=1700000000 chroot \"$1\" update-initramfs -u -k all"));
  }
  CHECK(hooks_with_debs == 2);
  // The directory reaches the hooks through the environment only.
  CHECK(mi::mmdebstrap_env(req, "/p").at("MI_ARTIFACT_DIR") == req.artifact_dir);
  // A request not made by the loader cannot smuggle a digest-looking shell word either.
  req.local_debs.push_back("$(touch pwned)");
  CHECK_THROWS_AS(mi::mmdebstrap_argv(req, "/target"), mi::Error);
  req.local_debs.pop_back();
  req.release = "bookworm\ndeb [trusted=yes] http://evil.example/ sid main";
  CHECK_THROWS_AS(mi::mmdebstrap_argv(req, "/target"), mi::Error);
  fs::remove_all(d);
}

TEST_CASE("a wrong sha256 stages nothing; a path that is not a regular file is an error") {
  std::string d = tmpdir();
  mi::Spec spec;
  spec.dir = d;
  mi::write_file_atomic(d + "/a.tar", "bytes");
  mi::Component c;
  c.name = "a";
  c.source = "artifact";
  c.path = "a.tar";
  c.sha256 = std::string(64, '0');
  mi::StagedArtifact a;
  mi::ComponentStatus st;
  REQUIRE_THROWS_WITH(mi::stage_artifact(spec, c, d + "/cache", d + "/stage", a, st),
                      Catch::Contains("sha256") && Catch::Contains("nothing was installed"));
  CHECK((!fs::exists(d + "/stage") || fs::is_empty(d + "/stage")));
  CHECK_FALSE(st.present);
  // The right digest: staged, present, recorded with source and digest.
  c.sha256 = mi::sha256_hex("bytes");
  REQUIRE(mi::stage_artifact(spec, c, d + "/cache", d + "/stage", a, st));
  CHECK(st.present);
  CHECK(st.artifact_source == "path a.tar");
  CHECK(st.artifact_sha256 == c.sha256);
  // A directory, a device, a missing file.
  for (const std::string p : {std::string("."), std::string("/dev/zero")}) {
    c.path = p;
    mi::ComponentStatus s2;
    CHECK_THROWS_WITH(mi::stage_artifact(spec, c, d + "/cache", d + "/stage2", a, s2),
                      Catch::Contains("not a regular file"));
  }
  c.path = "missing.deb";
  mi::ComponentStatus s3;
  CHECK_THROWS_WITH(mi::stage_artifact(spec, c, d + "/cache", d + "/stage2", a, s3), Catch::Contains("does not exist"));
  c.optional = true;
  CHECK_FALSE(mi::stage_artifact(spec, c, d + "/cache", d + "/stage2", a, s3));
  CHECK_FALSE(fs::exists(d + "/stage2"));
  fs::remove_all(d);
}

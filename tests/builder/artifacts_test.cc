// Artifacts: staged under their digest alone, so that no byte of a spec's url or path ever
// reaches the shell text of an mmdebstrap hook; a wrong sha256 stages nothing; a path must be a
// regular file.
#include "builder/artifacts.h"

#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <regex>

#include "builder/finalize.h"
#include "builder/manifest.h"
#include "builder/rootfs.h"
#include "common/digest.h"
#include "common/error.h"
#include "common/files.h"
#include "common/process.h"
#include "make_artifacts.h"

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
  mi::test::make_deb(d + "/" + evil_dir + "/" + evil_file, "mi-evil-path", "libc6 (>= 2.36), python3:any");
  mi::test::make_deb(d + "/url.deb", "mi-evil-url", "default-jre-headless (>= 2:1.17) | java-runtime");

  mi::Component by_path;
  by_path.name = "p";
  by_path.source = "artifact";
  by_path.path = evil_dir + "/" + evil_file;
  by_path.sha256 = mi::sha256_file_hex(d + "/" + evil_dir + "/" + evil_file);

  mi::Component by_url;
  by_url.name = "u";
  by_url.source = "artifact";
  by_url.url = "https://e.org/x;touch${IFS}pwned;.deb";
  by_url.sha256 = mi::sha256_file_hex(d + "/url.deb");
  // Already in the download cache (named by digest): no network needed for this test.
  fs::create_directories(d + "/cache/artifacts");
  fs::copy_file(d + "/url.deb", d + "/cache/artifacts/" + by_url.sha256);

  mi::RootfsRequest req;
  req.packages = {"systemd"};
  req.source_date_epoch = "1700000000";
  for (const auto* c : {&by_path, &by_url}) {
    mi::StagedArtifact a;
    mi::ComponentStatus st;
    REQUIRE(mi::stage_artifact(spec, *c, d + "/cache", d + "/stage with space", a, st));
    REQUIRE(a.kind == "deb");
    REQUIRE(fs::path(a.file).filename() == a.sha256 + ".deb");
    REQUIRE(mi::sha256_file_hex(a.file) == c->sha256);
    for (const auto& dep : mi::artifact_dependencies(a)) req.packages.push_back(dep);
  }
  CHECK(req.packages == std::vector<std::string>{"systemd", "libc6", "python3", "default-jre-headless"});
  auto argv = mi::mmdebstrap_argv(req, "/target");
  CHECK(std::find(argv.begin(), argv.end(), "--include=systemd,libc6,python3,default-jre-headless") != argv.end());
  for (const auto& a : argv) {
    INFO(a);
    for (const char* spec_bytes : {"touch", "pwned", "IFS", "my dir", "$(id)", "`", ";.deb", "e.org", "stage with"})
      CHECK(a.find(spec_bytes) == std::string::npos);
    if (!is_hook(a)) continue;
    // Every hook is one of a few fixed strings.
    CHECK((a == "--setup-hook=mkdir -p \"$1/etc/apt/preferences.d\" && cp \"$MI_PINS_FILE\" "
                "\"$1/etc/apt/preferences.d/mi-pins\"" ||
           a == "--customize-hook=grep -qx erofs \"$1/etc/initramfs-tools/modules\" || echo erofs >> "
                "\"$1/etc/initramfs-tools/modules\"" ||
           a == "--customize-hook=SOURCE_DATE_EPOCH=1700000000 chroot \"$1\" update-initramfs -u -k all"));
  }
  // A request not made by the loader cannot smuggle a second sources.list line or shell text.
  req.release = "bookworm\ndeb [trusted=yes] http://evil.example/ sid main";
  CHECK_THROWS_AS(mi::mmdebstrap_argv(req, "/target"), mi::Error);
  req.release = "bookworm";
  req.source_date_epoch = "1; touch pwned";
  CHECK_THROWS_AS(mi::mmdebstrap_argv(req, "/target"), mi::Error);

  // A .deb whose dependency is not a package name is refused, naming the component.
  mi::test::make_deb(d + "/bad.deb", "mi-bad", "Foo_Bar", /*nocheck=*/true);
  mi::StagedArtifact bad{"bad", "path bad.deb", "", "deb", d + "/bad.deb", "bad.deb"};
  CHECK_THROWS_WITH(mi::artifact_dependencies(bad), Catch::Contains("component bad") && Catch::Contains("foo_bar"));
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

TEST_CASE("artifacts really installed: a .deb and a tarball, by path and by url, into a root tree") {
  std::string d = tmpdir();
  fs::create_directories(d + "/spec/files");
  fs::create_directories(d + "/served");
  mi::test::make_deb(d + "/spec/files/tool.deb", "mi-test-tool");
  mi::test::make_tar(d + "/spec/files/bundle.tar", "bundle");
  mi::test::make_deb(d + "/served/remote_1.0_all.deb", "mi-test-remote");
  mi::test::make_tar(d + "/served/rbundle.tar", "rbundle");
  mi::test::HttpServer http(d + "/served");

  mi::Spec spec;
  spec.dir = d + "/spec";
  auto component = [&](const std::string& name, const std::string& path, const std::string& url,
                       const std::string& file) {
    mi::Component c;
    c.name = name;
    c.source = "artifact";
    c.path = path;
    c.url = url;
    c.sha256 = mi::sha256_file_hex(file);
    return c;
  };
  std::vector<mi::Component> comps = {
      component("tool", "files/tool.deb", "", d + "/spec/files/tool.deb"),
      component("bundle", "files/bundle.tar", "", d + "/spec/files/bundle.tar"),
      component("remote", "", http.url("remote_1.0_all.deb"), d + "/served/remote_1.0_all.deb"),
      component("rbundle", "", http.url("rbundle.tar"), d + "/served/rbundle.tar"),
  };

  // A minimal root tree with dpkg's database, as the bootstrap leaves it.
  std::string tree = d + "/tree";
  for (const char* sub : {"/var/lib/dpkg/info", "/var/lib/dpkg/updates", "/var/lib/dpkg/triggers", "/opt"})
    fs::create_directories(tree + sub);
  mi::write_file_atomic(tree + "/var/lib/dpkg/status", "");
  mi::write_file_atomic(tree + "/var/lib/dpkg/available", "");

  SECTION("a wrong sha256 (by path or by url) fails before anything is written") {
    for (auto c : {comps[0], comps[2]}) {
      c.sha256 = mi::sha256_hex("something else");
      mi::StagedArtifact a;
      mi::ComponentStatus st;
      INFO(c.name);
      CHECK_THROWS_WITH(mi::stage_artifact(spec, c, d + "/cache", d + "/stage", a, st),
                        Catch::Contains("component " + c.name) && Catch::Contains("sha256"));
      CHECK((!fs::exists(d + "/stage") || fs::is_empty(d + "/stage")));
    }
    // The bad download is not kept in the cache either.
    CHECK((!fs::exists(d + "/cache/artifacts") || fs::is_empty(d + "/cache/artifacts")));
    CHECK(fs::is_empty(tree + "/opt"));
  }

  SECTION("staged, installed, recorded") {
    std::vector<mi::StagedArtifact> staged;
    std::vector<mi::ComponentStatus> statuses;
    for (const auto& c : comps) {
      mi::StagedArtifact a;
      mi::ComponentStatus st;
      st.name = c.name;
      REQUIRE(mi::stage_artifact(spec, c, d + "/cache", d + "/stage", a, st));
      CHECK(a.sha256 == c.sha256);
      CHECK(st.artifact_sha256 == c.sha256);
      CHECK(st.artifact_source == (c.url.empty() ? "path " + c.path : "url " + c.url));
      staged.push_back(a);
      statuses.push_back(st);
    }
    CHECK(staged[2].kind == "deb");
    CHECK(staged[3].kind == "tar");
    mi::install_artifacts(tree, staged);
    // dpkg's database of the tree knows both packages, and their files are there.
    auto pkgs = mi::installed_packages(tree);
    auto has = [&](const std::string& n) {
      return std::any_of(pkgs.begin(), pkgs.end(), [&](const mi::PackageVersion& p) { return p.name == n; });
    };
    CHECK(has("mi-test-tool"));
    CHECK(has("mi-test-remote"));
    CHECK(mi::read_file(tree + "/usr/share/mi-test-tool/hello") == "hello from mi-test-tool\n");
    CHECK(mi::read_file(tree + "/usr/share/mi-test-remote/hello") == "hello from mi-test-remote\n");
    // The tarballs under /opt/<component>/, modes kept.
    CHECK(mi::read_file(tree + "/opt/bundle/etc/bundle.conf") == "x=1\n");
    CHECK((fs::status(tree + "/opt/rbundle/bin/rbundle").permissions() & fs::perms::owner_exec) != fs::perms::none);

    // The manifest records each artifact's source and digest.
    mi::Spec mspec;
    mspec.file = d + "/spec.yaml";
    mi::write_file_atomic(mspec.file, "name: t\n");
    for (const auto& c : comps) mspec.components[c.name] = c;
    mi::RolePlan rp;
    rp.role = "r";
    for (const auto& c : comps) rp.resolved.components.push_back(c.name);
    mi::Plan plan;
    plan.manifest = d + "/out/manifest.json";
    mi::ImageResult res;
    res.components = statuses;
    auto m = mi::manifest_json(mspec, plan, {mi::RoleRecord{&rp, res}});
    const auto& mc = m["roles"][0]["components"];
    REQUIRE(mc.size() == 4);
    for (size_t i = 0; i < comps.size(); i++) {
      INFO(comps[i].name);
      CHECK(mc[i]["present"] == true);
      CHECK(mc[i]["artifact"]["sha256"] == comps[i].sha256);
      CHECK(mc[i]["artifact"]["source"] == (comps[i].url.empty() ? "path " + comps[i].path : "url " + comps[i].url));
    }
    // And a build that reuses this manifest keeps them.
    rp.stages = {};
    auto again = mi::reusable_result(m, plan, rp);
    REQUIRE(again);
    CHECK(again->components[2].artifact_source == "url " + comps[2].url);
  }
  http.stop();
  fs::remove_all(d);
}

TEST_CASE("finalize never hands systemctl a path or an option as a unit") {
  std::string d = tmpdir();
  fs::create_directories(d + "/etc/systemd/system");
  mi::write_file_atomic(d + "/etc/passwd", "root:x:0:0:root:/root:/bin/bash\n");
  for (const std::string bad : {"../../../etc/passwd", "--global", "-x.service", ".hidden.service"}) {
    mi::FinalizeRequest req;
    req.tree = d;
    req.enable = {bad};
    INFO(bad);
    CHECK_THROWS_WITH(mi::finalize_rootfs(req), Catch::Contains("is not a unit name"));
  }
  fs::remove_all(d);
}

// Inputs are data: every value that reaches a sources.list line, an apt pin, systemctl, useradd,
// authorized_keys or the host's file system is checked against its grammar when the spec is
// loaded, with FILE:LINE:COL and what would be valid; paths stay inside the spec's tree.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "builder/spec.h"
#include "common/digest.h"
#include "temp_spec.h"

using mi::test::one_error;
using mi::test::TempSpec;
using V = std::vector<std::string>;
namespace fs = std::filesystem;

namespace {

const char* kRole = "name: a\n";
const std::string kSpecHead = "name: t\nroles: [a]\n";

}  // namespace

TEST_CASE("base.release, base.mirror and components.*.suite: one word of their grammar") {
  TempSpec t(kSpecHead +
                 "base:\n"
                 "  release: \"bookworm\\ndeb [trusted=yes] http://evil.example/ sid main\"\n"
                 "  mirror: \"http://deb.debian.org/debian sid\"\n"
                 "components:\n"
                 "  c:\n"
                 "    source: debian\n"
                 "    suite: \"bullseye\\tx\"\n",
             {{"a", kRole}});
  V errs = t.errors();
  CHECK(errs.size() == 3);
  CHECK(one_error(errs, "base.release").rfind("spec.yaml:4:12: base.release: ", 0) == 0);
  CHECK(one_error(errs, "base.release").find("is not a Debian suite or codename") != std::string::npos);
  CHECK(one_error(errs, "base.mirror").rfind("spec.yaml:5:11: base.mirror: expected an http://", 0) == 0);
  CHECK(one_error(errs, "components.c.suite").rfind("spec.yaml:9:12: components.c.suite: ", 0) == 0);
  for (const auto& e : errs) CHECK(e.find('\n') == std::string::npos);

  TempSpec ok(kSpecHead +
                  "base:\n  release: bookworm-backports\n  mirror: file:/srv/mirror\n"
                  "components:\n  c:\n    source: debian\n    suite: bullseye\n",
              {{"a", kRole}});
  CHECK(ok.errors().empty());
}

TEST_CASE("role services are systemd unit names with a unit suffix") {
  TempSpec t(kSpecHead, {{"a",
                          "services:\n"
                          "  - --global\n"
                          "  - \"$(id).service\"\n"
                          "  - ../../../etc/passwd\n"
                          "  - docker\n"
                          "  - docker.service\n"
                          "  - getty@tty1.service\n"
                          "  - mi.target\n"}});
  V errs = t.errors();
  CHECK(errs.size() == 4);
  CHECK(
      one_error(errs, "services[0]").rfind("roles/a.yaml:2:5: services[0]: '--global' is not a systemd unit name", 0) ==
      0);
  CHECK(one_error(errs, "services[1]").find("ending in .service, .socket") != std::string::npos);
  one_error(errs, "services[2]");
  one_error(errs, "services[3]: 'docker'");
}

TEST_CASE("users: names, groups and one-line ssh keys") {
  TempSpec t(kSpecHead +
                 "users:\n"
                 "  - name: Root\n"
                 "    groups: [sudo, \"wheel,root\", \"-x\"]\n"
                 "    ssh_keys:\n"
                 "      - \"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE ops\\nssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAB evil\"\n"
                 "  - name: ops\n"
                 "    groups: [sudo, docker]\n"
                 "    ssh_keys: [\"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE ops@laptop\"]\n",
             {{"a", kRole}});
  V errs = t.errors();
  CHECK(errs.size() == 4);
  one_error(errs, "users[0].name: 'Root' is not a valid user name");
  CHECK(one_error(errs, "users[0].groups[1]").find("users[0].groups[1]: 'wheel,root' is not a valid group name") !=
        std::string::npos);
  one_error(errs, "users[0].groups[2]");
  CHECK(one_error(errs, "ssh_keys[0]").find("one line") != std::string::npos);
}

TEST_CASE("debian package names by policy, everywhere") {
  TempSpec t(kSpecHead +
                 "base:\n  packages: [\"-oDpkg::Pre-Invoke=x\", ok-pkg]\n  kernel: \"linux image\"\n"
                 "components:\n  c:\n    source: debian\n    packages: [\"a b\"]\n",
             {{"a", "packages: [\"pkg,other\", libc6]\n"}});
  V errs = t.errors();
  CHECK(errs.size() == 4);
  one_error(errs, "base.packages[0]");
  one_error(errs, "base.kernel");
  one_error(errs, "components.c.packages[0]");
  one_error(errs, "roles/a.yaml:1:12: packages[0]");
}

TEST_CASE("paths stay inside the spec's tree unless --allow-outside-paths") {
  std::string sum = std::string(64, 'a');
  TempSpec t(kSpecHead +
                 "roles_dir: /etc\n"
                 "overlays_dir: ../..\n"
                 "components:\n"
                 "  p1: {source: artifact, path: /etc/passwd, sha256: " +
                 sum +
                 "}\n"
                 "  p2: {source: artifact, path: ../../../etc/hostname, sha256: " +
                 sum +
                 "}\n"
                 "  p3: {source: artifact, path: link/passwd, sha256: " +
                 sum +
                 "}\n"
                 "  p4: {source: artifact, path: files, sha256: " +
                 sum +
                 "}\n"
                 "  p5: {source: artifact, path: files/x.deb, sha256: " +
                 sum + "}\n",
             {{"a", kRole}});
  fs::create_symlink("/etc", t.dir / "link");
  t.write("files/x.deb", "x");
  mi::SpecResult r = mi::parse_spec(t.spec());
  V errs = t.errors(r);
  one_error(errs, "roles_dir: must be relative");
  one_error(errs, "overlays_dir: resolves to");
  one_error(errs, "components.p1.path: must be relative");
  one_error(errs, "components.p2.path: resolves to");
  CHECK(one_error(errs, "components.p3.path: resolves to /etc/passwd").find("--allow-outside-paths") !=
        std::string::npos);
  one_error(errs, "components.p4.path: not a regular file");
  for (const auto& e : errs) CHECK(e.find("p5") == std::string::npos);

  // An overlay that is a symlink out of the tree.
  TempSpec o(kSpecHead + "overlays: [host]\n", {{"a", kRole}});
  fs::create_directories(o.dir / "overlays");
  fs::create_symlink("/etc", o.dir / "overlays/host");
  one_error(o.errors(), "overlays[0]: overlay directory resolves to /etc");

  // Allowed by the flag: only what does not exist or is not a file is still reported.
  mi::SpecResult allowed = mi::parse_spec(t.spec(), mi::SpecOptions{.allow_outside_paths = true});
  V aerrs = t.errors(allowed);
  for (const auto& e : aerrs) {
    CHECK(e.find("must be relative") == std::string::npos);
    CHECK(e.find("resolves to") == std::string::npos);
  }
  one_error(aerrs, "components.p4.path: not a regular file");
  CHECK(o.errors(mi::parse_spec(o.spec(), {.allow_outside_paths = true})).empty());
}

TEST_CASE("an artifact path that is a device or a directory is an error even when optional") {
  TempSpec t(kSpecHead +
                 "components:\n"
                 "  d: {source: artifact, path: dev, sha256: " +
                 std::string(64, 'a') + ", optional: true}\n",
             {{"a", kRole}});
  fs::create_symlink("/dev/zero", t.dir / "dev");
  V errs = t.errors(mi::parse_spec(t.spec(), {.allow_outside_paths = true}));
  one_error(errs, "spec.yaml:4:31: components.d.path: not a regular file");
}

TEST_CASE("cluster.discovery: what mi-firstboot would refuse, validate refuses (the same code)") {
  struct Case {
    std::string discovery, error;
  };
  for (const Case& k : {Case{"{method: static}", "discovery static needs peers"},
                        Case{"{method: dns}", "discovery dns needs discovery.dns_name"},
                        Case{"{method: cloud}", "discovery cloud needs discovery.cloud_join"}}) {
    TempSpec t(kSpecHead + "cluster:\n  discovery: " + k.discovery + "\n", {{"a", kRole}});
    V errs = t.errors();
    INFO(k.discovery);
    CHECK(errs == V{"spec.yaml:4:23: cluster.discovery: " + k.error +
                    (k.error.find("static") != std::string::npos ? std::string(" (discovery.peers, mi.peers=)")
                                                                 : std::string())});
  }
  for (const char* ok : {"{method: static, peers: [10.0.0.11]}", "{method: dns, dns_name: c.example.org}",
                         "{method: cloud, cloud_join: \"provider=aws tag_key=mi\"}", "{method: beacon}"}) {
    TempSpec t(kSpecHead + "cluster:\n  discovery: " + ok + "\n", {{"a", kRole}});
    INFO(ok);
    CHECK(t.errors().empty());
  }
}

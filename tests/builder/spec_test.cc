// Spec parsing and validation (builder/spec.cc): the default spec of the repository, and every
// kind of error with its exact message and file:line:col, several errors reported together.
#include "builder/spec.h"

#include <catch2/catch.hpp>

#include "common/error.h"
#include "temp_spec.h"

using mi::test::kMinimalRole;
using mi::test::kMinimalSpec;
using mi::test::TempSpec;
using V = std::vector<std::string>;

TEST_CASE("the repository's default spec is valid and complete") {
  mi::SpecResult r = mi::parse_spec(MI_SOURCE_DIR "/spec.yaml");
  for (auto& e : r.errors) INFO(e.str());
  REQUIRE(r.ok());
  const mi::Spec& s = r.spec;
  CHECK(s.name == "mi");
  CHECK(s.seed == "mi");
  CHECK(s.base.release == "bookworm");
  CHECK(s.roles == V{"control", "compute", "all-in-one"});
  CHECK(s.role_defs.size() == 3);
  CHECK(s.role_defs.at("all-in-one").include == V{"control", "compute"});
  CHECK(s.overlays == V{"base"});
  CHECK(s.users.empty());
  REQUIRE(s.components.count("consul"));
  CHECK(s.components.at("consul").source == "debian");
  CHECK(s.components.at("consul").suite == "bullseye");
  CHECK(s.components.at("consul").version == "1.8.7");
  CHECK(s.components.at("docker").packages == V{"docker.io"});
  CHECK(s.components.at("zookeeper").packages == V{"zookeeper"});
  CHECK(s.components.at("dnsmasq").packages == V{"dnsmasq"});  // default: the component's name
  for (const char* a : {"mesos", "marathon", "registrator"}) {
    INFO(a);
    CHECK(s.components.at(a).source == "artifact");
    CHECK(s.components.at(a).optional);
    CHECK(mi::component_unresolved_reason(s, s.components.at(a)) ==
          std::string("provide components.") + a + ".url+sha256 or path+sha256");
  }
  CHECK(s.cluster.control_count % 2 == 1);
  // Optional unresolved artifacts are notes, not errors.
  REQUIRE(r.notes.size() == 3);
  CHECK(r.notes[0].message == "not in image: mesos (optional; provide components.mesos.url+sha256 or path+sha256)");
}

TEST_CASE("a small valid spec parses into every field") {
  TempSpec t(
      "name: demo\n"
      "seed: s1\n"
      "base:\n"
      "  release: trixie\n"
      "  mirror: http://mirror.example/debian\n"
      "  kernel: linux-image-cloud-amd64\n"
      "  packages: [less, curl]\n"
      "roles: [a]\n"
      "formats: [qcow2, raw]\n"
      "overlays: [o1]\n"
      "users:\n"
      "  - name: ops\n"
      "    groups: [sudo, adm]\n"
      "    ssh_keys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB ops@x']\n"
      "components:\n"
      "  c1:\n"
      "    source: debian\n"
      "    packages: [p1, p2]\n"
      "cluster:\n"
      "  name: c\n"
      "  datacenter: west\n"
      "  control_count: 5\n"
      "  discovery: {method: dns, dns_name: control.example}\n"
      "  wan_join: [10.1.0.1]\n"
      "disk: {esp_mb: 128, var_mb: 512}\n",
      {{"a", kMinimalRole}}, {"o1"});
  mi::SpecResult r = mi::parse_spec(t.spec());
  CHECK(t.errors(r) == V{});
  const mi::Spec& s = r.spec;
  CHECK(s.name == "demo");
  CHECK(s.seed == "s1");
  CHECK(s.base.release == "trixie");
  CHECK(s.base.mirror == "http://mirror.example/debian");
  CHECK(s.base.kernel == "linux-image-cloud-amd64");
  CHECK(s.base.packages == V{"less", "curl"});
  CHECK(s.formats == V{"qcow2", "raw"});
  REQUIRE(s.users.size() == 1);
  CHECK(s.users[0].name == "ops");
  CHECK(s.users[0].groups == V{"sudo", "adm"});
  CHECK(s.users[0].pos.line == 12);
  CHECK(s.components.at("c1").packages == V{"p1", "p2"});
  CHECK(s.components.at("c1").pos.line == 16);
  CHECK(s.components.at("c1").pos.col == 3);
  CHECK(s.cluster.name == "c");
  CHECK(s.cluster.datacenter == "west");
  CHECK(s.cluster.control_count == 5);
  CHECK(s.cluster.discovery.method == "dns");
  CHECK(s.cluster.discovery.dns_name == "control.example");
  CHECK(s.cluster.wan_join == V{"10.1.0.1"});
  CHECK(s.disk.esp_mb == 128);
  CHECK(s.disk.var_mb == 512);
  CHECK(s.role_defs.at("a").pos.line == 1);
}

TEST_CASE("defaults: seed is the name, formats raw, roles every role found") {
  TempSpec t("name: x\ncomponents: {c1: {source: debian}}\n", {{"a", kMinimalRole}, {"b", "name: b\n"}});
  mi::SpecResult r = mi::parse_spec(t.spec());
  CHECK(t.errors(r) == V{});
  CHECK(r.spec.seed == "x");
  CHECK(r.spec.formats == V{"raw"});
  CHECK(r.spec.roles == V{"a", "b"});
}

TEST_CASE("unknown keys are named with the valid keys, at every level") {
  TempSpec t(std::string(kMinimalSpec) +
                 "nmae: y\n"
                 "base:\n"
                 "  relase: sid\n"
                 "cluster:\n"
                 "  discovery:\n"
                 "    methd: dns\n",
             {{"a", "name: a\npackage: [x]\n"}});
  CHECK(t.errors() ==
        V{"spec.yaml:7:1: unknown key 'nmae' (valid keys: name, seed, base, roles, roles_dir, formats, overlays, "
          "overlays_dir, users, components, cluster, disk)",
          "spec.yaml:9:3: unknown key 'relase' in base (valid keys: release, mirror, kernel, packages)",
          "spec.yaml:12:5: unknown key 'methd' in cluster.discovery (valid keys: method, peers, dns_name, "
          "beacon_group, cloud_join)",
          "roles/a.yaml:2:1: unknown key 'package' (valid keys: name, include, packages, components, overlays, "
          "services)"});
}

TEST_CASE("wrong types name the expected type and what was found") {
  TempSpec t(
      "name: [t]\n"
      "roles: a\n"
      "base: [x]\n"
      "formats: [raw, {x: 1}]\n"
      "components:\n"
      "  c1:\n"
      "    source: debian\n"
      "    optional: maybe\n"
      "cluster:\n"
      "  control_count: three\n"
      "users: {name: x}\n",
      {{"a", kMinimalRole}});
  CHECK(t.errors() == V{
                          "spec.yaml:1:7: name: expected a string, got a list",
                          "spec.yaml:2:8: roles: expected a list of strings, got \"a\"",
                          "spec.yaml:3:7: base: expected a map, got a list",
                          "spec.yaml:4:16: formats[1]: expected a string, got a map",
                          "spec.yaml:8:15: components.c1.optional: expected true or false, got \"maybe\"",
                          "spec.yaml:10:18: cluster.control_count: expected an integer, got \"three\"",
                          "spec.yaml:11:8: users: expected a list of users ({name, ssh_keys, groups}), got a map",
                      });
}

TEST_CASE("a password anywhere is rejected, pointing at ssh_keys") {
  TempSpec t(std::string(kMinimalSpec) +
                 "users:\n"
                 "  - name: ops\n"
                 "    password: hunter2\n"
                 "  - name: dev\n"
                 "    hashed_passwd: x\n",
             {{"a", kMinimalRole}});
  CHECK(t.errors() == V{"spec.yaml:9:5: users[0].password: passwords are not accepted in a spec; users log in with "
                        "ssh_keys (public keys, one authorized_keys line each)",
                        "spec.yaml:11:5: users[1].hashed_passwd: passwords are not accepted in a spec; users log in "
                        "with ssh_keys (public keys, one authorized_keys line each)"});
}

TEST_CASE("ssh keys must be public key lines; a private key is called out") {
  TempSpec t(std::string(kMinimalSpec) +
                 "users:\n"
                 "  - name: ops\n"
                 "    ssh_keys:\n"
                 // Split so that no scanner takes this test for a committed key.
                 "      - '-----BEGIN OPENSSH PRIV"
                 "ATE KEY-----'\n"
                 "      - ssh-dss AAAAB3NzaC1kc3MAAACBAP\n"
                 "  - name: Bad User\n",
             {{"a", kMinimalRole}});
  CHECK(
      t.errors() ==
      V{"spec.yaml:10:9: users[0].ssh_keys[0]: this is a private key; put only public keys (the .pub file's line) in "
        "a spec",
        "spec.yaml:11:9: users[0].ssh_keys[1]: not an OpenSSH public key line: expected \"TYPE BASE64 [comment]\" with "
        "TYPE one of ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256, ecdsa-sha2-nistp384, ecdsa-sha2-nistp521, "
        "sk-ssh-ed25519@openssh.com, sk-ecdsa-sha2-nistp256@openssh.com",
        "spec.yaml:12:11: users[1].name: 'Bad User' is not a valid user name (a-z, 0-9, _ and -, at most 32)"});
}

TEST_CASE("missing files: overlay directory, artifact path, roles file, roles directory") {
  TempSpec t(
      "name: t\n"
      "roles: [a, nope]\n"
      "overlays: [o1, gone]\n"
      "components:\n"
      "  c1: {source: debian}\n"
      "  tool:\n"
      "    source: artifact\n"
      "    path: files/tool.tar\n"
      "    sha256: 98ea6e4f216f2fb4b69fff9b3a44842c38686ca685f3f55dc48c5d3fb1107be4\n",
      {{"a", "name: a\noverlays: [o1, lost]\n"}}, {"o1"});
  CHECK(t.errors() == V{"spec.yaml:2:12: roles[1]: unknown role 'nope': no roles file defines it (roles in roles: a)",
                        "spec.yaml:3:16: overlays[1]: overlay directory not found: overlays/gone",
                        "spec.yaml:8:11: components.tool.path: file not found: files/tool.tar",
                        "roles/a.yaml:2:16: overlays[1]: overlay directory not found: overlays/lost"});

  TempSpec u("name: t\nroles_dir: elsewhere\n");
  CHECK(u.errors() == V{"spec.yaml:2:12: roles directory not found: elsewhere"});

  TempSpec none("name: t\n");
  std::filesystem::remove(none.spec());
  CHECK(none.errors() == V{"spec.yaml: file not found"});
}

TEST_CASE("the same role name in two files is reported at both") {
  TempSpec t(kMinimalSpec, {{"a", kMinimalRole}, {"b", "# another\nname: a\n"}});
  CHECK(t.errors() == V{"roles/a.yaml:1:7: duplicate role 'a' (also defined at roles/b.yaml:2:7)",
                        "roles/b.yaml:2:7: duplicate role 'a' (also defined at roles/a.yaml:1:7)"});
}

TEST_CASE("formats: unknown ones list the supported") {
  TempSpec t("name: t\nroles: [a]\nformats: [raw, floppy, cdrom]\ncomponents: {c1: {source: debian}}\n",
             {{"a", kMinimalRole}});
  CHECK(t.errors() == V{"spec.yaml:3:16: formats[1]: unknown format 'floppy' (supported: raw, qcow2, vmdk, vhd, openstack, ami, vagrant, tar, pxe, iso)",
                        "spec.yaml:3:24: formats[2]: unknown format 'cdrom' (supported: raw, qcow2, vmdk, vhd, openstack, ami, vagrant, tar, pxe, iso)"});
  CHECK(mi::check_format("qcow2").empty());
  TempSpec d("name: t\nroles: [a]\nformats: [raw, qcow2, raw]\ncomponents: {c1: {source: debian}}\n",
             {{"a", kMinimalRole}});
  CHECK(d.errors() == V{"spec.yaml:3:23: formats[2]: 'raw' listed twice"});
  for (const auto& f : mi::supported_formats()) CHECK(mi::check_format(f).empty());
}

TEST_CASE("a role referencing an unknown component names the defined ones") {
  TempSpec t(kMinimalSpec, {{"a", "name: a\ncomponents:\n  - c1\n  - c2\n"}});
  CHECK(t.errors() == V{"roles/a.yaml:4:5: components[1]: unknown component 'c2' (defined in spec.yaml: c1)"});
}

TEST_CASE("an even control_count is an error that says why") {
  TempSpec t(std::string(kMinimalSpec) + "cluster:\n  control_count: 4\n", {{"a", kMinimalRole}});
  CHECK(t.errors() == V{"spec.yaml:8:18: cluster.control_count: 4 is even; use 3 or 5: an even count gives no extra "
                        "fault tolerance over one node fewer and more ways to tie a vote"});
  TempSpec z(std::string(kMinimalSpec) + "cluster:\n  control_count: 0\n", {{"a", kMinimalRole}});
  CHECK(z.errors() == V{"spec.yaml:8:18: cluster.control_count: must be at least 1, got 0"});
}

TEST_CASE("artifacts: sha256 required and well-formed, url or path required unless optional") {
  TempSpec t(std::string(kMinimalSpec) +
                 "  nosum:\n"
                 "    source: artifact\n"
                 "    url: https://example.com/a.tar\n"
                 "  badsum:\n"
                 "    source: artifact\n"
                 "    url: https://example.com/b.tar\n"
                 "    sha256: 12ab\n"
                 "  nowhere:\n"
                 "    source: artifact\n"
                 "    sha256: 98ea6e4f216f2fb4b69fff9b3a44842c38686ca685f3f55dc48c5d3fb1107be4\n"
                 "  maybe:\n"
                 "    source: artifact\n"
                 "    optional: true\n"
                 "  ftp:\n"
                 "    source: artifact\n"
                 "    url: ftp://example.com/c.tar\n"
                 "    sha256: 98ea6e4f216f2fb4b69fff9b3a44842c38686ca685f3f55dc48c5d3fb1107be4\n",
             {{"a", kMinimalRole}});
  mi::SpecResult r = mi::parse_spec(t.spec());
  CHECK(t.errors(r) ==
        V{"spec.yaml:7:3: components.nosum: an artifact needs sha256 (the SHA-256 of the file, 64 hex digits) to be "
          "checked against",
          "spec.yaml:13:13: components.badsum.sha256: not a SHA-256: expected 64 hex digits, got 4 characters",
          "spec.yaml:14:3: components.nowhere: cannot be resolved: an artifact needs url or path; provide "
          "components.nowhere.url+sha256 or path+sha256, or mark it optional: true",
          "spec.yaml:22:10: components.ftp.url: expected an http:// or https:// URL, got \"ftp://example.com/c.tar\""});
  CHECK(t.notes(r) ==
        V{"spec.yaml:17:3: not in image: maybe (optional; provide components.maybe.url+sha256 or path+sha256)"});
}

TEST_CASE("component sources: unknown source, missing source, fields of the other source") {
  TempSpec t(std::string(kMinimalSpec) +
                 "  c2:\n"
                 "    source: pypi\n"
                 "  c3:\n"
                 "    packages: [x1]\n"
                 "  c4:\n"
                 "    source: debian\n"
                 "    sha256: 98ea6e4f216f2fb4b69fff9b3a44842c38686ca685f3f55dc48c5d3fb1107be4\n"
                 "  c5:\n"
                 "    source: artifact\n"
                 "    suite: bullseye\n"
                 "    optional: true\n",
             {{"a", kMinimalRole}});
  CHECK(t.errors() ==
        V{"spec.yaml:8:13: components.c2.source: unknown source 'pypi' (valid: debian, artifact)",
          "spec.yaml:9:3: components.c3: missing 'source' (debian or artifact)",
          "spec.yaml:13:5: components.c4.sha256: only valid with source: artifact (this component is a Debian package)",
          "spec.yaml:16:5: components.c5.suite: only valid with source: debian"});
}

TEST_CASE("discovery: unknown method and a malformed beacon group") {
  TempSpec t(std::string(kMinimalSpec) +
                 "cluster:\n"
                 "  discovery:\n"
                 "    method: gossip\n"
                 "    beacon_group: 10.0.0.1:7946\n",
             {{"a", kMinimalRole}});
  CHECK(t.errors() ==
        V{"spec.yaml:9:13: cluster.discovery.method: unknown method 'gossip' (valid: static, dns, beacon, cloud)",
          "spec.yaml:10:19: cluster.discovery.beacon_group: expected an IPv4 multicast ADDRESS:PORT (e.g. "
          "239.255.77.77:7946), got \"10.0.0.1:7946\""});
}

TEST_CASE("role include cycles are errors at the include entry; so are unknown includes") {
  TempSpec t("name: t\nroles: [a]\n", {{"a", "name: a\ninclude: [b]\n"},
                                       {"b", "name: b\ninclude: [c, ghost]\n"},
                                       {"c", "include:\n  - a\n"},
                                       {"d", "include: [d]\n"}});
  CHECK(t.errors() == V{"roles/b.yaml:2:14: include[1]: unknown role 'ghost' (roles: a, b, c, d)",
                        "roles/c.yaml:2:5: include[0]: role include cycle: a → b → c → a",
                        "roles/d.yaml:1:11: include[0]: role include cycle: d → d"});
}

TEST_CASE("services started by mi-firstboot cannot be enabled at boot") {
  TempSpec t(kMinimalSpec, {{"a", "name: a\nservices: [ssh.service, zookeeper]\n"}});
  CHECK(t.errors() == V{"roles/a.yaml:2:25: services[1]: zookeeper is started by mi-firstboot once the cluster has "
                        "agreed on its configuration; enabled at boot it would start unconfigured (list the "
                        "component instead)"});
}

TEST_CASE("names, package names, duplicate keys, disk sizes") {
  TempSpec t(
      "name: My_Image\n"
      "roles: [a]\n"
      "name: again\n"
      "base:\n"
      "  packages: [ok-pkg, Bad_Pkg]\n"
      "components: {c1: {source: debian}}\n"
      "disk:\n"
      "  esp_mb: 8\n",
      {{"a", kMinimalRole}});
  CHECK(t.errors() ==
        V{"spec.yaml:1:7: name: 'My_Image' is not a valid image name (lower-case letters, digits and '-')",
          "spec.yaml:3:1: name: duplicate key (first at line 1)",
          "spec.yaml:5:22: base.packages[1]: 'Bad_Pkg' is not a Debian package name (lower-case letters, digits, "
          "+ - .; at least 2)",
          "spec.yaml:8:11: disk.esp_mb: must be at least 32 (FAT32 and a kernel + initrd), got 8"});
}

TEST_CASE("YAML syntax errors carry their position") {
  TempSpec t("name: t\nroles: [a\nformats: raw\n", {{"a", kMinimalRole}});
  auto e = t.errors();
  REQUIRE(e.size() == 1);
  CHECK(e[0].rfind("spec.yaml:", 0) == 0);
  CHECK(e[0].find(": YAML syntax error: ") != std::string::npos);
  CHECK(e[0].substr(0, 12) != "spec.yaml: Y");  // a line and column are given

  TempSpec empty("", {{"a", kMinimalRole}});
  CHECK(empty.errors().size() == 1);
  CHECK(empty.errors()[0].rfind("spec.yaml:1:1: the spec is empty", 0) == 0);
}

TEST_CASE("many problems are reported together, in file order") {
  TempSpec t(
      "name: t\n"
      "roles: [a]\n"
      "formats: [tape]\n"
      "components:\n"
      "  c1: {source: debian, url: 'http://x'}\n"
      "cluster: {control_count: 2}\n",
      {{"a", "name: a\ncomponents: [c1, cx]\nsize: 3\n"}});
  auto e = t.errors();
  REQUIRE(e.size() == 5);
  CHECK(e[0] == "spec.yaml:3:11: formats[0]: unknown format 'tape' (supported: raw, qcow2, vmdk, vhd, openstack, ami, vagrant, tar, pxe, iso)");
  CHECK(e[1].rfind("spec.yaml:5:24: components.c1.url: only valid with source: artifact", 0) == 0);
  CHECK(e[2].rfind("spec.yaml:6:26: cluster.control_count: 2 is even", 0) == 0);
  CHECK(e[3] == "roles/a.yaml:2:18: components[1]: unknown component 'cx' (defined in spec.yaml: c1)");
  CHECK(e[4].rfind("roles/a.yaml:3:1: unknown key 'size'", 0) == 0);
}

TEST_CASE("load_spec throws the first error with a count of the rest") {
  TempSpec t("name: t\nroles: [a]\nformats: [tape, disk]\n", {{"a", "name: a\n"}});
  try {
    mi::load_spec(t.spec());
    FAIL("no error");
  } catch (const mi::Error& e) {
    CHECK(t.strip(e.where) == "spec.yaml:3:11");
    CHECK(e.why ==
          "formats[0]: unknown format 'tape' (supported: raw, qcow2, vmdk, vhd, openstack, ami, vagrant, tar, pxe, iso) (and 1 more problems: run `mibuild "
          "validate " +
              t.spec() + "`)");
  }
}

TEST_CASE("component_unresolved_reason: debian, url, path") {
  TempSpec t(std::string(kMinimalSpec) +
                 "  byurl: {source: artifact, url: 'https://x/y', sha256: "
                 "98ea6e4f216f2fb4b69fff9b3a44842c38686ca685f3f55dc48c5d3fb1107be4}\n"
                 "  bypath: {source: artifact, path: f.bin, sha256: "
                 "98ea6e4f216f2fb4b69fff9b3a44842c38686ca685f3f55dc48c5d3fb1107be4}\n",
             {{"a", kMinimalRole}});
  t.write("f.bin", "hi\n");
  mi::Spec s = mi::load_spec(t.spec());
  CHECK(mi::component_unresolved_reason(s, s.components.at("c1")) == "");
  CHECK(mi::component_unresolved_reason(s, s.components.at("byurl")) == "");
  CHECK(mi::component_unresolved_reason(s, s.components.at("bypath")) == "");
  std::filesystem::remove(t.dir / "f.bin");
  CHECK(t.strip(mi::component_unresolved_reason(s, s.components.at("bypath"))) ==
        "components.bypath.path not found: f.bin; provide components.bypath.url+sha256 or path+sha256");
}

TEST_CASE("a user without ssh_keys is a note: nobody could log in") {
  TempSpec t(std::string(kMinimalSpec) + "users:\n  - name: ops\n", {{"a", kMinimalRole}});
  mi::SpecResult r = mi::parse_spec(t.spec());
  CHECK(t.errors(r) == V{});
  CHECK(t.notes(r) == V{"spec.yaml:8:5: users[0]: user ops has no ssh_keys and no password: nobody can log in as ops"});
}

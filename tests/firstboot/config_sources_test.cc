// Each config source against fixtures in the formats the real producers write: cluster.yaml
// as mibuild bakes it, a NoCloud seed as cloud-localds makes it, an OpenStack config drive as
// Nova writes it, EC2 IMDSv2 and OpenStack metadata served by a fixture HTTP server that
// speaks the documented protocols (token PUT first; GETs without the token get 401).
#include "firstboot/config_sources.h"

#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "common/error.h"
#include "common/files.h"
#include "common/process.h"
#include "firstboot/http.h"
#include "fixture_http_server.h"
#include "skip.h"

using namespace mi::firstboot;

namespace {
const std::string F = std::string(MI_SOURCE_DIR) + "/tests/fixtures/firstboot";

// The EC2 instance metadata service, IMDSv2 only (HttpTokens=required).
FixtureReply imdsv2(const FixtureRequest& r, const std::string& user_data) {
  FixtureReply rep;
  const std::string token = "AQAEAFakeToken==";
  if (r.method == "PUT" && r.target == "/latest/api/token") {
    if (!r.headers.count("x-aws-ec2-metadata-token-ttl-seconds")) return FixtureReply{400, "missing ttl"};
    return FixtureReply{200, token};
  }
  if (r.method != "GET") return FixtureReply{405, ""};
  auto t = r.headers.find("x-aws-ec2-metadata-token");
  if (t == r.headers.end() || t->second != token) return FixtureReply{401, ""};
  if (r.target == "/latest/meta-data/instance-id") return FixtureReply{200, "i-0abc1234def567890"};
  if (r.target == "/latest/meta-data/local-ipv4") return FixtureReply{200, "10.0.0.13"};
  if (r.target == "/latest/meta-data/local-hostname") return FixtureReply{200, "ip-10-0-0-13.ec2.internal"};
  if (r.target == "/latest/user-data" && !user_data.empty()) return FixtureReply{200, user_data};
  return FixtureReply{404, ""};
}

// The OpenStack metadata service (no token; EC2-style token PUT is not supported).
FixtureReply openstack(const FixtureRequest& r) {
  if (r.method == "GET" && r.target == "/openstack/latest/meta_data.json")
    return FixtureReply{200, mi::read_file(F + "/configdrive/openstack/latest/meta_data.json")};
  if (r.method == "GET" && r.target == "/openstack/latest/user_data")
    return FixtureReply{200, mi::read_file(F + "/configdrive/openstack/latest/user_data")};
  return FixtureReply{404, ""};
}
}  // namespace

TEST_CASE("cluster.yaml: the image defaults", "[sources]") {
  ConfigLayer L = read_cluster_yaml(F + "/cluster.yaml");
  CHECK(L.present);
  CHECK(*L.cluster.value == "prod");
  CHECK(L.cluster.where == F + "/cluster.yaml:3:9");
  CHECK(*L.control_count.value == 3);
  CHECK(*L.discovery.value == "static");
  CHECK(*L.static_peers.value == std::vector<std::string>{"10.0.0.11", "10.0.0.12", "10.0.0.13"});
  CHECK(*L.wan_join.value == std::vector<std::string>{"10.1.0.11", "10.1.0.12"});
  CHECK(*L.role.value == Role::compute);
  CHECK_FALSE(L.secret.value);
  CHECK_FALSE(read_cluster_yaml(F + "/does-not-exist.yaml").present);
}

TEST_CASE("cluster.yaml: errors name file, line and column", "[sources]") {
  CHECK_THROWS_WITH(read_cluster_yaml(F + "/bad/bad-indent.yaml"), Catch::StartsWith(F + "/bad/bad-indent.yaml:3:"));
  CHECK_THROWS_WITH(read_cluster_yaml(F + "/bad/unknown-key.yaml"),
                    Catch::StartsWith(F + "/bad/unknown-key.yaml:3:3: unknown key cluster.controll_count"));
  CHECK_THROWS_WITH(read_cluster_yaml(F + "/bad/secret-in-defaults.yaml"),
                    Catch::StartsWith(F + "/bad/secret-in-defaults.yaml:3:9: a secret may not be written here"));
  ConfigLayer L;
  CHECK_THROWS_WITH(parse_mi_yaml("cluster:\n  control_count: three\n", "x.yaml", &L),
                    Catch::StartsWith("x.yaml:2:18: cluster.control_count must be a whole number"));
  CHECK_THROWS_WITH(parse_mi_yaml("role: boss\n", "x.yaml", &L), Catch::StartsWith("x.yaml:1:7: unknown role 'boss'"));
  CHECK_THROWS_WITH(parse_mi_yaml("cluster:\n  discovery: [a]\n", "x.yaml", &L),
                    Catch::Contains("cluster.discovery must be a mapping"));
}

TEST_CASE("NoCloud seed: meta-data and #cloud-config user-data", "[sources]") {
  ConfigLayer L = read_nocloud(F + "/nocloud");
  CHECK(L.present);
  CHECK(*L.instance_id.value == "iid-ctl-2-0001");
  CHECK(*L.node_name.value == "ctl-2");  // local-hostname, short form
  CHECK(L.node_name.where == F + "/nocloud/meta-data:2:17");
  CHECK(*L.role.value == Role::control);
  CHECK(*L.secret.value == "nocloud-secret-value");
  CHECK(L.secret.where == F + "/nocloud/user-data:11:11");
  CHECK(*L.datacenter.value == "lab");
  CHECK(*L.discovery.value == "beacon");
  CHECK(*L.beacon_group.value == "239.255.77.78:7947");
  CHECK_FALSE(L.cluster.value);
  CHECK_FALSE(read_nocloud("/nonexistent-seed").present);

  // A user-data that is not a cloud-config carries nothing for us.
  ConfigLayer S;
  parse_user_data("#!/bin/sh\necho hi\n", "user-data", &S);
  CHECK_FALSE(S.role.value);
  // Errors in our key point into the user-data.
  CHECK_THROWS_WITH(parse_user_data("#cloud-config\nmi:\n  cluster:\n    nmae: x\n", "ud", &S),
                    Catch::StartsWith("ud:4:5: unknown key cluster.nmae"));
}

TEST_CASE("OpenStack config drive: meta_data.json as Nova writes it, user_data", "[sources]") {
  ConfigLayer L = read_configdrive(F + "/configdrive");
  CHECK(L.present);
  CHECK(*L.instance_id.value == "d8e02d56-2648-49a3-bf97-6be8f1204f38");
  CHECK(*L.node_name.value == "ctl-3");
  CHECK(*L.role.value == Role::control);
  CHECK(*L.datacenter.value == "dc2");
  CHECK(L.datacenter.where == F + "/configdrive/openstack/latest/meta_data.json:meta.mi_dc");
  CHECK(*L.control_count.value == 5);
  CHECK(*L.static_peers.value == std::vector<std::string>{"10.2.0.11", "10.2.0.12", "10.2.0.13"});
  CHECK(*L.secret.value == "configdrive-secret-value");
  CHECK(*L.discovery.value == "static");
  CHECK_FALSE(read_configdrive("/nonexistent-drive").present);

  ConfigLayer B;
  CHECK_THROWS_WITH(parse_openstack_meta("{\"meta\": {\"mi_rol\": \"control\"}}", "md.json", &B),
                    Catch::StartsWith("md.json:meta.mi_rol: unknown mi_ key"));
  CHECK_THROWS_WITH(parse_openstack_meta("{\"meta\": {\"mi_secret\": \"x\"}}", "md.json", &B),
                    Catch::Contains("may not be in server metadata"));
  CHECK_THROWS_WITH(parse_openstack_meta("{\"uuid\": ", "md.json", &B), Catch::StartsWith("md.json:byte"));
}

TEST_CASE("EC2 IMDSv2: token first; without it, 401", "[sources][http]") {
  const std::string ud = mi::read_file(F + "/ec2/user-data");
  FixtureHttpServer srv([&](const FixtureRequest& r) { return imdsv2(r, ud); });
  // The fixture enforces the protocol: no token, no metadata.
  CHECK(http_request("GET", srv.base_url() + "/latest/meta-data/instance-id").status == 401);

  ConfigLayer L = read_ec2_metadata(srv.base_url());
  CHECK(L.present);
  CHECK(*L.instance_id.value == "i-0abc1234def567890");
  CHECK(*L.address.value == "10.0.0.13");
  CHECK(L.address.where == srv.base_url() + "/latest/meta-data/local-ipv4");
  CHECK(*L.node_name.value == "ctl-ec2-1");  // mi.node in user-data beats local-hostname
  CHECK(*L.cluster.value == "prod");
  CHECK(*L.wan_join.value == std::vector<std::string>{"10.9.0.11", "10.9.0.12"});
  auto reqs = srv.requests();
  REQUIRE(reqs.size() >= 3);
  CHECK(reqs[1].method == "PUT");  // reqs[0] is the unauthenticated probe above
  CHECK(reqs[1].target == "/latest/api/token");
  CHECK(reqs[1].headers.at("x-aws-ec2-metadata-token-ttl-seconds") == "300");
  for (size_t i = 2; i < reqs.size(); i++) CHECK(reqs[i].headers.count("x-aws-ec2-metadata-token") == 1);

  // No user-data (404) is fine; local-hostname then names the node.
  FixtureHttpServer bare([&](const FixtureRequest& r) { return imdsv2(r, ""); });
  ConfigLayer B = read_ec2_metadata(bare.base_url());
  CHECK(*B.node_name.value == "ip-10-0-0-13");
  CHECK_FALSE(B.cluster.value);
}

TEST_CASE("cloud metadata: OpenStack over HTTP, and nothing there", "[sources][http]") {
  FixtureHttpServer srv(openstack);
  CHECK_FALSE(read_ec2_metadata(srv.base_url()).present);  // PUT token → 404: not EC2
  ConfigLayer L = read_openstack_metadata(srv.base_url());
  CHECK(L.present);
  CHECK(*L.node_name.value == "ctl-3");
  CHECK(*L.control_count.value == 5);
  CHECK(*L.secret.value == "configdrive-secret-value");

  int port;
  {
    FixtureHttpServer gone(openstack);
    port = gone.port();
  }
  const std::string dead = "http://127.0.0.1:" + std::to_string(port);
  CHECK_FALSE(read_ec2_metadata(dead, 300).present);
  CHECK_FALSE(read_openstack_metadata(dead, 300).present);
  CHECK_FALSE(read_ec2_metadata("").present);
}

TEST_CASE("all sources at once through load_node_config", "[sources]") {
  FixtureHttpServer srv([&](const FixtureRequest& r) { return imdsv2(r, ""); });
  SourcePaths p;
  p.defaults_file = F + "/cluster.yaml";
  p.nocloud_dir = F + "/nocloud";
  p.configdrive_dir = F + "/configdrive";
  p.find_seeds = false;
  p.metadata_url = srv.base_url();
  p.cmdline_file = F + "/cmdline";
  NodeConfig c = load_node_config(p);
  CHECK(c.cluster == "prod");                     // defaults
  CHECK(c.role == Role::all_in_one);              // cmdline over nocloud/configdrive/defaults
  CHECK(c.datacenter == "dc9");                   // cmdline
  CHECK(c.control_count == 5);                    // configdrive
  CHECK(c.secret == "configdrive-secret-value");  // configdrive user_data over nocloud
  CHECK(c.node_name == "ip-10-0-0-13");           // ec2 local-hostname over configdrive
  CHECK(c.address == "10.0.0.13");                // ec2
  CHECK(c.discovery == "static");                 // configdrive over nocloud's beacon
  CHECK(c.static_peers == std::vector<std::string>{"10.0.0.21", "10.0.0.22", "10.0.0.23"});  // cmdline
  CHECK(c.cloud_join == "provider=aws tag_key=mi tag_value=prod");
  CHECK(c.beacon_group == "239.255.77.78:7947");  // nocloud
  CHECK(c.instance_id == "i-0abc1234def567890");
}

TEST_CASE("seed lookup by label: none here", "[sources]") {
  CHECK(find_device_by_label("mi-test-no-such-label") == "");
}

TEST_CASE("seed by label: a real labelled file system found, mounted read-only, read, unmounted", "[sources]") {
  // Needs root and a loop device; the seed is ext4 here because this kernel may lack vfat
  // and iso9660 (the lookup and mount do not depend on the type).
  if (geteuid() != 0 || !mi::have_program("losetup") || !mi::have_program("mkfs.ext4")) {
    mi::test::skip_or_fail("needs root, losetup and mkfs.ext4");
    return;
  }
  char tmpl[] = "/tmp/mi-seed-test.XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  const std::string label = "mi-t-" + std::to_string(getpid() % 100000);
  mkdir((dir + "/content").c_str(), 0700);
  mi::write_file_atomic(dir + "/content/meta-data", mi::read_file(F + "/nocloud/meta-data"));
  mi::write_file_atomic(dir + "/content/user-data", mi::read_file(F + "/nocloud/user-data"), 0600);
  mi::run({"mkfs.ext4", "-q", "-L", label, "-d", dir + "/content", dir + "/seed.img", "4M"});
  mi::RunOptions o;
  o.check = false;
  auto lo = mi::run({"losetup", "-f", "--show", dir + "/seed.img"}, o);
  if (lo.exit_code != 0) {
    mi::run({"rm", "-rf", dir});
    mi::test::skip_or_fail("no loop device: " + lo.err);
    return;
  }
  const std::string loopdev = lo.out.substr(0, lo.out.find('\n'));
  const std::string mnt = dir + "/mnt";
  std::string dev;
  ConfigLayer L;
  bool mounted = false;
  std::string failure;
  try {
    dev = find_device_by_label(label);
    mount_readonly(dev, mnt);
    mounted = true;
    L = read_nocloud(mnt);
    // Read-only: writing fails.
    CHECK_THROWS(mi::write_file_atomic(mnt + "/x", "y"));
  } catch (const std::exception& e) {
    failure = e.what();  // reported below, after the loop device is released
  }
  if (mounted) unmount_seed(mnt);
  mi::run({"losetup", "-d", loopdev}, o);
  mi::run({"rm", "-rf", dir});
  INFO(failure);
  CHECK(failure.empty());
  CHECK(dev == loopdev);
  CHECK(mounted);
  CHECK(L.present);
  REQUIRE(L.node_name.value);
  CHECK(*L.node_name.value == "ctl-2");
}

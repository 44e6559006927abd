// Precedence: each source overrides the lower ones field by field, with provenance naming
// the source that won; the secret from a value or a file (never world-readable); and the
// validation errors (even control count with the reason, bad names and addresses, methods
// missing their setting) pointing at where the value came from.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>

#include "common/error.h"
#include "common/files.h"
#include "firstboot/config_sources.h"

using namespace mi::firstboot;

namespace {

std::string prov(const NodeConfig& c, const std::string& field) {
  for (auto& [f, s] : c.provenance)
    if (f == field) return s;
  return "(none)";
}

ConfigLayer layer(const std::string& source) {
  ConfigLayer L;
  L.source = source;
  L.present = true;
  return L;
}

struct TempDir {
  std::string path;
  TempDir() {
    char t[] = "/tmp/mi-merge-test.XXXXXX";
    path = mkdtemp(t);
  }
  ~TempDir() { std::system(("rm -rf '" + path + "'").c_str()); }
};

}  // namespace

TEST_CASE("merge: built-in defaults with no sources", "[merge]") {
  ConfigLayer L = layer("defaults");
  L.node_name.set("n1", "t");
  L.static_peers.set({"10.0.0.1"}, "t");
  NodeConfig c = merge_layers({L});
  CHECK(c.cluster == "mi");
  CHECK(c.datacenter == "dc1");
  CHECK(c.control_count == 3);
  CHECK(c.role == Role::control);
  CHECK(prov(c, "cluster") == "built-in");
  CHECK(prov(c, "node_name") == "defaults t");
}

TEST_CASE("merge: each layer overrides the lower ones field by field", "[merge]") {
  const std::vector<std::string> names = {"defaults", "nocloud", "configdrive", "ec2", "cmdline"};
  // Layer i sets fields i..4 of this list; so field k is won by layer k, and the value tells
  // which layer it came from.
  std::vector<ConfigLayer> layers;
  for (size_t i = 0; i < names.size(); i++) {
    ConfigLayer L = layer(names[i]);
    const std::string w = names[i] + ".src";
    if (i <= 0) L.cluster.set("c-" + names[i], w);
    if (i <= 1) L.datacenter.set("d-" + names[i], w);
    if (i <= 2) L.node_name.set("n-" + names[i], w);
    if (i <= 3) L.address.set("10.0.0." + std::to_string(10 + i), w);
    L.role.set(i == 4 ? Role::all_in_one : Role::compute, w);
    L.control_count.set(int(2 * i + 1), w);
    L.static_peers.set({"10.9.9." + std::to_string(i)}, w);
    layers.push_back(L);
  }
  NodeConfig c = merge_layers(layers);
  CHECK(c.cluster == "c-defaults");
  CHECK(prov(c, "cluster") == "defaults defaults.src");
  CHECK(c.datacenter == "d-nocloud");
  CHECK(prov(c, "datacenter") == "nocloud nocloud.src");
  CHECK(c.node_name == "n-configdrive");
  CHECK(prov(c, "node_name") == "configdrive configdrive.src");
  CHECK(c.address == "10.0.0.13");
  CHECK(prov(c, "address") == "ec2 ec2.src");
  CHECK(c.role == Role::all_in_one);
  CHECK(c.control_count == 9);
  CHECK(prov(c, "control_count") == "cmdline cmdline.src");
  CHECK(c.static_peers == std::vector<std::string>{"10.9.9.4"});
  CHECK(prov(c, "wan_join") == "built-in");

  // Drop the top layer: the next one wins each field it set.
  layers.pop_back();
  c = merge_layers(layers);
  CHECK(c.role == Role::compute);
  CHECK(c.control_count == 7);
  CHECK(prov(c, "control_count") == "ec2 ec2.src");
  CHECK(describe_provenance(c).find("control_count <- ec2 ec2.src\n") != std::string::npos);
}

TEST_CASE("merge: the secret, from a value or a file", "[merge]") {
  TempDir t;
  const std::string f = t.path + "/secret";
  mi::write_file_atomic(f, "file-secret\n", 0600);
  ConfigLayer d = layer("defaults");
  d.node_name.set("n1", "t");
  d.static_peers.set({"10.0.0.1"}, "t");
  d.secret_file.set(f, "cluster.yaml:9:14");
  NodeConfig c = merge_layers({d});
  CHECK(c.secret == "file-secret");
  CHECK(c.secret_file == f);
  CHECK(prov(c, "secret") == "defaults cluster.yaml:9:14 (file " + f + ")");
  CHECK(describe_provenance(c).find("file-secret") == std::string::npos);

  ConfigLayer seed = layer("nocloud");
  seed.secret.set("seed-secret", "user-data:4:11");
  c = merge_layers({d, seed});
  CHECK(c.secret == "seed-secret");
  CHECK(c.secret_file.empty());
  CHECK(prov(c, "secret") == "nocloud user-data:4:11");

  // A higher layer naming a file beats a lower layer's value.
  ConfigLayer cmd = layer("cmdline");
  cmd.secret_file.set(f, "cmdline");
  CHECK(merge_layers({d, seed, cmd}).secret == "file-secret");

  chmod(f.c_str(), 0644);
  CHECK_THROWS_WITH(merge_layers({d}), Catch::Contains("readable by every user"));
  d.secret_file.set(t.path + "/missing", "cluster.yaml:9:14");
  CHECK_THROWS_WITH(merge_layers({d}), Catch::StartsWith("cluster.yaml:9:14: secret_file"));
}

TEST_CASE("merge: validation errors point at the source", "[merge]") {
  ConfigLayer base = layer("defaults");
  base.node_name.set("n1", "t");
  base.static_peers.set({"10.0.0.1"}, "t");
  auto with = [&](auto change) {
    ConfigLayer top = layer("cmdline");
    change(top);
    return merge_layers({base, top});
  };
  CHECK_THROWS_WITH(with([](ConfigLayer& L) { L.control_count.set(4, "/proc/cmdline"); }),
                    Catch::StartsWith("/proc/cmdline: control_count 4 is even") &&
                        Catch::Contains("no fault tolerance") && Catch::Contains("tie"));
  CHECK_THROWS_WITH(with([](ConfigLayer& L) { L.control_count.set(0, "x"); }), Catch::Contains("at least 1"));
  CHECK_NOTHROW(with([](ConfigLayer& L) { L.control_count.set(1, "x"); }));
  CHECK_THROWS_WITH(with([](ConfigLayer& L) { L.discovery.set("telepathy", "ud:3:5"); }),
                    Catch::StartsWith("ud:3:5: unknown discovery method 'telepathy'"));
  CHECK_THROWS_WITH(with([](ConfigLayer& L) { L.discovery.set("dns", "x"); }), Catch::Contains("dns_name"));
  CHECK_THROWS_WITH(with([](ConfigLayer& L) { L.discovery.set("cloud", "x"); }), Catch::Contains("cloud_join"));
  CHECK_THROWS_WITH(with([](ConfigLayer& L) {
                      L.discovery.set("beacon", "x");
                      L.beacon_group.set("239.1.1.1", "md:beacon");
                    }),
                    Catch::StartsWith("md:beacon: expected HOST:PORT"));
  CHECK_THROWS_WITH(with([](ConfigLayer& L) { L.address.set("10.0.0.300", "meta:local-ipv4"); }),
                    Catch::StartsWith("meta:local-ipv4: address '10.0.0.300'"));
  CHECK_THROWS_WITH(with([](ConfigLayer& L) { L.node_name.set("has space", "x"); }), Catch::Contains("node name"));
  CHECK_THROWS_WITH(with([](ConfigLayer& L) { L.datacenter.set("dc 1", "x"); }), Catch::Contains("datacenter"));
  CHECK_THROWS_WITH(with([](ConfigLayer& L) { L.state_dir.set("var/lib", "x"); }), Catch::Contains("absolute"));
  // The even count from a real file names its line and column.
  CHECK_THROWS_WITH(
      merge_layers({read_cluster_yaml(std::string(MI_SOURCE_DIR) + "/tests/fixtures/firstboot/bad/even.yaml"), base}),
      Catch::Contains("bad/even.yaml:2:18: control_count 4 is even"));
}

TEST_CASE("merge: the node name defaults to the short host name", "[merge]") {
  ConfigLayer L = layer("defaults");
  L.static_peers.set({"10.0.0.1"}, "t");
  NodeConfig c = merge_layers({L});
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  std::string h = host;
  CHECK(c.node_name == h.substr(0, h.find('.')));
  CHECK(prov(c, "node_name") == "hostname");
}

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
  CHECK_THROWS_WITH(merge_layers({d}), Catch::StartsWith(f + ": the secret file has mode 0644"));

  // A secret file not there yet (or empty) is no secret, not an error: the run waits for one.
  d.secret_file.set(t.path + "/missing", "cluster.yaml:9:14");
  c = merge_layers({d});
  CHECK(c.secret.empty());
  CHECK(c.secret_note == "secret_file " + t.path + "/missing (named by defaults cluster.yaml:9:14) does not exist");
  CHECK(prov(c, "secret") == "none: " + c.secret_note);
  mi::write_file_atomic(t.path + "/empty", "\n", 0600);
  d.secret_file.set(t.path + "/empty", "cluster.yaml:9:14");
  c = merge_layers({d});
  CHECK(c.secret.empty());
  CHECK(c.secret_note == "secret_file " + t.path + "/empty (named by defaults cluster.yaml:9:14) is empty");
  // ... but a seed's empty value is a broken seed.
  ConfigLayer bad = layer("nocloud");
  bad.secret.set("", "user-data:4:11");
  CHECK_THROWS_WITH(merge_layers({d, bad}), Catch::Contains("the secret is empty"));
  // No source gives any secret: no error either.
  ConfigLayer none = layer("defaults");
  none.node_name.set("n1", "t");
  none.static_peers.set({"10.0.0.1"}, "t");
  c = merge_layers({none});
  CHECK(c.secret.empty());
  CHECK(c.secret_note.empty());
  CHECK(prov(c, "secret") == "built-in");
}

TEST_CASE("merge: a secret file only its owner (and its group, reading) may access", "[merge]") {
  TempDir t;
  const std::string f = t.path + "/secret";
  mi::write_file_atomic(f, "s3cret\n", 0600);
  for (mode_t ok : {0600, 0400, 0640, 0440}) {
    INFO("mode " << std::oct << ok);
    REQUIRE(chmod(f.c_str(), ok) == 0);
    CHECK(read_secret_file(f, "cluster.yaml:1:1") == "s3cret");
  }
  for (auto [bad, octal] : std::initializer_list<std::pair<mode_t, const char*>>{{0602, "0602"},
                                                                                 {0660, "0660"},
                                                                                 {0604, "0604"},
                                                                                 {0620, "0620"},
                                                                                 {0644, "0644"},
                                                                                 {0610, "0610"},
                                                                                 {0700, "0700"}}) {
    INFO("mode " << octal);
    REQUIRE(chmod(f.c_str(), bad) == 0);
    CHECK_THROWS_WITH(
        read_secret_file(f, "cluster.yaml:1:1"),
        Catch::StartsWith(f + ": the secret file has mode " + octal) && Catch::Contains("chmod 0600 " + f));
    // merge_layers refuses it too (never "no secret, wait").
    ConfigLayer d = layer("defaults");
    d.node_name.set("n1", "t");
    d.static_peers.set({"10.0.0.1"}, "t");
    d.secret_file.set(f, "cluster.yaml:1:1");
    CHECK_THROWS_WITH(merge_layers({d}), Catch::Contains("has mode " + std::string(octal)));
  }
  CHECK_THROWS_WITH(read_secret_file(t.path, "cluster.yaml:1:1"),
                    Catch::StartsWith(t.path + ": the secret file is a directory"));
  CHECK_THROWS_WITH(read_secret_file(t.path + "/none", "cluster.yaml:1:1"),
                    Catch::StartsWith("cluster.yaml:1:1: secret_file " + t.path + "/none does not exist"));
  mi::write_file_atomic(f, "", 0600);
  CHECK_THROWS_WITH(read_secret_file(f, "cluster.yaml:1:1"), Catch::Contains("is empty"));
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

TEST_CASE("merge: the node name defaults to <role>-<machine-id prefix>, else the host name", "[merge]") {
  TempDir t;
  const std::string id_file = t.path + "/machine-id";
  mi::write_file_atomic(id_file, "3f9a1c0b2d3e4f5061728394a5b6c7d8\n", 0444);
  ConfigLayer L = layer("defaults");
  L.static_peers.set({"10.0.0.1"}, "t");
  NodeConfig c = merge_layers({L}, id_file);
  CHECK(c.node_name == "control-3f9a1c");
  CHECK(prov(c, "node_name") == "machine-id");

  // Another clone of the same image (same host name) has another machine-id, so another name.
  mi::write_file_atomic(id_file, "0B12EFaa2d3e4f5061728394a5b6c7d8", 0444);
  L.role.set(Role::all_in_one, "t");
  c = merge_layers({L}, id_file);
  CHECK(c.node_name == "all-in-one-0b12ef");
  L.role.set(Role::compute, "t");
  CHECK(merge_layers({L}, id_file).node_name == "compute-0b12ef");

  // A source naming the node wins over the machine-id.
  ConfigLayer seed = layer("nocloud");
  seed.node_name.set("ctl-1", "meta-data:2:17");
  CHECK(merge_layers({L, seed}, id_file).node_name == "ctl-1");

  // No usable machine-id: the short host name, and provenance says why.
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  std::string h = host;
  for (std::string content : {std::string(), std::string("uninitialized\n"), std::string("3f9a1c")}) {
    INFO("machine-id '" << content << "'");
    mi::write_file_atomic(id_file, content, 0444);
    c = merge_layers({L}, id_file);
    CHECK(c.node_name == h.substr(0, h.find('.')));
    CHECK(prov(c, "node_name") == "hostname (no machine-id in " + id_file + ")");
  }
  c = merge_layers({L}, t.path + "/absent");
  CHECK(c.node_name == h.substr(0, h.find('.')));
  CHECK(prov(c, "node_name") == "hostname (no machine-id in " + t.path + "/absent)");
}

TEST_CASE("read_machine_id", "[merge]") {
  TempDir t;
  const std::string f = t.path + "/machine-id";
  mi::write_file_atomic(f, "3D1219C7C4C5404AAA1F6D2A48ADFDA4\n", 0444);
  CHECK(read_machine_id(f) == "3d1219c7c4c5404aaa1f6d2a48adfda4");
  mi::write_file_atomic(f, "3d1219c7c4c5404aaa1f6d2a48adfdz4\n", 0444);
  CHECK(read_machine_id(f).empty());
  CHECK(read_machine_id(t.path + "/none").empty());
}

// Consul agent configuration: golden files for a server and a client, the gossip key
// derivation (checked against an independent HKDF computation and `consul keygen`'s
// length), and the real `consul validate` (Consul 1.8.7) accepting what we write.
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/files.h"
#include "common/process.h"
#include "golden_util.h"
#include "skip.h"

using namespace mi::firstboot;

static std::string base64_decode(const std::string& s) {
  static const std::string chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  int val = 0, bits = -8;
  for (char c : s) {
    if (c == '=') break;
    auto p = chars.find(c);
    REQUIRE(p != std::string::npos);
    val = (val << 6) + int(p);
    bits += 6;
    if (bits >= 0) {
      out.push_back(char((val >> bits) & 0xff));
      bits -= 8;
    }
  }
  return out;
}

TEST_CASE("gossip key: fixed secret, fixed key; 32 bytes like consul keygen") {
  // Expected values computed independently (Python hmac/hashlib HKDF, RFC 5869).
  CHECK(consul_gossip_key("correct horse battery staple", "prod") == "OOpGfkrZ6S/99vLSDC927Lj2vj3nTsSW0EXI7lKZ2sk=");
  CHECK(consul_gossip_key("correct horse battery staple", "other") == "Sesv7gXptEIqoxPxF2n366sZFrj+Am/l6JU4WUxevz4=");
  CHECK(consul_gossip_key("another secret", "prod") != consul_gossip_key("correct horse battery staple", "prod"));
  CHECK(base64_decode(consul_gossip_key("s", "c")).size() == 32);
  CHECK_THROWS_AS(consul_gossip_key("", "prod"), mi::Error);
  if (!mi::have_program("consul")) return mi::test::skip_or_fail("consul is not installed: no `consul keygen` to compare");
  auto keygen = mi::run({"consul", "keygen"}).out;
  while (!keygen.empty() && keygen.back() == '\n') keygen.pop_back();
  CHECK(base64_decode(keygen).size() == base64_decode(consul_gossip_key("s", "c")).size());
}

TEST_CASE("consul.json for a server (control node)") {
  auto files = consul_files(golden::control_input());
  REQUIRE(files.size() == 1);
  CHECK(files[0].path == "/var/lib/mi/etc/consul.d/consul.json");
  CHECK(files[0].mode == 0640);
  CHECK(files[0].group == "consul");
  golden::check("consul-server.json", files[0].content);
  auto j = nlohmann::json::parse(files[0].content);
  CHECK(j["server"] == true);
  CHECK(j["bootstrap_expect"] == 3);
  CHECK(j["retry_join"] == nlohmann::json({"10.0.0.12", "10.0.0.13"}));
  CHECK(j["retry_join_wan"] == nlohmann::json({"10.1.0.11"}));
  CHECK(j["ports"]["dns"] == 8600);
  CHECK(j["client_addr"] == "127.0.0.1");
}

TEST_CASE("consul.json for a client (compute node)") {
  auto files = consul_files(golden::compute_input());
  REQUIRE(files.size() == 1);
  golden::check("consul-client.json", files[0].content);
  auto j = nlohmann::json::parse(files[0].content);
  CHECK(j["server"] == false);
  CHECK_FALSE(j.contains("bootstrap_expect"));
  CHECK_FALSE(j.contains("retry_join_wan"));
  CHECK(j["retry_join"].size() == 3);
}

TEST_CASE("shifted ports go into retry_join entries") {
  auto in = golden::control_input();
  in.cfg.ports = ports_with_offset(1000);
  auto j = nlohmann::json::parse(consul_files(in)[0].content);
  CHECK(j["retry_join"][0] == "10.0.0.12:9301");
  CHECK(j["retry_join_wan"][0] == "10.1.0.11:9302");
  CHECK(j["ports"]["http"] == 9500);
}

TEST_CASE("the real consul validate accepts server and client configurations") {
  if (!mi::have_program("consul")) FAIL("consul is not installed (scripts/setup.sh installs it)");
  for (auto in : {golden::control_input(), golden::compute_input()}) {
    auto dir = std::filesystem::temp_directory_path() / ("consul_writer_test." + std::to_string(getpid()));
    std::filesystem::remove_all(dir);
    in.layout.state_dir = dir.string();
    for (const auto& f : consul_files(in)) ensure_file(f);
    std::filesystem::create_directories(in.layout.consul_data_dir());
    auto r = mi::run({"consul", "validate", in.layout.consul_config_dir()}, {.check = false});
    INFO(r.out << r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("Configuration is valid") != std::string::npos);
    // and a broken one is refused, so the check above can fail
    mi::write_file_atomic(in.layout.consul_config_dir() + "/broken.json", R"({"bootstrap_expect": "three"})");
    auto bad = mi::run({"consul", "validate", in.layout.consul_config_dir()}, {.check = false});
    CHECK(bad.exit_code != 0);
    std::filesystem::remove_all(dir);
  }
}

TEST_CASE("ensure_file writes only on a difference") {
  auto dir = std::filesystem::temp_directory_path() / ("ensure_file_test." + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  GeneratedFile f{(dir / "a" / "b.conf").string(), "x=1\n", 0640, "", false};
  CHECK(file_state(f) == "new");
  CHECK(ensure_file(f));
  CHECK(file_state(f) == "unchanged");
  CHECK_FALSE(ensure_file(f));
  chmod(f.path.c_str(), 0644);
  CHECK(file_state(f) == "changed");
  CHECK(ensure_file(f));
  f.content = "x=2\n";
  CHECK(file_state(f) == "changed");
  CHECK(ensure_file(f));
  CHECK(mi::read_file(f.path) == "x=2\n");
  std::filesystem::remove_all(dir);
}

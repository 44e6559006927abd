// The fleet secret on a node: a secret from a source is kept at <state>/firstboot/secret
// (0600) and used when the source is gone; a different one later is refused; a one-node
// all-in-one makes its own; every other node waits, and says what to give. The value never
// appears in what is said.
#include "firstboot/fleet_secret.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "common/error.h"
#include "common/files.h"
#include "firstboot/beacon.h"
#include "temp_dir.h"

using namespace mi::firstboot;
namespace fs = std::filesystem;

namespace {

struct StateDir : mi::test::TempDir {
  StateDir() : mi::test::TempDir("mi-fleet-secret-test") {}
};

NodeConfig node(const std::string& state_dir, Role role, int control_count, const std::string& secret,
                const std::string& secret_from = "nocloud user-data:4:11") {
  NodeConfig c;
  c.role = role;
  c.control_count = control_count;
  c.state_dir = state_dir;
  c.secret = secret;
  c.provenance = {{"role", "built-in"}, {"secret", secret.empty() ? "built-in" : secret_from}};
  return c;
}

std::string prov(const NodeConfig& c) {
  for (auto& [f, s] : c.provenance)
    if (f == "secret") return s;
  return "(none)";
}

unsigned mode_of(const std::string& p) {
  struct stat st {};
  REQUIRE(stat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

}  // namespace

TEST_CASE("a secret from a source is kept, and used when the source is gone", "[secret]") {
  StateDir d;
  const std::string kept = d.path + "/firstboot/secret";
  NodeConfig c = node(d.path, Role::control, 3, "seed-secret-1234");
  auto r = resolve_fleet_secret(c);
  CHECK(r.ready);
  CHECK(mi::read_file(kept) == "seed-secret-1234\n");
  CHECK(mode_of(kept) == 0600);
  CHECK(r.said == "kept the cluster secret from nocloud user-data:4:11 at " + kept + " (fingerprint " +
                      secret_fingerprint("seed-secret-1234") + ")");
  CHECK(r.said.find("seed-secret-1234") == std::string::npos);

  // The same secret again (the seed is still attached): nothing new.
  c = node(d.path, Role::control, 3, "seed-secret-1234");
  r = resolve_fleet_secret(c);
  CHECK(r.ready);
  CHECK(r.said.empty());

  // The seed was removed after the first boot: the kept one, and provenance says so.
  c = node(d.path, Role::control, 3, "");
  r = resolve_fleet_secret(c);
  CHECK(r.ready);
  CHECK(c.secret == "seed-secret-1234");
  CHECK(prov(c) == "state: " + kept);

  // Another source now gives another secret: a node never changes fleet.
  c = node(d.path, Role::control, 3, "other-fleet-secret", "configdrive user_data:3:11");
  try {
    resolve_fleet_secret(c);
    FAIL("a different secret must be refused");
  } catch (const mi::Error& e) {
    std::string m = e.what();
    CHECK(m.rfind(kept + ": the cluster secret from configdrive user_data:3:11 (fingerprint " +
                      secret_fingerprint("other-fleet-secret") + ") differs",
                  0) == 0);
    CHECK(m.find("never changes fleet") != std::string::npos);
    CHECK(m.find("other-fleet-secret") == std::string::npos);
    CHECK(m.find("seed-secret-1234") == std::string::npos);
  }
  CHECK(mi::read_file(kept) == "seed-secret-1234\n");

  // The kept file is held to the secret file rules.
  chmod(kept.c_str(), 0644);
  c = node(d.path, Role::control, 3, "");
  CHECK_THROWS_WITH(resolve_fleet_secret(c), Catch::Contains("has mode 0644"));
}

TEST_CASE("a one-node all-in-one without a secret makes its own", "[secret]") {
  StateDir d;
  const std::string kept = d.path + "/firstboot/secret";
  NodeConfig c = node(d.path, Role::all_in_one, 1, "");
  auto r = resolve_fleet_secret(c);
  REQUIRE(r.ready);
  CHECK(c.secret.size() == 64);
  CHECK(c.secret.find_first_not_of("0123456789abcdef") == std::string::npos);
  CHECK(mi::read_file(kept) == c.secret + "\n");
  CHECK(mode_of(kept) == 0600);
  CHECK(prov(c) == "made by this node: " + kept);
  CHECK(r.said.find("made one for this one-node all-in-one cluster at " + kept) != std::string::npos);
  CHECK(r.said.find(c.secret) == std::string::npos);

  // Later boots use it; another node makes another.
  NodeConfig again = node(d.path, Role::all_in_one, 1, "");
  CHECK(resolve_fleet_secret(again).ready);
  CHECK(again.secret == c.secret);
  CHECK(prov(again) == "state: " + kept);
  StateDir d2;
  NodeConfig other = node(d2.path, Role::all_in_one, 1, "");
  CHECK(resolve_fleet_secret(other).ready);
  CHECK(other.secret != c.secret);
}

TEST_CASE("every other node without a secret waits and says what to give", "[secret]") {
  const std::string want =
      "no cluster secret: give it in a NoCloud seed (user-data `mi: {secret: ...}`, `mibuild seed` writes one), a "
      "config drive, cloud metadata or secret_file";
  for (auto [role, count] : std::initializer_list<std::pair<Role, int>>{
           {Role::control, 3}, {Role::control, 1}, {Role::compute, 3}, {Role::compute, 1}, {Role::all_in_one, 3}}) {
    INFO(role_name(role) << " of " << count);
    StateDir d;
    NodeConfig c = node(d.path, role, count, "");
    auto r = resolve_fleet_secret(c);
    CHECK_FALSE(r.ready);
    CHECK(r.waiting == want);
    CHECK(c.secret.empty());
    CHECK_FALSE(fs::exists(d.path + "/firstboot/secret"));
  }
  StateDir d;
  NodeConfig c = node(d.path, Role::control, 3, "");
  c.secret_note = "secret_file /var/lib/mi/secret (named by defaults cluster.yaml:9:14) does not exist";
  CHECK(resolve_fleet_secret(c).waiting ==
        "no cluster secret (secret_file /var/lib/mi/secret (named by defaults cluster.yaml:9:14) does not exist): "
        "give it in a NoCloud seed (user-data `mi: {secret: ...}`, `mibuild seed` writes one), a config drive, cloud "
        "metadata or secret_file");
}

TEST_CASE("plan's reading writes nothing", "[secret]") {
  StateDir d;
  NodeConfig c = node(d.path, Role::control, 3, "seed-secret");
  CHECK(resolve_fleet_secret(c, false).ready);
  CHECK_FALSE(fs::exists(d.path + "/firstboot/secret"));
  NodeConfig aio = node(d.path, Role::all_in_one, 1, "");
  auto r = resolve_fleet_secret(aio, false);
  CHECK_FALSE(r.ready);
  CHECK(r.waiting.empty());
  CHECK(r.said.find("a run makes one") != std::string::npos);
  CHECK_FALSE(fs::exists(d.path + "/firstboot/secret"));
}

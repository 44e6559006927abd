// The mibuild binary on hostile specs: validate stays fast with bounded, one-line output on
// 10,000 components, refuses what first boot would refuse (discovery) and paths out of the
// spec's tree, and --allow-outside-paths lifts only the path rule.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>

#include "common/files.h"
#include "common/process.h"

namespace fs = std::filesystem;

namespace {

const std::string kMibuild = MI_BINARY_DIR "/builder/mibuild";

struct Dir {
  std::string path;
  Dir() {
    char t[] = "/tmp/mi-cli-hardening.XXXXXX";
    REQUIRE(mkdtemp(t) != nullptr);
    path = t;
    fs::create_directories(path + "/roles");
  }
  ~Dir() { fs::remove_all(path); }
};

mi::RunResult mibuild(std::vector<std::string> args) {
  args.insert(args.begin(), kMibuild);
  mi::RunOptions o;
  o.check = false;
  o.env = {{"MI_SPEC", ""}};
  return mi::run(args, o);
}

size_t count_lines(const std::string& s) { return size_t(std::count(s.begin(), s.end(), '\n')); }

}  // namespace

TEST_CASE("validate: 10,000 components and 2,000 unknown references: quick, bounded, one line each") {
  Dir d;
  std::string spec = "name: t\nroles: [a]\ncomponents:\n";
  for (int i = 0; i < 10000; i++) spec += "  c" + std::to_string(i) + ": {source: debian}\n";
  std::string role = "name: a\ncomponents: [";
  for (int i = 0; i < 2000; i++) role += std::string(i ? ", " : "") + "\"x" + std::to_string(i) + "\\n\\0\"";
  role += "]\n";
  mi::write_file_atomic(d.path + "/spec.yaml", spec);
  mi::write_file_atomic(d.path + "/roles/a.yaml", role);
  auto start = std::chrono::steady_clock::now();
  auto r = mibuild({"validate", d.path + "/spec.yaml"});
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  CHECK(r.exit_code == 2);
  CHECK(secs < 20);                   // an upper bound for a loaded 2-core machine, not a benchmark
  CHECK(count_lines(r.err) == 2001);  // 2000 problems and the count
  CHECK(r.err.size() < 2001 * 400);
  CHECK(r.err.find(std::string("\0", 1)) == std::string::npos);
  CHECK(r.err.find("unknown component 'x0\\n\\0' (defined in " + d.path +
                   "/spec.yaml: c0, c1, c10, c100, c1000, c1001, c1002, c1003, c1004, c1005, ... and 9990 more)") !=
        std::string::npos);
}

TEST_CASE("validate: discovery rules of mi-firstboot, and the path rule with and without the flag") {
  Dir d;
  fs::create_directories(d.path + "/files");
  mi::write_file_atomic(d.path + "/roles/a.yaml", "name: a\n");
  mi::write_file_atomic(d.path + "/spec.yaml", "name: t\nroles: [a]\ncluster:\n  discovery: {method: dns}\n");
  auto r = mibuild({"validate", d.path + "/spec.yaml"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("spec.yaml:4:23: cluster.discovery: discovery dns needs discovery.dns_name") != std::string::npos);

  mi::write_file_atomic(d.path + "/spec.yaml",
                        "name: t\nroles: [a]\ncomponents:\n  m: {source: artifact, path: /etc/hostname, sha256: " +
                            std::string(64, 'a') + "}\n");
  r = mibuild({"validate", d.path + "/spec.yaml"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("components.m.path: must be relative to the spec's directory") != std::string::npos);
  r = mibuild({"validate", "--allow-outside-paths", d.path + "/spec.yaml"});
  INFO(r.err);
  CHECK(r.exit_code == 0);
}

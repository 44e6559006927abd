// The mibuild binary as a user runs it: validate's exit codes and its FILE:LINE:COL lines,
// build --dry-run printing the plan and touching nothing, usage errors (exit 2), --help.
#include <catch2/catch.hpp>
#include <filesystem>

#include "common/process.h"
#include "skip.h"
#include "temp_dir.h"

namespace fs = std::filesystem;

namespace {

const std::string kMibuild = MI_BINARY_DIR "/builder/mibuild";
const std::string kFixtures = MI_SOURCE_DIR "/tests/fixtures/specs";

mi::RunResult mibuild(std::vector<std::string> args, const std::string& cwd = kFixtures) {
  args.insert(args.begin(), kMibuild);
  mi::RunOptions o;
  o.check = false;
  o.cwd = cwd;
  o.env = {{"MI_SPEC", ""}};
  return mi::run(args, o);
}

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> out;
  size_t at = 0;
  while (at < s.size()) {
    size_t nl = s.find('\n', at);
    if (nl == std::string::npos) nl = s.size();
    out.push_back(s.substr(at, nl - at));
    at = nl + 1;
  }
  return out;
}

}  // namespace

TEST_CASE("mibuild validate: exit 2 and every problem with its position") {
  auto r = mibuild({"validate", "bad/spec.yaml"});
  CHECK(r.exit_code == 2);
  CHECK(r.out.empty());
  std::string ov = fs::absolute(kFixtures + "/bad/overlays").lexically_normal().string();
  CHECK(lines(r.err) ==
        std::vector<std::string>{
            "bad/spec.yaml:6:3: unknown key 'packges' in base (valid keys: release, mirror, kernel, packages)",
            "bad/spec.yaml:7:18: roles[1]: unknown role 'missing': no roles file defines it (roles in bad/roles: "
            "compute, control)",
            "bad/spec.yaml:8:16: formats[1]: unknown format 'cdrom' (supported: raw, qcow2, vmdk, vhd, openstack, ami, vagrant, tar, pxe, iso)",
            "bad/spec.yaml:8:23: formats[2]: unknown format 'floppy' (supported: raw, qcow2, vmdk, vhd, openstack, ami, vagrant, tar, pxe, iso)",
            "bad/spec.yaml:9:20: overlays[1]: overlay directory not found: " + ov + "/nowhere",
            "bad/spec.yaml:12:5: users[0].password: passwords are not accepted in a spec; users log in with ssh_keys "
            "(public keys, one authorized_keys line each)",
            "bad/spec.yaml:16:5: components.consul.url: only valid with source: artifact (this component is a Debian "
            "package)",
            "bad/spec.yaml:20:13: components.mesos.sha256: not a SHA-256: expected 64 hex digits, got 6 characters",
            "bad/spec.yaml:21:3: components.marathon: cannot be resolved: an artifact needs url or path; provide "
            "components.marathon.url+sha256 or path+sha256, or mark it optional: true",
            "bad/spec.yaml:24:18: cluster.control_count: 4 is even; use 3 or 5: an even count gives no extra fault "
            "tolerance over one node fewer and more ways to tie a vote",
            "bad/spec.yaml:26:13: cluster.discovery.method: unknown method 'gossip' (valid: static, dns, beacon, "
            "cloud)",
            "bad/spec.yaml:28:11: disk.esp_mb: expected an integer, got \"big\"",
            "bad/roles/compute.yaml:1:7: duplicate role 'compute' (also defined at bad/roles/dup.yaml:1:7)",
            "bad/roles/control.yaml:2:11: include[0]: role include cycle: compute → control → compute",
            "bad/roles/control.yaml:3:22: components[1]: unknown component 'zookeeper' (defined in bad/spec.yaml: "
            "consul, marathon, mesos)",
            "bad/roles/control.yaml:4:12: services[0]: consul.service is started by mi-firstboot once the cluster has "
            "agreed on its configuration; enabled at boot it would start unconfigured (list the component instead)",
            "bad/roles/dup.yaml:1:7: duplicate role 'compute' (also defined at bad/roles/compute.yaml:1:7)",
            "bad/spec.yaml:11:5: note: users[0]: user admin has no ssh_keys and no password: nobody can log in as "
            "admin",
            "mibuild: bad/spec.yaml: 17 problems",
        });
}

TEST_CASE("mibuild validate: exit 0 for a valid spec, notes for optional components") {
  auto r = mibuild({"validate", "good/spec.yaml"});
  CHECK(r.exit_code == 0);
  CHECK(r.out.rfind("good/spec.yaml: valid (roles: alpha, beta, both; formats: raw, qcow2)\n", 0) == 0);
  // What each built role's defaults mean for forming a cluster: roles mi-firstboot does not
  // know need their role named per node.
  CHECK(r.out.find("  alpha: not a role mi-firstboot knows") != std::string::npos);
  CHECK(r.err ==
        "good/spec.yaml:27:3: note: not in image: extra (optional; provide components.extra.url+sha256 or "
        "path+sha256)\n");
  // The repository's default spec, found without arguments.
  auto d = mibuild({"validate"}, MI_SOURCE_DIR);
  CHECK(d.exit_code == 0);
  CHECK(d.out.find("valid (roles: control, compute, all-in-one;") != std::string::npos);
  CHECK(d.out.find("  all-in-one: forms a one-node cluster by itself") != std::string::npos);
  CHECK(d.out.find("  control: 3 control nodes booted with one fleet secret") != std::string::npos);
}

TEST_CASE("mibuild build --dry-run prints the plan and touches nothing") {
  fs::path out = fs::temp_directory_path() / ("mi-cli-test-" + std::to_string(getpid()));
  fs::remove_all(out);
  auto r = mibuild({"build", "good/spec.yaml", "-r", "both", "-f", "qcow2", "-o", out.string(), "--dry-run"});
  CHECK(r.exit_code == 0);
  INFO(r.out << r.err);
  CHECK(r.out.find("role both\n") != std::string::npos);
  CHECK(r.out.find("role alpha\n") == std::string::npos);
  for (const char* s : {"1. bootstrap", "2. packages", "3. components", "4. overlays", "5. firstboot", "6. finalize",
                        "7. assemble", "8. formats"})
    CHECK(r.out.find(s) != std::string::npos);
  CHECK(r.out.find(out.string() + "/demo-both.qcow2 (qcow2)") != std::string::npos);
  CHECK(r.out.find("not in image: extra (optional;") != std::string::npos);
  CHECK(r.out.find("manifest: " + out.string() + "/manifest.json") != std::string::npos);
  CHECK(!fs::exists(out));
  // pxe: a directory, and the URL its texts name (part of the formats key).
  auto x = mibuild({"build", "good/spec.yaml", "-r", "both", "-f", "pxe", "-o", out.string(), "--dry-run"});
  CHECK(x.out.find(out.string() + "/demo-both.pxe (pxe)") != std::string::npos);
  CHECK(x.out.find("the initramfs fetches http://${next-server}/demo-both.pxe/root.erofs\n") != std::string::npos);
  auto y = mibuild({"build", "good/spec.yaml", "-r", "both", "-f", "pxe", "-o", out.string(), "--pxe-url",
                    "http://10.9.8.7:8080/mi/", "--dry-run"});
  CHECK(y.out.find("the initramfs fetches http://10.9.8.7:8080/mi/root.erofs\n") != std::string::npos);
  CHECK(y.out != x.out);  // another formats key
  // The same inputs give the same plan.
  auto again = mibuild({"build", "good/spec.yaml", "-r", "both", "-f", "qcow2", "-o", out.string(), "--dry-run"});
  CHECK(again.out == r.out);
}

TEST_CASE("mibuild usage errors exit 2 and say what is wrong") {
  auto f = mibuild({"build", "good/spec.yaml", "-f", "cdrom", "--dry-run"});
  CHECK(f.exit_code == 2);
  CHECK(f.err == "mibuild: -f cdrom: unknown format 'cdrom' (supported: raw, qcow2, vmdk, vhd, openstack, ami, vagrant, tar, pxe, iso)\n");
  auto u = mibuild({"build", "good/spec.yaml", "-f", "floppy", "--dry-run"});
  CHECK(u.exit_code == 2);
  CHECK(u.err == "mibuild: -f floppy: unknown format 'floppy' (supported: raw, qcow2, vmdk, vhd, openstack, ami, vagrant, tar, pxe, iso)\n");
  auto p = mibuild({"build", "good/spec.yaml", "-f", "pxe", "--pxe-url", "https://boot.example/", "--dry-run"});
  CHECK(p.exit_code == 2);
  CHECK(p.err.rfind("mibuild: --pxe-url 'https://boot.example/': expected http://HOST[:PORT]/PATH/", 0) == 0);
  auto r = mibuild({"build", "good/spec.yaml", "-r", "gamma", "--dry-run"});
  CHECK(r.exit_code == 2);
  CHECK(r.err == "mibuild: -r gamma: unknown role (roles: alpha, beta, both)\n");
  auto o = mibuild({"build", "--frobnicate"});
  CHECK(o.exit_code == 2);
  CHECK(o.err.find("--frobnicate") != std::string::npos);
  auto none = mibuild({});
  CHECK(none.exit_code == 2);
  CHECK(none.err.find("SYNOPSIS") != std::string::npos);
  auto fw = mibuild({"boot", "x.qcow2", "--firmware", "coreboot"});
  CHECK(fw.exit_code == 2);
  // An invalid spec given to build: the problems, exit 2, nothing built.
  auto b = mibuild({"build", "bad/spec.yaml", "--dry-run"});
  CHECK(b.exit_code == 2);
  CHECK(b.err.find("bad/spec.yaml:6:3: unknown key 'packges'") == 0);
  CHECK(b.err.find("mibuild: nothing built\n") != std::string::npos);
}

TEST_CASE("mibuild --help on every command reads like a man page") {
  for (std::vector<std::string> args : {std::vector<std::string>{"--help"},
                                        {"build", "--help"},
                                        {"validate", "-h"},
                                        {"roles", "--help"},
                                        {"boot", "--help"}}) {
    auto r = mibuild(args);
    INFO(args[0]);
    CHECK(r.exit_code == 0);
    CHECK(r.out.rfind("NAME\n    mibuild", 0) == 0);
    CHECK(r.out.find("\nSYNOPSIS\n    mibuild ") != std::string::npos);
    CHECK(r.out.find("EXIT STATUS\n    0   success\n    1   build or runtime error") != std::string::npos);
    CHECK(r.out.find("    2   invalid spec or usage") != std::string::npos);
  }
}

TEST_CASE("mibuild roles lists each role resolved") {
  auto r = mibuild({"roles", "good/spec.yaml"});
  CHECK(r.exit_code == 0);
  CHECK(r.out.find(
            "both *  (good/roles/both.yaml)\n  include:    alpha beta\n  packages:   zookeeper less curl jq\n"
            "  components: consul [debian consul/bullseye] tool [artifact] dnsmasq [debian dnsmasq] extra "
            "[artifact, absent: optional]\n  overlays:   common extra\n  services:   ssh.service dnsmasq.service\n") !=
        std::string::npos);
}

TEST_CASE("mibuild boot: a missing image is a runtime error (exit 1), a missing argument a usage error (exit 2)") {
  auto r = mibuild({"boot", "/nonexistent/x.qcow2", "--check"});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("mibuild: /nonexistent/x.qcow2: ") != std::string::npos);
  auto u = mibuild({"boot"});
  CHECK(u.exit_code == 2);
  CHECK(u.err == "mibuild: boot: IMAGE is required\n(see `mibuild boot --help`)\n");
}

TEST_CASE("mibuild convert writes a raw disk in each format; missing arguments exit 2") {
  if (!mi::have_program("qemu-img")) return mi::test::skip_or_fail("qemu-img (qemu-utils) is not installed");
  mi::test::TempDir t("mi-cli-convert");
  std::string raw = t.path + "/d.raw";
  mi::run({"truncate", "-s", "3M", raw});
  mi::run({"dd", "if=/etc/os-release", "of=" + raw, "bs=512", "seek=4000", "conv=notrunc", "status=none"});
  for (std::string f : {"qcow2", "vmdk"}) {
    auto r = mibuild({"convert", raw, "-f", f, "-o", t.path + "/d." + f, "--compress", "zstd"});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(mi::run({"qemu-img", "compare", "-f", "raw", "-F", f, raw, t.path + "/d." + f}, {.check = false}).exit_code ==
          0);
  }
  auto no_format = mibuild({"convert", raw, "-o", t.path + "/x"});
  CHECK(no_format.exit_code == 2);
  CHECK(no_format.err.find("-f FORMAT is required") != std::string::npos);
  auto bad = mibuild({"convert", raw, "-f", "vdi", "-o", t.path + "/x"});
  CHECK(bad.exit_code == 2);
  auto missing = mibuild({"convert", t.path + "/none.raw", "-f", "raw", "-o", t.path + "/x"});
  CHECK(missing.exit_code == 1);
  CHECK(missing.err.find("none.raw") != std::string::npos);
}

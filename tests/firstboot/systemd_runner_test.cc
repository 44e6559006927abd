// SystemdRunner's unit files (no systemd runs in the build container, so what it writes is
// what is tested): golden files for Consul's drop-in and ZooKeeper's whole unit, and
// `systemd-analyze verify` (systemd's own parser) accepting the whole unit.
#include <catch2/catch.hpp>
#include <filesystem>

#include "common/files.h"
#include "common/process.h"
#include "firstboot/service_runner.h"
#include "firstboot/steps.h"
#include "golden_util.h"
#include "skip.h"
#include "temp_dir.h"

using namespace mi::firstboot;

TEST_CASE("consul.service drop-in points the installed unit at the generated config") {
  Layout layout{"/var/lib/mi"};
  auto f = systemd_unit_file(consul_service(layout), true, "/run/systemd/system");
  CHECK(f.path == "/run/systemd/system/consul.service.d/50-mi-firstboot.conf");
  golden::check("consul.service.d-50-mi-firstboot.conf", f.content);
  CHECK(f.content.find("ExecStart=\nExecStart=\"consul\" \"agent\" \"-config-dir=/var/lib/mi/etc/consul.d\"\n") !=
        std::string::npos);
}

TEST_CASE("zookeeper.service as a whole runtime unit, accepted by systemd-analyze verify") {
  Layout layout{"/var/lib/mi"};
  auto spec = zookeeper_service(layout, false);
  auto f = systemd_unit_file(spec, false, "/run/systemd/system");
  CHECK(f.path == "/run/systemd/system/zookeeper.service");
  CHECK(f.content.find("org.apache.zookeeper.server.quorum.QuorumPeerMain") != std::string::npos);
  CHECK(f.content.find("User=zookeeper\n") != std::string::npos);
  if (!mi::have_program("systemd-analyze")) return mi::test::skip_or_fail("systemd-analyze is not installed");
  auto dir = std::filesystem::temp_directory_path() / ("systemd_runner_test." + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  // verify checks that ExecStart's program exists: use an absolute one.
  spec.argv[0] = "/usr/bin/java";
  auto path = (dir / "zookeeper.service").string();
  mi::write_file_atomic(path, systemd_unit_file(spec, false, dir.string()).content);
  auto r = mi::run({"systemd-analyze", "verify", path}, {.check = false});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  // and systemd-analyze does reject a broken unit, so the check above can fail
  mi::write_file_atomic(path, "[Service]\nExecStart=relative/path\nType=nonsense\n");
  auto bad = mi::run({"systemd-analyze", "verify", path}, {.check = false});
  CHECK(bad.exit_code != 0);
  std::filesystem::remove_all(dir);
}

TEST_CASE("optional services read their env files; only installed ones are started") {
  Layout layout{"/var/lib/mi"};
  auto v = optional_services(Role::control, layout);
  REQUIRE(v.size() == 3);
  CHECK(v[0].name == "mesos-master");
  auto f = systemd_unit_file(v[0], true, "/run/systemd/system");
  CHECK(f.content.find("EnvironmentFile=-/var/lib/mi/etc/mesos/mesos-master.env\n") != std::string::npos);
  CHECK(f.content.find("ExecStart=") == std::string::npos);  // the packaged command stays
  auto runner = make_systemd_runner("/nonexistent");
  ServiceSpec absent;
  absent.name = "mi-no-such-service-here";
  CHECK_FALSE(runner->available(absent));
}

// systemctl replaced by a script that logs its arguments (first on PATH): what the runner asks
// of systemd, in order.
TEST_CASE("prepare() writes every unit and reloads once; start() then reloads no more") {
  mi::test::TempDir t("mi-systemd-runner");
  std::string bin = t.path + "/bin", units = t.path + "/units", log = t.path + "/systemctl.log";
  std::filesystem::create_directories(bin);
  mi::write_file_atomic(bin + "/systemctl",
                        "#!/bin/sh\necho \"$*\" >>" + log + "\n[ \"$1\" = is-active ] && exit 3\nexit 0\n", 0755);
  std::string path = getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin";
  setenv("PATH", (bin + ":" + path).c_str(), 1);
  Layout layout{"/var/lib/mi"};
  auto runner = make_systemd_runner(units);
  runner->prepare({consul_service(layout), zookeeper_service(layout, false)});
  CHECK(mi::read_file(log) == "daemon-reload\n");
  CHECK(std::filesystem::exists(units + "/zookeeper.service"));
  runner->start(consul_service(layout), false);
  runner->start(zookeeper_service(layout, false), false);
  CHECK(mi::read_file(log) ==
        "daemon-reload\nis-active --quiet consul.service\nstart consul.service\n"
        "is-active --quiet zookeeper.service\nstart zookeeper.service\n");
  // Nothing changed: a second prepare (the next boot's replay) does not reload.
  runner->prepare({consul_service(layout), zookeeper_service(layout, false)});
  CHECK(mi::read_file(log).find("daemon-reload", 1) == std::string::npos);
  // A changed unit is written and reloaded before its start.
  runner->start(zookeeper_service(layout, true), false);
  CHECK(mi::read_file(log).find("daemon-reload", 1) != std::string::npos);
  setenv("PATH", path.c_str(), 1);
}

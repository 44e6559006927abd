// Service control for the first-boot steps: start ZooKeeper and Consul (and, in images, the
// Mesos / Marathon / dnsmasq units) once their configuration is written. Two real
// implementations: SystemdRunner (systemctl, images) and ProcessRunner (detached child
// processes with pid files, so that the cluster tests run nodes inside network namespaces).
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace mi::firstboot {

struct ServiceSpec {
  std::string name;               // "consul", "zookeeper" (systemd: <name>.service)
  std::string description;        // one line, for units and `plan`
  std::vector<std::string> argv;  // the command line; empty: the unit as installed (systemd only)
  std::map<std::string, std::string> env;
  std::string env_file;  // systemd EnvironmentFile= (Mesos, Marathon, Registrator settings)
  std::string user;      // systemd User= when that user exists; ProcessRunner runs as itself
  std::string working_dir;
  std::string log_file;  // ProcessRunner: stdout+stderr go here
};

struct ServiceRunner {
  virtual ~ServiceRunner() = default;
  virtual const char* kind() const = 0;  // "systemd" | "process"
  // Can this service run here (unit or program installed)? Steps skip optional services
  // (Mesos, Marathon, dnsmasq, Registrator) that are not.
  virtual bool available(const ServiceSpec& spec) = 0;
  // Makes the services known before any of them starts, so that start() has nothing left to
  // prepare (systemd: writes every unit file that changed, then one `daemon-reload`, which takes
  // tens of seconds under emulation); starts nothing. Run beside discovery.
  virtual void prepare(const std::vector<ServiceSpec>& specs) = 0;
  // Starts the service unless it is already running; `restart` when its configuration
  // changed since it was started.
  virtual void start(const ServiceSpec& spec, bool restart = false) = 0;
  virtual bool running(const std::string& name) = 0;
  virtual void stop(const std::string& name) = 0;
  // What start() would do, for `mi-firstboot plan` (touches nothing).
  virtual std::string describe(const ServiceSpec& spec) = 0;
};

// systemctl through mi::run. For each spec with argv, writes a drop-in
// <unit_dir>/<name>.service.d/50-mi-firstboot.conf (ExecStart=, Environment=, User=) when
// the unit is installed, or a whole unit <unit_dir>/<name>.service when it is not, then
// `systemctl daemon-reload` (once for all of them in prepare(); again in start() only if a
// unit changed since) and `systemctl start`. unit_dir defaults to /run/systemd/system:
// runtime units are rewritten by mi-firstboot on every boot from its committed state, so
// nothing of them lives in the read-only image or goes stale on /var.
struct UnitFile {
  std::string path;
  std::string content;
};
// What SystemdRunner writes for `spec` (a pure function, for tests and `plan`): the drop-in
// when the unit is installed, else the whole unit.
UnitFile systemd_unit_file(const ServiceSpec& spec, bool unit_installed, const std::string& unit_dir);

std::unique_ptr<ServiceRunner> make_systemd_runner(const std::string& unit_dir = "/run/systemd/system");

// Detached processes started through `start-stop-daemon --background --make-pidfile`
// (via mi::run), pid files <run_dir>/<name>.pid, logs to spec.log_file (default
// <run_dir>/<name>.log). running() checks the pid file's process is alive and still runs
// argv[0] (guards against pid reuse), so a restarted mi-firstboot finds its services.
std::unique_ptr<ServiceRunner> make_process_runner(const std::string& run_dir);

std::unique_ptr<ServiceRunner> make_runner(const std::string& kind, const std::string& run_dir);

}  // namespace mi::firstboot

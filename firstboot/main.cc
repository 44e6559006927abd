// mi-firstboot: the first-boot cluster-forming service baked into every image. A thin main:
// parses the command line (CLI11), runs `run`, `plan` or `status` (steps.h), catches
// mi::Error once, prints it and exits non-zero.
#include <CLI/CLI.hpp>
#include <iostream>

#include "common/error.h"
#include "firstboot/steps.h"

namespace {

const char* kExitCodes =
    "Exit codes:\n"
    "  0  success (run: every step done; status: every step done)\n"
    "  1  error: a step failed or the input is wrong (the message says where and why;\n"
    "     state.json records the failed step, the next run retries it)\n"
    "  2  usage error (bad command line)\n"
    "  3  run: --timeout passed while a step was still waiting (the next run resumes\n"
    "     there); status: some step is not done yet\n";

}  // namespace

int main(int argc, char** argv) {
  using namespace mi::firstboot;
  CLI::App app{"mi-firstboot: form the cluster on a node's first boot (and re-ensure it on every later boot)"};
  app.footer(kExitCodes);
  app.require_subcommand(1);

  FirstbootOptions opts;
  std::string runner = "systemd";
  std::string cmdline_file = opts.sources.cmdline_file, metadata_url = opts.sources.metadata_url;
  bool no_seed_search = false;
  auto add_source_flags = [&](CLI::App* c) {
    c->add_option("--config-file", opts.sources.defaults_file, "cluster.yaml with the image defaults")
        ->capture_default_str();
    c->add_option("--cmdline-file", cmdline_file, "kernel command line to read mi.* from (\"\" = none)")
        ->capture_default_str();
    c->add_option("--seed-dir", opts.sources.nocloud_dir,
                  "a NoCloud seed directory (meta-data, user-data); given: no search for a cidata device");
    c->add_option("--config-drive-dir", opts.sources.configdrive_dir,
                  "an OpenStack config drive directory (openstack/latest/...); given: no device search");
    c->add_flag("--no-seed-search", no_seed_search, "do not look for cidata/config-2 devices");
    c->add_option("--machine-id-file", opts.sources.machine_id_file,
                  "machine-id the default node name is made from (<role>-<first 6 hex>)")
        ->capture_default_str();
    c->add_option("--metadata-url", metadata_url, "cloud metadata service (\"\" = none)")->capture_default_str();
    c->add_option("--state-dir", opts.state_dir,
                  "state and generated configuration (default: state_dir of the config, /var/lib/mi)");
    c->add_option("--runner", runner, "how services are run: systemd (images) or process (tests, no systemd)")
        ->check(CLI::IsMember({"systemd", "process"}))
        ->capture_default_str();
    c->add_option("--port-offset", opts.port_offset,
                  "add N to every port (Consul, ZooKeeper, ...): for several nodes on one host's loopback")
        ->capture_default_str();
  };

  auto* run_cmd = app.add_subcommand("run", "run the first-boot steps (resuming at the first unfinished one)");
  add_source_flags(run_cmd);
  run_cmd->add_option("--timeout", opts.timeout_s, "seconds the whole run may wait (then exit 3)")
      ->capture_default_str();
  run_cmd->add_option("--poll-ms", opts.poll_ms, "how often waits re-check (milliseconds)")->capture_default_str();
  run_cmd
      ->add_option("--serve-beacon", opts.serve_beacon_s,
                   "static, dns, beacon discovery: keep answering beacons S seconds after the run is done, for "
                   "nodes that boot later (-1: until SIGTERM)")
      ->capture_default_str();
  run_cmd->add_flag("--set-hostname", opts.set_hostname,
                    "set the kernel host name to the node name (on every run) when they differ");

  auto* plan_cmd =
      app.add_subcommand("plan", "print every file run would write and every service it would start; touch nothing");
  add_source_flags(plan_cmd);

  std::string status_dir = "/var/lib/mi";
  bool json = false, console = false;
  std::string status_machine_id = opts.sources.machine_id_file;
  auto* status_cmd = app.add_subcommand("status", "print each step's state and the cluster as seen from this node");
  status_cmd->add_option("--state-dir", status_dir, "state dir of the node")->capture_default_str();
  auto* json_flag = status_cmd->add_flag("--json", json, "machine-readable output");
  status_cmd->add_flag("--console", console, "key=value lines for the serial console")->excludes(json_flag);
  status_cmd->add_option("--machine-id-file", status_machine_id, "machine-id shown by --console")
      ->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  opts.runner = runner;
  opts.sources.cmdline_file = cmdline_file;
  opts.sources.metadata_url = metadata_url;
  if (no_seed_search || !opts.sources.nocloud_dir.empty() || !opts.sources.configdrive_dir.empty())
    opts.sources.find_seeds = false;

  try {
    if (*run_cmd) return run_firstboot(opts, std::cerr) == Outcome::done ? 0 : 3;
    if (*plan_cmd) {
      print_plan(opts, std::cout);
      return 0;
    }
    if (*status_cmd && console) return print_console_status(status_dir, status_machine_id, std::cout);
    if (*status_cmd) return print_status(status_dir, json, std::cout);
  } catch (const mi::Error& e) {
    std::cerr << "mi-firstboot: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "mi-firstboot: internal error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

// The first-boot run (see steps.h): the six steps in order, each committing its result to
// state.json before the next starts; a killed node resumes at the first unfinished step and
// steps already done are replayed cheaply. Also the helpers the steps share (run_context.h),
// the WriterInput of a node's committed state, and sd_notify.
#include <pwd.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <thread>

#include "common/error.h"
#include "common/net.h"
#include "firstboot/beacon.h"
#include "firstboot/run_context.h"

namespace mi::firstboot {

namespace detail {

// While the run goes on, the beacon agent keeps hearing nodes: one with another cluster
// configuration, or two with one name, that shows up after discovery is still reported (in
// state.json, so in status, and in the log). Only during steps that are not replays, so that
// a rerun of a done node changes nothing.
void note_beacons(Context& c) {
  if (!c.beacon) return;
  BeaconView v = c.beacon->view();
  auto& st = c.st;
  auto old_counters = st.discovery_counters;
  st.discovery_counters = {{"accepted", v.counters.accepted},
                           {"malformed", v.counters.malformed},
                           {"other_cluster", v.counters.other_cluster},
                           {"bad_mac", v.counters.bad_mac},
                           {"stale", v.counters.stale},
                           {"wrong_source", v.counters.wrong_source},
                           {"replayed", v.counters.replayed},
                           {"config_mismatch", v.counters.config_mismatch}};
  bool news = false;
  for (const auto& n : v.nodes) {
    std::string m = n.name + " (" + n.address + ")";
    if (!n.same_config && std::find(st.mismatched.begin(), st.mismatched.end(), m) == st.mismatched.end()) {
      st.mismatched.push_back(m);
      c.say("node with a different cluster configuration (not joined): " + m);
      news = true;
    }
  }
  for (const auto& n : v.name_conflicts)
    if (std::find(st.name_conflicts.begin(), st.name_conflicts.end(), n) == st.name_conflicts.end()) {
      st.name_conflicts.push_back(n);
      c.say("two nodes show one name (not merged, both reported): " + n);
      news = true;
    }
  // Counters alone are saved at most once a second (they change with every beacon).
  if (news || (st.discovery_counters != old_counters && Clock::now() >= c.counters_saved + std::chrono::seconds(1))) {
    c.counters_saved = Clock::now();
    c.save();
  }
}

// Waits until `check` returns true, re-checking every poll_ms; `check` sets the message
// shown meanwhile. An mi::Error from `check` (service not answering yet) is a reason to
// wait, not a failure. False when the deadline passes.
int next_pause_ms(const Context& c, Clock::time_point started, int* pause_ms) {
  // Conditions that hold soon (a Consul leader, ZooKeeper's quorum) are seen within 200 ms;
  // after 10 s of waiting, every poll_ms.
  int cap = Clock::now() - started < std::chrono::seconds(10) ? 200 : c.opts.poll_ms;
  int p = std::max(1, std::min({*pause_ms, cap, c.opts.poll_ms}));
  *pause_ms = std::min(*pause_ms * 2, std::max(c.opts.poll_ms, 1));
  return p;
}

bool wait_until(Context& c, const std::function<bool(std::string*)>& check) {
  std::string msg, last_logged;
  int pause_ms = 50;
  const auto started = Clock::now();
  for (;;) {
    bool ok = false;
    try {
      ok = check(&msg);
    } catch (const Error& e) {
      msg = std::string("waiting: ") + e.what();
    }
    note_beacons(c);
    if (ok) return true;
    c.progress("waiting", msg);
    if (msg != last_logged) {
      c.say(msg);
      last_logged = msg;
    }
    if (Clock::now() >= c.deadline) return false;
    // Soon at first (most conditions hold within a fraction of a second), then every poll_ms.
    std::this_thread::sleep_for(std::chrono::milliseconds(next_pause_ms(c, started, &pause_ms)));
  }
}

// Directories the services write to: owned by their user when systemd runs them as it.
void ensure_dir(const std::string& dir, const std::string& owner, mode_t mode) {
  std::filesystem::create_directories(dir);
  chmod(dir.c_str(), mode);
  if (owner.empty()) return;
  if (const passwd* pw = getpwnam(owner.c_str())) {
    if (chown(dir.c_str(), pw->pw_uid, pw->pw_gid) != 0 && geteuid() == 0)
      throw Error(dir, "cannot give it to user " + owner);
  }
}

}  // namespace detail

namespace {

std::atomic<bool> g_signalled{false};
void on_signal(int) { g_signalled = true; }

}  // namespace

using namespace detail;

WriterInput writer_input(const NodeConfig& cfg, const FirstbootState& st, const Layout& layout) {
  WriterInput in;
  in.cfg = cfg;
  in.address = st.address.empty() ? cfg.address : st.address;
  for (const auto& p : st.peers) in.join.push_back(p.address);
  in.cloud_join = st.cloud_join;
  in.ensemble = st.ensemble;
  in.myid = st.myid;
  in.layout = layout;
  return in;
}

NodeConfig load_config_for(const FirstbootOptions& opts) {
  NodeConfig cfg = load_node_config(opts.sources);
  if (!opts.state_dir.empty()) cfg.state_dir = opts.state_dir;
  if (opts.port_offset) {
    cfg.ports = ports_with_offset(opts.port_offset);
    // The beacon port moves with the others (several nodes on one host's loopback).
    std::string host;
    int port = 0;
    split_host_port(cfg.beacon_group, "beacon_group", &host, &port);
    port = (port + opts.port_offset - 1) % 65535 + 1;
    cfg.beacon_group = host_port(host, port);
  }
  return cfg;
}

void sd_notify_message(const std::string& message) {
  // Best effort by design: systemd not listening (or no $NOTIFY_SOCKET) must not stop first boot.
  (void)sd_notify(0, message.c_str());
}

Outcome run_firstboot(const FirstbootOptions& opts, std::ostream& log) {
  Context c;
  c.opts = opts;
  c.log = &log;
  c.deadline = Clock::now() + std::chrono::seconds(opts.timeout_s);
  c.current = "identity";
  try {
    c.cfg = load_config_for(opts);
  } catch (const Error& e) {
    // Say so in state.json too, when we know where it is: `status` is where people look.
    std::string dir = opts.state_dir.empty() ? NodeConfig{}.state_dir : opts.state_dir;
    Layout l{dir};
    if (std::filesystem::exists(l.firstboot_dir())) {
      FirstbootState st = load_state(l.state_file());
      auto& r = step_record(st, "identity");
      if (r.status != "done") {
        r.status = "failed";
        r.detail = std::string("configuration: ") + e.what();
        r.updated = utc_now();
        save_state(l.state_file(), st);
      }
    }
    throw;
  }
  c.layout.state_dir = c.cfg.state_dir;
  std::filesystem::create_directories(c.layout.firstboot_dir());
  c.st = load_state(c.layout.state_file());
  // A node keeps the ports it started with (status reads them from state.json).
  if (!c.st.node_id.empty() && step_done(c.st, "identity")) c.cfg.ports = c.st.ports;
  auto runner = make_runner(opts.runner, c.layout.run_dir());
  c.runner = runner.get();
  c.consul.base = "http://127.0.0.1:" + std::to_string(c.cfg.ports.consul_http);
  {
    // Every service this node may start, made known to the service manager while discovery
    // runs (one systemd reload instead of one per service, off the critical path).
    std::vector<ServiceSpec> specs = {consul_service(c.layout)};
    if (is_control(c.cfg.role)) specs.push_back(zookeeper_service(c.layout, std::string(runner->kind()) != "systemd"));
    for (auto& s : optional_services(c.cfg.role, c.layout))
      if (runner->available(s)) specs.push_back(s);
    c.prepared = std::async(std::launch::async, [r = c.runner, specs] { r->prepare(specs); });
  }

  size_t resume = resume_index(c.st);
  if (resume > 0 && resume < step_names().size())
    log << "mi-firstboot: resuming at step " << step_names()[resume] << " (earlier steps done)" << std::endl;
  if (resume == step_names().size())
    log << "mi-firstboot: all steps done earlier; ensuring files and services" << std::endl;
  for (size_t i = 0; i < step_names().size(); i++) {
    const auto& name = step_names()[i];
    c.current = name;
    bool replay = step_done(c.st, name);
    if (!replay) {
      c.progress("running", "started");
      c.say("started");
    }
    bool ok = true;
    try {
      if (name == "identity")
        ok = step_identity(c, replay);
      else if (name == "discover")
        ok = step_discover(c, replay);
      else if (name == "consul")
        ok = step_consul(c, replay);
      else if (name == "zookeeper")
        ok = step_zookeeper(c, replay);
      else if (name == "writers")
        step_writers(c, replay);
      else if (name == "register")
        ok = step_register(c, replay);
    } catch (const Error& e) {
      auto& r = step_record(c.st, name);
      r.status = "failed";
      r.detail = e.what();
      r.updated = utc_now();
      c.save();
      sd_notify_message("STATUS=" + name + " failed: " + e.what());
      throw;
    }
    if (!ok) {
      c.say("timed out: " + step_record(c.st, name).detail);
      sd_notify_message("STATUS=" + name + " timed out: " + step_record(c.st, name).detail);
      return Outcome::timed_out;
    }
    if (!replay) c.say(step_record(c.st, name).detail);
    if (name == "discover" && !c.beacon && c.cfg.discovery != "cloud") {
      // Replayed discovery (a restart): answer again, so that nodes starting later find this one.
      std::vector<std::string> listed;
      for (const auto& p : c.st.peers) listed.push_back(p.address);
      try {
        start_beacon_agent(c, listed);
      } catch (const Error& e) {
        c.say(std::string("not answering beacons: ") + e.what());
      }
    }
  }
  std::string summary = "first boot done: " + std::string(role_name(c.cfg.role)) + " node " + c.cfg.node_name + " at " +
                        c.st.address + (c.st.myid ? ", ZooKeeper myid " + std::to_string(c.st.myid) : "");
  log << "mi-firstboot: " << summary << std::endl;
  sd_notify_message("READY=1\nSTATUS=" + summary);
  if (c.beacon && opts.serve_beacon_s != 0) {
    c.beacon->set_flags(c.st.ensemble.empty() ? 0 : kBeaconFlagCommitted);
    log << "mi-firstboot: answering beacons "
        << (opts.serve_beacon_s < 0 ? "until stopped" : "for " + std::to_string(opts.serve_beacon_s) + " s")
        << std::endl;
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    auto until =
        opts.serve_beacon_s < 0 ? Clock::time_point::max() : Clock::now() + std::chrono::seconds(opts.serve_beacon_s);
    while (!g_signalled && Clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return Outcome::done;
}

}  // namespace mi::firstboot

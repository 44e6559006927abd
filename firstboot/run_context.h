// Internal to firstboot/: the state one run of the six steps shares (Context), the helpers
// the step files use, and the steps themselves, one file each (step_identity.cc,
// step_discover.cc, step_consul.cc, step_zookeeper.cc, step_writers.cc, step_register.cc),
// orchestrated by run.cc. Each step is a function of the Context; `replay` is true when
// state.json says the step was done by an earlier run: then it only re-ensures files and
// services and never decides again. The public interface is steps.h.
#pragma once
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "common/strings.h"
#include "firstboot/consul_client.h"
#include "firstboot/discovery.h"
#include "firstboot/service_runner.h"
#include "firstboot/state.h"
#include "firstboot/steps.h"

namespace mi::firstboot::detail {

struct Context {
  FirstbootOptions opts;
  NodeConfig cfg;
  Layout layout;
  FirstbootState st;
  ServiceRunner* runner = nullptr;
  ConsulAgent consul;
  Clock::time_point deadline;
  std::ostream* log = nullptr;
  std::string current;  // the step running now
  // The beacon exchange (every discovery method but cloud), from the configuration check to
  // the end of the run: it answers nodes that start later, committed flag once committed.
  std::unique_ptr<BeaconAgent> beacon;
  Clock::time_point counters_saved{};
  // The runner's prepare() of every service this node may start, running beside discovery;
  // services_prepared() waits for it (and rethrows its error) before the first start.
  std::future<void> prepared;

  void say(const std::string& msg) { *log << "mi-firstboot: " << current << ": " << msg << std::endl; }
  void save() { save_state(layout.state_file(), st); }
  // Records what the current step does or waits on, for `status` and systemd.
  void progress(const std::string& status, const std::string& detail) {
    auto& r = step_record(st, current);
    if (r.status == status && r.detail == detail) return;
    r.status = status;
    r.detail = detail;
    r.updated = utc_now();
    save();
    sd_notify_message("STATUS=" + current + ": " + detail);
  }
};

// The next pause of a wait that started at `started`: 50 ms, doubling, at most 200 ms for the
// first 10 s, then up to poll_ms.
int next_pause_ms(const Context& c, Clock::time_point started, int* pause_ms);

// Waits until `check` returns true, re-checking after next_pause_ms(); `check` sets the message shown meanwhile. An
// mi::Error from `check` (service not answering yet) is a reason to wait, not a failure. False when the deadline
// passes.
bool wait_until(Context& c, const std::function<bool(std::string*)>& check);

// Waits for Context::prepared, once; its error is this step's.
inline void services_prepared(Context& c) {
  if (c.prepared.valid()) c.prepared.get();
}

// Late beacon news (another configuration, one name on two nodes) into state.json and the log.
void note_beacons(Context& c);

// A directory a service writes to, owned by its user when systemd runs it as that user.
void ensure_dir(const std::string& dir, const std::string& owner, mode_t mode);

// Starts the beacon agent (every discovery method but cloud) if it does not run yet.
void start_beacon_agent(Context& c, const std::vector<std::string>& listed);

bool step_identity(Context& c, bool replay);  // false: the deadline passed waiting for the secret
bool step_discover(Context& c, bool replay);  // false: timed out
bool step_consul(Context& c, bool replay);
bool step_zookeeper(Context& c, bool replay);
void step_writers(Context& c, bool replay);
bool step_register(Context& c, bool replay);

}  // namespace mi::firstboot::detail

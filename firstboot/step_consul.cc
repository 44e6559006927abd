// Step 3, consul: writes the Consul configuration, starts the agent (server on control
// nodes, client on compute nodes) and waits for a leader.
#include <algorithm>
#include <string>

#include "common/error.h"
#include "firstboot/run_context.h"
#include "firstboot/writers.h"

namespace mi::firstboot::detail {

bool step_consul(Context& c, bool replay) {
  WriterInput in = writer_input(c.cfg, c.st, c.layout);
  bool changed = false;
  for (const auto& f : consul_files(in)) changed |= ensure_file(f);
  if (changed) c.say("wrote " + c.layout.consul_config_dir() + "/consul.json");
  services_prepared(c);
  c.runner->start(consul_service(c.layout), changed);
  if (replay) return true;
  c.progress("running", "Consul agent started; waiting for a leader");
  bool server = is_control(c.cfg.role);
  std::string leader;
  bool ok = wait_until(c, [&](std::string* msg) {
    leader = consul_leader(c.consul);
    if (!leader.empty()) return true;
    auto members = consul_members(c.consul);
    std::vector<std::string> seen;
    for (const auto& m : members)
      if (m.server() && m.alive()) seen.push_back(m.address);
    std::sort(seen.begin(), seen.end());
    *msg = "waiting for Consul leader: " + std::to_string(seen.size()) + " of " + std::to_string(c.cfg.control_count) +
           " servers seen" + (seen.empty() ? "" : ": " + join(seen, ", ")) +
           (server ? "" : " (client, joining " + join(in.join, ", ") + in.cloud_join + ")");
    return false;
  });
  if (!ok) {
    step_record(c.st, "consul").status = "timed-out";
    c.save();
    return false;
  }
  std::vector<std::string> peers;
  try {
    peers = consul_peers(c.consul);
  } catch (const Error&) {
    // only for the message
  }
  c.progress("done", std::string(server ? "server" : "client") + "; leader " + leader +
                         (peers.empty() ? "" : "; raft peers " + join(peers, ", ")));
  return true;
}

}  // namespace mi::firstboot::detail

// Step 6, register: ZooKeeper registered in the local Consul agent (so that
// zookeeper.service.consul resolves), and control nodes WAN-joined to other datacenters.
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "common/error.h"
#include "firstboot/run_context.h"
#include "common/net.h"

namespace mi::firstboot::detail {

bool step_register(Context& c, bool replay) {
  if (replay) return true;  // Consul keeps registrations and WAN members in its data dir
  auto& st = c.st;
  std::vector<std::string> done;
  // The local agent can be slow to answer under packet loss (it syncs with the servers):
  // a failed call is retried until the deadline, never a reason to give up the run.
  ConsulAgent agent = c.consul;
  agent.timeout_ms = 10000;
  if (st.myid > 0) {
    std::string hp = bracket_host(st.address) + ":" +
                     std::to_string(c.cfg.ports.zk_client);
    nlohmann::json def = {
        {"ID", "zookeeper"},
        {"Name", "zookeeper"},
        {"Address", st.address},
        {"Port", c.cfg.ports.zk_client},
        {"Tags", {"myid-" + std::to_string(st.myid)}},
        {"Check", {{"Name", "ZooKeeper client port"}, {"TCP", hp}, {"Interval", "5s"}, {"Timeout", "2s"}}}};
    bool ok = wait_until(c, [&](std::string* msg) {
      *msg = "registering zookeeper in the local Consul agent";
      consul_register_service(agent, def.dump());
      return true;
    });
    if (!ok) {
      step_record(st, "register").status = "timed-out";
      c.save();
      return false;
    }
    done.push_back("registered zookeeper");
  }
  if (is_control(c.cfg.role) && !c.cfg.wan_join.empty()) {
    std::set<std::string> wan_alive;
    try {
      for (const auto& m : consul_members(agent, true))
        if (m.alive()) wan_alive.insert(m.address);
    } catch (const Error&) {
    }
    for (const auto& a : c.cfg.wan_join) {
      if (wan_alive.count(a)) {
        done.push_back("WAN member " + a);
        continue;
      }
      std::string target = a;
      if (c.cfg.ports.consul_serf_wan != 8302)
        target =
            host_port(a, c.cfg.ports.consul_serf_wan);
      try {
        ConsulAgent slow = c.consul;
        slow.timeout_ms = 15000;  // a join waits for the remote side
        consul_join(slow, target, true);
        done.push_back("WAN joined " + a);
      } catch (const Error& e) {
        // retry_join_wan in the config keeps trying; report, do not fail.
        done.push_back("WAN join " + a + " not yet (" + e.why + "; retry_join_wan keeps trying)");
      }
    }
  }
  c.progress("done", done.empty() ? "nothing to register" : join(done, "; "));
  return true;
}

}  // namespace mi::firstboot::detail

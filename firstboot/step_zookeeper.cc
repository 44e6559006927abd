// Step 4, zookeeper: the KV configuration digest check (second line of defence), the
// ensemble decided once or read through Consul KV (agreement.h) and committed to state.json,
// then zoo.cfg + myid, ZooKeeper started, and a healthy membership waited for.
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "common/digest.h"
#include "common/error.h"
#include "firstboot/agreement.h"
#include "firstboot/beacon.h"
#include "firstboot/run_context.h"
#include "firstboot/writers.h"
#include "firstboot/zk_client.h"

namespace mi::firstboot::detail {

namespace {

// The ensemble through Consul KV: decided once by the first control node to get here.
bool decide_or_read_ensemble(Context& c) {
  auto key = ensemble_key(c.cfg.cluster);
  AgreementIo io;
  io.read = [&] { return consul_kv_get(c.consul, key); };
  io.create = [&](const std::string& json) { return consul_kv_cas(c.consul, key, json, 0); };
  io.raft_peers = [&] {
    // The Raft peers, named from the gossip members.
    std::vector<Peer> peers;
    std::map<std::string, std::string> names;
    for (const auto& m : consul_members(c.consul)) names[m.address] = m.name;
    for (const auto& p : consul_peers(c.consul)) {
      auto a = strip_port(p);
      peers.push_back({names.count(a) ? names[a] : "", a, Role::control});
    }
    return peers;
  };
  io.say = [&](const std::string& line) { c.say(line); };
  Ensemble e;
  bool ok = wait_until(c, [&](std::string* msg) {
    auto got = agreement_round(io, c.cfg.control_count, is_control(c.cfg.role), c.cfg.node_name, key, msg);
    if (got) e = *got;
    return got.has_value();
  });
  if (!ok) return false;
  c.st.ensemble = e;
  c.st.myid = my_id(e, c.st.address);  // by address only: a name proves nothing
  std::vector<std::string> m;
  for (const auto& x : e.members) m.push_back(std::to_string(x.myid) + "=" + x.address);
  c.say("committed ensemble " + join(m, ", ") + (c.st.myid ? "; this node is myid " + std::to_string(c.st.myid) : ""));
  c.save();  // committed before anything is written or started from it
  if (c.beacon) c.beacon->set_flags(kBeaconFlagCommitted);
  return true;
}

// The cluster-wide settings must be the same on every node (DESIGN.md: "one configuration,
// checked before agreeing"). Beacon discovery compares digests before anything starts; for
// every method the first node to get here commits its digest to KV, and a node whose digest
// differs stops its Consul agent, joins no ensemble, and fails naming both sides.
bool check_config_digest(Context& c) {
  auto key = config_digest_key(c.cfg.cluster);
  auto d = config_digest(c.cfg);
  std::string mine = to_hex(d.data(), d.size());
  nlohmann::json me = {{"digest", mine},
                       {"node", c.cfg.node_name},
                       {"control_count", c.cfg.control_count},
                       {"datacenter", c.cfg.datacenter}};
  nlohmann::json theirs;
  bool ok = wait_until(c, [&](std::string* msg) {
    if (auto v = consul_kv_get(c.consul, key)) {
      theirs = nlohmann::json::parse(*v, nullptr, false);
      if (theirs.is_discarded() || !theirs.is_object()) throw Error("consul kv " + key, "not a JSON object");
      return true;
    }
    consul_kv_cas(c.consul, key, me.dump(), 0);
    *msg = "committing the cluster configuration digest to Consul KV " + key;
    return false;
  });
  if (!ok) return false;
  if (theirs.value("digest", "") == mine) return true;
  try {
    c.runner->stop("consul");
  } catch (const Error& e) {
    c.say(std::string("could not stop Consul: ") + e.what());
  }
  throw Error("config", "this node's cluster configuration (digest " + mine.substr(0, 16) + ", control_count " +
                            std::to_string(c.cfg.control_count) + ") differs from the one cluster " + c.cfg.cluster +
                            " committed (digest " + theirs.value("digest", "?").substr(0, 16) + ", control_count " +
                            std::to_string(theirs.value("control_count", 0)) + ", first written by " +
                            theirs.value("node", "?") +
                            "): Consul stopped, no ZooKeeper; make cluster name, datacenter, control_count, ports "
                            "and secret the same on every node");
}

}  // namespace

bool step_zookeeper(Context& c, bool replay) {
  auto& st = c.st;
  if (st.ensemble.empty()) {
    if (replay) throw Error("state.json", "zookeeper step is done but no ensemble is committed");
    c.progress("running", "checking the cluster configuration digest in Consul KV");
    if (!check_config_digest(c)) {
      step_record(st, "zookeeper").status = "timed-out";
      c.save();
      return false;
    }
    c.progress("running", "deciding or reading the ZooKeeper ensemble through Consul");
    // After a restart Consul may just be coming up again: the wait absorbs that.
    if (!decide_or_read_ensemble(c)) {
      step_record(st, "zookeeper").status = "timed-out";
      c.save();
      return false;
    }
  }
  // Healthy membership: by address only; a member whose address is not its server.N, or a
  // non-member whose address is some member's, never goes on (and is never reported done).
  if (std::string why = ensemble_health(st.ensemble, st.address, st.myid, st.myid ? "leader" : "");
      !why.empty() && why.rfind("ZooKeeper", 0) != 0)
    throw Error("zookeeper", why +
                                 "; the committed ensemble and this node's address disagree (reinstall /var to "
                                 "rejoin as a new node)");
  if (st.myid == 0) {
    if (!replay) {
      // A node outside the ensemble must not run a ZooKeeper (e.g. one left by an earlier run).
      bool ok = wait_until(c, [&](std::string* msg) {
        std::string mode;
        try {
          mode = zk_status("127.0.0.1", c.cfg.ports.zk_client).mode;
        } catch (const Error&) {
          // nothing answers: as it should be
        }
        *msg = ensemble_health(st.ensemble, st.address, 0, mode);
        return msg->empty();
      });
      if (!ok) {
        step_record(st, "zookeeper").status = "timed-out";
        c.save();
        return false;
      }
      c.progress("done", is_control(c.cfg.role)
                             ? "not in the ensemble (" + std::to_string(st.ensemble.members.size()) +
                                   " members): runs no ZooKeeper"
                             : "compute node: ensemble read (" + zk_url(st.ensemble, c.cfg.ports.zk_client, "") + ")");
    }
    return true;
  }
  WriterInput in = writer_input(c.cfg, st, c.layout);
  bool systemd = std::string(c.runner->kind()) == "systemd";
  ensure_dir(c.layout.zk_data_dir(), systemd ? "zookeeper" : "", 0750);
  bool changed = false;
  for (const auto& f : zookeeper_files(in)) changed |= ensure_file(f);
  services_prepared(c);
  c.runner->start(zookeeper_service(c.layout, !systemd), changed);
  std::string mode;
  if (replay) {
    // A later boot: the run is not done (no READY=1) before this node is a healthy member
    // again. Waited on without touching state.json (the step stays done, and a reboot
    // leaves the file byte-identical); `status` shows ZooKeeper's live mode meanwhile.
    std::string last;
    const auto started = Clock::now();
    for (int pause_ms = 50;;) {
      try {
        mode = zk_status("127.0.0.1", c.cfg.ports.zk_client).mode;
      } catch (const Error&) {
        mode.clear();
      }
      std::string why = ensemble_health(st.ensemble, st.address, st.myid, mode);
      if (why.empty()) return true;
      if (why != last) {
        c.say("waiting to be a healthy ensemble member again: " + why);
        sd_notify_message("STATUS=zookeeper: " + why);
        last = why;
      }
      if (Clock::now() >= c.deadline) {
        step_record(st, "zookeeper").status = "timed-out";
        step_record(st, "zookeeper").detail = "not a healthy ensemble member after a restart: " + why;
        c.save();
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(next_pause_ms(c, started, &pause_ms)));
    }
  }
  bool ok = wait_until(c, [&](std::string* msg) {
    mode = zk_status("127.0.0.1", c.cfg.ports.zk_client).mode;
    std::string why = ensemble_health(st.ensemble, st.address, st.myid, mode);
    if (why.empty()) return true;
    *msg = "waiting for ZooKeeper quorum: " + why + ", ensemble " + zk_url(st.ensemble, c.cfg.ports.zk_client, "");
    return false;
  });
  if (!ok) {
    step_record(st, "zookeeper").status = "timed-out";
    c.save();
    return false;
  }
  c.progress("done", "myid " + std::to_string(st.myid) + ", " + mode + "; ensemble " +
                         zk_url(st.ensemble, c.cfg.ports.zk_client, ""));
  return true;
}

}  // namespace mi::firstboot::detail

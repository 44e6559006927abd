// Step 1, identity: this node's identity on /var (node id, Consul's node-id), made on first
// boot and never from the image, and the checks that a node never changes cluster or role.
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "common/digest.h"
#include "common/error.h"
#include "firstboot/fleet_secret.h"
#include "firstboot/run_context.h"
#include "firstboot/writers.h"

namespace mi::firstboot::detail {

namespace {

std::string random_uuid() {
  std::string h = random_hex(16);
  h[12] = '4';                                                  // version 4
  h[16] = "89ab"[std::stoi(h.substr(16, 1), nullptr, 16) & 3];  // RFC 4122 variant
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) + "-" + h.substr(20);
}

// --set-hostname: the kernel host name follows the node name (an image's baked host name is
// the same on every clone).
void ensure_hostname(Context& c) {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) throw Error("gethostname", strerror(errno));
  const std::string& name = c.cfg.node_name;
  if (name == host) return;
  if (sethostname(name.data(), name.size()) != 0)
    throw Error("sethostname", "cannot set the host name to '" + name + "': " + strerror(errno));
  c.say("set the host name to '" + name + "' (was '" + host + "')");
}

// The fleet secret (fleet_secret.h): persisted, reused, or made by a one-node all-in-one.
// Without one the node waits (never forms an unauthenticated cluster, never fails for it),
// re-reading the config sources every poll interval: a seed may be attached later. False
// when the run's deadline passed meanwhile.
bool ensure_secret(Context& c, bool replay) {
  SecretResolution r = resolve_fleet_secret(c.cfg);
  if (!r.ready) {
    StepRecord before = step_record(c.st, "identity");
    bool ok = wait_until(c, [&](std::string* msg) {
      *msg = r.waiting;
      NodeConfig fresh = load_config_for(c.opts);
      fresh.state_dir = c.layout.state_dir;  // state.json is already here
      fresh.ports = c.cfg.ports;
      r = resolve_fleet_secret(fresh);
      if (!r.ready) *msg = r.waiting;
      if (r.ready) c.cfg = fresh;
      return r.ready;
    });
    if (!ok) {
      step_record(c.st, "identity").status = "timed-out";
      c.save();
      return false;
    }
    if (replay) {  // the step stays done
      step_record(c.st, "identity") = before;
      c.save();
    }
  }
  if (!r.said.empty()) c.say(r.said);
  return true;
}

}  // namespace

bool step_identity(Context& c, bool replay) {
  if (!ensure_secret(c, replay)) return false;
  auto& st = c.st;
  if (!st.cluster.empty() && st.cluster != c.cfg.cluster)
    throw Error("identity", "this node committed cluster '" + st.cluster + "' but the configuration now says '" +
                                c.cfg.cluster + "'; a node never changes cluster (reinstall /var to move it)");
  if (!st.role.empty() && st.role != role_name(c.cfg.role))
    throw Error("identity", "this node committed role '" + st.role + "' but the configuration now says '" +
                                role_name(c.cfg.role) + "'; a node never changes role (reinstall /var to change it)");
  if (!st.node_name.empty() && st.node_name != c.cfg.node_name) {
    c.say("keeping committed node name '" + st.node_name + "' (configuration says '" + c.cfg.node_name + "')");
    c.cfg.node_name = st.node_name;
  }
  if (c.opts.set_hostname) ensure_hostname(c);
  if (!replay) {
    // Made here, on /var, never taken from the image: every node boots the same image.
    if (st.node_id.empty()) st.node_id = random_hex(16);
    if (st.consul_node_id.empty()) st.consul_node_id = random_uuid();
    st.node_name = c.cfg.node_name;
    st.role = role_name(c.cfg.role);
    st.cluster = c.cfg.cluster;
    st.datacenter = c.cfg.datacenter;
    st.runner = c.runner->kind();
    st.ports = c.cfg.ports;
  }
  // Consul takes its node-id from its data dir; written before Consul ever starts.
  bool systemd = std::string(c.runner->kind()) == "systemd";
  ensure_dir(c.layout.consul_data_dir(), systemd ? "consul" : "", 0750);
  ensure_file({c.layout.consul_data_dir() + "/node-id", st.consul_node_id, 0644, "", false});
  if (systemd)
    if (const passwd* pw = getpwnam("consul")) {
      auto p = c.layout.consul_data_dir() + "/node-id";
      if (chown(p.c_str(), pw->pw_uid, pw->pw_gid) != 0) throw Error(p, "cannot give it to user consul");
    }
  if (!replay)
    c.progress("done", "node " + st.node_name + " (" + st.role + "), node id " + st.node_id + ", consul node-id " +
                           st.consul_node_id);
  return true;
}

}  // namespace mi::firstboot::detail

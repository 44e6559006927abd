// Step 1, identity: this node's identity on /var (node id, Consul's node-id), made on first
// boot and never from the image, and the checks that a node never changes cluster or role.
#include <pwd.h>
#include <sys/random.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "common/digest.h"
#include "common/error.h"
#include "firstboot/run_context.h"
#include "firstboot/writers.h"

namespace mi::firstboot::detail {

namespace {

std::string random_hex(size_t bytes) {
  std::string buf(bytes, '\0');
  size_t got = 0;
  while (got < bytes) {
    ssize_t n = getrandom(buf.data() + got, bytes - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error("getrandom", strerror(errno));
    }
    got += size_t(n);
  }
  return to_hex(reinterpret_cast<const uint8_t*>(buf.data()), bytes);
}

std::string random_uuid() {
  std::string h = random_hex(16);
  h[12] = '4';                                                  // version 4
  h[16] = "89ab"[std::stoi(h.substr(16, 1), nullptr, 16) & 3];  // RFC 4122 variant
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) + "-" + h.substr(20);
}

}  // namespace

void step_identity(Context& c, bool replay) {
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
}

}  // namespace mi::firstboot::detail

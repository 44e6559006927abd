// The beacon loop: one UDP socket that joins the beacon group (or listens on the port of a
// unicast/broadcast destination, for tests), sends this node's beacon every interval, and
// runs what it receives through the BeaconFilter until enough control nodes are seen or the
// deadline passes. IPv4 only (the group is an IPv4 multicast address or a broadcast address).
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <map>
#include <set>

#include "common/error.h"
#include "firstboot/discovery.h"

namespace mi::firstboot {
namespace {

uint64_t wall_ms() {
  return uint64_t(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
}

struct Socket {
  int fd = -1;
  ~Socket() {
    if (fd >= 0) close(fd);
  }
};

in_addr ipv4(const std::string& s, const std::string& what) {
  in_addr a{};
  if (inet_pton(AF_INET, s.c_str(), &a) != 1) throw Error("beacon", what + " '" + s + "' is not an IPv4 address");
  return a;
}

void set_opt(int fd, int level, int name, const void* v, socklen_t len, const char* what) {
  if (setsockopt(fd, level, name, v, len) != 0) throw Error("beacon", std::string(what) + ": " + strerror(errno));
}

std::string summary(const BeaconResult& r, int expected, bool deadline_passed) {
  std::string s = std::to_string(r.controls_seen) + " of " + std::to_string(expected) + " control nodes seen";
  std::string list;
  for (const Peer& p : r.peers) {
    if (!is_control(p.role)) continue;
    if (!list.empty()) list += ", ";
    list += p.address.empty() ? p.name : p.address;
  }
  if (!list.empty()) s += ": " + list;
  if (deadline_passed && !r.complete) s += " (deadline passed)";
  if (!r.mismatched.empty()) {
    s += "; different cluster config on";
    for (auto& m : r.mismatched) s += " " + m;
  }
  if (!r.send_error.empty()) s += "; cannot send beacons: " + r.send_error;
  return s;
}

// The loop behind discover_beacon() and serve_beacon(): runs until enough controls (plus
// the linger), the deadline, or `stop`.
BeaconResult beacon_loop(const NodeConfig& cfg, int expected_controls, Clock::time_point deadline,
                         const BeaconOptions& opts, const std::atomic<bool>* stop) {
  if (cfg.secret.empty()) throw Error("beacon", "no cluster secret: beacon discovery needs one (secret_file or seed)");
  std::string host;
  int port = 0;
  std::string group = opts.group.empty() ? cfg.beacon_group : opts.group;
  split_host_port(group, "beacon_group", &host, &port);
  in_addr dest = ipv4(host, "beacon group");
  bool multicast = IN_MULTICAST(ntohl(dest.s_addr));
  std::string ifaddr = opts.interface_address.empty() ? cfg.address : opts.interface_address;
  if (!ifaddr.empty() && ifaddr.find(':') != std::string::npos) ifaddr.clear();  // an IPv6 bind: kernel's choice

  Socket sock;
  sock.fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock.fd < 0) throw Error("beacon", std::string("socket: ") + strerror(errno));
  int one = 1;
  set_opt(sock.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one, "SO_REUSEADDR");
  set_opt(sock.fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof one, "SO_BROADCAST");
  sockaddr_in local{};
  local.sin_family = AF_INET;
  local.sin_port = htons(uint16_t(port));
  // Bound to the group itself, the socket gets only that group's datagrams.
  local.sin_addr.s_addr = multicast ? dest.s_addr : htonl(INADDR_ANY);
  if (bind(sock.fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0)
    throw Error("beacon", "bind to port " + std::to_string(port) + ": " + strerror(errno));
  if (multicast) {
    // The interface: by its address, else by the configured interface name, else the one
    // the kernel routes the group to (no route: ENODEV, reported with a hint).
    ip_mreqn mreq{};
    mreq.imr_multiaddr = dest;
    mreq.imr_address.s_addr = ifaddr.empty() ? htonl(INADDR_ANY) : ipv4(ifaddr, "interface address").s_addr;
    if (ifaddr.empty() && !cfg.interface.empty()) {
      mreq.imr_ifindex = int(if_nametoindex(cfg.interface.c_str()));
      if (mreq.imr_ifindex == 0) throw Error("beacon", "no interface '" + cfg.interface + "'");
    }
    if (setsockopt(sock.fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mreq, sizeof mreq) != 0)
      throw Error("beacon", "cannot join " + group + ": " + strerror(errno) +
                                (errno == ENODEV ? " (no route for the group: name an address or iface, or add a "
                                                   "multicast route)"
                                                 : ""));
    if (!ifaddr.empty() || mreq.imr_ifindex != 0)
      set_opt(sock.fd, IPPROTO_IP, IP_MULTICAST_IF, &mreq, sizeof mreq, "IP_MULTICAST_IF");
    unsigned char loop = 1, ttl = (unsigned char)std::clamp(opts.ttl, 0, 255);
    set_opt(sock.fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof loop, "IP_MULTICAST_LOOP");
    set_opt(sock.fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl, "IP_MULTICAST_TTL");
  }
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(uint16_t(port));
  to.sin_addr = dest;

  BeaconFilter filter = make_beacon_filter(cfg, opts.window_ms);
  BeaconMessage own;
  own.cluster = cfg.cluster;
  own.flags = opts.flags;
  own.name = cfg.node_name;
  own.address = cfg.address.empty() ? ifaddr : cfg.address;
  if (own.address == "0.0.0.0") own.address.clear();
  own.role = cfg.role;
  own.digest = filter.digest;
  own.sequence = wall_ms();  // keeps increasing across restarts of this node

  BeaconResult r;
  std::map<std::string, Peer> peers;
  std::set<std::string> committed;
  peers[cfg.node_name] = Peer{cfg.node_name, own.address, cfg.role};

  auto send_own = [&] {
    own.timestamp_ms = wall_ms();
    own.sequence++;
    std::string wire = encode_beacon(own, filter.key);
    if (sendto(sock.fd, wire.data(), wire.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) < 0)
      r.send_error = strerror(errno);
    else
      r.sent++;
  };
  auto controls = [&] {
    int n = 0;
    for (auto& [_, p] : peers) n += is_control(p.role);
    return n;
  };

  const auto interval = std::chrono::milliseconds(std::max(opts.interval_ms, 10));
  auto next_send = Clock::now();
  Clock::time_point complete_at{};
  if (controls() >= expected_controls) {  // e.g. a single all-in-one node
    r.complete = true;
    complete_at = Clock::now();
  }
  bool deadline_passed = false;
  bool stopping = false;  // asked to stop: read what is already queued, send nothing more
  for (;;) {
    auto now = Clock::now();
    if (stop && stop->load()) stopping = true;
    if (!stopping) {
      if (r.complete && now >= complete_at + std::chrono::milliseconds(opts.linger_ms)) break;
      if (now >= deadline) {
        deadline_passed = true;
        break;
      }
      if (now >= next_send) {
        send_own();
        next_send = now + interval;
      }
    }
    auto wake = std::min(next_send, deadline);
    if (r.complete) wake = std::min(wake, complete_at + std::chrono::milliseconds(opts.linger_ms));
    if (stop) wake = std::min(wake, now + std::chrono::milliseconds(100));  // notice `stop` soon
    int timeout =
        int(std::max<int64_t>(0, std::chrono::duration_cast<std::chrono::milliseconds>(wake - now).count() + 1));
    pollfd p{sock.fd, POLLIN, 0};
    int pr = poll(&p, 1, stopping ? 0 : timeout);
    if (pr < 0 && errno != EINTR) throw Error("beacon", std::string("poll: ") + strerror(errno));
    if (stopping && pr == 0) break;
    if (pr <= 0) continue;
    char buf[2048];
    sockaddr_in from{};
    socklen_t fromlen = sizeof from;
    ssize_t n = recvfrom(sock.fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &fromlen);
    if (n < 0) continue;
    char src[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, &from.sin_addr, src, sizeof src);
    BeaconMessage m;
    BeaconStatus st = filter_beacon(filter, std::string(buf, size_t(n)), wall_ms(), src, &m);
    if (st != BeaconStatus::ok) continue;
    bool is_new = !peers.count(m.name);
    peers[m.name] = Peer{m.name, m.address, m.role};
    if (m.flags & kBeaconFlagCommitted) committed.insert(m.name);
    if (is_new && !stopping) send_own();  // answer at once, so the newcomer hears us even if we stop soon
    if (!r.complete && controls() >= expected_controls) {
      r.complete = true;
      complete_at = Clock::now();
    }
  }

  // Our own address, if we did not name one: the one on the route to the others.
  if (own.address.empty())
    for (auto& [name, p] : peers)
      if (name != cfg.node_name && !p.address.empty()) {
        peers[cfg.node_name].address = route_source_address(p.address);
        break;
      }
  for (auto& [_, p] : peers) r.peers.push_back(p);  // std::map: sorted by name
  r.committed.assign(committed.begin(), committed.end());
  r.controls_seen = controls();
  r.complete = r.controls_seen >= expected_controls;
  r.counters = filter.counters;
  for (auto& [name, addr] : filter.mismatched) r.mismatched.push_back(name + " (" + addr + ")");
  r.reason = summary(r, expected_controls, deadline_passed);
  return r;
}

}  // namespace

BeaconResult discover_beacon(const NodeConfig& cfg, int expected_controls, Clock::time_point deadline,
                             const BeaconOptions& opts) {
  return beacon_loop(cfg, expected_controls, deadline, opts, nullptr);
}

BeaconResult serve_beacon(const NodeConfig& cfg, const std::atomic<bool>& stop, Clock::time_point until,
                          const BeaconOptions& opts) {
  BeaconResult r = beacon_loop(cfg, std::numeric_limits<int>::max(), until, opts, &stop);
  r.complete = false;
  r.reason = "served beacons: " + std::to_string(r.peers.size()) + " nodes seen (" + std::to_string(r.controls_seen) +
             " control), " + std::to_string(r.counters.dropped()) + " beacons dropped";
  return r;
}

}  // namespace mi::firstboot

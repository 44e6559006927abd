// Discovery dispatch (static | dns | beacon | cloud) and the choice of the bind address.
// Called by the first-boot steps after load_node_config(); its result feeds the ensemble
// agreement.
#include "firstboot/discovery.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <thread>

#include "common/error.h"

namespace mi::firstboot {
namespace {

std::string join_addresses(const std::vector<Peer>& peers) {
  std::string s;
  for (auto& p : peers) s += (s.empty() ? "" : ", ") + (p.address.empty() ? p.name : p.address);
  return s;
}

std::string count_reason(const std::vector<Peer>& peers, int expected) {
  std::string s = std::to_string(peers.size()) + " of " + std::to_string(expected) + " control nodes";
  if (!peers.empty()) s += ": " + join_addresses(peers);
  return s;
}

std::vector<Peer> static_peers(const NodeConfig& cfg) {
  std::vector<Peer> out;
  for (const std::string& e : cfg.static_peers) {
    size_t eq = e.find('=');
    std::string name = eq == std::string::npos ? "" : e.substr(0, eq);
    std::string addr = eq == std::string::npos ? e : e.substr(eq + 1);
    if (addr.empty()) throw Error("discovery.peers", "empty address in '" + e + "'");
    if (!is_ip(addr)) {  // a host name: its first address
      if (name.empty()) name = addr;
      addr = resolve_addresses(addr).front();
    }
    out.push_back(Peer{name, addr, Role::control});
  }
  return out;
}

std::vector<Peer> dns_peers(const std::string& name) {
  std::vector<Peer> out;
  if (!name.empty() && name[0] == '_') {
    for (const SrvRecord& r : resolve_srv(name)) {
      std::string target = r.target;
      if (!target.empty() && target.back() == '.') target.pop_back();
      for (const std::string& a : resolve_addresses(target)) out.push_back(Peer{target, a, Role::control});
    }
  } else {
    for (const std::string& a : resolve_addresses(name)) out.push_back(Peer{"", a, Role::control});
  }
  return out;
}

std::string provenance_of(const NodeConfig& cfg, const std::string& field) {
  for (auto& [f, src] : cfg.provenance)
    if (f == field) return src;
  return "config";
}

}  // namespace

std::string route_source_address(const std::string& peer) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  int family = AF_INET;
  auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, peer.c_str(), &s4->sin_addr) == 1) {
    s4->sin_family = AF_INET;
    s4->sin_port = htons(9);
    len = sizeof *s4;
  } else if (inet_pton(AF_INET6, peer.c_str(), &s6->sin6_addr) == 1) {
    family = AF_INET6;
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(9);
    len = sizeof *s6;
  } else {
    return "";
  }
  int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "";
  std::string out;
  if (connect(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0) {
    sockaddr_storage local{};
    socklen_t llen = sizeof local;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &llen) == 0) {
      char buf[INET6_ADDRSTRLEN] = {};
      if (family == AF_INET)
        inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&local)->sin_addr, buf, sizeof buf);
      else
        inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&local)->sin6_addr, buf, sizeof buf);
      out = buf;
    }
  }
  close(fd);
  return out;
}

namespace {

// First address of interface `name` (IPv4 preferred, then global IPv6), or of the first
// up, non-loopback interface when `name` is empty.
std::string interface_address(const std::string& name, std::string* which) {
  ifaddrs* ifs = nullptr;
  if (getifaddrs(&ifs) != 0) throw Error("address", std::string("getifaddrs: ") + strerror(errno));
  std::string v4, v6, v4if, v6if;
  for (ifaddrs* i = ifs; i; i = i->ifa_next) {
    if (!i->ifa_addr) continue;
    if (name.empty() ? ((i->ifa_flags & IFF_LOOPBACK) || !(i->ifa_flags & IFF_UP)) : name != i->ifa_name) continue;
    char buf[INET6_ADDRSTRLEN] = {};
    if (i->ifa_addr->sa_family == AF_INET && v4.empty()) {
      inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr, buf, sizeof buf);
      v4 = buf;
      v4if = i->ifa_name;
    } else if (i->ifa_addr->sa_family == AF_INET6 && v6.empty()) {
      auto* a6 = &reinterpret_cast<sockaddr_in6*>(i->ifa_addr)->sin6_addr;
      if (IN6_IS_ADDR_LINKLOCAL(a6)) continue;
      inet_ntop(AF_INET6, a6, buf, sizeof buf);
      v6 = buf;
      v6if = i->ifa_name;
    }
  }
  freeifaddrs(ifs);
  if (which) *which = v4.empty() ? v6if : v4if;
  return v4.empty() ? v6 : v4;
}

}  // namespace

DiscoveryResult discover_peers(const NodeConfig& cfg, Clock::time_point deadline, const BeaconOptions& beacon) {
  DiscoveryResult r;
  r.method = cfg.discovery;
  const int expected = cfg.control_count;
  if (cfg.discovery == "static") {
    if (cfg.static_peers.empty()) throw Error("discovery", "method static needs discovery.peers (or mi.peers=)");
    r.peers = static_peers(cfg);
    r.complete = int(r.peers.size()) >= expected;
    r.reason = "static: " + count_reason(r.peers, expected) + " listed";
  } else if (cfg.discovery == "dns") {
    if (cfg.dns_name.empty()) throw Error("discovery", "method dns needs discovery.dns_name");
    std::string last_error;
    for (;;) {
      try {
        r.peers = dns_peers(cfg.dns_name);
        last_error.clear();
      } catch (const Error& e) {
        last_error = e.what();
      }
      r.complete = int(r.peers.size()) >= expected;
      if (r.complete || Clock::now() >= deadline) break;
      // Records appear as the other nodes are registered: ask again shortly.
      std::this_thread::sleep_until(std::min(deadline, Clock::now() + std::chrono::seconds(1)));
    }
    r.reason = "dns " + cfg.dns_name + ": " + count_reason(r.peers, expected) + " resolved";
    if (!r.complete) r.reason += " (deadline passed" + (last_error.empty() ? "" : ": " + last_error) + ")";
  } else if (cfg.discovery == "beacon") {
    BeaconResult b = discover_beacon(cfg, expected, deadline, beacon);
    for (auto& p : b.peers) (is_control(p.role) ? r.peers : r.others).push_back(p);
    r.complete = b.complete;
    r.reason = "beacon: " + b.reason;
    r.counters = b.counters;
    r.mismatched = b.mismatched;
  } else if (cfg.discovery == "cloud") {
    if (cfg.cloud_join.empty()) throw Error("discovery", "method cloud needs discovery.cloud_join");
    r.retry_join = cfg.cloud_join;
    r.complete = true;
    r.reason = "cloud: Consul retry_join \"" + cfg.cloud_join + "\"";
  } else {
    throw Error("discovery", "unknown method '" + cfg.discovery + "' (expected static, dns, beacon or cloud)");
  }
  return r;
}

AddressChoice choose_bind_address(const NodeConfig& cfg, const std::vector<Peer>& peers) {
  if (!cfg.address.empty()) {
    if (!is_ip(cfg.address)) throw Error("address", "'" + cfg.address + "' is not an IP address");
    return {cfg.address, "named by " + provenance_of(cfg, "address")};
  }
  if (!cfg.interface.empty()) {
    std::string a = interface_address(cfg.interface, nullptr);
    if (a.empty()) throw Error("iface", "interface '" + cfg.interface + "' has no usable address");
    return {a, "address of interface " + cfg.interface + " (named by " + provenance_of(cfg, "interface") + ")"};
  }
  for (const Peer& p : peers) {
    if (p.address.empty() || (!cfg.node_name.empty() && p.name == cfg.node_name)) continue;
    std::string a = route_source_address(p.address);
    if (!a.empty()) return {a, "source address of the route to peer " + p.address};
  }
  std::string ifname;
  std::string a = interface_address("", &ifname);
  if (a.empty()) throw Error("address", "no usable network address (no peers to route to, no non-loopback interface)");
  return {a, "first address of interface " + ifname + " (no peer to route to)"};
}

}  // namespace mi::firstboot

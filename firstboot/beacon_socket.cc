// The beacon exchange (BeaconAgent): a thread with a receiving socket (the beacon group, or
// the group's port for unicast mode) and a sending socket bound to this node's own address,
// so that every datagram's source is the address its beacon names. It beacons with backoff
// (short first periods, doubled up to the interval), answers a newcomer at once, and runs
// every datagram through one BeaconFilter for its whole life, whose replay state it loads
// from and saves to a file (atomic rename) so that a restarted process still refuses what
// it accepted before. discover_beacon() and serve_beacon() are built on it. IPv4 only (the
// group is an IPv4 multicast address or a broadcast address; unicast targets IPv4).
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "common/error.h"
#include "common/files.h"
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

// Written by rename without fsync: the file must survive a restart of the process, which
// rename guarantees; after a power cut the node reboots for longer than the ±30 s window in
// which a replayed beacon could be accepted, so nothing older needs to be known then.
void save_replay(const std::string& path, const std::string& text) {
  std::string tmp = temp_name_for(path);
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << text;
    if (!f.flush()) throw Error(tmp, "cannot write the beacon replay state");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) throw Error(path, std::string("rename: ") + strerror(errno));
}

}  // namespace

struct BeaconAgent::Impl {
  NodeConfig cfg;
  BeaconOptions opts;
  bool multicast = false, unicast = false;
  int port = 0;
  sockaddr_in group_to{};
  std::vector<sockaddr_in> targets;
  Socket rx, tx;
  std::string own_address;
  std::atomic<uint8_t> flags{0};
  std::atomic<bool> stop{false};
  std::thread thread;

  mutable std::mutex mu;
  mutable std::condition_variable changed;
  BeaconFilter filter;
  std::map<std::string, SeenNode> seen;  // by address
  BeaconView counters_view;              // sent, send_error, version
  BeaconMessage own;

  void setup() {
    if (cfg.secret.empty()) throw Error("beacon", "no cluster secret: beacon exchange needs one (secret_file or seed)");
    std::string host;
    std::string group = opts.group.empty() ? cfg.beacon_group : opts.group;
    split_host_port(group, "beacon_group", &host, &port);
    unicast = opts.unicast || !opts.unicast_targets.empty();
    in_addr dest{};
    if (!unicast) {
      dest = ipv4(host, "beacon group");
      multicast = IN_MULTICAST(ntohl(dest.s_addr));
    }
    std::string ifaddr = opts.interface_address.empty() ? cfg.address : opts.interface_address;
    if (!ifaddr.empty() && ifaddr.find(':') != std::string::npos) ifaddr.clear();  // an IPv6 bind: kernel's choice

    // The address we name: configured, else of the interface, else the route's source
    // towards the group (or the first target): the source the kernel gives our datagrams.
    std::vector<Peer> towards;
    if (unicast)
      for (const auto& t : opts.unicast_targets) towards.push_back(Peer{"", t, Role::control});
    else
      towards.push_back(Peer{"", host, Role::control});
    NodeConfig probe = cfg;
    if (probe.address.empty() && !opts.interface_address.empty()) probe.address = opts.interface_address;
    own_address = choose_bind_address(probe, towards).address;
    if (own_address.find(':') != std::string::npos)
      throw Error("beacon", "address " + own_address + " is IPv6; the beacon is IPv4 only for now");

    rx.fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (rx.fd < 0) throw Error("beacon", std::string("socket: ") + strerror(errno));
    int one = 1;
    set_opt(rx.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one, "SO_REUSEADDR");
    set_opt(rx.fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof one, "SO_BROADCAST");
    sockaddr_in local{};
    local.sin_family = AF_INET;
    local.sin_port = htons(uint16_t(port));
    // Bound to the group itself, the socket gets only that group's datagrams; in unicast
    // mode to our own address (several test nodes may share one host's port).
    local.sin_addr.s_addr = multicast ? dest.s_addr
                            : unicast ? ipv4(own_address, "own address").s_addr
                                      : htonl(INADDR_ANY);
    if (bind(rx.fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0)
      throw Error("beacon", "bind to port " + std::to_string(port) + ": " + strerror(errno));

    tx.fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (tx.fd < 0) throw Error("beacon", std::string("socket: ") + strerror(errno));
    set_opt(tx.fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof one, "SO_BROADCAST");
    sockaddr_in src{};
    src.sin_family = AF_INET;
    src.sin_addr = ipv4(own_address, "own address");
    if (bind(tx.fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0)
      throw Error("beacon", "cannot send from " + own_address + ": " + strerror(errno) +
                                (errno == EADDRNOTAVAIL ? " (not an address of this host)" : ""));

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
      if (setsockopt(rx.fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mreq, sizeof mreq) != 0)
        throw Error("beacon", "cannot join " + group + ": " + strerror(errno) +
                                  (errno == ENODEV ? " (no route for the group: name an address or iface, or add a "
                                                     "multicast route)"
                                                   : ""));
      if (!ifaddr.empty() || mreq.imr_ifindex != 0)
        set_opt(tx.fd, IPPROTO_IP, IP_MULTICAST_IF, &mreq, sizeof mreq, "IP_MULTICAST_IF");
      unsigned char loop = 1, ttl = (unsigned char)std::clamp(opts.ttl, 0, 255);
      set_opt(tx.fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof loop, "IP_MULTICAST_LOOP");
      set_opt(tx.fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl, "IP_MULTICAST_TTL");
    }
    if (unicast) {
      for (const auto& t : opts.unicast_targets) {
        if (t == own_address) continue;
        if (t.find(':') != std::string::npos)
          throw Error("beacon", "peer " + t + " is IPv6; the configuration check (beacon) is IPv4 only for now");
        sockaddr_in to{};
        to.sin_family = AF_INET;
        to.sin_port = htons(uint16_t(port));
        to.sin_addr = ipv4(t, "peer address");
        targets.push_back(to);
      }
    } else {
      group_to.sin_family = AF_INET;
      group_to.sin_port = htons(uint16_t(port));
      group_to.sin_addr = dest;
    }

    NodeConfig named = cfg;
    named.address = own_address;
    filter = make_beacon_filter(named, opts.window_ms);
    if (!opts.replay_file.empty() && std::filesystem::exists(opts.replay_file))
      load_replay_state(filter, read_file(opts.replay_file), opts.replay_file);
    own.cluster = cfg.cluster;
    own.name = cfg.node_name;
    own.address = own_address;
    own.role = cfg.role;
    own.digest = filter.digest;
    own.sequence = wall_ms() * 1000;  // keeps increasing across restarts of this node
    flags = opts.flags;
  }

  void send_to(const sockaddr_in& to) {
    own.timestamp_ms = wall_ms();
    own.sequence = std::max(own.sequence + 1, own.timestamp_ms * 1000);
    own.flags = flags;
    std::string wire = encode_beacon(own, filter.key);
    bool ok = sendto(tx.fd, wire.data(), wire.size(), 0, reinterpret_cast<const sockaddr*>(&to), sizeof to) >= 0;
    std::lock_guard<std::mutex> l(mu);
    if (ok)
      counters_view.sent++;
    else
      counters_view.send_error = strerror(errno);
  }
  void send_round() {
    if (unicast)
      for (const auto& t : targets) send_to(t);
    else
      send_to(group_to);
  }

  // Takes in every datagram waiting on the socket (at most kBatch), then persists the replay
  // state ONCE for all the accepted ones, before any of them is acted on (a restarted process
  // refuses each of them too), and only when one of them is a vote that counts: a control
  // (or all-in-one) node's. A compute node's beacon is refused as a replay by this process's
  // filter but does not by itself rewrite the file: nobody counts its vote, so after a restart
  // its replay could only report it again, and with N compute nodes beaconing, rewriting the
  // file (rename over it) for every beacon was half of every node's CPU (tests/bench/scale.sh).
  // When the node keeps up, a batch is one datagram.
  static constexpr int kBatch = 64;
  void receive() {
    struct Accepted {
      BeaconMessage m;
      sockaddr_in from;
    };
    std::vector<Accepted> batch;
    std::unique_lock<std::mutex> l(mu);
    for (int i = 0; i < kBatch; i++) {
      char buf[2048];
      sockaddr_in from{};
      socklen_t fromlen = sizeof from;
      ssize_t n = recvfrom(rx.fd, buf, sizeof buf, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), &fromlen);
      if (n < 0) break;
      char src[INET_ADDRSTRLEN] = {};
      inet_ntop(AF_INET, &from.sin_addr, src, sizeof src);
      BeaconMessage m;
      BeaconStatus st = filter_beacon(filter, std::string(buf, size_t(n)), wall_ms(), src, &m);
      if (st == BeaconStatus::ok || st == BeaconStatus::config_mismatch) batch.push_back({std::move(m), from});
    }
    if (batch.empty()) return;
    // Persisted before it is acted on: a restarted process refuses it too.
    bool votes = std::any_of(batch.begin(), batch.end(), [](const Accepted& a) { return is_control(a.m.role); });
    if (votes && !opts.replay_file.empty()) {
      save_replay(opts.replay_file, replay_state_to_json(filter));
      counters_view.replay_saves++;
    }
    std::vector<sockaddr_in> answers;
    bool answer_group = false;
    for (const auto& [m, from] : batch) {
      bool is_new = !seen.count(m.address);
      SeenNode& s = seen[m.address];
      s = SeenNode{m.name, m.address, m.role, m.digest, m.flags, m.digest == filter.digest};
      // Answer at once: a newcomer hears us without waiting for our period; in unicast mode
      // every sender we do not beacon to ourselves is answered (it has us in its list). On a
      // multicast group only control (and all-in-one) nodes answer: nobody counts a compute
      // node's vote, and N compute nodes booting together, each answering each newcomer,
      // would send N^2 answers that every node on the LAN must check (docs/testing.md, scale).
      sockaddr_in sender = from;
      bool targeted = std::any_of(targets.begin(), targets.end(),
                                  [&](const sockaddr_in& t) { return t.sin_addr.s_addr == sender.sin_addr.s_addr; });
      if (unicast && (is_new || !targeted)) {
        sockaddr_in to = from;
        to.sin_port = htons(uint16_t(port));
        if (std::none_of(answers.begin(), answers.end(),
                         [&](const sockaddr_in& a) { return a.sin_addr.s_addr == to.sin_addr.s_addr; }))
          answers.push_back(to);
      }
      if (!unicast && is_new && is_control(cfg.role)) answer_group = true;  // one answer tells every newcomer
    }
    counters_view.version++;
    l.unlock();
    changed.notify_all();
    for (const auto& to : answers) send_to(to);
    if (answer_group) send_to(group_to);
  }

  void run() {
    auto period = std::chrono::milliseconds(std::max(10, std::min(opts.initial_interval_ms, opts.interval_ms)));
    const auto max_period = std::chrono::milliseconds(std::max(opts.interval_ms, 10));
    auto next_send = Clock::now();
    while (!stop) {
      auto now = Clock::now();
      if (now >= next_send) {
        send_round();
        next_send = now + period;
        period = std::min(max_period, period * 2);
      }
      auto wake = std::min(next_send, now + std::chrono::milliseconds(100));  // notice `stop` soon
      int timeout =
          int(std::max<int64_t>(0, std::chrono::duration_cast<std::chrono::milliseconds>(wake - now).count() + 1));
      pollfd p{rx.fd, POLLIN, 0};
      int pr = poll(&p, 1, timeout);
      if (pr > 0) {
        try {
          receive();
        } catch (const Error& e) {
          std::lock_guard<std::mutex> l(mu);
          counters_view.send_error = e.what();
        }
      }
    }
  }
};

BeaconAgent::BeaconAgent(const NodeConfig& cfg, const BeaconOptions& opts) : impl_(std::make_unique<Impl>()) {
  impl_->cfg = cfg;
  impl_->opts = opts;
  impl_->setup();
  impl_->thread = std::thread([this] { impl_->run(); });
}

BeaconAgent::~BeaconAgent() {
  impl_->stop = true;
  if (impl_->thread.joinable()) impl_->thread.join();
}

const std::string& BeaconAgent::own_address() const { return impl_->own_address; }

void BeaconAgent::set_flags(uint8_t flags) { impl_->flags = flags; }

BeaconView BeaconAgent::view() const {
  std::lock_guard<std::mutex> l(impl_->mu);
  BeaconView v = impl_->counters_view;
  v.own_address = impl_->own_address;
  v.counters = impl_->filter.counters;
  std::map<std::string, std::set<std::string>> names;  // name -> addresses
  names[impl_->cfg.node_name].insert(impl_->own_address);
  for (const auto& [addr, s] : impl_->seen) {
    v.nodes.push_back(s);
    names[s.name].insert(addr);
  }
  for (const auto& [name, addrs] : names) {
    if (addrs.size() < 2) continue;
    std::string c = name + " at";
    size_t i = 0;
    for (const auto& a : addrs) c += (i++ == 0 ? " " : i == addrs.size() ? " and " : ", ") + a;
    v.name_conflicts.push_back(c);
  }
  return v;
}

bool BeaconAgent::wait_change(uint64_t version, Clock::time_point until) const {
  std::unique_lock<std::mutex> l(impl_->mu);
  return impl_->changed.wait_until(l, until, [&] { return impl_->counters_view.version != version; });
}

namespace {

BeaconResult result_of(const NodeConfig& cfg, const BeaconView& v, int expected, bool deadline_passed) {
  BeaconResult r;
  std::map<std::string, Peer> peers;  // by name, for a stable order; conflicts keep both by address
  peers[cfg.node_name + "\x01" + v.own_address] = Peer{cfg.node_name, v.own_address, cfg.role};
  std::set<std::string> committed;
  for (const auto& s : v.nodes) {
    if (!s.same_config) {
      r.mismatched.push_back(s.name + " (" + s.address + ")");
      continue;
    }
    peers[s.name + "\x01" + s.address] = Peer{s.name, s.address, s.role};
    if (s.flags & kBeaconFlagCommitted) committed.insert(s.name);
  }
  for (auto& [_, p] : peers) r.peers.push_back(p);
  for (const auto& p : r.peers) r.controls_seen += is_control(p.role);
  r.complete = r.controls_seen >= expected;
  r.committed.assign(committed.begin(), committed.end());
  r.counters = v.counters;
  r.name_conflicts = v.name_conflicts;
  r.sent = v.sent;
  r.send_error = v.send_error;
  std::string s = std::to_string(r.controls_seen) + " of " + std::to_string(expected) + " control nodes seen";
  std::string list;
  for (const Peer& p : r.peers)
    if (is_control(p.role)) list += (list.empty() ? "" : ", ") + p.address;
  if (!list.empty()) s += ": " + list;
  if (deadline_passed && !r.complete) s += " (deadline passed)";
  if (!r.mismatched.empty()) {
    s += "; different cluster config on";
    for (auto& m : r.mismatched) s += " " + m;
  }
  if (!r.name_conflicts.empty()) {
    s += "; one name, several addresses:";
    for (auto& c : r.name_conflicts) s += " " + c;
  }
  if (!r.send_error.empty()) s += "; cannot send beacons: " + r.send_error;
  r.reason = s;
  return r;
}

int controls_with_our_config(const NodeConfig& cfg, const BeaconView& v) {
  int n = is_control(cfg.role);
  for (const auto& s : v.nodes) n += s.same_config && is_control(s.role);
  return n;
}

}  // namespace

BeaconResult discover_beacon(const NodeConfig& cfg, int expected_controls, Clock::time_point deadline,
                             const BeaconOptions& opts) {
  BeaconAgent agent(cfg, opts);
  BeaconView v = agent.view();
  Clock::time_point complete_at{};
  bool complete = false;
  for (;;) {
    v = agent.view();
    if (!complete && controls_with_our_config(cfg, v) >= expected_controls) {
      complete = true;
      complete_at = Clock::now();
    }
    auto now = Clock::now();
    if (complete && now >= complete_at + std::chrono::milliseconds(opts.linger_ms)) break;
    if (now >= deadline) break;
    auto until = std::min(deadline, complete ? complete_at + std::chrono::milliseconds(opts.linger_ms)
                                             : now + std::chrono::milliseconds(200));
    agent.wait_change(v.version, until);
  }
  v = agent.view();
  return result_of(cfg, v, expected_controls, Clock::now() >= deadline);
}

BeaconResult serve_beacon(const NodeConfig& cfg, const std::atomic<bool>& stop, Clock::time_point until,
                          const BeaconOptions& opts) {
  BeaconAgent agent(cfg, opts);
  while (!stop && Clock::now() < until) {
    BeaconView v = agent.view();
    agent.wait_change(v.version, std::min(until, Clock::now() + std::chrono::milliseconds(100)));
  }
  BeaconResult r = result_of(cfg, agent.view(), std::numeric_limits<int>::max(), false);
  r.complete = false;
  int all = int(agent.view().nodes.size()) + 1;
  r.reason = "served beacons: " + std::to_string(all) + " nodes seen (" + std::to_string(r.controls_seen) +
             " control), " + std::to_string(r.counters.dropped()) + " beacons dropped";
  return r;
}

}  // namespace mi::firstboot

// Discovery: a live beacon exchange between three nodes on this host's loopback (multicast on
// lo with TTL 0, and broadcast to 127.255.255.255) plus a fourth with the wrong secret that
// nobody accepts; DNS against names that resolve locally; SRV answers parsed from canned
// bytes; static and cloud dispatch; the bind-address choice.
#include "firstboot/discovery.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <future>
#include <random>

#include "common/error.h"

using namespace mi::firstboot;

namespace {

int test_port() {
  // Spread concurrent runs of this test (and others on the same host) over many ports.
  std::random_device rd;
  return 40000 + int(rd() % 20000);
}

// Beacon options for live tests on loopback: the test group at `port`, never leaving this host.
BeaconOptions loopback_beacon(int port) {
  BeaconOptions o;
  o.group = "239.255.77.77:" + std::to_string(port);
  o.interface_address = "127.0.0.1";
  o.ttl = 0;
  return o;
}

NodeConfig beacon_node(const std::string& name, const std::string& addr, const std::string& secret = "s3cret") {
  NodeConfig c;
  c.cluster = "test";
  c.node_name = name;
  c.address = addr;  // claimed in the beacon (all datagrams come from 127.0.0.1 here)
  c.secret = secret;
  c.discovery = "beacon";
  return c;
}

void live_exchange(const std::string& group, const std::string& iface) {
  BeaconOptions opts;
  opts.group = group;
  opts.interface_address = iface;
  opts.ttl = 0;  // never leaves this host
  opts.interval_ms = 100;
  opts.linger_ms = 600;  // keep answering while the others finish
  auto deadline = Clock::now() + std::chrono::seconds(20);

  // The intruder starts first and keeps sending (wrong secret) while the others run.
  BeaconOptions iopts = opts;
  iopts.interval_ms = 50;
  auto intruder = std::async(std::launch::async, [&] {
    return discover_beacon(beacon_node("intruder", "127.0.0.99", "wrong"), 3, Clock::now() + std::chrono::seconds(3),
                           iopts);
  });
  std::vector<std::future<BeaconResult>> nodes;
  for (int i = 1; i <= 3; i++) {
    NodeConfig c = beacon_node("ctl-" + std::to_string(i), "127.0.0." + std::to_string(10 + i));
    nodes.push_back(
        std::async(std::launch::async, [c, deadline, opts] { return discover_beacon(c, 3, deadline, opts); }));
  }
  for (int i = 0; i < 3; i++) {
    BeaconResult r = nodes[i].get();
    INFO("node ctl-" << i + 1 << ": " << r.reason << " send_error=" << r.send_error);
    CHECK(r.complete);
    CHECK(r.controls_seen == 3);
    REQUIRE(r.peers.size() == 3);  // the intruder is never among them
    CHECK(r.peers[0].name == "ctl-1");
    CHECK(r.peers[0].address == "127.0.0.11");
    CHECK(r.peers[2].name == "ctl-3");
    CHECK(r.peers[2].address == "127.0.0.13");
    CHECK(r.reason == "3 of 3 control nodes seen: 127.0.0.11, 127.0.0.12, 127.0.0.13");
    CHECK(r.counters.other_cluster > 0);  // the intruder's beacons, dropped and counted
    CHECK(r.counters.accepted >= 2);
    CHECK(r.counters.bad_mac == 0);
    CHECK(r.sent > 0);
  }
  BeaconResult bad = intruder.get();
  INFO("intruder: " << bad.reason);
  CHECK_FALSE(bad.complete);
  CHECK(bad.peers.size() == 1);  // only itself
  CHECK(bad.controls_seen == 1);
  CHECK(bad.counters.other_cluster > 0);
  CHECK(bad.reason == "1 of 3 control nodes seen: 127.0.0.99 (deadline passed)");
}

// A DNS answer message: header, question "_mi._tcp.example" SRV IN, then SRV answers, the
// second one's target compressed into the question's "example".
std::string canned_srv_answer() {
  std::string m;
  auto u16 = [&](int v) {
    m += char(v >> 8);
    m += char(v & 0xff);
  };
  auto u32 = [&](uint32_t v) {
    u16(int(v >> 16));
    u16(int(v & 0xffff));
  };
  u16(0x1234);
  u16(0x8180);
  u16(1);
  u16(3);
  u16(0);
  u16(0);
  m += std::string(
      "\x03_mi\x04_tcp\x07"
      "example\x00",
      18);  // at offset 12; "example" at 21
  u16(33);
  u16(1);
  // SRV prio 10 weight 5 port 8301 target ctl-2.example.
  u16(0xc00c);
  u16(33);
  u16(1);
  u32(300);
  std::string t1(
      "\x05"
      "ctl-2\x07"
      "example\x00",
      15);
  u16(6 + int(t1.size()));
  u16(10);
  u16(5);
  u16(8301);
  m += t1;
  // A CNAME-typed record in between is skipped.
  u16(0xc00c);
  u16(5);
  u16(1);
  u32(300);
  u16(2);
  u16(0xc015);
  // SRV prio 0 weight 0 port 8300 target ctl-1.<pointer to example>
  u16(0xc00c);
  u16(33);
  u16(1);
  u32(300);
  std::string t2(
      "\x05"
      "ctl-1\xc0\x15",
      8);
  u16(6 + int(t2.size()));
  u16(0);
  u16(0);
  u16(8300);
  m += t2;
  return m;
}

}  // namespace

TEST_CASE("beacon: three nodes find each other over multicast on lo; the wrong secret is refused", "[beacon][live]") {
  live_exchange("239.255.77.77:" + std::to_string(test_port()), "127.0.0.1");
}

TEST_CASE("beacon: the same over broadcast to 127.255.255.255", "[beacon][live]") {
  live_exchange("127.255.255.255:" + std::to_string(test_port()), "");
}

TEST_CASE("beacon: a node with another config is reported by name", "[beacon][live]") {
  BeaconOptions opts = loopback_beacon(test_port());
  opts.interval_ms = 50;
  opts.linger_ms = 0;
  NodeConfig odd = beacon_node("ctl-odd", "127.0.0.21");
  odd.control_count = 5;
  auto stop = Clock::now() + std::chrono::seconds(2);
  auto sender = std::async(std::launch::async, [&] { return discover_beacon(odd, 5, stop, opts); });
  NodeConfig me = beacon_node("ctl-1", "127.0.0.11");
  BeaconResult r = discover_beacon(me, 3, stop, opts);
  sender.get();
  CHECK_FALSE(r.complete);
  REQUIRE(r.mismatched.size() == 1);
  CHECK(r.mismatched[0] == "ctl-odd (127.0.0.21)");
  CHECK(r.counters.config_mismatch > 0);
  CHECK(r.reason.find("different cluster config on ctl-odd (127.0.0.21)") != std::string::npos);
  CHECK(r.peers.size() == 1);
}

TEST_CASE("beacon: a single all-in-one node is complete at once", "[beacon]") {
  NodeConfig c = beacon_node("solo", "127.0.0.1");
  c.role = Role::all_in_one;
  c.control_count = 1;
  BeaconOptions opts;
  opts.group = "127.255.255.255:" + std::to_string(test_port());
  opts.linger_ms = 0;
  auto t0 = Clock::now();
  BeaconResult r = discover_beacon(c, 1, Clock::now() + std::chrono::seconds(30), opts);
  CHECK(r.complete);
  CHECK(Clock::now() - t0 < std::chrono::seconds(5));
  CHECK(r.reason == "1 of 1 control nodes seen: 127.0.0.1");
  CHECK_THROWS_AS(discover_beacon(beacon_node("x", "", ""), 1, Clock::now(), opts), mi::Error);  // no secret
}

TEST_CASE("dns: A/AAAA of a locally resolvable name", "[dns]") {
  auto a = resolve_addresses("localhost");
  REQUIRE_FALSE(a.empty());
  CHECK((a[0] == "127.0.0.1" || a[0] == "::1"));
  CHECK(resolve_addresses("127.0.0.5") == std::vector<std::string>{"127.0.0.5"});
  CHECK_THROWS_AS(resolve_addresses("no-such-host.invalid"), mi::Error);

  NodeConfig c;
  c.discovery = "dns";
  c.dns_name = "localhost";
  c.control_count = 1;
  DiscoveryResult r = discover_peers(c, Clock::now() + std::chrono::seconds(5));
  CHECK(r.complete);
  REQUIRE_FALSE(r.peers.empty());
  CHECK(r.reason.rfind("dns localhost: ", 0) == 0);
  // Not enough records: returns at the deadline, saying so.
  c.control_count = 99;
  r = discover_peers(c, Clock::now() + std::chrono::milliseconds(100));
  CHECK_FALSE(r.complete);
  CHECK(r.reason.find("(deadline passed") != std::string::npos);
}

TEST_CASE("dns: SRV answer parsing", "[dns]") {
  std::string m = canned_srv_answer();
  auto recs = parse_srv_answer(reinterpret_cast<const unsigned char*>(m.data()), int(m.size()));
  REQUIRE(recs.size() == 2);
  CHECK(recs[0].target == "ctl-1.example");
  CHECK(recs[0].port == 8300);
  CHECK(recs[0].priority == 0);
  CHECK(recs[1].target == "ctl-2.example");
  CHECK(recs[1].port == 8301);
  CHECK(recs[1].priority == 10);
  CHECK(recs[1].weight == 5);
  for (size_t len = 0; len < m.size(); len++) {  // truncated: an error, never a crash
    INFO("length " << len);
    CHECK_THROWS_AS(parse_srv_answer(reinterpret_cast<const unsigned char*>(m.data()), int(len)), mi::Error);
  }
}

TEST_CASE("discovery: static and cloud dispatch, errors", "[discovery]") {
  NodeConfig c;
  c.discovery = "static";
  c.static_peers = {"10.0.0.11", "ctl-2=10.0.0.12", "localhost"};
  DiscoveryResult r = discover_peers(c, Clock::now());
  REQUIRE(r.peers.size() == 3);
  CHECK(r.peers[0].address == "10.0.0.11");
  CHECK(r.peers[1].name == "ctl-2");
  CHECK(r.peers[2].name == "localhost");
  CHECK(r.complete);
  CHECK(r.reason == "static: 3 of 3 control nodes: 10.0.0.11, 10.0.0.12, " + r.peers[2].address + " listed");

  c.discovery = "cloud";
  c.cloud_join = "provider=aws tag_key=mi tag_value=prod";
  r = discover_peers(c, Clock::now());
  CHECK(r.retry_join == "provider=aws tag_key=mi tag_value=prod");
  CHECK(r.peers.empty());
  CHECK(r.complete);

  c.discovery = "carrier-pigeon";
  CHECK_THROWS_WITH(discover_peers(c, Clock::now()), Catch::Contains("unknown method 'carrier-pigeon'"));
  c.discovery = "dns";
  CHECK_THROWS_WITH(discover_peers(c, Clock::now()), Catch::Contains("dns_name"));
}

TEST_CASE("address choice: config, interface, route to peers", "[discovery]") {
  NodeConfig c;
  c.address = "10.9.9.9";
  c.provenance = {{"address", "cmdline"}};
  auto a = choose_bind_address(c, {});
  CHECK(a.address == "10.9.9.9");
  CHECK(a.why == "named by cmdline");

  c.address.clear();
  c.interface = "lo";
  a = choose_bind_address(c, {});
  CHECK(a.address == "127.0.0.1");
  CHECK(a.why.find("interface lo") != std::string::npos);
  c.interface = "no-such-if0";
  CHECK_THROWS_AS(choose_bind_address(c, {}), mi::Error);

  c.interface.clear();
  c.node_name = "me";
  // The kernel's source address towards a loopback peer is a loopback address.
  a = choose_bind_address(c, {Peer{"me", "10.1.1.1", Role::control}, Peer{"p", "127.0.0.7", Role::control}});
  CHECK(a.address == "127.0.0.1");
  CHECK(a.why == "source address of the route to peer 127.0.0.7");
  // (split_host_port: tests/common/net_test.cc)
}

TEST_CASE("beacon: interface by name, no address configured: the interface's address is named and used",
          "[beacon][live]") {
  BeaconOptions opts;
  opts.group = "239.255.77.77:" + std::to_string(test_port());
  opts.ttl = 0;
  opts.interval_ms = 100;
  auto deadline = Clock::now() + std::chrono::seconds(20);
  NodeConfig a = beacon_node("n1", "");
  a.interface = "lo";
  a.control_count = 1;
  NodeConfig b = beacon_node("n2", "127.0.0.12");
  b.control_count = 1;
  BeaconOptions bopts = opts;
  bopts.interface_address = "127.0.0.1";
  auto fa = std::async(std::launch::async, [&] { return discover_beacon(a, 2, deadline, opts); });
  auto fb = std::async(std::launch::async, [&] { return discover_beacon(b, 2, deadline, bopts); });
  BeaconResult ra = fa.get(), rb = fb.get();
  INFO(ra.reason << " / " << rb.reason);
  CHECK(ra.complete);
  CHECK(rb.complete);
  REQUIRE(rb.peers.size() == 2);
  CHECK(rb.peers[0].name == "n1");
  CHECK(rb.peers[0].address == "127.0.0.1");  // lo's address, named in n1's beacon and its source
  NodeConfig bad = beacon_node("n9", "");
  bad.interface = "no-such-if0";
  CHECK_THROWS_WITH(discover_beacon(bad, 1, Clock::now(), opts), Catch::Contains("no-such-if0"));
}

TEST_CASE("beacon: two nodes with one name at two addresses are two peers, reported, never merged", "[beacon][live]") {
  BeaconOptions opts = loopback_beacon(test_port());
  auto deadline = Clock::now() + std::chrono::seconds(20);
  std::vector<std::future<BeaconResult>> nodes;
  for (std::string addr : {"127.0.0.11", "127.0.0.12"}) {
    NodeConfig c = beacon_node("clone", addr);
    nodes.push_back(
        std::async(std::launch::async, [c, deadline, opts] { return discover_beacon(c, 2, deadline, opts); }));
  }
  for (auto& f : nodes) {
    BeaconResult r = f.get();
    INFO(r.reason);
    CHECK(r.complete);
    REQUIRE(r.peers.size() == 2);
    CHECK(r.peers[0].address != r.peers[1].address);
    CHECK(r.name_conflicts == std::vector<std::string>{"clone at 127.0.0.11 and 127.0.0.12"});
    CHECK_THAT(r.reason, Catch::Contains("one name, several addresses: clone at 127.0.0.11 and 127.0.0.12"));
  }
}

namespace {

// A socket that captures what is sent to the group, and one that sends from a chosen address.
int udp_socket(const std::string& bind_addr, int port) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(uint16_t(port));
  inet_pton(AF_INET, bind_addr.c_str(), &a.sin_addr);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  return fd;
}

std::string capture_one(int fd, const std::string& group, int port) {
  ip_mreqn m{};
  inet_pton(AF_INET, group.c_str(), &m.imr_multiaddr);
  inet_pton(AF_INET, "127.0.0.1", &m.imr_address);
  REQUIRE(setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &m, sizeof m) == 0);
  (void)port;
  pollfd p{fd, POLLIN, 0};
  REQUIRE(poll(&p, 1, 10000) == 1);
  char buf[2048];
  ssize_t n = recv(fd, buf, sizeof buf, 0);
  REQUIRE(n > 0);
  return std::string(buf, size_t(n));
}

void send_from(const std::string& from, const std::string& to, int port, const std::string& bytes) {
  int fd = udp_socket(from, 0);
  in_addr ifa{};
  inet_pton(AF_INET, "127.0.0.1", &ifa);
  setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &ifa, sizeof ifa);
  unsigned char ttl = 0;
  setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl);
  sockaddr_in d{};
  d.sin_family = AF_INET;
  d.sin_port = htons(uint16_t(port));
  inet_pton(AF_INET, to.c_str(), &d.sin_addr);
  CHECK(sendto(fd, bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&d), sizeof d) == ssize_t(bytes.size()));
  close(fd);
}

// Waits until the agent's view satisfies `ok`, or 5 s.
template <class F>
BeaconView wait_view(const BeaconAgent& a, F ok) {
  auto until = Clock::now() + std::chrono::seconds(5);
  BeaconView v = a.view();
  while (!ok(v) && Clock::now() < until) {
    a.wait_change(v.version, std::min(until, Clock::now() + std::chrono::milliseconds(50)));
    v = a.view();
  }
  return v;
}

}  // namespace

TEST_CASE("beacon: a captured beacon replayed from another address, or after a restart, never counts as a peer",
          "[beacon][live]") {
  int port = test_port();
  const std::string group = "239.255.77.77";
  BeaconOptions opts = loopback_beacon(port);
  char dir[] = "/tmp/beacon-replay-XXXXXX";
  REQUIRE(mkdtemp(dir));
  BeaconOptions kept = opts;
  kept.replay_file = std::string(dir) + "/beacon-replay.json";

  // Capture a genuine beacon of ctl-2 (127.0.0.12), then ctl-2 goes down.
  int cap = udp_socket(group, port);
  std::string captured;
  {
    BeaconAgent ctl2(beacon_node("ctl-2", "127.0.0.12"), opts);
    captured = capture_one(cap, group, port);
  }
  close(cap);

  {
    BeaconAgent me(beacon_node("ctl-1", "127.0.0.11"), kept);
    // Sent again from another host's address, within the time window: wrong_source, no peer.
    send_from("127.0.0.66", group, port, captured);
    BeaconView v = wait_view(me, [](const BeaconView& v) { return v.counters.wrong_source > 0; });
    CHECK(v.counters.wrong_source == 1);
    CHECK(v.nodes.empty());
    // Sent from its own address, it is genuine as far as anyone can tell: accepted once...
    send_from("127.0.0.12", group, port, captured);
    v = wait_view(me, [](const BeaconView& v) { return !v.nodes.empty(); });
    REQUIRE(v.nodes.size() == 1);
    CHECK(v.nodes[0].address == "127.0.0.12");
    // ...and never twice.
    send_from("127.0.0.12", group, port, captured);
    v = wait_view(me, [](const BeaconView& v) { return v.counters.replayed > 0; });
    CHECK(v.counters.replayed == 1);
  }
  // ctl-1 restarts (a new process: a new agent, the same state dir): still refused.
  {
    BeaconAgent me(beacon_node("ctl-1", "127.0.0.11"), kept);
    send_from("127.0.0.12", group, port, captured);
    BeaconView v = wait_view(me, [](const BeaconView& v) { return v.counters.replayed > 0; });
    CHECK(v.counters.replayed == 1);
    CHECK(v.nodes.empty());
  }
  // Without the kept state the restarted node would have believed it: the test can fail.
  {
    BeaconAgent forgetful(beacon_node("ctl-1", "127.0.0.11"), opts);
    send_from("127.0.0.12", group, port, captured);
    BeaconView v = wait_view(forgetful, [](const BeaconView& v) { return !v.nodes.empty(); });
    CHECK(v.nodes.size() == 1);
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("beacon: unicast mode (static, dns): listed peers exchange beacons; a sender outside the list is answered",
          "[beacon][live]") {
  BeaconOptions opts;
  opts.group = "239.255.77.77:" + std::to_string(test_port());  // only its port is used
  opts.unicast = true;
  opts.unicast_targets = {"127.0.0.11", "127.0.0.12"};
  BeaconAgent a(beacon_node("a", "127.0.0.11"), opts);
  BeaconAgent b(beacon_node("b", "127.0.0.12"), opts);
  BeaconOptions outside = opts;
  outside.unicast_targets = {"127.0.0.11"};  // knows a; a does not list it
  BeaconAgent c(beacon_node("c", "127.0.0.13"), outside);
  auto va = wait_view(a, [](const BeaconView& v) { return v.nodes.size() == 2; });
  auto vb = wait_view(b, [](const BeaconView& v) { return v.nodes.size() == 1; });
  auto vc = wait_view(c, [](const BeaconView& v) { return v.nodes.size() == 1; });
  CHECK(va.nodes.size() == 2);  // b (listed) and c (answered)
  REQUIRE(vb.nodes.size() == 1);
  CHECK(vb.nodes[0].name == "a");
  REQUIRE(vc.nodes.size() == 1);
  CHECK(vc.nodes[0].name == "a");  // a answered c although c is not on its list
  CHECK(va.own_address == "127.0.0.11");
}

TEST_CASE("beacon: a node that is done keeps serving; a late node finds it and sees it committed", "[beacon][live]") {
  BeaconOptions opts = loopback_beacon(test_port());
  opts.interval_ms = 100;
  opts.linger_ms = 0;
  NodeConfig early = beacon_node("ctl-1", "127.0.0.11");
  early.control_count = 1;
  BeaconResult first = discover_beacon(early, 1, Clock::now() + std::chrono::seconds(5), opts);
  REQUIRE(first.complete);  // alone, and done

  std::atomic<bool> stop{false};
  BeaconOptions served = opts;
  served.flags = kBeaconFlagCommitted;
  served.interval_ms = 5000;  // the late node is found through the immediate answer, not the period
  auto server = std::async(std::launch::async,
                           [&] { return serve_beacon(early, stop, Clock::now() + std::chrono::seconds(30), served); });

  NodeConfig late = beacon_node("cmp-1", "127.0.0.21");
  late.role = Role::compute;
  late.control_count = 1;
  // It may hear the server's periodic beacon before the server has taken in its own (then,
  // stopped at once, the server would not have seen it): it lingers, beaconing, as the run's
  // agent does for the whole run.
  BeaconOptions late_opts = opts;
  late_opts.linger_ms = 1000;
  BeaconResult r = discover_beacon(late, 1, Clock::now() + std::chrono::seconds(20), late_opts);
  stop = true;
  BeaconResult s = server.get();
  INFO(r.reason << " / " << s.reason);
  CHECK(r.complete);
  CHECK(r.reason == "1 of 1 control nodes seen: 127.0.0.11");
  CHECK(r.committed == std::vector<std::string>{"ctl-1"});
  REQUIRE(s.peers.size() == 2);
  CHECK(s.peers[0].name == "cmp-1");
  CHECK(s.peers[0].role == Role::compute);
  CHECK_FALSE(s.complete);
}

// With N compute nodes booting together on one multicast group, every node answering every
// newcomer is N^2 answers, each checked by every node (tests/bench/scale.sh measured it).
// Only nodes whose vote counts (control, all-in-one) answer a newcomer at once; a compute node
// beacons on its period only. Deterministic: A beacons once (its period is a minute), then C
// and, once A has seen C, D start; A handles C's beacon (and any answer to it) before it sees
// D, so when A has seen D its `sent` says whether it answered C.
TEST_CASE("beacon: multicast newcomers are answered at once by control nodes, not by compute nodes", "[beacon][live]") {
  for (Role role : {Role::control, Role::all_in_one, Role::compute}) {
    BeaconOptions opts = loopback_beacon(test_port());
    opts.initial_interval_ms = 60000;  // one beacon at start, the next a minute later
    opts.interval_ms = 60000;
    NodeConfig a_cfg = beacon_node("a", "127.0.0.11");
    a_cfg.role = role;
    BeaconAgent a(a_cfg, opts);
    REQUIRE(wait_view(a, [](const BeaconView& v) { return v.sent == 1; }).sent == 1);
    BeaconAgent c(beacon_node("c", "127.0.0.12"), opts);
    REQUIRE(wait_view(a, [](const BeaconView& v) { return v.nodes.size() == 1; }).nodes.size() == 1);
    BeaconAgent d(beacon_node("d", "127.0.0.13"), opts);
    BeaconView va = wait_view(a, [](const BeaconView& v) { return v.nodes.size() == 2; });
    REQUIRE(va.nodes.size() == 2);
    INFO("role " << role_name(role) << ", sent " << va.sent);
    if (role == Role::compute) {
      CHECK(va.sent == 1);  // its first beacon only: C was not answered
    } else {
      CHECK(va.sent >= 2);  // C answered at once
      CHECK(wait_view(c, [](const BeaconView& v) { return v.nodes.size() == 2; }).nodes.size() == 2);  // A and D
    }
    // A compute node starting last still hears the control nodes at once: they answer it.
    NodeConfig e_cfg = beacon_node("e", "127.0.0.21");
    e_cfg.role = Role::compute;
    BeaconAgent e(e_cfg, opts);
    BeaconView ve = wait_view(e, [](const BeaconView& v) {
      return std::count_if(v.nodes.begin(), v.nodes.end(), [](const SeenNode& n) { return n.name != "a"; }) == 2;
    });
    CHECK(std::count_if(ve.nodes.begin(), ve.nodes.end(), [](const SeenNode& n) { return n.name != "a"; }) == 2);
  }
}

namespace {

// A genuine beacon of `name` at `addr` in role `role`, as its own agent would send it.
std::string genuine_beacon(const std::string& name, const std::string& addr, Role role, uint64_t sequence) {
  NodeConfig c = beacon_node(name, addr);
  c.role = role;
  BeaconFilter f = make_beacon_filter(c);
  BeaconMessage m;
  m.cluster = c.cluster;
  m.name = name;
  m.address = addr;
  m.role = role;
  m.digest = f.digest;
  m.timestamp_ms = uint64_t(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
  m.sequence = sequence;
  return encode_beacon(m, f.key);
}

}  // namespace

// The replay state is rewritten (rename over the file) before a vote that counts is acted on:
// a control or all-in-one node's beacon. A compute node's beacon alone does not rewrite it
// (with N compute nodes beaconing, that was half of every node's CPU in tests/bench/scale.sh);
// it is still refused as a replay by the running agent, and the next write keeps it too.
TEST_CASE("beacon: the replay state is written for control nodes' beacons, not for a compute node's alone",
          "[beacon][live]") {
  int port = test_port();
  const std::string group = "239.255.77.77";
  BeaconOptions opts = loopback_beacon(port);
  char dir[] = "/tmp/beacon-replay-XXXXXX";
  REQUIRE(mkdtemp(dir));
  opts.replay_file = std::string(dir) + "/beacon-replay.json";
  std::string cmp = genuine_beacon("cmp-1", "127.0.0.21", Role::compute, 1000);
  std::string ctl = genuine_beacon("ctl-2", "127.0.0.12", Role::control, 2000);
  {
    BeaconAgent me(beacon_node("ctl-1", "127.0.0.11"), opts);
    send_from("127.0.0.21", group, port, cmp);
    BeaconView v = wait_view(me, [](const BeaconView& v) { return v.counters.accepted == 1; });
    REQUIRE(v.counters.accepted == 1);
    CHECK(v.replay_saves == 0);
    CHECK_FALSE(std::filesystem::exists(opts.replay_file));
    send_from("127.0.0.21", group, port, cmp);  // within this process: refused all the same
    v = wait_view(me, [](const BeaconView& v) { return v.counters.replayed == 1; });
    CHECK(v.counters.replayed == 1);
    send_from("127.0.0.12", group, port, ctl);
    v = wait_view(me, [](const BeaconView& v) { return v.counters.accepted == 2; });
    REQUIRE(v.counters.accepted == 2);
    CHECK(v.replay_saves == 1);
    CHECK(v.nodes.size() == 2);
  }
  // Restarted: both are replays, the compute node's too (the control's write kept it).
  BeaconAgent me(beacon_node("ctl-1", "127.0.0.11"), opts);
  send_from("127.0.0.21", group, port, cmp);
  send_from("127.0.0.12", group, port, ctl);
  BeaconView v = wait_view(me, [](const BeaconView& v) { return v.counters.replayed == 2; });
  CHECK(v.counters.replayed == 2);
  CHECK(v.nodes.empty());
  std::filesystem::remove_all(dir);
}

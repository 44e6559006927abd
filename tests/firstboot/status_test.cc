// `mi-firstboot status --console`: key=value lines in a fixed order from a state dir fixture,
// before state.json exists, in each state of the run (waiting, running, failed, timed out),
// for a compute node (no zookeeper-mode), with control characters escaped; Consul's leader
// and alive members from a fixture agent (a real one in the cluster tier), and no hang when
// Consul accepts but never answers. Ports of services that must not answer are held by a
// bound, non-listening socket (connection refused, and no other test can take them).
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <sstream>
#include <thread>

#include "common/files.h"
#include "firstboot/steps.h"
#include "fixture_http_server.h"

using namespace mi::firstboot;
namespace fs = std::filesystem;

namespace {

// A TCP port on 127.0.0.1 that nobody listens on while this lives.
struct ClosedPort {
  int fd = -1, port = 0;
  ClosedPort() {
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~ClosedPort() { close(fd); }
};

struct Fixture {
  fs::path dir;
  ClosedPort consul, zk;
  std::string machine_id;
  Fixture() {
    dir = fs::temp_directory_path() / ("status_test." + std::to_string(getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    machine_id = (dir / "machine-id").string();
    mi::write_file_atomic(machine_id, "3f9a1c0b2d3e4f5061728394a5b6c7d8\n", 0444);
  }
  ~Fixture() { fs::remove_all(dir); }
  std::string state_dir() const { return (dir / "state").string(); }
  // A control node that finished every step.
  FirstbootState done_state() const {
    FirstbootState st = fresh_state();
    for (auto& s : st.steps) s.status = "done";
    st.node_id = "00112233445566778899aabbccddeeff";
    st.consul_node_id = "6f1c2a9e-3b4d-4e5f-8a7b-9c0d1e2f3a4b";
    st.node_name = "control-3f9a1c";
    st.role = "control";
    st.cluster = "prod";
    st.datacenter = "dc1";
    st.address = "10.0.0.11";
    st.ensemble.members = {{1, "control-000001", "10.0.0.10"}, {2, "control-3f9a1c", "10.0.0.11"}};
    st.myid = 2;
    st.ports.consul_http = consul.port;
    st.ports.zk_client = zk.port;
    return st;
  }
  void save(const FirstbootState& st) const { save_state(state_dir() + "/firstboot/state.json", st); }
  std::pair<int, std::string> console() const {
    std::ostringstream out;
    int rc = print_console_status(state_dir(), machine_id, out);
    return {rc, out.str()};
  }
};

}  // namespace

TEST_CASE("status --console before the first run") {
  Fixture f;
  auto [rc, out] = f.console();
  CHECK(rc == 3);
  CHECK(out ==
        "role=none\n"
        "node=none\n"
        "address=none\n"
        "firstboot=not-started\n"
        "consul-leader=none\n"
        "consul-members=0\n"
        "consul-servers=0\n"
        "machine-id=3f9a1c0b2d3e\n");
  fs::remove(f.machine_id);
  CHECK(f.console().second.find("\nmachine-id=none\n") != std::string::npos);
}

TEST_CASE("status --console of a node that is done, Consul and ZooKeeper not answering") {
  Fixture f;
  f.save(f.done_state());
  auto [rc, out] = f.console();
  CHECK(rc == 0);
  CHECK(out ==
        "role=control\n"
        "node=control-3f9a1c\n"
        "address=10.0.0.11\n"
        "firstboot=done\n"
        "consul-leader=none\n"
        "consul-members=0\n"
        "consul-servers=0\n"
        "zookeeper-mode=none\n"
        "zookeeper-ensemble=10.0.0.10,10.0.0.11\n"
        "machine-id=3f9a1c0b2d3e\n"
        "consul-node-id=6f1c2a9e-3b4d-4e5f-8a7b-9c0d1e2f3a4b\n"
        "zookeeper-myid=2\n");
}

TEST_CASE("status --console: the servers of this node's zoo.cfg, as written") {
  Fixture f;
  f.save(f.done_state());
  fs::create_directories(f.state_dir() + "/etc/zookeeper");
  mi::write_file_atomic(f.state_dir() + "/etc/zookeeper/zoo.cfg",
                        "tickTime=2000\nserver.1=10.0.0.10:2888:3888\nserver.2=10.0.0.11:2888:3888\n");
  std::string out = f.console().second;
  CHECK(out.find("\nzookeeper-mode=none\nzookeeper-servers=1@10.0.0.10:2888:3888,2@10.0.0.11:2888:3888\n"
                 "zookeeper-ensemble=10.0.0.10,10.0.0.11\n") != std::string::npos);
}

TEST_CASE("status --console: each state of the run, one line each") {
  Fixture f;
  auto line = [&](const std::string& key) {
    std::string out = f.console().second;
    auto p = out.find("\n" + key + "=");
    REQUIRE(p != std::string::npos);
    auto e = out.find('\n', p + 1);
    return out.substr(p + 2 + key.size(), e - p - 2 - key.size());
  };

  // Waiting for the secret, identity not committed: no name yet, no node-id, no myid.
  FirstbootState st = fresh_state();
  step_record(st, "identity") = {"identity", "waiting", "no cluster secret: give it in a NoCloud seed", "t"};
  f.save(st);
  CHECK(f.console().first == 3);
  CHECK(line("firstboot") == "waiting: identity: no cluster secret: give it in a NoCloud seed");
  CHECK(line("node") == "none");
  std::string out = f.console().second;
  CHECK(out.find("consul-node-id=") == std::string::npos);
  CHECK(out.find("zookeeper-myid=") == std::string::npos);
  CHECK(out.find("zookeeper-mode=") == std::string::npos);  // role not known yet

  st = f.done_state();
  st.myid = 0;
  st.ensemble = {};
  for (const char* s : {"consul", "zookeeper", "writers", "register"}) step_record(st, s).status = "pending";
  step_record(st, "consul") = {"consul", "running", "Consul agent started; waiting for a leader", "t"};
  f.save(st);
  CHECK(line("firstboot") == "running: consul");
  CHECK(line("zookeeper-mode") == "none");  // a control node without a myid (yet)
  CHECK(f.console().second.find("zookeeper-myid=") == std::string::npos);

  // Between steps (killed after one was done): the next one is the running one.
  step_record(st, "consul").status = "pending";
  f.save(st);
  CHECK(line("firstboot") == "running: consul");

  // Failed, with a reason of several lines and control characters: still one line.
  step_record(st, "consul") = {"consul", "failed", "cannot start consul:\n\tsee \\log\x1b[31m", "t"};
  f.save(st);
  CHECK(f.console().first == 3);
  CHECK(line("firstboot") == "failed: consul: cannot start consul:\\n\\tsee \\\\log\\x1b[31m");

  step_record(st, "consul") = {"consul", "timed-out", "waiting for Consul leader: 1 of 3 servers seen: 10.0.0.11", "t"};
  f.save(st);
  CHECK(line("firstboot") ==
        "waiting: consul: waiting for Consul leader: 1 of 3 servers seen: 10.0.0.11 (the run timed out; the next one "
        "resumes here)");

  // A name with a newline (state.json edited by hand) stays on its line.
  st.node_name = "evil\nfirstboot=done";
  f.save(st);
  CHECK(line("node") == "evil\\nfirstboot=done");
  CHECK(f.console().second.find("\nfirstboot=done") == std::string::npos);

  // A compute node: no zookeeper-mode line.
  st = f.done_state();
  st.role = "compute";
  st.myid = 0;
  f.save(st);
  out = f.console().second;
  CHECK(f.console().first == 0);
  CHECK(out.find("zookeeper-mode=") == std::string::npos);
  CHECK(out.find("zookeeper-myid=") == std::string::npos);
  CHECK(out.find("role=compute\n") == 0);

  // A state.json that does not parse is reported, not thrown.
  mi::write_file_atomic(f.state_dir() + "/firstboot/state.json", "{");
  CHECK(f.console().first == 3);
  CHECK(line("firstboot").rfind("failed: state: ", 0) == 0);
}

TEST_CASE("status --console: Consul's leader (without port) and alive members; no hang") {
  Fixture f;
  FixtureHttpServer consul([](const FixtureRequest& r) {
    if (r.target == "/v1/status/leader") return FixtureReply{200, "\"10.0.0.12:8300\""};
    if (r.target == "/v1/agent/members")
      return FixtureReply{
          200, R"([{"Name":"c1","Addr":"10.0.0.10","Port":8301,"Tags":{"role":"consul","dc":"dc1"},"Status":1},)"
               R"({"Name":"c2","Addr":"10.0.0.11","Port":8301,"Tags":{"role":"consul","dc":"dc1"},"Status":1},)"
               R"({"Name":"c3","Addr":"10.0.0.12","Port":8301,"Tags":{"role":"consul","dc":"dc1"},"Status":1},)"
               R"({"Name":"w1","Addr":"10.0.0.21","Port":8301,"Tags":{"role":"node","dc":"dc1"},"Status":4}])"};
    return FixtureReply{404, ""};
  });
  // ZooKeeper answering `srvr` as a follower does.
  int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(ls, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(listen(ls, 4) == 0);
  socklen_t len = sizeof a;
  getsockname(ls, reinterpret_cast<sockaddr*>(&a), &len);
  std::thread zk([ls] {
    int c = accept(ls, nullptr, nullptr);
    char buf[8];
    (void)!read(c, buf, 4);
    std::string answer =
        mi::read_file(std::string(MI_SOURCE_DIR) + "/tests/fixtures/firstboot/golden/zk/srvr-follower.txt");
    (void)!write(c, answer.data(), answer.size());
    close(c);
  });
  FirstbootState st = f.done_state();
  st.ports.consul_http = consul.port();
  st.ports.zk_client = ntohs(a.sin_port);
  f.save(st);
  std::string out = f.console().second;
  zk.join();
  close(ls);
  CHECK(out.find("\nconsul-leader=10.0.0.12\nconsul-members=3\nconsul-servers=3\nzookeeper-mode=follower\n") !=
        std::string::npos);

  // Consul accepts but never answers: none/0 within the timeouts.
  FixtureHttpServer hung([](const FixtureRequest&) {
    FixtureReply r;
    r.hang = true;
    return r;
  });
  st.ports.consul_http = hung.port();
  f.save(st);
  auto t0 = std::chrono::steady_clock::now();
  out = f.console().second;
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  CHECK(out.find("\nconsul-leader=none\nconsul-members=0\n") != std::string::npos);
  CHECK(s < 5);
}

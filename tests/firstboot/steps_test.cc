// The whole first-boot run on one host, with the real Consul 1.8.7 and ZooKeeper 3.8 run by
// the ProcessRunner on 127.0.0.1 with shifted ports: a lone control node of three waits,
// before Consul, for a majority to agree on its configuration and says why; an all-in-one
// node runs every step, `status` reports it, a rerun changes nothing, and a run killed in
// the zookeeper step resumes there with the same identity and ensemble. Waits are
// conditions with deadlines (run_firstboot's own).
#include "firstboot/steps.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <sstream>
#include <thread>

#include "common/error.h"
#include "common/files.h"
#include "common/process.h"
#include "firstboot/http.h"
#include "firstboot/zk_client.h"

using namespace mi::firstboot;
namespace fs = std::filesystem;

namespace {

struct TestNode {
  fs::path dir;
  FirstbootOptions opts;
  TestNode(const std::string& name, int control_count, const std::string& peers, int offset) {
    dir = fs::temp_directory_path() / ("steps_test." + std::to_string(getpid()) + "." + name);
    fs::remove_all(dir);
    fs::create_directories(dir);
    mi::write_file_atomic((dir / "secret").string(), "steps-test-secret", 0600);
    mi::write_file_atomic((dir / "cluster.yaml").string(),
                          "cluster:\n  name: steps\n  datacenter: dc1\n  control_count: " +
                              std::to_string(control_count) + "\n  discovery:\n    method: static\n    peers: [" +
                              peers + "]\nrole: " + (control_count == 1 ? "all-in-one" : "control") +
                              "\nsecret_file: " + (dir / "secret").string() + "\nnode: " + name +
                              "\naddress: 127.0.0.1\nstate_dir: " + (dir / "state").string() + "\n");
    opts.sources.defaults_file = (dir / "cluster.yaml").string();
    opts.sources.cmdline_file = "";
    opts.sources.metadata_url = "";
    opts.sources.find_seeds = false;
    opts.runner = "process";
    opts.port_offset = offset;
    opts.timeout_s = 120;
    opts.poll_ms = 200;
  }
  std::string state() const { return (dir / "state").string(); }
  ~TestNode() {
    auto runner = make_process_runner(state() + "/run");
    for (const char* s : {"zookeeper", "consul"}) {
      try {
        runner->stop(s);
      } catch (const std::exception&) {
      }
    }
    fs::remove_all(dir);
  }
};

// A node that starts nothing: static discovery lists 1 of 3 control nodes, so the run waits
// in step discover (or earlier) until its deadline. `secret`: "" = none given.
struct WaitingNode {
  fs::path dir;
  FirstbootOptions opts;
  WaitingNode(const std::string& name, const std::string& secret) {
    dir = fs::temp_directory_path() / ("steps_test." + std::to_string(getpid()) + "." + name);
    fs::remove_all(dir);
    fs::create_directories(dir);
    std::string yaml =
        "cluster:\n  name: wait\n  control_count: 3\n  discovery: {method: static, peers: [127.0.0.1]}\n"
        "role: control\nnode: " +
        name + "\naddress: 127.0.0.1\nstate_dir: " + (dir / "state").string() + "\n";
    if (!secret.empty()) {
      mi::write_file_atomic((dir / "secret").string(), secret, 0600);
      yaml += "secret_file: " + (dir / "secret").string() + "\n";
    }
    mi::write_file_atomic((dir / "cluster.yaml").string(), yaml);
    opts.sources.defaults_file = (dir / "cluster.yaml").string();
    opts.sources.nocloud_dir = (dir / "seed").string();  // not there (yet)
    opts.sources.cmdline_file = "";
    opts.sources.metadata_url = "";
    opts.sources.find_seeds = false;
    opts.runner = "process";
  }
  std::string state() const { return (dir / "state").string(); }
  ~WaitingNode() { fs::remove_all(dir); }
};

// Polls `cond` until it holds or `seconds` pass.
template <class F>
bool eventually(F cond, int seconds = 10) {
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (!cond()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

// Different ports for every test process and case (several may run at once).
int offset_for(int k) { return 20000 + int(getpid() % 90) * 200 + k * 20; }

}  // namespace

TEST_CASE("a lone control node of three waits, before Consul, for a majority to agree on its configuration") {
  TestNode n("lone", 3, "127.0.0.1, 127.0.0.2, 127.0.0.3", offset_for(0));
  n.opts.timeout_s = 3;
  std::ostringstream log;
  CHECK(run_firstboot(n.opts, log) == Outcome::timed_out);
  INFO(log.str());
  auto st = load_state(n.state() + "/firstboot/state.json");
  const std::string want =
      "waiting for the control nodes to agree on the cluster configuration (static): 1 of 3 control nodes agree on "
      "the cluster configuration (need 2): lone 127.0.0.1";
  CHECK(step_record(st, "discover").status == "timed-out");
  CHECK(step_record(st, "discover").detail == want);
  CHECK(step_names()[resume_index(st)] == "discover");
  // Nothing started: Consul waits for the configuration check.
  CHECK_FALSE(fs::exists(n.state() + "/etc/consul.d/consul.json"));
  CHECK_FALSE(fs::exists(n.state() + "/run/consul.pid"));
  std::ostringstream out;
  CHECK(print_status(n.state(), false, out) == 3);
  CHECK(out.str().find(want) != std::string::npos);
}

TEST_CASE("static discovery with fewer peers than control_count waits without spinning") {
  TestNode n("short", 3, "127.0.0.1", offset_for(2));
  n.opts.timeout_s = 2;
  n.opts.discovery_slice_s = 1;
  std::ostringstream log;
  std::clock_t cpu0 = std::clock();
  CHECK(run_firstboot(n.opts, log) == Outcome::timed_out);
  double cpu_s = double(std::clock() - cpu0) / CLOCKS_PER_SEC;
  INFO(log.str());
  CHECK(cpu_s < 0.5);  // it used a whole core for the whole wait before
  auto st = load_state(n.state() + "/firstboot/state.json");
  CHECK(step_record(st, "discover").status == "timed-out");
  CHECK_THAT(step_record(st, "discover").detail, Catch::Contains("1 of 3 control nodes"));
}

TEST_CASE("all-in-one node: every step, status, an idempotent rerun, resume after a kill") {
  if (!mi::have_program("consul") || !mi::have_program("java")) FAIL("consul and java are needed (scripts/setup.sh)");
  TestNode n("aio", 1, "127.0.0.1", offset_for(1));
  std::ostringstream log;
  auto outcome = run_firstboot(n.opts, log);
  INFO(log.str());
  REQUIRE(outcome == Outcome::done);
  std::string state_file = n.state() + "/firstboot/state.json";
  auto st = load_state(state_file);
  CHECK(resume_index(st) == step_names().size());
  REQUIRE(st.ensemble.members.size() == 1);
  CHECK(st.myid == 1);
  CHECK(st.node_id.size() == 32);
  CHECK(mi::read_file(n.state() + "/consul/node-id") == st.consul_node_id);
  CHECK(zk_status("127.0.0.1", st.ports.zk_client).mode == "standalone");

  // The ensemble went through Consul KV, and ZooKeeper is registered in Consul's catalog.
  ConsulAgent agent{"http://127.0.0.1:" + std::to_string(st.ports.consul_http), 3000};
  auto kv = consul_kv_get(agent, ensemble_key("steps"));
  REQUIRE(kv);
  CHECK(ensemble_from_json(*kv, "kv").members[0].address == "127.0.0.1");
  // ZooKeeper is registered in the local agent (what makes zookeeper.service.consul resolve).
  CHECK(http_request("GET", agent.base + "/v1/catalog/service/zookeeper")
            .body.find("\"ServicePort\":" + std::to_string(st.ports.zk_client)) != std::string::npos);

  std::ostringstream js;
  CHECK(print_status(n.state(), true, js) == 0);
  CHECK(js.str().find("\"mode\": \"standalone\"") != std::string::npos);
  CHECK(js.str().find("\"kv\": \"matches\"") != std::string::npos);

  // Rerun after success: nothing written, nothing restarted.
  std::string before = mi::read_file(state_file);
  auto zoo = n.state() + "/etc/zookeeper/zoo.cfg";
  auto mtime = fs::last_write_time(zoo);
  std::string consul_pid = mi::read_file(n.state() + "/run/consul.pid");
  std::ostringstream log2;
  REQUIRE(run_firstboot(n.opts, log2) == Outcome::done);
  CHECK(mi::read_file(state_file) == before);
  CHECK(fs::last_write_time(zoo) == mtime);
  CHECK(mi::read_file(n.state() + "/run/consul.pid") == consul_pid);

  // A reboot: every service down, every step done. The replay starts them again without
  // deciding anything, is done only once ZooKeeper is a healthy member again, and
  // state.json stays byte-identical.
  {
    auto r = make_process_runner(n.state() + "/run");
    r->stop("zookeeper");
    r->stop("consul");
    std::ostringstream log_boot;
    REQUIRE(run_firstboot(n.opts, log_boot) == Outcome::done);
    CHECK(log_boot.str().find("all steps done earlier") != std::string::npos);
    CHECK(r->running("consul"));
    CHECK(r->running("zookeeper"));
    CHECK(zk_status("127.0.0.1", st.ports.zk_client).mode == "standalone");  // healthy when done
    CHECK(mi::read_file(state_file) == before);
  }

  // Killed during the zookeeper step: ZooKeeper down, the step and later ones unfinished.
  make_process_runner(n.state() + "/run")->stop("zookeeper");
  CHECK(zk_status("127.0.0.1", st.ports.zk_client, 500).mode.empty());
  step_record(st, "zookeeper").status = "running";
  step_record(st, "writers").status = "pending";
  step_record(st, "register").status = "pending";
  save_state(state_file, st);
  std::ostringstream log3;
  REQUIRE(run_firstboot(n.opts, log3) == Outcome::done);
  INFO(log3.str());
  CHECK(log3.str().find("resuming at step zookeeper") != std::string::npos);
  auto after = load_state(state_file);
  CHECK(resume_index(after) == step_names().size());
  CHECK(after.node_id == st.node_id);
  CHECK(after.consul_node_id == st.consul_node_id);
  CHECK(ensemble_to_json(after.ensemble) == ensemble_to_json(st.ensemble));
  CHECK(zk_status("127.0.0.1", st.ports.zk_client).mode == "standalone");

  // A node whose cluster configuration differs from the digest the cluster committed (here:
  // the committed one is replaced) joins no ensemble: its Consul is stopped, the step fails.
  auto key = config_digest_key("steps");
  auto committed = consul_kv_get(agent, key);
  REQUIRE(committed);
  CHECK(committed->find("\"node\":\"aio\"") != std::string::npos);
  REQUIRE(http_request("PUT", agent.base + "/v1/kv/" + key,
                       R"({"digest":"00112233445566778899aabbccddeeff","node":"other","control_count":5})")
              .status == 200);
  after.ensemble = {};
  after.myid = 0;
  for (const char* s : {"zookeeper", "writers", "register"}) step_record(after, s).status = "pending";
  save_state(state_file, after);
  std::ostringstream log4;
  try {
    run_firstboot(n.opts, log4);
    FAIL("a configuration mismatch must fail the run");
  } catch (const mi::Error& e) {
    CHECK(std::string(e.what()).find("differs from the one cluster steps committed") != std::string::npos);
    CHECK(std::string(e.what()).find("first written by other") != std::string::npos);
  }
  CHECK_FALSE(make_process_runner(n.state() + "/run")->running("consul"));
  CHECK(step_record(load_state(state_file), "zookeeper").status == "failed");
}

TEST_CASE("plan touches nothing") {
  TestNode n("plan", 3, "127.0.0.1, 127.0.0.2, 127.0.0.3", offset_for(2));
  std::ostringstream out;
  print_plan(n.opts, out);
  CHECK_FALSE(fs::exists(n.state()));
  auto s = out.str();
  CHECK(s.find("consul.json (0640, group consul, new)") != std::string::npos);
  CHECK(s.find("<derived from the cluster secret>") != std::string::npos);
  CHECK(s.find(consul_gossip_key("steps-test-secret", "steps")) == std::string::npos);
  CHECK(s.find("zoo.cfg") != std::string::npos);
  CHECK(s.find("start process consul") != std::string::npos);
}

TEST_CASE("sd_notify sends one datagram to $NOTIFY_SOCKET") {
  auto path = (fs::temp_directory_path() / ("notify." + std::to_string(getpid()))).string();
  fs::remove(path);
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  strncpy(sa.sun_path, path.c_str(), sizeof sa.sun_path - 1);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
  setenv("NOTIFY_SOCKET", path.c_str(), 1);
  sd_notify_message("READY=1\nSTATUS=first boot done");
  unsetenv("NOTIFY_SOCKET");
  char buf[256];
  ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);  // sendto() has completed: no waiting needed
  close(fd);
  fs::remove(path);
  REQUIRE(n > 0);
  CHECK(std::string(buf, size_t(n)) == "READY=1\nSTATUS=first boot done");
}

TEST_CASE("without a secret a control node waits at identity until a seed gives one") {
  WaitingNode n("nosecret", "");
  n.opts.timeout_s = 8;
  n.opts.poll_ms = 50;
  const std::string state_file = n.state() + "/firstboot/state.json";
  const std::string want =
      "no cluster secret: give it in a NoCloud seed (user-data `mi: {secret: ...}`, `mibuild seed` writes one), a "
      "config drive, cloud metadata or secret_file";
  std::ostringstream log;
  Outcome outcome = Outcome::done;
  std::string error;
  std::thread run([&] {
    try {
      outcome = run_firstboot(n.opts, log);
    } catch (const std::exception& e) {
      error = e.what();
    }
  });
  bool waited = eventually([&] {
    if (!fs::exists(state_file)) return false;
    auto r = step_record(load_state(state_file), "identity");
    return r.status == "waiting" && r.detail == want;
  });
  std::ostringstream status;
  int status_rc = print_status(n.state(), false, status);
  // The seed arrives later (written whole, as a mounted seed would appear).
  fs::create_directories(n.dir / "seed");
  mi::write_file_atomic((n.dir / "seed" / "user-data").string(), "#cloud-config\nmi:\n  secret: late-seed-secret\n");
  run.join();
  INFO(log.str());
  REQUIRE(error.empty());
  CHECK(waited);
  CHECK(status_rc == 3);
  CHECK(status.str().find("identity   waiting   " + want) != std::string::npos);
  CHECK(outcome == Outcome::timed_out);
  auto st = load_state(state_file);
  CHECK(step_record(st, "identity").status == "done");
  CHECK(step_record(st, "discover").status == "timed-out");
  CHECK(mi::read_file(n.state() + "/firstboot/secret") == "late-seed-secret\n");
  CHECK(log.str().find("identity: " + want) != std::string::npos);
  CHECK(log.str().find("kept the cluster secret from nocloud " + (n.dir / "seed" / "user-data").string()) !=
        std::string::npos);
  CHECK(log.str().find("late-seed-secret") == std::string::npos);
  CHECK(mi::read_file(state_file).find("late-seed-secret") == std::string::npos);
}

TEST_CASE("waiting for too few static peers sleeps between checks (no busy loop)") {
  WaitingNode n("spin", "spin-test-secret");
  n.opts.timeout_s = 3;
  n.opts.poll_ms = 100;
  n.opts.discovery_slice_s = 1;
  std::ostringstream log;
  timespec c0{}, c1{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
  auto w0 = std::chrono::steady_clock::now();
  CHECK(run_firstboot(n.opts, log) == Outcome::timed_out);
  auto wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
  double cpu = double(c1.tv_sec - c0.tv_sec) + double(c1.tv_nsec - c0.tv_nsec) / 1e9;
  INFO(log.str() << "cpu " << cpu << " s in " << wall << " s");
  auto st = load_state(n.state() + "/firstboot/state.json");
  CHECK(step_record(st, "discover").status == "timed-out");
  CHECK(step_record(st, "discover").detail == "static: 1 of 3 control nodes: 127.0.0.1 listed");
  CHECK(wall >= 2.5);
  CHECK(cpu < 0.2 * wall);
}

// state.json: round trip, the resume point, atomic save that leaves an unchanged file alone,
// and a corrupt file being an error rather than a silent reset.
#include "firstboot/state.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "common/error.h"
#include "common/files.h"

using namespace mi::firstboot;

TEST_CASE("state.json round trip") {
  FirstbootState st = fresh_state();
  st.node_id = "0123456789abcdef0123456789abcdef";
  st.consul_node_id = "6f1c1a2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b";
  st.node_name = "c1";
  st.role = "control";
  st.cluster = "prod";
  st.datacenter = "dc1";
  st.address = "10.0.0.11";
  st.address_reason = "route to 10.0.0.12";
  st.discovery_method = "static";
  st.peers = {{"c2", "10.0.0.12", Role::control}, {"", "10.0.0.13", Role::all_in_one}};
  st.ensemble = decide_ensemble(
      {{"c1", "10.0.0.11", Role::control}, {"c2", "10.0.0.12", Role::control}, {"c3", "10.0.0.13", Role::control}}, 3);
  st.ensemble.decided_by = "c2";
  st.myid = 1;
  st.discovery_counters = {{"accepted", 12}, {"bad_mac", 3}};
  st.mismatched = {"x1 (10.0.0.31)"};
  st.runner = "process";
  st.ports = ports_with_offset(100);
  step_record(st, "identity").status = "done";
  step_record(st, "discover").status = "done";
  step_record(st, "consul").status = "waiting";
  step_record(st, "consul").detail = "waiting for Consul leader: 2 of 3 servers seen: 10.0.0.11, 10.0.0.12";

  std::string text = state_to_json(st);
  FirstbootState back = state_from_json(text, "test");
  CHECK(state_to_json(back) == text);
  CHECK(back.peers[1].role == Role::all_in_one);
  CHECK(back.ensemble.members[2].address == "10.0.0.13");
  CHECK(back.ensemble.decided_by == "c2");
  CHECK(back.ports.consul_http == 8600);
  CHECK(back.ports.zk_client == 2281);
  CHECK(back.myid == 1);
  CHECK(back.discovery_counters.at("bad_mac") == 3);
  CHECK(back.mismatched == std::vector<std::string>{"x1 (10.0.0.31)"});
  CHECK(resume_index(back) == 2);  // consul
}

TEST_CASE("resume point is the first step not done") {
  FirstbootState st = fresh_state();
  CHECK(resume_index(st) == 0);
  step_record(st, "identity").status = "done";
  CHECK(resume_index(st) == 1);
  step_record(st, "consul").status = "done";  // out of order: discover still not done
  CHECK(resume_index(st) == 1);
  for (auto& s : st.steps) s.status = "done";
  CHECK(resume_index(st) == step_names().size());
  step_record(st, "zookeeper").status = "failed";
  CHECK(step_names()[resume_index(st)] == "zookeeper");
}

TEST_CASE("save_state is atomic and leaves an unchanged file alone") {
  auto dir = std::filesystem::temp_directory_path() / ("state_test." + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  std::string path = (dir / "firstboot" / "state.json").string();
  CHECK(resume_index(load_state(path)) == 0);  // missing: fresh
  FirstbootState st = fresh_state();
  st.node_id = "abc";
  save_state(path, st);
  struct stat a, b;
  REQUIRE(stat(path.c_str(), &a) == 0);
  save_state(path, st);  // same content: not rewritten (same inode)
  REQUIRE(stat(path.c_str(), &b) == 0);
  CHECK(a.st_ino == b.st_ino);
  st.node_id = "def";
  save_state(path, st);  // rewritten by rename: new inode
  REQUIRE(stat(path.c_str(), &b) == 0);
  CHECK(a.st_ino != b.st_ino);
  CHECK(load_state(path).node_id == "def");
  // no temporaries left behind
  int files = 0;
  for (auto& e : std::filesystem::directory_iterator(dir / "firstboot")) files += e.is_regular_file();
  CHECK(files == 1);
  mi::write_file_atomic(path, "{ truncated");
  CHECK_THROWS_AS(load_state(path), mi::Error);
  std::filesystem::remove_all(dir);
}

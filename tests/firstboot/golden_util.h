// Shared by the firstboot writer tests: the golden-file check (MI_UPDATE_GOLDEN=1 rewrites
// the files under tests/fixtures/firstboot/golden/, to be reviewed in the diff) and the
// sample nodes the golden files are made from.
#pragma once
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "common/files.h"
#include "firstboot/agreement.h"
#include "firstboot/writers.h"

namespace golden {

inline std::string dir() { return std::string(MI_SOURCE_DIR) + "/tests/fixtures/firstboot/golden"; }

inline void check(const std::string& name, const std::string& actual) {
  std::string path = dir() + "/" + name;
  if (getenv("MI_UPDATE_GOLDEN")) {
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    mi::write_file_atomic(path, actual);
  }
  INFO("golden file " << path << " (MI_UPDATE_GOLDEN=1 rewrites it)");
  REQUIRE(std::filesystem::exists(path));
  CHECK(mi::read_file(path) == actual);
}

// Three control nodes 10.0.0.11-13 and a compute node 10.0.0.21 of cluster "prod" in dc1,
// federated with dc2's control node 10.1.0.11.
inline mi::firstboot::Ensemble ensemble() {
  using namespace mi::firstboot;
  return decide_ensemble(
      {{"c2", "10.0.0.12", Role::control}, {"c1", "10.0.0.11", Role::control}, {"c3", "10.0.0.13", Role::control}}, 3);
}

inline mi::firstboot::WriterInput control_input() {
  using namespace mi::firstboot;
  WriterInput in;
  in.cfg.role = Role::control;
  in.cfg.cluster = "prod";
  in.cfg.datacenter = "dc1";
  in.cfg.control_count = 3;
  in.cfg.node_name = "c1";
  in.cfg.secret = "correct horse battery staple";
  in.cfg.wan_join = {"10.1.0.11"};
  in.address = "10.0.0.11";
  in.join = {"10.0.0.12", "10.0.0.13"};
  in.ensemble = ensemble();
  in.myid = 1;
  in.layout.state_dir = "/var/lib/mi";
  return in;
}

inline mi::firstboot::WriterInput compute_input() {
  using namespace mi::firstboot;
  WriterInput in = control_input();
  in.cfg.role = Role::compute;
  in.cfg.node_name = "w1";
  in.cfg.wan_join.clear();
  in.address = "10.0.0.21";
  in.join = {"10.0.0.11", "10.0.0.12", "10.0.0.13"};
  in.myid = 0;
  return in;
}

}  // namespace golden

// Build progress (builder/progress.cc): the plain line of a stage's beginning, the JSON events
// (begin, note, end with the stage's seconds, each one line that parses), and the table of
// stage times with a total per role.
#include "builder/progress.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

TEST_CASE("plain progress: one timestamped line per stage, the table at the end") {
  std::ostringstream out;
  mi::Progress p;
  p.out = &out;
  mi::stage_begin(p, "control", "bootstrap", "bootstrapping (120 packages)");
  mi::stage_note(p, "component mesos: not included");
  mi::stage_begin(p, "control", "erofs", "writing the erofs root");
  mi::stage_end(p);
  mi::stage_end(p);  // nothing running: no second record
  std::string s = out.str();
  INFO(s);
  CHECK(std::regex_search(
      s, std::regex(R"(^mibuild: \[ +0\.\d s\] control bootstrap: bootstrapping \(120 packages\)\n)")));
  CHECK(s.find("] component mesos: not included\n") != std::string::npos);
  CHECK(s.find("] control erofs: writing the erofs root\n") != std::string::npos);
  REQUIRE(p.done.size() == 2);
  CHECK(p.done[0].stage == "bootstrap");
  CHECK(p.done[1].stage == "erofs");
  std::string t = mi::stage_table(p);
  CHECK(std::regex_search(t, std::regex(R"(  control      bootstrap         0\.\d s\n)")));
  CHECK(std::regex_search(t, std::regex(R"(  control      \(all\)             0\.\d s\n$)")));
}

TEST_CASE("JSON progress: begin, note and end events, one object per line, with the stage's seconds") {
  std::ostringstream out;
  mi::Progress p;
  p.out = &out;
  p.mode = mi::ProgressMode::kJson;
  p.start -= std::chrono::seconds(10);  // the build began 10 s ago
  mi::stage_begin(p, "all-in-one", "qcow2", "writing out/mi-all-in-one.qcow2");
  mi::stage_note(p, "wrote it");
  mi::stage_begin(p, "all-in-one", "vagrant", "the boxes");
  mi::stage_end(p);
  std::istringstream in(out.str());
  std::vector<nlohmann::json> ev;
  for (std::string line; std::getline(in, line);) ev.push_back(nlohmann::json::parse(line));
  REQUIRE(ev.size() == 5);
  CHECK(ev[0]["event"] == "begin");
  CHECK(ev[0]["stage"] == "qcow2");
  CHECK(ev[0]["role"] == "all-in-one");
  CHECK(ev[0]["t"].get<double>() >= 10.0);
  CHECK(ev[1]["event"] == "note");
  CHECK(ev[1]["what"] == "wrote it");
  CHECK(ev[2]["event"] == "end");
  CHECK(ev[2]["stage"] == "qcow2");
  CHECK(ev[2]["seconds"].get<double>() < 5.0);
  CHECK(ev[3]["event"] == "begin");
  CHECK(ev[4]["event"] == "end");
  CHECK(ev[4]["stage"] == "vagrant");
}

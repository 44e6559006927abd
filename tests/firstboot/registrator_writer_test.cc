// Registrator: consul://127.0.0.1:8500 on compute nodes, against a golden file.
#include <catch2/catch.hpp>

#include "golden_util.h"

using namespace mi::firstboot;

TEST_CASE("registrator.env on a compute node, none on a control node") {
  auto files = registrator_files(golden::compute_input());
  REQUIRE(files.size() == 1);
  CHECK(files[0].path == "/var/lib/mi/etc/registrator/registrator.env");
  golden::check("registrator.env", files[0].content);
  CHECK(files[0].content.find("REGISTRATOR_URI=consul://127.0.0.1:8500\n") != std::string::npos);
  CHECK(registrator_files(golden::control_input()).empty());
}

// `mibuild inspect`'s pure parts (builder/inspect.cc): versions from a dpkg status file (only
// installed packages, in the order asked) and the text and JSON of an inspection. The real
// images are inspected with libguestfs in the image tier (outputs_test).
#include "builder/inspect.h"

#include <catch2/catch.hpp>

TEST_CASE("dpkg_versions: installed packages only, in the order asked") {
  std::string status =
      "Package: zookeeper\nStatus: install ok installed\nVersion: 3.8.0-11+deb12u2\n\n"
      "Package: consul\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.8.7+dfsg1-2+b3\n\n"
      "Package: docker.io\nStatus: deinstall ok config-files\nVersion: 20.10.24\n\n"
      "Package: systemd\nVersion: 252.39-1~deb12u2\nStatus: install ok installed";  // no final blank line
  auto v = mi::dpkg_versions(status, {"consul", "zookeeper", "docker.io", "mesos", "systemd"});
  REQUIRE(v.size() == 3);
  CHECK(v[0] == std::pair<std::string, std::string>{"consul", "1.8.7+dfsg1-2+b3"});
  CHECK(v[1] == std::pair<std::string, std::string>{"zookeeper", "3.8.0-11+deb12u2"});
  CHECK(v[2] == std::pair<std::string, std::string>{"systemd", "252.39-1~deb12u2"});
}

TEST_CASE("inspection text and JSON: role, what built it, components, packages, partitions") {
  mi::ImageInspection i;
  i.image = "out/mi-control.qcow2";
  i.format = "qcow2";
  i.virtual_size = 2178940928;
  i.role = "control";
  i.cluster = "mi";
  i.build = {{"mibuild_version", "0.1.0"},
             {"source_date_epoch", "1764000000"},
             {"stages", {{{"name", "bootstrap"}, {"key", "ab12"}}}},
             {"components",
              {{{"name", "consul"}, {"present", true}, {"version", "1.8.7"}},
               {{"name", "mesos"}, {"present", false}, {"version", ""}}}}};
  i.packages = {{"consul", "1.8.7+dfsg1-2+b3"}};
  i.partitions = {{1, "esp", "C12A7328-F81F-11D2-BA4B-00A0C93EC93B", 1048576, 268435456, "vfat", "ESP", "365F-E7E0"},
                  {4, "bios-boot", "21686148-6449-6E6F-744E-656564454649", 2177892352, 159232, "", "", ""}};
  CHECK(mi::inspection_text(i) ==
        "out/mi-control.qcow2: qcow2, 2178940928 bytes\n"
        "role: control, cluster mi\n"
        "built by: mibuild 0.1.0, SOURCE_DATE_EPOCH 1764000000\n"
        "  stage bootstrap ab12\n"
        "components: consul 1.8.7, mesos (absent)\n"
        "packages: consul 1.8.7+dfsg1-2+b3\n"
        "partitions:\n"
        "  1 esp          start      1048576 size    268435456  vfat   label ESP uuid 365F-E7E0\n"
        "  4 bios-boot    start   2177892352 size       159232  -      \n");
  auto j = mi::inspection_json(i);
  CHECK(j["role"] == "control");
  CHECK(j["build"]["stages"][0]["key"] == "ab12");
  CHECK(j["packages"]["consul"] == "1.8.7+dfsg1-2+b3");
  CHECK(j["partitions"][1]["name"] == "bios-boot");
  CHECK(j["partitions"][0]["size"] == 268435456);

  i.build = nullptr;
  CHECK(mi::inspection_text(i).find("built by: (no /usr/lib/mi/build.json") != std::string::npos);
}

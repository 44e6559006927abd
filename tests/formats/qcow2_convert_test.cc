// convert_image: the qcow2 appears whole by rename (qemu-img check is the oracle), and the
// temporaries a killed build left for that output are gone after the next conversion.
#include "formats/qcow2_convert.h"

#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "common/files.h"
#include "common/process.h"

namespace fs = std::filesystem;

TEST_CASE("qcow2: converted, checked by qemu-img, stale temporaries of that output removed") {
  char t[] = "/tmp/mi-qcow2-test.XXXXXX";
  REQUIRE(mkdtemp(t) != nullptr);
  std::string d = t;
  std::string raw = d + "/disk.raw";
  {
    std::ofstream f(raw, std::ios::binary);
    std::string block(4096, 'x');
    for (int i = 0; i < 256; i++) f << block;  // 1 MiB
  }
  pid_t dead = fork();
  if (dead == 0) _exit(0);
  waitpid(dead, nullptr, 0);
  std::string out = d + "/img.qcow2";
  std::string stale = d + "/.img.qcow2.tmp." + std::to_string(dead);
  std::ofstream(stale) << "half a qcow2 of a killed build";
  mi::convert_image(raw, "qcow2", out);
  CHECK_FALSE(fs::exists(stale));
  CHECK_FALSE(fs::exists(mi::temp_name_for(out)));
  CHECK(mi::run({"qemu-img", "check", out}, {.check = false}).exit_code == 0);
  CHECK(mi::run({"qemu-img", "compare", "-f", "raw", "-F", "qcow2", raw, out}, {.check = false}).exit_code == 0);
  fs::remove_all(d);
}

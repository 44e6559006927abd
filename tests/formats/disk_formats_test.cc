// write_disk_format(): every format by name, read back by qemu-img as the same disk; the output
// appears by rename only (no temporary left, a stale one of a killed run removed); bad names and
// options are refused naming what is valid.
#include "formats/disk_formats.h"

#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/files.h"
#include "common/process.h"
#include "disk_files.h"
#include "formats/raw.h"
#include "skip.h"
#include "temp_dir.h"

namespace fs = std::filesystem;

using namespace mi::test;  // disk_files.h

namespace {

const char* qemu_name(const std::string& f) { return f == "vhd" ? "vpc" : f.c_str(); }

}  // namespace

TEST_CASE("every disk format reads back as the same disk, and appears by rename") {
  if (!mi::have_program("qemu-img")) {
    mi::test::skip_or_fail("qemu-img (qemu-utils) is not installed");
    return;
  }
  mi::test::TempDir t("mi-disk-formats");
  std::string raw = t.path + "/disk.raw";
  // 5 MiB + 512: not a multiple of any cluster or grain size; data at both ends and inside.
  uint64_t size = (5 << 20) + 512;
  sparse_file(raw, size, {{0, "start"}, {(2 << 20) + 77, std::string(70000, 'x')}, {size - 4, "end!"}});
  mi::DiskReader disk(mi::file_disk_source(raw));
  for (const auto& f : mi::disk_formats()) {
    for (std::string comp : {"", "zstd"}) {
      if (f != "qcow2" && !comp.empty()) continue;
      INFO(f << " " << comp);
      std::string out = t.path + "/out." + f;
      // A temporary of a killed run is removed; the output is committed whole.
      std::string stale = t.path + "/.out." + f + ".tmp.999999";  // temp_name_for()'s form, a dead pid
      sparse_file(stale, 4, {{0, "half"}});
      mi::DiskFormatOptions o;
      o.compression = comp;
      o.epoch = 1764000000;
      o.uuid = mi::derive_uuid("t", "disk");
      mi::write_disk_format(f, disk, out, o);
      CHECK(fs::exists(out));
      for (const auto& e : fs::directory_iterator(t.path))
        CHECK(e.path().filename().string().find(".tmp.") == std::string::npos);
      auto info = nlohmann::json::parse(mi::run({"qemu-img", "info", "-f", qemu_name(f), "--output=json", out}).out);
      uint64_t vsize = info["virtual-size"].get<uint64_t>();
      // VHD rounds up to a whole MiB (Azure); every other format keeps the size.
      CHECK(vsize == (f == "vhd" ? uint64_t(6 << 20) : size));
      std::string padded = raw;
      if (vsize != size) {
        padded = t.path + "/padded.raw";
        fs::copy_file(raw, padded, fs::copy_options::overwrite_existing);
        fs::resize_file(padded, vsize);
      }
      auto cmp = mi::run({"qemu-img", "compare", "-f", "raw", "-F", qemu_name(f), padded, out}, {.check = false});
      INFO(cmp.out << cmp.err);
      CHECK(cmp.exit_code == 0);
      fs::remove(out);
    }
  }
}

TEST_CASE("unknown formats and compressions are refused, naming what is valid") {
  mi::test::TempDir t("mi-disk-formats");
  std::string raw = t.path + "/disk.raw";
  sparse_file(raw, 1 << 20, {});
  mi::DiskReader disk(mi::file_disk_source(raw));
  try {
    mi::write_disk_format("vdi", disk, t.path + "/out.vdi");
    FAIL("accepted");
  } catch (const mi::Error& e) {
    CHECK(std::string(e.what()).find("raw, qcow2, vmdk, vhd") != std::string::npos);
  }
  mi::DiskFormatOptions o;
  o.compression = "lzma";
  CHECK_THROWS_WITH(mi::write_disk_format("qcow2", disk, t.path + "/out.qcow2", o),
                    Catch::Contains("valid: none, zlib, zstd"));
  CHECK_FALSE(fs::exists(t.path + "/out.vdi"));
  CHECK_FALSE(fs::exists(t.path + "/out.qcow2"));
}

// Fuzz target `configdrive`: the OpenStack config drive reader (firstboot/source_configdrive.cc):
// openstack/latest/meta_data.json and user_data, read from files as on a real drive; the input
// is meta_data.json, then "\n%%\n", then user_data (see seed_files.h).
#include <filesystem>

#include "firstboot/config_sources.h"
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/seed_files.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string dir = mi::fuzz::seed_dir("configdrive");
  static const bool cleanup = [] { return std::atexit([] { std::filesystem::remove_all(dir); }) == 0; }();
  (void)cleanup;
  auto parts = mi::fuzz::split_input(mi::fuzz::text(data, size));
  mi::fuzz::write_seed_file(dir + "/openstack/latest/meta_data.json", parts.first, true);
  mi::fuzz::write_seed_file(dir + "/openstack/latest/user_data", parts.second, parts.has_second);
  mi::fuzz::call([&] { mi::firstboot::read_configdrive(dir); });
  return 0;
}

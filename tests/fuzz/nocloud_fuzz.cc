// Fuzz target `nocloud`: the NoCloud seed reader (firstboot/source_nocloud.cc): meta-data
// (YAML) and user-data (#cloud-config with `mi:`), read from files as on a real seed; the
// input is meta-data, then "\n%%\n", then user-data (see seed_files.h).
#include <filesystem>

#include "firstboot/config_sources.h"
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/seed_files.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string dir = mi::fuzz::seed_dir("nocloud");  // computed once
  static const bool cleanup = [] { return std::atexit([] { std::filesystem::remove_all(dir); }) == 0; }();
  (void)cleanup;
  auto parts = mi::fuzz::split_input(mi::fuzz::text(data, size));
  mi::fuzz::write_seed_file(dir + "/meta-data", parts.first, true);
  mi::fuzz::write_seed_file(dir + "/user-data", parts.second, parts.has_second);
  mi::fuzz::call([&] { mi::firstboot::read_nocloud(dir); });
  // The user-data parser alone, as the config drive and cloud metadata use it.
  mi::fuzz::call([&] {
    mi::firstboot::ConfigLayer L;
    mi::firstboot::parse_user_data(parts.has_second ? parts.second : parts.first, "user-data", &L);
  });
  return 0;
}

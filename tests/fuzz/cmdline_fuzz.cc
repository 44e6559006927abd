// Fuzz target `cmdline`: the kernel command line parser (firstboot/source_cmdline.cc).
#include "firstboot/config_sources.h"
#include "tests/fuzz/fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mi::fuzz::call([&] { mi::firstboot::parse_cmdline(mi::fuzz::text(data, size), "/proc/cmdline"); });
  return 0;
}

// Fuzz target `spec`: the image spec loader (builder/spec.cc) on arbitrary text as spec.yaml,
// in the repository's own tree (its roles/ and overlays/ are read as for the real spec).
// Every diagnostic must be one line with a position; nothing may throw.
#include "builder/spec.h"
#include "tests/fuzz/fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = std::string(MI_SOURCE_DIR) + "/spec.yaml";
  mi::SpecResult r = mi::parse_spec_text(mi::fuzz::text(data, size), path);
  for (const auto& list : {&r.errors, &r.notes})
    for (const auto& d : *list) mi::fuzz::expect_one_line(d.str(), "spec diagnostic");
  return 0;
}

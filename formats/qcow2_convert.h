// Other disk formats made from the raw disk with `qemu-img convert` (for now; our own streaming
// writers replace this per format later). Flow: raw.h → convert_image() → out_dir.
#pragma once
#include <string>

namespace mi {

// Converts `raw` into `format` ("qcow2", "vmdk", "vpc", ...) at `path` (atomically: temp + rename).
void convert_image(const std::string& raw, const std::string& format, const std::string& path);

}  // namespace mi

// qcow2 through `qemu-img convert` of a raw disk, until our own streaming writer replaces it.
// Flow: raw.h → convert_image_to() → disk_formats.cc commits the result.
#pragma once
#include <string>

namespace mi {

// Converts `raw` into `format` ("qcow2", ...) at `path` (created or overwritten, not renamed:
// the caller commits). compression: "" / "none", "zlib" or "zstd" (qcow2 only).
void convert_image_to(const std::string& raw, const std::string& format, const std::string& path,
                      const std::string& compression = "");

// The same, atomically: a temporary beside `path`, then rename.
void convert_image(const std::string& raw, const std::string& format, const std::string& path);

}  // namespace mi

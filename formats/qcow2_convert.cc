// qemu-img based conversion of the raw disk into qcow2 (and other formats qemu-img writes).
#include "formats/qcow2_convert.h"

#include <cstdio>

#include "common/files.h"
#include "common/process.h"

namespace mi {

void convert_image_to(const std::string& raw, const std::string& format, const std::string& path,
                      const std::string& compression) {
  std::vector<std::string> argv = {"qemu-img", "convert", "-f", "raw", "-O", format};
  if (format == "qcow2") {
    std::string o = "compat=1.1";
    if (compression == "zstd") o += ",compression_type=zstd";
    argv.insert(argv.end(), {"-o", o});
    if (!compression.empty() && compression != "none") argv.push_back("-c");
  }
  argv.insert(argv.end(), {raw, path});
  run(argv);
}

void convert_image(const std::string& raw, const std::string& format, const std::string& path) {
  remove_stale_temporaries(path);  // of a killed build
  std::string tmp = temp_name_for(path);
  std::remove(tmp.c_str());
  try {
    convert_image_to(raw, format, tmp);
  } catch (...) {
    std::remove(tmp.c_str());
    throw;
  }
  commit_rename(tmp, path);  // fsyncs the qcow2, renames, fsyncs the directory
}

}  // namespace mi

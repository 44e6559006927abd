// qemu-img based conversion of the raw disk into qcow2 (and other formats qemu-img writes).
#include "formats/qcow2_convert.h"

#include <cstdio>

#include "common/files.h"
#include "common/process.h"

namespace mi {

void convert_image(const std::string& raw, const std::string& format, const std::string& path) {
  remove_stale_temporaries(path);  // of a killed build
  std::string tmp = temp_name_for(path);
  std::remove(tmp.c_str());
  std::vector<std::string> argv = {"qemu-img", "convert", "-f", "raw", "-O", format};
  if (format == "qcow2") argv.insert(argv.end(), {"-o", "compat=1.1"});
  argv.insert(argv.end(), {raw, tmp});
  try {
    run(argv);
  } catch (...) {
    std::remove(tmp.c_str());
    throw;
  }
  commit_rename(tmp, path);  // fsyncs the qcow2, renames, fsyncs the directory
}

}  // namespace mi

// For the seed readers' fuzz targets: one input split into two files of a seed directory
// (before and after the first "\n%%\n"; no separator: all of it is the first file), written
// into a directory of this process's own under the temporary directory, so that the readers
// run as they do on a real seed: from files.
#pragma once
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace mi::fuzz {

// In /dev/shm where there is one (a file system in memory: many more runs a second), else
// under the temporary directory.
inline std::string seed_dir(const std::string& name) {
  std::error_code ec;
  const std::filesystem::path base =
      std::filesystem::is_directory("/dev/shm", ec) && access("/dev/shm", W_OK) == 0
          ? std::filesystem::path("/dev/shm")
          : std::filesystem::temp_directory_path();
  return (base / ("mi-fuzz-" + name + "-" + std::to_string(getpid()))).string();
}

inline void write_seed_file(const std::string& path, const std::string& content, bool present) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  if (!present) {
    std::filesystem::remove(path);
    return;
  }
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
}

// {first, second, whether there was a second}
struct Split {
  std::string first, second;
  bool has_second = false;
};
inline Split split_input(const std::string& in) {
  size_t at = in.find("\n%%\n");
  if (at == std::string::npos) return {in, "", false};
  return {in.substr(0, at), in.substr(at + 4), true};
}

}  // namespace mi::fuzz

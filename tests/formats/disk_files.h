// Test helpers for the disk format tests (tests/formats/): sparse input files, whole-file
// reads, random bytes and the small three-partition GPT disk several tests write.
#pragma once
#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <fstream>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "common/digest.h"
#include "formats/gpt.h"

namespace mi::test {

// A file of `size` bytes holding `data` at each of `at` (the rest a hole).
inline void sparse_file(const std::string& path, uint64_t size,
                        const std::vector<std::pair<uint64_t, std::string>>& at) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  REQUIRE(fd >= 0);
  REQUIRE(ftruncate(fd, off_t(size)) == 0);
  for (auto& [off, d] : at) REQUIRE(pwrite(fd, d.data(), d.size(), off_t(off)) == ssize_t(d.size()));
  close(fd);
}

inline std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}

inline std::string random_bytes(std::mt19937& rng, size_t n) {
  std::string s(n, '\0');
  for (auto& c : s) c = char(rng());
  return s;
}

// ESP 3 MiB, root 5 MiB + 512 (not a whole MiB), var 2 MiB.
inline GptDisk small_disk() {
  return gpt_layout(derive_uuid("t", "disk"), {{"esp", gpt_type_esp(), derive_uuid("t", "esp"), 3 << 20, 0},
                                               {"root-x86-64", gpt_type_root_x86_64(), derive_uuid("t", "root"),
                                                (5 << 20) + 512, kGptAttrReadOnly},
                                               {"var", gpt_type_var(), derive_uuid("t", "var"), 2 << 20, 0}});
}

}  // namespace mi::test

// Test helper: a spec directory written into a fresh temporary directory (spec.yaml,
// roles/*.yaml, overlay directories), and its errors as "FILE:LINE:COL: message" strings with
// the temporary directory's prefix removed, so that tests can compare them literally.
#pragma once
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "builder/spec.h"

namespace mi::test {

struct TempSpec {
  std::filesystem::path dir;

  explicit TempSpec(const std::string& spec, const std::map<std::string, std::string>& roles = {},
                    const std::vector<std::string>& overlays = {}) {
    static int n = 0;
    dir = std::filesystem::temp_directory_path() /
          ("mi-spec-test-" + std::to_string(getpid()) + "-" + std::to_string(n++));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir / "roles");
    write("spec.yaml", spec);
    for (const auto& [name, text] : roles) write("roles/" + name + ".yaml", text);
    for (const auto& o : overlays) write("overlays/" + o + "/etc/" + o + ".conf", o + "\n");
  }
  ~TempSpec() { std::filesystem::remove_all(dir); }
  TempSpec(const TempSpec&) = delete;
  TempSpec& operator=(const TempSpec&) = delete;

  void write(const std::string& rel, const std::string& text) const {
    auto p = dir / rel;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p) << text;
  }
  std::string spec() const { return (dir / "spec.yaml").string(); }

  std::string strip(std::string s) const {
    std::string prefix = dir.string() + "/";
    for (size_t at; (at = s.find(prefix)) != std::string::npos;) s.erase(at, prefix.size());
    return s;
  }
  std::vector<std::string> errors(const SpecResult& r) const {
    std::vector<std::string> out;
    for (const auto& d : r.errors) out.push_back(strip(d.str()));
    return out;
  }
  std::vector<std::string> notes(const SpecResult& r) const {
    std::vector<std::string> out;
    for (const auto& d : r.notes) out.push_back(strip(d.str()));
    return out;
  }
  std::vector<std::string> errors() const { return errors(parse_spec(spec())); }
};

// The smallest valid spec and role the error tests start from.
inline const char* kMinimalSpec =
    "name: t\n"
    "roles: [a]\n"
    "formats: [raw]\n"
    "components:\n"
    "  c1:\n"
    "    source: debian\n";
inline const char* kMinimalRole = "name: a\ncomponents: [c1]\n";

// The one error of `errs` that contains `what`; fails the test when there is not exactly one.
inline std::string one_error(const std::vector<std::string>& errs, const std::string& what) {
  std::vector<std::string> found;
  for (const auto& e : errs)
    if (e.find(what) != std::string::npos) found.push_back(e);
  INFO("errors: " << Catch::Detail::stringify(errs));
  REQUIRE(found.size() == 1);
  return found[0];
}

}  // namespace mi::test

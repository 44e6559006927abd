// YAML strictness and error hygiene: one document, no explicit tags, bounded sizes, no control
// characters in keys or overlay names, roles files that are really files, no component named
// like a password, a directory as spec path; every error on one line, lists in errors capped.
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>

#include "builder/spec.h"
#include "common/error.h"
#include "temp_spec.h"

using mi::test::one_error;
using mi::test::TempSpec;
using V = std::vector<std::string>;
namespace fs = std::filesystem;

namespace {

const std::string kHead = "name: t\nroles: [a]\n";
const char* kRole = "name: a\n";

}  // namespace

TEST_CASE("one_line escapes control characters; join_capped caps") {
  CHECK(mi::one_line(std::string("a\nb\tc\0d\x1b\x7f", 9)) == "a\\nb\\tc\\0d\\x1b\\x7f");
  CHECK(mi::one_line("plain") == "plain");
  CHECK(mi::join_capped({"a", "b"}) == "a, b");
  V many;
  for (int i = 0; i < 25; i++) many.push_back("c" + std::to_string(i));
  CHECK(mi::join_capped(many) == "c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, ... and 15 more");
}

TEST_CASE("multi-document YAML is an error at the second document") {
  TempSpec t(kHead + "---\ngarbage: [\n", {{"a", kRole}});
  CHECK(t.errors() == V{"spec.yaml:3:1: a second YAML document starts here: a spec or role file is one document "
                        "(remove '---' / '...' and what follows, or merge it into the first)"});
  TempSpec t2(kHead + "---\nname: other\n", {{"a", kRole}});
  one_error(t2.errors(), "spec.yaml:3:1: a second YAML document");
  TempSpec t3(kHead + "...\nname: other\n", {{"a", kRole}});
  one_error(t3.errors(), "spec.yaml:3:1: a second YAML document");
  // A leading '---', comments and a final '...' are one document.
  TempSpec end(kHead + "...\n# done\n", {{"a", kRole}});
  CHECK(end.errors().empty());
  TempSpec ok("# comment\n---\n" + kHead, {{"a", kRole}});
  CHECK(ok.errors().empty());
  // In a roles file as well.
  TempSpec r(kHead, {{"a", "name: a\n---\nname: b\n"}});
  one_error(r.errors(), "roles/a.yaml:2:1: a second YAML document");
}

TEST_CASE("explicit type tags are errors, with their position") {
  TempSpec t(kHead + "disk:\n  esp_mb: !!float 64\n  var_mb: !custom 64\n", {{"a", kRole}});
  V errs = t.errors();
  CHECK(one_error(errs, "!!float") ==
        "spec.yaml:4:11: explicit YAML tag '!!float' is not accepted: write the value "
        "plainly (its key decides its type)");
  one_error(errs, "spec.yaml:5:11: explicit YAML tag '!custom'");
  // Quoted strings are not tagged.
  TempSpec ok(kHead + "seed: \"quoted\"\n", {{"a", kRole}});
  CHECK(ok.errors().empty());
}

TEST_CASE("sizes have upper bounds") {
  TempSpec t(kHead + "disk:\n  esp_mb: 4097\n  var_mb: 99999999\n", {{"a", kRole}});
  V errs = t.errors();
  one_error(errs, "spec.yaml:4:11: disk.esp_mb: must be at most 4096, got 4097");
  one_error(errs, "spec.yaml:5:11: disk.var_mb: must be at most 262144");
  TempSpec big(kHead + "disk:\n  var_mb: 99999999999999\n", {{"a", kRole}});
  one_error(big.errors(), "disk.var_mb: expected an integer");
}

TEST_CASE("control characters in keys and overlay names are errors, and print on one line") {
  TempSpec t(kHead + "\"na\\0me\": x\n\"se\\ned\": y\noverlays: [\"ba\\0se\", \"b\\nx\"]\n", {{"a", kRole}});
  V errs = t.errors();
  CHECK(one_error(errs, "na\\0me") ==
        "spec.yaml:3:1: spec: key 'na\\0me' is empty or holds a control character "
        "(NUL, newline, tab, ...)");
  one_error(errs, "se\\ned");
  one_error(errs, "overlays[0]: 'ba\\0se' is not an overlay name");
  one_error(errs, "overlays[1]: 'b\\nx' is not an overlay name");
  for (const auto& e : errs) CHECK(e.find_first_of(std::string("\n\t\0", 3)) == std::string::npos);
}

TEST_CASE("roles directory: a dangling symlink or a directory named x.yaml is an error") {
  TempSpec t(kHead, {{"a", kRole}});
  fs::create_symlink("no-such-file.yaml", t.dir / "roles/b.yaml");
  fs::create_directories(t.dir / "roles/c.yaml");
  V errs = t.errors();
  one_error(errs, "roles/b.yaml: a dangling symlink where a roles file was expected");
  one_error(errs, "roles/c.yaml: a directory named like a roles file");
  // A roles file that is a symlink out of the tree.
  TempSpec o(kHead, {{"a", kRole}});
  fs::create_symlink("/etc/hostname", o.dir / "roles/h.yaml");
  one_error(o.errors(), "roles/h.yaml: roles file resolves to /etc/hostname");
}

TEST_CASE("a component named password is refused") {
  TempSpec t(kHead + "components:\n  password: {source: debian}\n  my-passwd: {source: debian}\n", {{"a", kRole}});
  V errs = t.errors();
  one_error(errs, "spec.yaml:4:3: components.password: passwords are not accepted");
  one_error(errs, "spec.yaml:5:3: components.my-passwd: passwords are not accepted");
}

TEST_CASE("a spec path that is a directory is a positioned error") {
  TempSpec t(kHead, {{"a", kRole}});
  mi::SpecResult r = mi::parse_spec(t.dir.string());
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].str() == t.dir.string() +
                                 ":1:1: is a directory, not a YAML file (give the spec file itself, e.g. " +
                                 t.dir.string() + "/spec.yaml)");
}

TEST_CASE("10,000 components and unknown references: fast, bounded, one line each") {
  std::string spec = kHead + "components:\n";
  for (int i = 0; i < 10000; i++) spec += "  c" + std::to_string(i) + ": {source: debian}\n";
  std::string role = "name: a\ncomponents: [";
  for (int i = 0; i < 200; i++) role += std::string(i ? ", " : "") + "\"nope" + std::to_string(i) + "\\n\"";
  role += "]\n";
  TempSpec t(spec, {{"a", role}});
  auto start = std::chrono::steady_clock::now();
  mi::SpecResult r = mi::parse_spec(t.spec());
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  CHECK(secs < 10);  // generous: an upper bound, not a benchmark (it was 7 s for one error list per entry)
  V errs = t.errors(r);
  REQUIRE(errs.size() == 200);
  size_t total = 0;
  for (const auto& e : errs) {
    total += e.size();
    CHECK(e.size() < 400);
    CHECK(e.find('\n') == std::string::npos);
  }
  CHECK(total < 200 * 400);
  CHECK(errs[0] ==
        "roles/a.yaml:2:14: components[0]: unknown component 'nope0\\n' (defined in spec.yaml: c0, c1, c10, c100, "
        "c1000, c1001, c1002, c1003, c1004, c1005, ... and 9990 more)");
}

// Found by the spec fuzzer: yaml-cpp reads a ',' at the top level as endless empty documents,
// so a loader that asks for all of them never returns (and takes all memory).
TEST_CASE("a stray ',' at the top level is a syntax error with a position, at once") {
  auto t0 = std::chrono::steady_clock::now();
  for (const std::string text : {", a\n", "name: x\n, b\n"}) {
    mi::SpecResult r = mi::parse_spec_text(text, (fs::temp_directory_path() / "mi-comma" / "spec.yaml").string());
    REQUIRE_FALSE(r.ok());
    CHECK(r.errors[0].pos.line >= 1);
    CHECK(r.errors[0].str().find('\n') == std::string::npos);
  }
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5));
}

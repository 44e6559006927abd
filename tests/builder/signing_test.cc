// Signed manifests (builder/signing.cc): key pairs as OpenSSL's own CLI reads them, signatures
// that `openssl pkeyutl` verifies (and the other way round), the private key's mode rule, and
// verify_outdir() finding a changed byte, a truncated or missing output, a changed manifest, a
// wrong key and a path that leaves the directory.
#include "builder/signing.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/digest.h"
#include "common/error.h"
#include "common/files.h"
#include "common/process.h"
#include "skip.h"
#include "temp_dir.h"

namespace fs = std::filesystem;

namespace {

unsigned mode_of(const std::string& p) {
  struct stat st {};
  REQUIRE(stat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

// OUTDIR with one output and the manifest that lists it, signed with `key`.
void make_outdir(const std::string& dir, const std::string& key, const std::string& rel = "mi-control.qcow2") {
  fs::create_directories(dir);
  std::string content(100000, 'x');
  mi::write_file_atomic(dir + "/mi-control.qcow2", content);
  nlohmann::json m = {
      {"roles",
       {{{"name", "control"},
         {"artifacts",
          {{{"path", rel}, {"format", "qcow2"}, {"size", content.size()}, {"sha256", mi::sha256_hex(content)}}}}}}}};
  mi::write_file_atomic(dir + "/manifest.json", m.dump(2) + "\n");
  mi::sign_manifest(dir + "/manifest.json", key);
}

}  // namespace

TEST_CASE("keygen: a private key only its owner reads, a public key, never replaced") {
  mi::test::TempDir d("mi-signing");
  mi::write_keypair(d.path + "/k");
  CHECK(mode_of(d.path + "/k.key") == 0600);
  CHECK(mode_of(d.path + "/k.pub") == 0644);
  CHECK(mi::read_file(d.path + "/k.pub").find("-----BEGIN PUBLIC KEY-----") == 0);
  std::string before = mi::read_file(d.path + "/k.key");
  CHECK_THROWS_WITH(mi::write_keypair(d.path + "/k"), Catch::Contains("never replaces a key"));
  CHECK(mi::read_file(d.path + "/k.key") == before);
  if (!mi::have_program("openssl")) return mi::test::skip_or_fail("openssl not found");
  CHECK(mi::run({"openssl", "pkey", "-in", d.path + "/k.key", "-noout", "-text"}).out.find("ED25519 Private-Key") == 0);
}

TEST_CASE("signatures: ours verify with openssl pkeyutl, openssl's with ours; any change fails") {
  mi::test::TempDir d("mi-signing");
  mi::write_keypair(d.path + "/k");
  mi::write_keypair(d.path + "/other");
  std::string data = "{\"roles\": []}\n";
  std::string sig = mi::sign_data(d.path + "/k.key", data);
  CHECK(mi::signature_valid(d.path + "/k.pub", data, sig));
  CHECK_FALSE(mi::signature_valid(d.path + "/k.pub", data + " ", sig));
  CHECK_FALSE(mi::signature_valid(d.path + "/other.pub", data, sig));
  CHECK_FALSE(mi::signature_valid(d.path + "/k.pub", data, "not base64!"));
  CHECK_FALSE(mi::signature_valid(d.path + "/k.pub", data, sig.substr(4)));
  CHECK_THROWS_WITH(mi::signature_valid(d.path + "/k.key", data, sig), Catch::Contains("not a PEM public key"));

  if (!mi::have_program("openssl") || !mi::have_program("base64"))
    return mi::test::skip_or_fail("openssl or base64 not found");
  mi::write_file_atomic(d.path + "/data", data);
  mi::write_file_atomic(d.path + "/sig.b64", sig + "\n");
  mi::run({"sh", "-c", "base64 -d \"$0\" > \"$1\"", d.path + "/sig.b64", d.path + "/sig.bin"});
  auto v = mi::run({"openssl", "pkeyutl", "-verify", "-pubin", "-inkey", d.path + "/k.pub", "-rawin", "-in",
                    d.path + "/data", "-sigfile", d.path + "/sig.bin"},
                   {.check = false});
  INFO(v.out << v.err);
  CHECK(v.exit_code == 0);
  mi::run({"openssl", "pkeyutl", "-sign", "-inkey", d.path + "/k.key", "-rawin", "-in", d.path + "/data", "-out",
           d.path + "/theirs.bin"});
  std::string theirs = mi::run({"base64", "-w0", d.path + "/theirs.bin"}).out;
  CHECK(mi::signature_valid(d.path + "/k.pub", data, theirs));
}

TEST_CASE("the private key must be its owner's alone, like the fleet secret") {
  mi::test::TempDir d("mi-signing");
  mi::write_keypair(d.path + "/k");
  chmod((d.path + "/k.key").c_str(), 0644);
  CHECK_THROWS_WITH(mi::sign_data(d.path + "/k.key", "x"), Catch::Contains("chmod 0600"));
  chmod((d.path + "/k.key").c_str(), 0600);
  CHECK_THROWS_WITH(mi::sign_data(d.path + "/k.pub", "x"), Catch::Contains("has mode 0644"));
  mi::write_file_atomic(d.path + "/junk", "not a key\n", 0600);
  CHECK_THROWS_WITH(mi::sign_data(d.path + "/junk", "x"), Catch::Contains("not a PEM private key"));
  CHECK_THROWS_WITH(mi::sign_data(d.path + "/missing", "x"), Catch::Contains("does not exist"));
}

TEST_CASE("verify_outdir: every byte as signed, or each problem named") {
  mi::test::TempDir d("mi-signing");
  mi::write_keypair(d.path + "/k");
  mi::write_keypair(d.path + "/other");
  std::string out = d.path + "/out", img = out + "/mi-control.qcow2";
  make_outdir(out, d.path + "/k.key");
  size_t checked = 0;
  CHECK(mi::verify_outdir(out, d.path + "/k.pub", &checked).empty());
  CHECK(checked == 1);

  SECTION("a changed byte") {
    std::string s = mi::read_file(img);
    s[50000] = 'y';
    mi::write_file_atomic(img, s);
    auto p = mi::verify_outdir(out, d.path + "/k.pub", &checked);
    REQUIRE(p.size() == 1);
    CHECK(p[0] == img + ": its sha256 differs from the manifest's (a changed byte)");
  }
  SECTION("a truncated output, a missing one") {
    mi::write_file_atomic(img, "x");
    CHECK(mi::verify_outdir(out, d.path + "/k.pub", &checked).at(0).find("1 bytes, the manifest says 100000") !=
          std::string::npos);
    fs::remove(img);
    CHECK(mi::verify_outdir(out, d.path + "/k.pub", &checked).at(0) == img + ": missing");
  }
  SECTION("a changed manifest, another key, no signature") {
    mi::write_file_atomic(out + "/manifest.json", mi::read_file(out + "/manifest.json") + " ");
    CHECK(mi::verify_outdir(out, d.path + "/k.pub", &checked).at(0).find("does not match") != std::string::npos);
    make_outdir(out, d.path + "/k.key");
    CHECK(mi::verify_outdir(out, d.path + "/other.pub", &checked).at(0).find("does not match") != std::string::npos);
    fs::remove(out + "/manifest.json.sig");
    CHECK(mi::verify_outdir(out, d.path + "/k.pub", &checked).at(0).find("missing (build with --sign") !=
          std::string::npos);
  }
  SECTION("a signed manifest naming a file outside the directory") {
    make_outdir(out, d.path + "/k.key", "../k.key");
    CHECK(mi::verify_outdir(out, d.path + "/k.pub", &checked).at(0).find("is not inside the output directory") !=
          std::string::npos);
  }
}

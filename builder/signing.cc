// Ed25519 signing of manifest.json and the check of an output directory against it (see
// signing.h).
#include "builder/signing.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>

#include "common/digest.h"
#include "common/error.h"
#include "common/files.h"
#include "firstboot/config_sources.h"

namespace fs = std::filesystem;

namespace mi {
namespace {

using Pkey = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using Bio = std::unique_ptr<BIO, decltype(&BIO_free)>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;

std::string pem_of(EVP_PKEY* k, bool with_private) {
  Bio b(BIO_new(BIO_s_mem()), BIO_free);
  int ok = with_private ? PEM_write_bio_PrivateKey(b.get(), k, nullptr, nullptr, 0, nullptr, nullptr)
                        : PEM_write_bio_PUBKEY(b.get(), k);
  if (!ok || !b) throw Error("keygen", "OpenSSL could not write the key as PEM");
  char* p = nullptr;
  long n = BIO_get_mem_data(b.get(), &p);
  return std::string(p, size_t(n));
}

Pkey read_key(const std::string& pem, bool is_private, const std::string& path) {
  Bio b(BIO_new_mem_buf(pem.data(), int(pem.size())), BIO_free);
  EVP_PKEY* k = is_private ? PEM_read_bio_PrivateKey(b.get(), nullptr, nullptr, nullptr)
                           : PEM_read_bio_PUBKEY(b.get(), nullptr, nullptr, nullptr);
  if (!k)
    throw Error(path, std::string("not a PEM ") + (is_private ? "private" : "public") +
                          " key (make a pair with `mibuild keygen -o PREFIX`)");
  Pkey key(k, EVP_PKEY_free);
  if (EVP_PKEY_get_base_id(k) != EVP_PKEY_ED25519)
    throw Error(path, "not an Ed25519 key (make one with `mibuild keygen -o PREFIX`)");
  return key;
}

bool unbase64(std::string s, std::string& out) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  if (s.empty() || s.size() % 4 != 0) return false;
  out.assign(s.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(s.data()), int(s.size()));
  if (n < 0) return false;
  size_t pad = (s.end()[-1] == '=') + (s.end()[-2] == '=');
  out.resize(size_t(n) - pad);
  return true;
}

}  // namespace

void write_keypair(const std::string& prefix) {
  if (prefix.empty()) throw Error("keygen", "no output prefix (-o PREFIX writes PREFIX.key and PREFIX.pub)");
  const std::string priv = prefix + ".key", pub = prefix + ".pub";
  for (const auto& p : {priv, pub})
    if (fs::exists(fs::symlink_status(p))) throw Error(p, "exists; keygen never replaces a key (remove it first)");
  Pkey k(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"), EVP_PKEY_free);
  if (!k) throw Error("keygen", "OpenSSL could not make an Ed25519 key");
  write_file_atomic(priv, pem_of(k.get(), true), 0600);
  write_file_atomic(pub, pem_of(k.get(), false), 0644);
}

std::string sign_data(const std::string& key_path, const std::string& data) {
  // The mode rule and the errors of a secret file (never its content).
  std::string pem = firstboot::read_secret_file(key_path, "--sign") + "\n";
  Pkey k = read_key(pem, true, key_path);
  MdCtx ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  unsigned char sig[64];
  size_t len = sizeof sig;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, k.get()) != 1 ||
      EVP_DigestSign(ctx.get(), sig, &len, reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1)
    throw Error(key_path, "OpenSSL could not sign with this key");
  return base64(std::string(reinterpret_cast<const char*>(sig), len));
}

bool signature_valid(const std::string& pubkey_path, const std::string& data, const std::string& signature) {
  Pkey k = read_key(read_file(pubkey_path), false, pubkey_path);
  std::string sig;
  if (!unbase64(signature, sig) || sig.size() != 64) return false;
  MdCtx ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, k.get()) != 1)
    throw Error(pubkey_path, "OpenSSL could not verify with this key");
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                          reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
}

std::string signature_path(const std::string& manifest) { return manifest + ".sig"; }

void sign_manifest(const std::string& manifest, const std::string& key_path) {
  write_file_atomic(signature_path(manifest), sign_data(key_path, read_file(manifest)) + "\n", 0644);
}

std::vector<std::string> verify_outdir(const std::string& out_dir, const std::string& pubkey_path, size_t* checked) {
  std::vector<std::string> problems;
  if (checked) *checked = 0;
  const std::string manifest = out_dir + "/manifest.json", sig = signature_path(manifest);
  for (const auto& p : {manifest, sig})
    if (!fs::is_regular_file(p)) return {p + ": missing (build with --sign KEY to sign the outputs)"};
  const std::string text = read_file(manifest);
  if (!signature_valid(pubkey_path, text, read_file(sig)))
    return {manifest + ": the signature in " + sig +
            " does not match (the manifest was changed, or signed with another key)"};
  nlohmann::json m;
  try {
    m = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    return {manifest + ": signed, but not JSON: " + e.what()};
  }
  if (!m.contains("roles") || !m["roles"].is_array()) return {manifest + ": signed, but lists no roles"};
  for (const auto& role : m["roles"]) {
    if (!role.contains("artifacts") || !role["artifacts"].is_array()) continue;
    for (const auto& a : role["artifacts"]) {
      if (!a.contains("path") || !a["path"].is_string() || !a.contains("size") || !a["size"].is_number_unsigned() ||
          !a.contains("sha256") || !a["sha256"].is_string()) {
        problems.push_back(manifest + ": an output entry without path, size and sha256");
        continue;
      }
      std::string rel = a["path"], path = out_dir + "/" + rel;
      bool outside = rel.empty() || rel[0] == '/';
      for (const auto& part : fs::path(rel)) outside = outside || part == "..";
      if (outside) {
        problems.push_back(manifest + ": output path '" + rel + "' is not inside the output directory");
        continue;
      }
      if (checked) ++*checked;
      std::error_code ec;
      if (!fs::is_regular_file(path, ec)) {
        problems.push_back(path + ": missing");
        continue;
      }
      uint64_t size = fs::file_size(path);
      if (size != a["size"].get<uint64_t>()) {
        problems.push_back(path + ": " + std::to_string(size) + " bytes, the manifest says " +
                           std::to_string(a["size"].get<uint64_t>()));
        continue;
      }
      if (sha256_file_hex(path) != a["sha256"].get<std::string>())
        problems.push_back(path + ": its sha256 differs from the manifest's (a changed byte)");
    }
  }
  return problems;
}

}  // namespace mi

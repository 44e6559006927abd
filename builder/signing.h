// Signed manifests: `mibuild keygen` makes an Ed25519 key pair, `mibuild build --sign KEY`
// signs OUTDIR/manifest.json into OUTDIR/manifest.json.sig, and `mibuild verify OUTDIR
// --pubkey PUB` checks the signature and then every output the manifest lists (size and
// sha256), so whoever deploys an image can tell it is the one that was built, byte for byte.
// OpenSSL 3 does the cryptography; keys are PEM (PKCS#8 private, SubjectPublicKeyInfo public),
// so `openssl pkeyutl -verify -rawin` checks our signatures too.
// Flow: main.cc build → manifest.h write_manifest() → sign_manifest(); verify → verify_outdir().
#pragma once
#include <string>
#include <vector>

namespace mi {

// Writes PREFIX.key (mode 0600) and PREFIX.pub (0644), each by atomic rename. Refuses to
// replace an existing key file.
void write_keypair(const std::string& prefix);

// The Ed25519 signature of `data` with the private key in `key_path` (PEM), base64 on one line.
// The key file must be accessible by its owner only (and at most read by its group), like the
// fleet secret. Errors name the file, never the key.
std::string sign_data(const std::string& key_path, const std::string& data);

// True when `signature` (base64, as sign_data() writes it) is the public key's signature of
// `data`. Throws mi::Error when the public key file cannot be read or is not an Ed25519 key.
bool signature_valid(const std::string& pubkey_path, const std::string& data, const std::string& signature);

// "<manifest>.sig"
std::string signature_path(const std::string& manifest);

// Signs the manifest file: writes <manifest>.sig by atomic rename.
void sign_manifest(const std::string& manifest, const std::string& key_path);

// Checks OUTDIR/manifest.json.sig against the public key, then each output the manifest lists
// (its file exists, has the recorded size and sha256). Returns one line per problem; empty
// means every byte is as signed. `checked` counts the outputs compared.
std::vector<std::string> verify_outdir(const std::string& out_dir, const std::string& pubkey_path, size_t* checked);

}  // namespace mi

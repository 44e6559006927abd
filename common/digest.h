// SHA-256, HMAC-SHA256 and HKDF (OpenSSL 3), and the derivation of everything that looks
// random in an image (partition and file-system UUIDs, salts) from the spec and a seed.
#pragma once
#include <array>
#include <cstdint>
#include <string>

namespace mi {

using Bytes32 = std::array<uint8_t, 32>;
using Uuid = std::array<uint8_t, 16>;  // in RFC 4122 byte order (as printed)

Bytes32 sha256(const std::string& data);
std::string sha256_hex(const std::string& data);
std::string sha256_file_hex(const std::string& path);
Bytes32 hmac_sha256(const std::string& key, const std::string& data);
// HKDF-SHA256 (RFC 5869) of `len` bytes.
std::string hkdf_sha256(const std::string& secret, const std::string& salt, const std::string& info, size_t len);
std::string to_hex(const uint8_t* p, size_t n);
// Standard base64 with padding (OpenSSL EVP_EncodeBlock), one line.
std::string base64(const std::string& bytes);

// A version-4-shaped UUID that is a pure function of (seed, label).
Uuid derive_uuid(const std::string& seed, const std::string& label);
std::string uuid_string(const Uuid& u);  // "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx"

}  // namespace mi

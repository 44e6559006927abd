// Digests against published test vectors; UUID derivation is deterministic and well-formed.
#include "common/digest.h"

#include <catch2/catch.hpp>

TEST_CASE("sha256 of 'abc' (FIPS 180-2 vector)") {
  CHECK(mi::sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("hmac-sha256 RFC 4231 test case 2") {
  auto h = mi::hmac_sha256("Jefe", "what do ya want for nothing?");
  CHECK(mi::to_hex(h.data(), h.size()) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST_CASE("hkdf-sha256 RFC 5869 test case 1") {
  std::string ikm(22, '\x0b');
  std::string salt("\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c", 13);
  std::string info("\xf0\xf1\xf2\xf3\xf4\xf5\xf6\xf7\xf8\xf9", 10);
  auto okm = mi::hkdf_sha256(ikm, salt, info, 42);
  CHECK(mi::to_hex(reinterpret_cast<const uint8_t*>(okm.data()), okm.size()) ==
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
}

TEST_CASE("derived UUIDs are stable, distinct per label, and version 4") {
  auto a = mi::uuid_string(mi::derive_uuid("seed", "root"));
  CHECK(a == mi::uuid_string(mi::derive_uuid("seed", "root")));
  CHECK(a != mi::uuid_string(mi::derive_uuid("seed", "var")));
  CHECK(a != mi::uuid_string(mi::derive_uuid("other", "root")));
  REQUIRE(a.size() == 36);
  CHECK(a[14] == '4');
  CHECK(std::string("89ab").find(a[19]) != std::string::npos);
}

// Explicit little/big-endian helpers for the byte formats (GPT, qcow2, vmdk, vhd, beacon):
// every multi-byte field is written and read through these, never by casting structs.
#pragma once
#include <cstddef>
#include <cstdint>

namespace mi {

inline void put_le16(uint8_t* p, uint16_t v) { for (int i = 0; i < 2; i++) p[i] = uint8_t(v >> (8 * i)); }
inline void put_le32(uint8_t* p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = uint8_t(v >> (8 * i)); }
inline void put_le64(uint8_t* p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = uint8_t(v >> (8 * i)); }
inline void put_be16(uint8_t* p, uint16_t v) { for (int i = 0; i < 2; i++) p[1 - i] = uint8_t(v >> (8 * i)); }
inline void put_be32(uint8_t* p, uint32_t v) { for (int i = 0; i < 4; i++) p[3 - i] = uint8_t(v >> (8 * i)); }
inline void put_be64(uint8_t* p, uint64_t v) { for (int i = 0; i < 8; i++) p[7 - i] = uint8_t(v >> (8 * i)); }

inline uint16_t get_le16(const uint8_t* p) { uint16_t v = 0; for (int i = 1; i >= 0; i--) v = uint16_t(v << 8 | p[i]); return v; }
inline uint32_t get_le32(const uint8_t* p) { uint32_t v = 0; for (int i = 3; i >= 0; i--) v = v << 8 | p[i]; return v; }
inline uint64_t get_le64(const uint8_t* p) { uint64_t v = 0; for (int i = 7; i >= 0; i--) v = v << 8 | p[i]; return v; }
inline uint16_t get_be16(const uint8_t* p) { uint16_t v = 0; for (int i = 0; i < 2; i++) v = uint16_t(v << 8 | p[i]); return v; }
inline uint32_t get_be32(const uint8_t* p) { uint32_t v = 0; for (int i = 0; i < 4; i++) v = v << 8 | p[i]; return v; }
inline uint64_t get_be64(const uint8_t* p) { uint64_t v = 0; for (int i = 0; i < 8; i++) v = v << 8 | p[i]; return v; }

}  // namespace mi

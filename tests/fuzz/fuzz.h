// Shared by every fuzz target (tests/fuzz/*_fuzz.cc): the rule each input must keep. A target
// calls the parser under test through mi::fuzz::call(); an mi::Error is the parser's way of
// refusing an input and is fine as long as its message is one line; any other exception
// escapes (libFuzzer and the mutation driver report it as a crash), and a multi-line error
// aborts here. Sanitizer reports (ASan/UBSan builds, MI_SANITIZE) abort on their own.
#pragma once
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/error.h"

namespace mi::fuzz {

// Aborts (a fuzz failure) when `s`, a message for a person, is not exactly one line.
inline void expect_one_line(const std::string& s, const char* what) {
  for (unsigned char c : s)
    if (c == '\n' || c == '\r' || c == 0 || c == 0x0b || c == 0x0c) {
      std::fprintf(stderr, "fuzz: %s spans more than one line: %s\n", what, mi::one_line(s).c_str());
      std::abort();
    }
}

// Runs f(); an mi::Error is a refusal (checked to be one line), anything else propagates.
template <class F>
void call(F&& f) {
  try {
    f();
  } catch (const mi::Error& e) {
    expect_one_line(e.what(), "mi::Error");
  }
}

inline std::string text(const uint8_t* data, size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

}  // namespace mi::fuzz

// common/strings.h: join, version_matches; and mi::Error keeps every message on one line.
#include "common/strings.h"

#include <catch2/catch.hpp>

#include "common/error.h"

TEST_CASE("join") {
  CHECK(mi::join({}, ", ") == "");
  CHECK(mi::join({"a"}, ", ") == "a");
  CHECK(mi::join({"a", "b", "c"}, ",") == "a,b,c");
  CHECK(mi::join({"", ""}, " ") == " ");
}

TEST_CASE("version_matches: the same version or a finer one") {
  CHECK(mi::version_matches("1.8.7", "1.8.7"));
  CHECK(mi::version_matches("1.8.7", "1.8"));
  CHECK_FALSE(mi::version_matches("1.80", "1.8"));
  CHECK_FALSE(mi::version_matches("1", "1.8"));
  CHECK_FALSE(mi::version_matches("2.8.7", "1.8"));
}

TEST_CASE("mi::Error is one line whatever it quotes") {
  mi::Error e("seed\nfile", std::string("bad value 'a\r\nb\0c'", 18));
  CHECK(std::string(e.what()) == "seed\\nfile: bad value 'a\\r\\nb\\0c'");
  CHECK(e.where == "seed\\nfile");
  CHECK(e.why == "bad value 'a\\r\\nb\\0c'");
}

// Addresses as text (common/net.h): the one is_ip, bracketing, HOST:PORT split and strip.
#include "common/net.h"

#include <catch2/catch.hpp>

#include "common/error.h"

TEST_CASE("is_ip: IPv4 and IPv6 literals only") {
  CHECK(mi::is_ip("10.0.0.1"));
  CHECK(mi::is_ip("fd00::1"));
  CHECK(mi::is_ip("::ffff:10.0.0.1"));
  CHECK_FALSE(mi::is_ip(""));
  CHECK_FALSE(mi::is_ip("[fd00::1]"));
  CHECK_FALSE(mi::is_ip("10.0.0.1:80"));
  CHECK_FALSE(mi::is_ip("host.example"));
  CHECK_FALSE(mi::is_ip("10.0.0.256"));
  CHECK_FALSE(mi::is_ip(std::string("10.0.0.1\0x", 11)));
  CHECK_FALSE(mi::is_ip("10.0.0.1\nserver.9=x"));
}

TEST_CASE("bracket_host and host_port put IPv6 in brackets") {
  CHECK(mi::bracket_host("10.0.0.1") == "10.0.0.1");
  CHECK(mi::bracket_host("fd00::1") == "[fd00::1]");
  CHECK(mi::bracket_host("host") == "host");
  CHECK(mi::host_port("10.0.0.1", 8301) == "10.0.0.1:8301");
  CHECK(mi::host_port("fd00::1", 8302) == "[fd00::1]:8302");
}

TEST_CASE("split_host_port: HOST:PORT and [IPv6]:PORT, port 1..65535") {
  std::string h;
  int port = 0;
  mi::split_host_port("239.255.77.77:7946", "g", &h, &port);
  CHECK(h == "239.255.77.77");
  CHECK(port == 7946);
  mi::split_host_port("[ff02::1]:65535", "g", &h, &port);
  CHECK(h == "ff02::1");
  CHECK(port == 65535);
  for (const char* bad : {"239.255.77.77", "239.255.77.77:0", "a:b:c", "x:65536", ":80", "[::1]", "[::1]80", "h:8x",
                          "h:", "h:123456"})
    CHECK_THROWS_AS(mi::split_host_port(bad, "g", &h, &port), mi::Error);
  // The error quotes the value on one line.
  try {
    mi::split_host_port("a\nb", "g", &h, &port);
    FAIL("no error");
  } catch (const mi::Error& e) {
    CHECK(std::string(e.what()).find('\n') == std::string::npos);
  }
}

TEST_CASE("strip_port") {
  CHECK(mi::strip_port("10.0.0.11:8300") == "10.0.0.11");
  CHECK(mi::strip_port("[fd00::1]:8300") == "fd00::1");
  CHECK(mi::strip_port("fd00::1") == "fd00::1");
  CHECK(mi::strip_port("host") == "host");
  CHECK(mi::strip_port("[fd00::1") == "[fd00::1");
}

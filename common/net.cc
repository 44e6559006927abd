// See net.h.
#include "common/net.h"

#include <arpa/inet.h>

#include "common/error.h"

namespace mi {

bool is_ip(const std::string& s) {
  unsigned char buf[16];
  if (s.find('\0') != std::string::npos) return false;
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

std::string bracket_host(const std::string& host) {
  return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

std::string host_port(const std::string& host, int port) { return bracket_host(host) + ":" + std::to_string(port); }

void split_host_port(const std::string& s, const std::string& where, std::string* host, int* port) {
  std::string p;
  if (!s.empty() && s[0] == '[') {
    size_t close_b = s.find("]:");
    if (close_b == std::string::npos) throw Error(where, "expected [IPv6]:PORT, got '" + s + "'");
    *host = s.substr(1, close_b - 1);
    p = s.substr(close_b + 2);
  } else {
    size_t colon = s.rfind(':');
    if (colon == std::string::npos || s.find(':') != colon) throw Error(where, "expected HOST:PORT, got '" + s + "'");
    *host = s.substr(0, colon);
    p = s.substr(colon + 1);
  }
  if (host->empty() || p.empty() || p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(p) < 1 || std::stoi(p) > 65535)
    throw Error(where, "expected HOST:PORT with a port 1..65535, got '" + s + "'");
  *port = std::stoi(p);
}

std::string strip_port(const std::string& hp) {
  if (!hp.empty() && hp[0] == '[') {
    auto e = hp.find(']');
    return e == std::string::npos ? hp : hp.substr(1, e - 1);
  }
  auto c = hp.rfind(':');
  if (c == std::string::npos || hp.find(':') != c) return hp;  // no port, or a bare IPv6 literal
  return hp.substr(0, c);
}

}  // namespace mi

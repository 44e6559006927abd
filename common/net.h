// Addresses as text, one rule each for the whole project: is it an IP literal, how a host is
// written before ":PORT" (IPv6 in brackets), and how "HOST:PORT" / "[IPv6]:PORT" is split.
#pragma once
#include <string>

namespace mi {

// An IPv4 or IPv6 literal (inet_pton), nothing else: no brackets, no port, no zone.
bool is_ip(const std::string& s);

// "10.0.0.1" → "10.0.0.1", "fd00::1" → "[fd00::1]": a host as written before ":PORT".
std::string bracket_host(const std::string& host);
// bracket_host(host) + ":" + port.
std::string host_port(const std::string& host, int port);

// "HOST:PORT" or "[IPv6]:PORT" → host (brackets removed) and port (1..65535). Throws
// mi::Error{where, ...} (one line, quoting `s`) otherwise.
void split_host_port(const std::string& s, const std::string& where, std::string* host, int* port);

// "10.0.0.11:8300" / "[fd00::1]:8300" → "10.0.0.11" / "fd00::1"; a bare host or IPv6 literal
// unchanged.
std::string strip_port(const std::string& host_port);

}  // namespace mi

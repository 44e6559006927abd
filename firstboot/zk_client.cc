// Four-letter words to ZooKeeper over a plain TCP socket, with a deadline for the whole
// exchange (poll), and the parsers for their answers.
#include "firstboot/zk_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <sstream>

#include "common/error.h"

namespace mi::firstboot {
namespace {

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\r' || s.back() == ' ' || s.back() == '\t')) s.pop_back();
  size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) i++;
  return s.substr(i);
}

}  // namespace

std::string zk_four_letter(const std::string& host, int port, const std::string& word, int timeout_ms) {
  std::string where = "zookeeper " + host + ":" + std::to_string(port);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  auto left = [&] {
    auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    return int(ms < 0 ? 0 : ms);
  };
  addrinfo hints{}, *res = nullptr;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  if (int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res); rc != 0)
    throw Error(where, std::string("cannot resolve: ") + gai_strerror(rc));
  int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    freeaddrinfo(res);
    throw Error(where, std::string("socket: ") + strerror(errno));
  }
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{fd};
  int rc = connect(fd, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  if (rc != 0 && errno != EINPROGRESS) throw Error(where, std::string("connect: ") + strerror(errno));
  pollfd p{fd, POLLOUT, 0};
  if (poll(&p, 1, left()) <= 0) throw Error(where, "connect timed out");
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err) throw Error(where, std::string("connect: ") + strerror(err));
  if (send(fd, word.data(), word.size(), MSG_NOSIGNAL) != ssize_t(word.size()))
    throw Error(where, std::string("send: ") + strerror(errno));
  shutdown(fd, SHUT_WR);
  std::string out;
  for (;;) {
    pollfd q{fd, POLLIN, 0};
    int pr = poll(&q, 1, left());
    if (pr < 0 && errno == EINTR) continue;
    if (pr <= 0) throw Error(where, "'" + word + "' timed out");
    char buf[8192];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) {
      if (errno == ECONNRESET && !out.empty()) break;
      throw Error(where, std::string("read: ") + strerror(errno));
    }
    if (n == 0) break;
    out.append(buf, size_t(n));
  }
  return out;
}

ZkServerInfo parse_srvr(const std::string& text) {
  ZkServerInfo info;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    auto c = line.find(':');
    if (c == std::string::npos) continue;
    std::string key = trim(line.substr(0, c)), value = trim(line.substr(c + 1));
    try {
      if (key == "Zookeeper version")
        info.version = value;
      else if (key == "Mode")
        info.mode = value;
      else if (key == "Zxid")
        info.zxid = value;
      else if (key == "Node count")
        info.node_count = std::stol(value);
      else if (key == "Connections")
        info.connections = std::stol(value);
    } catch (const std::exception&) {
      throw Error("zookeeper srvr", "bad value for '" + key + "': " + value);
    }
  }
  return info;
}

std::map<std::string, std::string> parse_mntr(const std::string& text) {
  std::map<std::string, std::string> m;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    auto t = line.find('\t');
    if (t == std::string::npos) continue;
    m[trim(line.substr(0, t))] = trim(line.substr(t + 1));
  }
  return m;
}

ZkServerInfo zk_status(const std::string& host, int port, int timeout_ms) {
  try {
    return parse_srvr(zk_four_letter(host, port, "srvr", timeout_ms));
  } catch (const Error&) {
    return {};
  }
}

}  // namespace mi::firstboot

// The tiny HTTP/1.1 client (see http.h): resolve, connect with a deadline, send one request,
// read until the server closes or Content-Length / the last chunk is reached.
#include "firstboot/http.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "common/error.h"

namespace mi::firstboot {
namespace {

using Clock = std::chrono::steady_clock;

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

int ms_left(Clock::time_point deadline) {
  auto d = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return d < 0 ? 0 : int(d);
}

std::string lower(std::string s) {
  for (auto& c : s) c = char(tolower(static_cast<unsigned char>(c)));
  return s;
}

// Connects a non-blocking socket to host:port, trying each resolved address until deadline.
int connect_to(const HttpUrl& u, const std::string& url, Clock::time_point deadline) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_family = AF_UNSPEC;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(u.host.c_str(), std::to_string(u.port).c_str(), &hints, &res);
  if (rc != 0) throw Error(url, std::string("cannot resolve host: ") + gai_strerror(rc));
  std::string last = "no address";
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      last = strerror(errno);
      continue;
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
      freeaddrinfo(res);
      return fd;
    }
    if (errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      int n = poll(&p, 1, ms_left(deadline));
      if (n == 1) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err == 0) {
          freeaddrinfo(res);
          return fd;
        }
        last = strerror(err);
      } else {
        last = "connect timed out";
      }
    } else {
      last = strerror(errno);
    }
    close(fd);
  }
  freeaddrinfo(res);
  throw Error(url, "cannot connect: " + last);
}

void send_all(int fd, const std::string& data, const std::string& url, Clock::time_point deadline) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n > 0) {
      off += size_t(n);
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EINTR) throw Error(url, std::string("send: ") + strerror(errno));
    pollfd p{fd, POLLOUT, 0};
    if (poll(&p, 1, ms_left(deadline)) == 0) throw Error(url, "timed out sending the request");
  }
}

// Decodes a chunked body; returns false while incomplete. Throws on a malformed one.
bool dechunk(const std::string& in, std::string* out, const std::string& url) {
  out->clear();
  size_t pos = 0;
  for (;;) {
    size_t eol = in.find("\r\n", pos);
    if (eol == std::string::npos) return false;
    std::string size_line = in.substr(pos, eol - pos);
    size_t semi = size_line.find(';');
    if (semi != std::string::npos) size_line.resize(semi);
    size_t size = 0;
    try {
      size = std::stoul(size_line, nullptr, 16);
    } catch (...) {
      throw Error(url, "malformed chunked body");
    }
    pos = eol + 2;
    if (size == 0) return in.find("\r\n", pos) != std::string::npos;  // trailers end with an empty line
    if (in.size() < pos + size + 2) return false;
    out->append(in, pos, size);
    pos += size + 2;
  }
}

}  // namespace

HttpUrl parse_http_url(const std::string& url) {
  const std::string scheme = "http://";
  if (url.compare(0, scheme.size(), scheme) != 0) throw Error(url, "not an http:// URL");
  std::string rest = url.substr(scheme.size());
  size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  HttpUrl u;
  u.target = slash == std::string::npos ? "/" : rest.substr(slash);
  if (authority.empty()) throw Error(url, "no host in URL");
  std::string port;
  if (authority[0] == '[') {
    size_t close_b = authority.find(']');
    if (close_b == std::string::npos) throw Error(url, "unterminated [IPv6] host");
    u.host = authority.substr(1, close_b - 1);
    if (close_b + 1 < authority.size()) {
      if (authority[close_b + 1] != ':') throw Error(url, "garbage after [IPv6] host");
      port = authority.substr(close_b + 2);
    }
  } else {
    size_t colon = authority.rfind(':');
    u.host = authority.substr(0, colon);
    if (colon != std::string::npos) port = authority.substr(colon + 1);
  }
  if (!port.empty()) {
    if (port.find_first_not_of("0123456789") != std::string::npos || port.size() > 5)
      throw Error(url, "bad port '" + port + "'");
    u.port = std::stoi(port);
    if (u.port < 1 || u.port > 65535) throw Error(url, "bad port '" + port + "'");
  }
  if (u.host.empty()) throw Error(url, "no host in URL");
  return u;
}

HttpResponse http_request(const std::string& method, const std::string& url, const std::string& body,
                          const std::map<std::string, std::string>& headers, int timeout_ms) {
  HttpUrl u = parse_http_url(url);
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  Fd sock{connect_to(u, url, deadline)};

  std::string host_hdr = u.host.find(':') != std::string::npos ? "[" + u.host + "]" : u.host;
  if (u.port != 80) host_hdr += ":" + std::to_string(u.port);
  std::string req = method + " " + u.target + " HTTP/1.1\r\nHost: " + host_hdr + "\r\nConnection: close\r\n";
  bool has_len = false;
  for (auto& [k, v] : headers) {
    if (lower(k) == "content-length") has_len = true;
    req += k + ": " + v + "\r\n";
  }
  if (!has_len && (method != "GET" || !body.empty())) req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  req += "\r\n" + body;
  send_all(sock.fd, req, url, deadline);

  std::string in;
  HttpResponse resp;
  size_t header_end = std::string::npos;
  long content_length = -1;
  bool chunked = false;
  char buf[16384];
  for (;;) {
    if (header_end != std::string::npos) {
      std::string rest = in.substr(header_end);
      if (chunked) {
        if (dechunk(rest, &resp.body, url)) return resp;
      } else if (content_length >= 0 && rest.size() >= size_t(content_length)) {
        resp.body = rest.substr(0, size_t(content_length));
        return resp;
      } else if (resp.status == 204 || resp.status == 304 || method == "HEAD") {
        return resp;
      }
    }
    pollfd p{sock.fd, POLLIN, 0};
    int pr = poll(&p, 1, ms_left(deadline));
    if (pr == 0) throw Error(url, "timed out after " + std::to_string(timeout_ms) + " ms");
    if (pr < 0) {
      if (errno == EINTR) continue;
      throw Error(url, std::string("poll: ") + strerror(errno));
    }
    ssize_t n = recv(sock.fd, buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      throw Error(url, std::string("recv: ") + strerror(errno));
    }
    if (n == 0) {  // closed by the server
      if (header_end == std::string::npos) throw Error(url, "connection closed before a complete response");
      if (chunked || content_length >= 0) throw Error(url, "connection closed in the middle of the body");
      resp.body = in.substr(header_end);
      return resp;
    }
    in.append(buf, size_t(n));
    if (header_end == std::string::npos) {
      size_t e = in.find("\r\n\r\n");
      if (e == std::string::npos) {
        if (in.size() > 65536) throw Error(url, "response headers too long");
        continue;
      }
      header_end = e + 4;
      std::string head = in.substr(0, e);
      size_t line_end = head.find("\r\n");
      std::string status_line = head.substr(0, line_end);
      // "HTTP/1.1 200 OK"
      if (status_line.compare(0, 5, "HTTP/") != 0 || status_line.size() < 12)
        throw Error(url, "not an HTTP response: '" + status_line.substr(0, 40) + "'");
      try {
        resp.status = std::stoi(status_line.substr(9, 3));
      } catch (...) {
        throw Error(url, "bad status line '" + status_line + "'");
      }
      size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
      while (pos < head.size()) {
        size_t eol = head.find("\r\n", pos);
        if (eol == std::string::npos) eol = head.size();
        std::string line = head.substr(pos, eol - pos);
        pos = eol + 2;
        size_t colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::string name = lower(line.substr(0, colon));
        std::string value = line.substr(colon + 1);
        value.erase(0, value.find_first_not_of(" \t"));
        while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.pop_back();
        resp.headers[name] = value;
      }
      if (auto it = resp.headers.find("transfer-encoding"); it != resp.headers.end())
        chunked = lower(it->second).find("chunked") != std::string::npos;
      if (auto it = resp.headers.find("content-length"); it != resp.headers.end() && !chunked) {
        try {
          content_length = std::stol(it->second);
        } catch (...) {
          throw Error(url, "bad Content-Length '" + it->second + "'");
        }
      }
    }
  }
}

}  // namespace mi::firstboot

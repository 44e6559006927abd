// A small HTTP/1.1 server for the firstboot tests: a thread with a listening socket on
// 127.0.0.1 (ephemeral port) that hands each request to a handler. Used to play the EC2
// IMDSv2 / OpenStack metadata services and to exercise the HTTP client. One request per
// connection, as the client sends "Connection: close".
#pragma once
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

struct FixtureRequest {
  std::string method, target, body;
  std::map<std::string, std::string> headers;  // names lower-cased
};

struct FixtureReply {
  int status = 200;
  std::string body;
  std::map<std::string, std::string> headers;
  bool chunked = false;  // send the body in chunked transfer encoding
  bool hang = false;     // never answer (client timeout tests)
};

class FixtureHttpServer {
 public:
  using Handler = std::function<FixtureReply(const FixtureRequest&)>;
  explicit FixtureHttpServer(Handler h) : handler_(std::move(h)) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd_, 16) != 0)
      throw std::runtime_error("fixture server: bind/listen");
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { loop(); });
  }
  ~FixtureHttpServer() {
    stop_ = true;
    thread_.join();
    close(fd_);
    for (int c : hung_) close(c);
  }
  int port() const { return port_; }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<FixtureRequest> requests() {
    std::lock_guard<std::mutex> g(mu_);
    return seen_;
  }

 private:
  void loop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 20) != 1) continue;  // wake up regularly to notice stop_
      int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      serve(c);
    }
  }
  static std::string lower(std::string s) {
    for (auto& ch : s) ch = char(tolower(static_cast<unsigned char>(ch)));
    return s;
  }
  void serve(int c) {
    std::string in;
    char buf[4096];
    FixtureRequest req;
    size_t he = std::string::npos;
    size_t want = 0;
    while (true) {
      pollfd p{c, POLLIN, 0};
      if (poll(&p, 1, 2000) != 1) {
        close(c);
        return;
      }
      ssize_t n = recv(c, buf, sizeof buf, 0);
      if (n <= 0) {
        close(c);
        return;
      }
      in.append(buf, size_t(n));
      if (he == std::string::npos) {
        size_t e = in.find("\r\n\r\n");
        if (e == std::string::npos) continue;
        he = e + 4;
        std::string head = in.substr(0, e);
        size_t eol = head.find("\r\n");
        std::string line = head.substr(0, eol);
        size_t s1 = line.find(' '), s2 = line.rfind(' ');
        req.method = line.substr(0, s1);
        req.target = line.substr(s1 + 1, s2 - s1 - 1);
        size_t pos = eol == std::string::npos ? head.size() : eol + 2;
        while (pos < head.size()) {
          size_t e2 = head.find("\r\n", pos);
          if (e2 == std::string::npos) e2 = head.size();
          std::string h = head.substr(pos, e2 - pos);
          pos = e2 + 2;
          size_t colon = h.find(':');
          if (colon == std::string::npos) continue;
          std::string v = h.substr(colon + 1);
          v.erase(0, v.find_first_not_of(' '));
          req.headers[lower(h.substr(0, colon))] = v;
        }
        if (req.headers.count("content-length")) want = std::stoul(req.headers["content-length"]);
      }
      if (in.size() >= he + want) break;
    }
    req.body = in.substr(he, want);
    {
      std::lock_guard<std::mutex> g(mu_);
      seen_.push_back(req);
    }
    FixtureReply r = handler_(req);
    if (r.hang) {
      hung_.push_back(c);
      return;
    }
    std::string out = "HTTP/1.1 " + std::to_string(r.status) + " X\r\nConnection: close\r\n";
    for (auto& [k, v] : r.headers) out += k + ": " + v + "\r\n";
    if (r.chunked) {
      out += "Transfer-Encoding: chunked\r\n\r\n";
      for (size_t i = 0; i < r.body.size(); i += 7) {  // small chunks on purpose
        std::string piece = r.body.substr(i, 7);
        char hex[16];
        snprintf(hex, sizeof hex, "%zx", piece.size());
        out += std::string(hex) + "\r\n" + piece + "\r\n";
      }
      out += "0\r\n\r\n";
    } else {
      out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n\r\n" + r.body;
    }
    size_t off = 0;
    while (off < out.size()) {
      ssize_t n = send(c, out.data() + off, out.size() - off, MSG_NOSIGNAL);
      if (n <= 0) break;
      off += size_t(n);
    }
    close(c);
  }

  Handler handler_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::vector<FixtureRequest> seen_;
  std::vector<int> hung_;
};

// A tiny HTTP/1.0 file server for the image tier (the PXE boot's root): GET of the regular files
// directly in one directory, on 127.0.0.1 at an ephemeral port, one thread, one request per
// connection. It records what it sent (bytes and seconds per file) so that a test can report
// the download rate. Not a general server: no ranges, no keep-alive, no subdirectories.
#pragma once
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace mi::test {

class HttpFileServer {
 public:
  struct Sent {
    std::string path;
    uint64_t bytes = 0;
    double seconds = 0;
    int status = 0;
  };

  explicit HttpFileServer(std::string dir) : dir_(std::move(dir)) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd_, 8) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      return;
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~HttpFileServer() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (fd_ >= 0) close(fd_);
  }
  HttpFileServer(const HttpFileServer&) = delete;
  HttpFileServer& operator=(const HttpFileServer&) = delete;

  int port() const { return port_; }  // 0: could not listen
  std::vector<Sent> sent() {
    std::lock_guard<std::mutex> l(mu_);
    return sent_;
  }

 private:
  void serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 200) <= 0) continue;  // wakes to see stop_
      int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      handle(c);
      close(c);
    }
  }

  void handle(int c) {
    std::string req;
    char buf[2048];
    while (req.find("\r\n\r\n") == std::string::npos && req.size() < 8192) {
      pollfd p{c, POLLIN, 0};
      if (poll(&p, 1, 10000) <= 0) return;
      ssize_t n = read(c, buf, sizeof buf);
      if (n <= 0) return;
      req.append(buf, size_t(n));
    }
    Sent s;
    auto start = std::chrono::steady_clock::now();
    std::string path;
    if (req.rfind("GET /", 0) == 0) path = req.substr(5, req.find(' ', 5) - 5);
    s.path = "/" + path;
    int f = -1;
    struct stat st {};
    if (!path.empty() && path.find('/') == std::string::npos && path.find("..") == std::string::npos)
      f = open((dir_ + "/" + path).c_str(), O_RDONLY | O_CLOEXEC);
    if (f < 0 || fstat(f, &st) != 0 || !S_ISREG(st.st_mode)) {
      if (f >= 0) close(f);
      std::string r = "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
      (void)!write(c, r.data(), r.size());
      s.status = 404;
    } else {
      std::string h =
          "HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: " + std::to_string(st.st_size) +
          "\r\nConnection: close\r\n\r\n";
      s.status = write(c, h.data(), h.size()) == ssize_t(h.size()) ? 200 : 500;
      off_t off = 0;
      while (s.status == 200 && off < st.st_size && !stop_) {
        ssize_t n = sendfile(c, f, &off, size_t(st.st_size - off));
        if (n <= 0) break;
      }
      s.bytes = uint64_t(off);
      close(f);
    }
    s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::lock_guard<std::mutex> l(mu_);
    sent_.push_back(s);
  }

  std::string dir_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::vector<Sent> sent_;
};

}  // namespace mi::test

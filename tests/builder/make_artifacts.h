// Test helpers: a real, small .deb (dpkg-deb) and tarball to give a spec as artifacts, and a
// local HTTP server (python3 -m http.server on 127.0.0.1, an ephemeral port) to serve them by url.
#pragma once
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/files.h"
#include "common/process.h"

namespace mi::test {

// A .deb of package `name` 1.0 (architecture all) holding /usr/share/<name>/hello, with the
// given Depends (none when empty); nocheck: let dpkg-deb build a control file it would refuse.
inline void make_deb(const std::string& out, const std::string& name, const std::string& depends = "",
                     bool nocheck = false) {
  std::string root = out + ".root";
  std::filesystem::remove_all(root);
  std::filesystem::create_directories(root + "/DEBIAN");
  std::filesystem::create_directories(root + "/usr/share/" + name);
  write_file_atomic(root + "/DEBIAN/control",
                    "Package: " + name + "\nVersion: 1.0\nArchitecture: all\nMaintainer: t <t@example.org>\n" +
                        (depends.empty() ? "" : "Depends: " + depends + "\n") + "Description: mibuild test artifact\n");
  write_file_atomic(root + "/usr/share/" + name + "/hello", "hello from " + name + "\n");
  std::vector<std::string> argv = {"dpkg-deb", "--root-owner-group", "-Zgzip", "--build", root, out};
  if (nocheck) argv.insert(argv.begin() + 1, "--nocheck");
  run(argv);
  std::filesystem::remove_all(root);
}

// A tarball holding bin/<name> (mode 0755) and etc/<name>.conf.
inline void make_tar(const std::string& out, const std::string& name) {
  std::string root = out + ".root";
  std::filesystem::remove_all(root);
  std::filesystem::create_directories(root + "/bin");
  std::filesystem::create_directories(root + "/etc");
  write_file_atomic(root + "/bin/" + name, "#!/bin/sh\necho " + name + "\n", 0755);
  write_file_atomic(root + "/etc/" + name + ".conf", "x=1\n");
  run({"tar", "-cf", out, "-C", root, "bin", "etc"});
  std::filesystem::remove_all(root);
}

// python3 -m http.server serving `dir` on 127.0.0.1 at a port the kernel picks; stopped (its
// process killed and reaped) by the destructor.
struct HttpServer {
  pid_t pid = -1;
  int port = 0;
  int out_fd = -1;
  explicit HttpServer(const std::string& dir) {
    int out[2];
    if (pipe(out) != 0) throw std::runtime_error("pipe");
    pid = fork();
    if (pid == 0) {
      // stdout: the "Serving HTTP on ... port N" line; stderr (the request log): nowhere.
      dup2(out[1], 1);
      int devnull = open("/dev/null", O_WRONLY);
      dup2(devnull, 2);
      close(out[0]);
      execlp("python3", "python3", "-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory", dir.c_str(),
             (char*)nullptr);
      _exit(127);
    }
    close(out[1]);
    // Wait, with a deadline, for "Serving HTTP on 127.0.0.1 port N".
    std::string text;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (port == 0 && std::chrono::steady_clock::now() < deadline) {
      pollfd p{out[0], POLLIN, 0};
      if (poll(&p, 1, 200) <= 0) continue;
      char buf[256];
      ssize_t n = read(out[0], buf, sizeof buf);
      if (n <= 0) break;
      text.append(buf, size_t(n));
      auto at = text.find(" port ");
      if (at != std::string::npos && text.find(' ', at + 6) != std::string::npos) port = std::stoi(text.substr(at + 6));
    }
    out_fd = out[0];  // kept open until stop(): the server must not get EPIPE on stdout
    if (port == 0) {
      stop();
      throw std::runtime_error("python3 -m http.server did not start within 20 s: " + text);
    }
  }
  ~HttpServer() { stop(); }
  void stop() {
    if (pid > 0) {
      kill(pid, SIGTERM);
      waitpid(pid, nullptr, 0);
      pid = -1;
    }
    if (out_fd >= 0) close(out_fd);
    out_fd = -1;
  }
  std::string url(const std::string& name) const { return "http://127.0.0.1:" + std::to_string(port) + "/" + name; }
};

}  // namespace mi::test

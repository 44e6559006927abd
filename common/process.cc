// posix_spawn + poll based implementation of mi::run: no shell, both pipes drained together
// so a chatty program never blocks, the stderr tail kept for the error message.
#include "common/process.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "common/error.h"
#include "common/strings.h"

extern char** environ;

namespace mi {
namespace {

std::string tail(const std::string& s, size_t n) {
  if (s.size() <= n) return s;
  return "..." + s.substr(s.size() - n);
}

std::string joined(const std::vector<std::string>& argv) { return join(argv, " "); }

// Blocks SIGPIPE in the calling thread for its lifetime; on exit, consumes a SIGPIPE that became
// pending meanwhile (raised by our writes to a closed pipe) and restores the mask.
struct SigpipeGuard {
  bool active = false;
  bool was_pending = false;
  sigset_t old{};
  explicit SigpipeGuard(bool on) : active(on) {
    if (!active) return;
    sigset_t pipe_set, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigpending(&pending);
    was_pending = sigismember(&pending, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
  }
  ~SigpipeGuard() {
    if (!active) return;
    sigset_t pipe_set, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigpending(&pending);
    if (!was_pending && sigismember(&pending, SIGPIPE)) {
      timespec zero{0, 0};
      while (sigtimedwait(&pipe_set, nullptr, &zero) < 0 && errno == EINTR) {
      }
    }
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
  }
  SigpipeGuard(const SigpipeGuard&) = delete;
  SigpipeGuard& operator=(const SigpipeGuard&) = delete;
};

}  // namespace

bool have_program(const std::string& name) {
  if (name.find('/') != std::string::npos) return access(name.c_str(), X_OK) == 0;
  const char* path = getenv("PATH");
  std::string p = path ? path : "/usr/sbin:/usr/bin:/sbin:/bin";
  size_t start = 0;
  while (start <= p.size()) {
    size_t end = p.find(':', start);
    if (end == std::string::npos) end = p.size();
    std::string dir = p.substr(start, end - start);
    if (!dir.empty() && access((dir + "/" + name).c_str(), X_OK) == 0) return true;
    start = end + 1;
  }
  return false;
}

RunResult run(const std::vector<std::string>& argv, const RunOptions& opts) {
  if (argv.empty()) throw Error("run", "empty command");
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC))
    throw Error(argv[0], std::string("pipe: ") + strerror(errno));

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  if (opts.capture_stdout) posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err[1], 2);
  if (!opts.cwd.empty()) posix_spawn_file_actions_addchdir_np(&fa, opts.cwd.c_str());
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);

  std::vector<std::string> envs;
  for (char** e = environ; *e; e++) {
    std::string kv = *e;
    auto k = kv.substr(0, kv.find('='));
    if (!opts.env.count(k)) envs.push_back(kv);
  }
  for (const auto& [k, v] : opts.env) envs.push_back(k + "=" + v);
  std::vector<char*> cargv, cenv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  for (const auto& e : envs) cenv.push_back(const_cast<char*>(e.c_str()));
  cenv.push_back(nullptr);

  pid_t pid;
  int rc = posix_spawnp(&pid, argv[0].c_str(), &fa, &attr, cargv.data(), cenv.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  close(in[0]);
  close(out[1]);
  close(err[1]);
  if (rc != 0) {
    close(in[1]);
    close(out[0]);
    close(err[0]);
    throw Error(argv[0], std::string("cannot start: ") + strerror(rc) + " (is it installed? scripts/setup.sh installs it)");
  }

  RunResult r;
  size_t written = 0;
  int infd = in[1];
  if (opts.input.empty()) { close(infd); infd = -1; }
  else fcntl(infd, F_SETFL, O_NONBLOCK);
  // A child that exits without reading all its input must give us EPIPE, not kill us with
  // SIGPIPE: the signal is blocked in this thread while we write (send(MSG_NOSIGNAL) does not
  // work on a pipe), and one raised by our writes is consumed before the mask is restored.
  SigpipeGuard sigpipe_guard(infd >= 0);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(opts.timeout_seconds);
  bool timed_out = false;
  int outfd = out[0], errfd = err[0];
  if (!opts.capture_stdout) { close(outfd); outfd = -1; }
  while (outfd >= 0 || errfd >= 0 || infd >= 0) {
    pollfd fds[3];
    int n = 0;
    if (outfd >= 0) fds[n++] = {outfd, POLLIN, 0};
    if (errfd >= 0) fds[n++] = {errfd, POLLIN, 0};
    if (infd >= 0) fds[n++] = {infd, POLLOUT, 0};
    int wait_ms = 1000;
    int pr = poll(fds, n, wait_ms);
    if (pr < 0 && errno != EINTR) break;
    if (opts.timeout_seconds > 0 && std::chrono::steady_clock::now() > deadline) {
      kill(-pid, SIGKILL);
      timed_out = true;
      break;
    }
    for (int i = 0; i < n; i++) {
      if (!fds[i].revents) continue;
      if (fds[i].fd == infd) {
        ssize_t w = write(infd, opts.input.data() + written, opts.input.size() - written);
        if (w > 0) written += size_t(w);
        if (w < 0 && errno != EAGAIN && errno != EINTR) {
          r.input_error = std::string("stdin: ") + (errno == EPIPE ? "broken pipe (EPIPE)" : strerror(errno)) +
                          " after " + std::to_string(written) + " of " + std::to_string(opts.input.size()) + " bytes";
          written = opts.input.size();
        }
        if (written >= opts.input.size()) { close(infd); infd = -1; }
        continue;
      }
      char buf[65536];
      ssize_t got = read(fds[i].fd, buf, sizeof buf);
      if (got > 0) {
        (fds[i].fd == outfd ? r.out : r.err).append(buf, size_t(got));
      } else if (got == 0 || (got < 0 && errno != EINTR && errno != EAGAIN)) {
        close(fds[i].fd);
        if (fds[i].fd == outfd) outfd = -1; else errfd = -1;
      }
    }
  }
  for (int fd : {outfd, errfd, infd}) if (fd >= 0) close(fd);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (timed_out) throw Error(argv[0], "timed out after " + std::to_string(opts.timeout_seconds) + " s: " + tail(r.err, 2000));
  if (opts.check && r.exit_code != 0)
    throw Error(argv[0], "`" + tail(joined(argv), 300) + "` failed with exit " + std::to_string(r.exit_code) +
                             (r.input_error.empty() ? "" : " (" + r.input_error + ")") + ":\n" + tail(r.err, 4000));
  return r;
}

}  // namespace mi

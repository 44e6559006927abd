// ProcessRunner: the services as detached child processes, for the cluster tests (nodes in
// network namespaces, no systemd there). Started by Debian's `start-stop-daemon`
// (--background --make-pidfile --output) through mi::run, so that no shell is involved and
// the daemon is reparented away from mi-firstboot; found again later by its pid file.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/error.h"
#include "common/files.h"
#include "common/process.h"
#include "firstboot/service_runner.h"

namespace mi::firstboot {
namespace {

// argv[0] as an absolute, symlink-free path (start-stop-daemon matches /proc/PID/exe).
std::string resolve_program(const std::string& name) {
  std::string found;
  if (name.find('/') != std::string::npos) {
    found = name;
  } else {
    const char* path = getenv("PATH");
    std::stringstream ss(path ? path : "/usr/sbin:/usr/bin:/sbin:/bin");
    std::string dir;
    while (std::getline(ss, dir, ':')) {
      if (!dir.empty() && access((dir + "/" + name).c_str(), X_OK) == 0) {
        found = dir + "/" + name;
        break;
      }
    }
  }
  if (found.empty() || access(found.c_str(), X_OK) != 0) return "";
  std::error_code ec;
  auto canon = std::filesystem::canonical(found, ec);
  return ec ? found : canon.string();
}

// The process's argv[0] basename and whether it is a zombie; "" when gone.
std::string proc_program(pid_t pid) {
  std::ifstream st("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(st, line)) return "";
  auto rp = line.rfind(')');
  if (rp != std::string::npos && rp + 2 < line.size() && line[rp + 2] == 'Z') return "";
  std::ifstream cl("/proc/" + std::to_string(pid) + "/cmdline");
  std::string argv0;
  std::getline(cl, argv0, '\0');
  return std::filesystem::path(argv0).filename().string();
}

struct ProcessRunner : ServiceRunner {
  std::string dir;
  explicit ProcessRunner(std::string d) : dir(std::move(d)) {}

  std::string pid_file(const std::string& name) const { return dir + "/" + name + ".pid"; }
  std::string prog_file(const std::string& name) const { return dir + "/" + name + ".program"; }
  std::string log_file(const ServiceSpec& s) const {
    return s.log_file.empty() ? dir + "/" + s.name + ".log" : s.log_file;
  }

  const char* kind() const override { return "process"; }

  bool available(const ServiceSpec& s) override { return !s.argv.empty() && !resolve_program(s.argv[0]).empty(); }

  pid_t pid_of(const std::string& name) const {
    std::ifstream f(pid_file(name));
    long pid = 0;
    if (!(f >> pid) || pid <= 1) return 0;
    return pid_t(pid);
  }

  bool running(const std::string& name) override {
    pid_t pid = pid_of(name);
    if (pid == 0) return false;
    std::string expected;
    std::ifstream pf(prog_file(name));
    std::getline(pf, expected);
    std::string actual = proc_program(pid);
    if (actual.empty()) return false;
    return expected.empty() || actual == expected;
  }

  void prepare(const std::vector<ServiceSpec>&) override {}  // nothing to register

  void start(const ServiceSpec& s, bool restart) override {
    if (s.argv.empty()) throw Error(s.name, "no command to start as a process");
    bool up = running(s.name);
    if (up && !restart) return;
    if (up) stop(s.name);
    std::string exe = resolve_program(s.argv[0]);
    if (exe.empty()) throw Error(s.name, "program '" + s.argv[0] + "' not found (scripts/setup.sh installs it)");
    std::filesystem::create_directories(dir);
    auto log = log_file(s);
    std::filesystem::create_directories(std::filesystem::path(log).parent_path());
    write_file_atomic(prog_file(s.name), std::filesystem::path(s.argv[0]).filename().string() + "\n");
    std::vector<std::string> argv = {"start-stop-daemon",
                                     "--start",
                                     "--oknodo",
                                     "--background",
                                     "--make-pidfile",
                                     "--pidfile",
                                     pid_file(s.name),
                                     "--output",
                                     log,
                                     "--exec",
                                     exe};
    if (!s.working_dir.empty()) {
      argv.push_back("--chdir");
      argv.push_back(s.working_dir);
    }
    argv.push_back("--");
    argv.insert(argv.end(), s.argv.begin() + 1, s.argv.end());
    RunOptions o;
    o.env = s.env;
    o.timeout_seconds = 30;
    run(argv, o);
    // start-stop-daemon may return before its child wrote the pid file: wait for the
    // process to show up, then make sure it did not die at once (bad configuration), which
    // otherwise shows up only as a later timeout.
    auto now = [] { return std::chrono::steady_clock::now(); };
    auto appear_until = now() + std::chrono::seconds(5);
    while (!running(s.name) && now() < appear_until) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    auto alive_until = now() + std::chrono::milliseconds(500);
    while (running(s.name) && now() < alive_until) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (!running(s.name)) {
      std::string tail;
      try {
        tail = read_file(log);
      } catch (const Error&) {
      }
      if (tail.size() > 2000) tail = "..." + tail.substr(tail.size() - 2000);
      throw Error(s.name, "exited right after start; log " + log + ":\n" + tail);
    }
  }

  void stop(const std::string& name) override {
    if (!running(name)) {
      std::filesystem::remove(pid_file(name));
      return;
    }
    run({"start-stop-daemon", "--stop", "--oknodo", "--pidfile", pid_file(name), "--retry", "TERM/20/KILL/5",
         "--remove-pidfile"},
        {.timeout_seconds = 40});
  }

  std::string describe(const ServiceSpec& s) override {
    std::string cmd;
    for (const auto& a : s.argv) cmd += (cmd.empty() ? "" : " ") + a;
    return "process " + s.name + ": " + cmd + " (pid file " + pid_file(s.name) + ", log " + log_file(s) + ")";
  }
};

}  // namespace

std::unique_ptr<ServiceRunner> make_process_runner(const std::string& run_dir) {
  return std::make_unique<ProcessRunner>(run_dir);
}

std::unique_ptr<ServiceRunner> make_runner(const std::string& kind, const std::string& run_dir) {
  if (kind == "process") return make_process_runner(run_dir);
  if (kind == "systemd") return make_systemd_runner();
  throw Error("--runner", "unknown runner '" + kind + "' (expected systemd or process)");
}

}  // namespace mi::firstboot

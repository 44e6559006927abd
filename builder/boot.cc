// `mibuild boot`: QEMU under TCG with OVMF (UEFI) or SeaBIOS (BIOS). A check runs QEMU (through mi::run, on a thread)
// with the serial port written to a log, watches the log for the image's `mi-status:` lines
// until "ready"/"degraded" or the deadline, then quits QEMU through its monitor socket.
// Interactive use execs QEMU so that it owns this terminal (mi::run gives children a pipe).
#include "builder/boot.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "common/error.h"
#include "common/process.h"
#include "common/strings.h"

namespace fs = std::filesystem;

namespace mi {
namespace {

constexpr const char* kOvmfCode = "/usr/share/OVMF/OVMF_CODE_4M.fd";
constexpr const char* kOvmfVars = "/usr/share/OVMF/OVMF_VARS_4M.fd";
constexpr const char* kKernelPanic = "Kernel panic - not syncing";

std::string image_format(const std::string& image) {
  auto r = run({"qemu-img", "info", "--output=json", "-U", image});
  auto j = nlohmann::json::parse(r.out);
  return j.value("format", "raw");
}

std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// Asks QEMU to quit through its human monitor on a unix socket, and waits (up to 20 s) for QEMU
// to close the connection, i.e. to exit: closing our end right after writing would drop the command.
bool monitor_quit(const std::string& sock) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  strncpy(a.sun_path, sock.c_str(), sizeof a.sun_path - 1);
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  if (ok) ok = write(fd, "quit\n", 5) == 5;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (ok && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 1000) <= 0) continue;
    char buf[512];
    if (read(fd, buf, sizeof buf) <= 0) break;  // EOF: QEMU is gone
  }
  close(fd);
  return ok;
}

void check_firmware(const BootOptions& o) {
  if (o.firmware != "uefi" && o.firmware != "bios")
    throw Error("boot", "unknown firmware '" + o.firmware + "' (uefi | bios)");
  if (o.firmware == "uefi")
    for (const char* f : {kOvmfCode, kOvmfVars})
      if (!fs::exists(f)) throw Error(f, "OVMF firmware not found (package ovmf)");
  if (o.firmware == "bios" && !fs::exists("/usr/share/seabios/bios-256k.bin"))
    throw Error("/usr/share/seabios/bios-256k.bin", "SeaBIOS not found (package seabios)");
  if (!o.tftp_dir.empty()) {
    if (!fs::exists(o.tftp_dir + "/" + o.boot_file)) throw Error(o.tftp_dir + "/" + o.boot_file, "boot file not found");
    return;
  }
  if (!fs::exists(o.image)) throw Error(o.image, "image not found");
}

// User-mode networking: restricted (the guest gets DHCP from QEMU but reaches nothing outside
// this VM), except for a network boot, which needs the host (10.0.2.2: the HTTP server of the
// root) and QEMU's TFTP server. Each host forward is checked against hostfwd's own grammar, and
// the TFTP paths hold no comma, so no value can add another option to the netdev.
std::string user_netdev(const BootOptions& o) {
  for (const auto& v : {o.tftp_dir, o.boot_file})
    if (v.find(',') != std::string::npos) throw Error(v, "a network boot path must not contain a comma");
  std::string nd = o.tftp_dir.empty() ? "user,id=n0,restrict=on"
                                      : "user,id=n0,tftp=" + o.tftp_dir + ",bootfile=" + o.boot_file;
  for (const auto& f : o.host_forwards) {
    bool ok = !f.empty() && std::all_of(f.begin(), f.end(), [](unsigned char c) {
      return std::isalnum(c) || c == '.' || c == ':' || c == '-';
    });
    if (!ok) throw Error("host forward", "'" + f + "' is not a hostfwd rule like tcp:127.0.0.1:2222-:22");
    nd += ",hostfwd=" + f;
  }
  return nd;
}

}  // namespace

std::vector<std::string> qemu_argv(const BootOptions& o, const std::string& fmt, const std::string& vars,
                                   const std::string& console_log, const std::string& monitor) {
  bool check = !monitor.empty();
  std::vector<std::string> a = {
      "qemu-system-x86_64",  "-accel", "tcg", "-machine", "q35", "-m", std::to_string(o.memory_mb), "-smp",
      std::to_string(o.cpus)};
  if (o.firmware == "uefi")
    a.insert(a.end(), {"-drive", "if=pflash,format=raw,unit=0,readonly=on,file=" + std::string(kOvmfCode), "-drive",
                       "if=pflash,format=raw,unit=1,file=" + vars});
  // Without pflash QEMU boots its default firmware, SeaBIOS (BIOS).
  if (o.cdrom)  // on q35's AHCI; read-only media, so no snapshot is needed
    a.insert(a.end(), {"-drive", "if=none,id=cd0,media=cdrom,readonly=on,format=" + fmt + ",file=" + o.image, "-device",
                       "ide-cd,drive=cd0,bootindex=0"});
  else if (o.tftp_dir.empty())
    a.insert(a.end(), {"-drive", "if=virtio,format=" + fmt + ",file=" + o.image + (check ? ",snapshot=on" : "")});
  for (const auto& d : o.drives) a.insert(a.end(), {"-drive", "if=virtio,format=raw,readonly=on,file=" + d});
  a.insert(a.end(), {"-netdev", user_netdev(o), "-device", "virtio-net-pci,netdev=n0", "-no-reboot"});
  if (!o.tftp_dir.empty()) a.insert(a.end(), {"-boot", "n"});
  if (check) {
    a.insert(a.end(), {"-display", "none", "-serial", "file:" + console_log, "-monitor",
                       "unix:" + monitor + ",server=on,wait=off"});
  } else {
    a.insert(a.end(), {"-nographic", "-serial", "mon:stdio"});
  }
  return a;
}

BootCheck evaluate_console(const std::string& console, const std::vector<std::string>& expect) {
  BootCheck c;
  std::map<std::string, std::string> kv;
  bool degraded = false;
  std::istringstream in(console);
  for (std::string line; std::getline(in, line);) {
    if (auto q = line.find("mi-cluster: "); q != std::string::npos) {
      std::string s = line.substr(q + 12);
      while (!s.empty() && (s.back() == '\r' || s.back() == ' ')) s.pop_back();
      if (s == "formed") c.cluster_formed = true;
      c.cluster_lines.push_back(s);
      if (auto eq = s.find('='); eq != std::string::npos) c.cluster[s.substr(0, eq)] = s.substr(eq + 1);
      continue;
    }
    auto p = line.find("mi-status: ");
    if (p == std::string::npos) continue;
    std::string s = line.substr(p + 11);
    while (!s.empty() && (s.back() == '\r' || s.back() == ' ' || s.back() == '\n')) s.pop_back();
    c.status_lines.push_back(s);
    if (s == "ready") c.reached_ready = true;
    if (s == "degraded") degraded = true;
    auto eq = s.find('=');
    if (eq != std::string::npos) kv[s.substr(0, eq)] = s.substr(eq + 1);
  }
  if (auto p = console.find(kKernelPanic); p != std::string::npos)
    c.failures.push_back("the kernel panicked: " + console.substr(p, console.find('\n', p) - p));
  if (c.status_lines.empty())
    c.failures.push_back("no mi-status lines on the console (is mi-console-status.service in the image?)");
  if (degraded)
    c.failures.push_back("the image reported itself degraded");
  else if (!c.reached_ready && !c.status_lines.empty())
    c.failures.push_back("no 'mi-status: ready' line");
  std::vector<std::string> want = {"root=ro", "var=rw", "multi-user=active"};
  want.insert(want.end(), expect.begin(), expect.end());
  for (const auto& w : want) {
    auto eq = w.find('=');
    std::string k = w.substr(0, eq), v = eq == std::string::npos ? "" : w.substr(eq + 1);
    auto it = kv.find(k);
    if (it == kv.end())
      c.failures.push_back("no status for " + k + " (want " + w + ")");
    else if (!version_matches(it->second, v))
      c.failures.push_back(k + "=" + it->second + ", want " + w);
  }
  for (const auto& [k, v] : kv)
    if (v == "broken") c.failures.push_back(k + " is installed but does not run");
  // mi-cluster-status's `<service>-start=` lines: how this boot started the service (from the
  // unit mi-firstboot generated, after its configuration was written) or that it did not.
  for (const auto& [k, v] : c.cluster)
    if (k.size() > 6 && k.compare(k.size() - 6, 6, "-start") == 0 && v.rfind("after-config", 0) != 0 &&
        v != "not-started")
      c.failures.push_back(k + "=" + v + ": the service did not start from mi-firstboot's configuration");
  c.passed = c.reached_ready && c.failures.empty();
  return c;
}

std::string cluster_summary(const BootCheck& c) {
  auto get = [&](const std::string& k) {
    auto it = c.cluster.find(k);
    return it == c.cluster.end() ? std::string("?") : it->second;
  };
  if (!c.cluster_formed) {
    std::string last = c.cluster_lines.empty() ? "no mi-cluster lines on the console" : c.cluster_lines.back();
    return "cluster not formed: " + last;
  }
  std::string members = get("consul-members");
  std::string s = "cluster formed: " + get("role") + " node " + get("node") + " at " + get("address") +
                  "; Consul leader " + get("consul-leader") + ", " + members +
                  (members == "1" ? " member" : " members");
  if (c.cluster.count("zookeeper-mode")) s += "; ZooKeeper " + get("zookeeper-mode");
  if (c.cluster.count("zookeeper-dns")) s += "; zookeeper.service.consul -> " + get("zookeeper-dns");
  return s;
}

BootCheck boot_check(const BootOptions& o) {
  check_firmware(o);
  std::string fmt = o.tftp_dir.empty() ? image_format(o.image) : "";
  char tmpl[] = "/tmp/mi-boot.XXXXXX";
  if (!mkdtemp(tmpl)) throw Error("boot", std::string("mkdtemp: ") + strerror(errno));
  std::string dir = tmpl;
  std::string vars = dir + "/OVMF_VARS.fd", monitor = dir + "/monitor.sock";
  if (o.firmware == "uefi") fs::copy_file(kOvmfVars, vars);
  std::string log = !o.console_log.empty() ? o.console_log
                    : o.tftp_dir.empty()   ? o.image + ".console.log"
                                           : o.tftp_dir + ".console.log";
  fs::remove(log);

  RunResult qr;
  std::string qerr;
  std::atomic<bool> qemu_done{false};
  std::thread qemu([&] {
    RunOptions ro;
    ro.check = false;
    ro.timeout_seconds = o.timeout_s + 120;  // backstop; the watcher below quits it first
    try {
      qr = run(qemu_argv(o, fmt, vars, log, monitor), ro);
    } catch (const Error& e) {
      qerr = e.what();
    }
    qemu_done = true;
  });

  // Watch the console until the image says ready/degraded, QEMU exits, or the deadline passes.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(o.timeout_s);
  std::string console;
  bool timed_out = false;
  auto finished = [&](const std::string& con) {
    if (con.find(kKernelPanic) != std::string::npos) return true;  // nothing more will come
    bool status =
        con.find("mi-status: ready") != std::string::npos || con.find("mi-status: degraded") != std::string::npos;
    if (!status) return false;
    if (con.find("mi-status: degraded") != std::string::npos || !o.wait_cluster) return true;
    // A failed run is not the end: systemd restarts mi-firstboot, which resumes.
    return con.find("mi-cluster: formed") != std::string::npos;
  };
  for (;;) {
    console = read_all(log);
    if (finished(console)) break;
    if (qemu_done) break;
    if (std::chrono::steady_clock::now() > deadline) {
      timed_out = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // polling interval, not synchronisation
  }
  std::vector<std::string> visitor_failures;
  if (!qemu_done && !timed_out && o.while_running && console.find("mi-status: ready") != std::string::npos) try {
      visitor_failures = o.while_running();
    } catch (const Error& e) {  // reported with the check's failures; the VM is still powered off
      visitor_failures.push_back(e.what());
    }
  // Power off. "ready"/"degraded" is the script's last line, so the log is complete.
  if (!qemu_done) monitor_quit(monitor);
  qemu.join();
  if (qemu_done && qerr.empty() && qr.exit_code != 0 && !timed_out)
    qerr = "exit " + std::to_string(qr.exit_code) + ": " + qr.err.substr(0, 2000);
  console = read_all(log);

  BootCheck c = evaluate_console(console, o.expect);
  c.console_log = log;
  if (o.wait_cluster && !c.cluster_formed)
    c.failures.push_back(c.cluster_lines.empty() ? "no mi-cluster lines (is mi-cluster-status.service in the image?)"
                                                 : "cluster not formed; last: " + c.cluster_lines.back());
  if (timed_out) c.failures.insert(c.failures.begin(), "deadline of " + std::to_string(o.timeout_s) + " s passed");
  if (!qerr.empty()) c.failures.push_back("qemu: " + qerr);
  c.failures.insert(c.failures.end(), visitor_failures.begin(), visitor_failures.end());
  if (!c.failures.empty()) c.passed = false;
  fs::remove_all(dir);
  return c;
}

int boot_image(const BootOptions& o) {
  if (!o.check) {
    check_firmware(o);
    std::string fmt = image_format(o.image);
    // The image's own UEFI variable store lives next to it, like a VM's NVRAM.
    std::string vars = o.image + ".OVMF_VARS.fd";
    if (o.firmware == "uefi" && !fs::exists(vars)) fs::copy_file(kOvmfVars, vars);
    auto argv = qemu_argv(o, fmt, vars, "", "");
    std::vector<char*> c;
    for (auto& s : argv) c.push_back(s.data());
    c.push_back(nullptr);
    std::cerr << "mibuild: booting " << o.image << " (serial console here; Ctrl-a x quits)" << std::endl;
    execvp(c[0], c.data());
    throw Error("qemu-system-x86_64", std::string("cannot start: ") + strerror(errno));
  }
  std::cerr << "mibuild: booting " << o.image << " under QEMU/TCG with " << (o.firmware == "uefi" ? "OVMF" : "SeaBIOS")
            << ", up to " << o.timeout_s << " s" << (o.wait_cluster ? ", until its cluster has formed" : "")
            << std::endl;
  BootCheck c = boot_check(o);
  for (const auto& l : c.status_lines) std::cout << "  " << l << "\n";
  for (const auto& l : c.cluster_lines) std::cout << "  cluster: " << l << "\n";
  for (const auto& f : c.failures) std::cout << "FAIL: " << f << "\n";
  std::cout << (c.passed ? "boot check passed" : "boot check FAILED") << " (console: " << c.console_log << ")"
            << std::endl;
  // Last, so that it is the line a user reads.
  if (o.wait_cluster) std::cout << cluster_summary(c) << std::endl;
  return c.passed ? 0 : 1;
}

}  // namespace mi

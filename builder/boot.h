// `mibuild boot`: runs a built image under QEMU (TCG, virtio disk or CD-ROM, user-mode networking) with
// OVMF (UEFI) or SeaBIOS (BIOS), either interactively (serial console on this terminal) or as a check that watches the
// serial console for the image's `mi-status:` lines and powers the VM off.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace mi {

struct BootOptions {
  std::string image;              // .raw or .qcow2 (format from qemu-img info); a check never modifies it (snapshot)
  std::string firmware = "uefi";  // "uefi" (OVMF) | "bios" (SeaBIOS)
  int memory_mb = 2048;
  int cpus = 2;
  bool check = false;       // headless; wait for the mi-status lines, then kill QEMU
  int timeout_s = 900;      // check: deadline for "mi-status: ready"
  std::string console_log;  // check: where the serial console is saved (default: <image>.console.log)
  // check: status values that must be seen besides the defaults (root=ro, var=rw,
  // multi-user=active, ready), e.g. "consul=1.8.7", "zookeeper=3.8" (a version matches its prefix).
  std::vector<std::string> expect;
  // check: also wait for `mi-cluster: formed` (mi-cluster-status: first boot done, a Consul
  // leader, ZooKeeper serving) and report the cluster in one line.
  bool wait_cluster = true;
  std::vector<std::string> drives;  // extra read-only raw drives, e.g. a NoCloud seed (`mibuild seed`)
  bool cdrom = false;  // the image is a CD-ROM (an .iso, `mibuild build -f iso`) and boots as one
  // User-mode network port forwards from this host into the VM, as QEMU's hostfwd takes them:
  // "tcp:127.0.0.1:2222-:22".
  std::vector<std::string> host_forwards;
  // check: run once the console checks have passed, before the VM is powered off (to log in
  // over a forwarded port, say); what it returns is added to the check's failures.
  std::function<std::vector<std::string>()> while_running;
  // Network boot instead of `image` (which stays empty): `-boot n`, the NIC's iPXE ROM gets
  // `boot_file` from QEMU's user-net TFTP server, which serves `tftp_dir` (a PXE bundle,
  // pxe_bundle.h). The guest may then reach the host as 10.0.2.2 (HTTP for the root).
  std::string tftp_dir;
  std::string boot_file;
};

// What a check saw on the console.
struct BootCheck {
  bool reached_ready = false;                  // "mi-status: ready" seen
  bool passed = false;                         // ready + every status line ok
  std::vector<std::string> status_lines;       // "root=ro", "var=rw", "consul=1.8.7", ...
  std::vector<std::string> failures;           // human-readable reasons
  std::string console_log;                     // path of the saved console
  bool cluster_formed = false;                 // "mi-cluster: formed" seen
  std::vector<std::string> cluster_lines;      // "role=all-in-one", "consul-leader=10.0.2.15", ...
  std::map<std::string, std::string> cluster;  // the same as key → value
};

// One line a person reads: "cluster formed: all-in-one node all-in-one-3f9a1c at 10.0.2.15;
// Consul leader 10.0.2.15, 1 member; ZooKeeper standalone; zookeeper.service.consul -> 10.0.2.15".
std::string cluster_summary(const BootCheck& c);

// Runs the image. Interactive: returns QEMU's exit status. Check: prints what it saw and
// returns 0 when every check passed, else 1. Throws mi::Error for set-up problems.
int boot_image(const BootOptions& opts);

// The check itself, for tests that want the details.
BootCheck boot_check(const BootOptions& opts);

// Parses the `mi-status: key=value` lines of a console log and decides pass/fail (pure).
BootCheck evaluate_console(const std::string& console, const std::vector<std::string>& expect = {});

// The QEMU argv for `opts` (vars: the writable OVMF variable store; monitor: a unix socket path
// for the check to quit QEMU through, empty for interactive use).
std::vector<std::string> qemu_argv(const BootOptions& opts, const std::string& image_format, const std::string& vars,
                                   const std::string& console_log, const std::string& monitor);

}  // namespace mi

// `mibuild boot`: runs a built image under QEMU (TCG, virtio disk, user-mode networking) with
// OVMF, either interactively (serial console on this terminal) or as a check that watches the
// serial console for the image's `mi-status:` lines and powers the VM off.
#pragma once
#include <string>
#include <vector>

namespace mi {

struct BootOptions {
  std::string image;              // .raw or .qcow2 (format from qemu-img info); never modified (snapshot)
  std::string firmware = "uefi";  // "uefi" | "bios" (bios: not supported yet)
  int memory_mb = 2048;
  int cpus = 2;
  bool check = false;             // headless; wait for the mi-status lines, then kill QEMU
  int timeout_s = 900;            // check: deadline for "mi-status: ready"
  std::string console_log;        // check: where the serial console is saved (default: <image>.console.log)
};

// What a check saw on the console.
struct BootCheck {
  bool reached_ready = false;              // "mi-status: ready" seen
  bool passed = false;                     // ready + every status line ok
  std::vector<std::string> status_lines;   // "root=ro", "var=rw", "consul=1.8.7", ...
  std::vector<std::string> failures;       // human-readable reasons
  std::string console_log;                 // path of the saved console
};

// Runs the image. Interactive: returns QEMU's exit status. Check: prints what it saw and
// returns 0 when every check passed, else 1. Throws mi::Error for set-up problems.
int boot_image(const BootOptions& opts);

// The check itself, for tests that want the details.
BootCheck boot_check(const BootOptions& opts);

// Parses the `mi-status: key=value` lines of a console log and decides pass/fail (pure).
BootCheck evaluate_console(const std::string& console);

}  // namespace mi

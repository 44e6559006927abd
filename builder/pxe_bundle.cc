// The PXE bundle writer: the three boot texts (an iPXE script, pxelinux.cfg/default and a
// dnsmasq example) made from one list of kernel arguments, the image's files linked or copied
// beside them, SHA256SUMS over all of it, every mtime at SOURCE_DATE_EPOCH, and the directory
// committed by one rename (an older bundle swapped out whole, then removed).
#include "builder/pxe_bundle.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "common/digest.h"
#include "common/error.h"
#include "common/files.h"

namespace fs = std::filesystem;

namespace mi {
namespace {

constexpr const char* kRoot = "root.erofs";
constexpr const char* kVarSeed = "var-seed.cpio.gz";
// Where a fleet secret given as an initrd lands (through the /var seed's copy, docs/pxe.md).
constexpr const char* kSecretFile = "/var/lib/mi/fleet-secret";

// Characters that mean nothing to iPXE (`${`), pxelinux, a kernel command line (spaces,
// quotes) or a shell: the URL and the arguments are pasted into all three.
bool plain_chars(const std::string& s, const std::string& extra) {
  return std::all_of(s.begin(), s.end(),
                     [&](unsigned char c) { return std::isalnum(c) || extra.find(char(c)) != std::string::npos; });
}

std::string bundle_dir_name(const PxeBundleRequest& r) { return r.name + ".pxe"; }

// "mi-all-in-one" → "mi": the other roles' bundles are "<this>-control.pxe", ...
std::string spec_part(const PxeBundleRequest& r) {
  const std::string suffix = "-" + r.role;
  if (r.name.size() > suffix.size() && r.name.compare(r.name.size() - suffix.size(), suffix.size(), suffix) == 0)
    return r.name.substr(0, r.name.size() - suffix.size());
  return r.name;
}

void fsync_file(const std::string& path) {
  UniqueFd f(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (f.fd < 0) throw Error(path, std::string("open: ") + strerror(errno));
  fsync_or_throw(f.fd, path);
}

// The base URL the boot texts use for the root: the given one, else `dflt`.
std::string base_url(const PxeBundleRequest& r, const std::string& dflt) {
  if (r.url.empty()) return dflt;
  return r.url.back() == '/' ? r.url : r.url + "/";
}

void set_mtime(const std::string& path, uint64_t epoch) {
  timespec t[2] = {{time_t(epoch), 0}, {time_t(epoch), 0}};
  if (utimensat(AT_FDCWD, path.c_str(), t, AT_SYMLINK_NOFOLLOW) != 0)
    throw Error(path, std::string("cannot set its time: ") + strerror(errno));
}

// A hard link when the work directory shares the file system (the erofs is large), else a copy.
void link_or_copy(const std::string& from, const std::string& to) {
  if (!fs::is_regular_file(from)) throw Error(from, "missing (an input of the pxe bundle)");
  std::error_code ec;
  fs::create_hard_link(from, to, ec);
  if (ec) fs::copy_file(from, to);
}

// Temporaries "<out>/.<name>.pxe.tmp.<pid>" of builds that no longer run.
void remove_stale_bundles(const std::string& out_dir, const std::string& dir_name) {
  const std::string prefix = "." + dir_name + ".tmp.";
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(out_dir, ec)) {
    std::string n = e.path().filename();
    if (n.rfind(prefix, 0) != 0) continue;
    std::string pid = n.substr(prefix.size());
    if (pid.empty() || pid.size() > 10 || pid.find_first_not_of("0123456789") != std::string::npos) continue;
    if (std::stol(pid) == long(getpid())) continue;
    if (kill(pid_t(std::stol(pid)), 0) == 0 || errno == EPERM) continue;  // a live build's
    fs::remove_all(e.path(), ec);
  }
}

}  // namespace

std::string pxe_url_error(const std::string& url) {
  const std::string want =
      "expected http://HOST[:PORT]/PATH/ where the bundle directory is served (plain HTTP: the initramfs's busybox "
      "wget has no TLS; letters, digits and . - _ ~ / only)";
  if (url.rfind("http://", 0) != 0) return "--pxe-url '" + url + "': " + want;
  std::string rest = url.substr(7);
  size_t slash = rest.find('/');
  std::string host = rest.substr(0, slash);
  std::string port;
  if (auto colon = host.find(':'); colon != std::string::npos) {
    port = host.substr(colon + 1);
    host = host.substr(0, colon);
    if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
        std::stoul(port) == 0 || std::stoul(port) > 65535)
      return "--pxe-url '" + url + "': bad port '" + port + "'; " + want;
  }
  if (host.empty() || !plain_chars(host, ".-") || host.front() == '.' || host.front() == '-')
    return "--pxe-url '" + url + "': bad host '" + host + "'; " + want;
  std::string path = slash == std::string::npos ? "/" : rest.substr(slash);
  if (!plain_chars(path, ".-_~/") || path.find("..") != std::string::npos)
    return "--pxe-url '" + url + "': bad path '" + path + "'; " + want;
  return "";
}

std::string pxe_kernel_args(const PxeBundleRequest& req, const std::string& root_url, const std::string& root_sha256) {
  std::string s = "boot=mi-live mi.live.root=" + root_url + " mi.live.sha256=" + root_sha256 +
                  // DHCP in the initramfs; systemd ignores the disk's /etc/fstab (no disk).
                  " ip=dhcp fstab=no ro mi.role=" + req.role;
  for (const auto& a : req.cluster_args) s += " " + a;
  return s + " console=tty0 console=ttyS0,115200";
}

std::string pxe_ipxe_script(const PxeBundleRequest& req, const std::string& root_sha256) {
  const std::string root = std::string("${mi-url}") + kRoot, seed = kVarSeed;
  std::string s = "#!ipxe\n";
  s += "# mibuild: network boot of " + req.name + " (role " + req.role + "), docs/pxe.md.\n";
  s += "# vmlinuz, initrd and the /var seed come from where this script came from (TFTP or HTTP);\n";
  s += "# the initramfs fetches the root over HTTP from " + root + " and checks its sha256.\n";
  s += "# Set mi-url (and mi-args, more kernel arguments) before chaining this script to override.\n";
  s += "isset ${mi-url} || set mi-url " + base_url(req, "http://${next-server}/" + bundle_dir_name(req) + "/") + "\n";
  s += "# The fleet's secret, a third initrd holding mi-live/var/lib/mi/fleet-secret (0600): set\n";
  s += "# mi-secret to its URL before chaining; only its path is on the kernel line.\n";
  s += "isset ${mi-secret} && set mi-secret-args initrd=mi-secret mi.secret_file=" + std::string(kSecretFile) +
       " || clear mi-secret-args\n";
  s += "echo mi: booting " + req.name + " (" + req.role + "), root " + root + "\n";
  s += "kernel vmlinuz initrd=initrd initrd=" + seed + " ${mi-secret-args} " + pxe_kernel_args(req, root, root_sha256) +
       " ${mi-args}\n";
  s += "initrd initrd\n";
  s += "initrd " + seed + "\n";
  s += "isset ${mi-secret} && initrd --name mi-secret ${mi-secret} ||\n";
  s += "boot\n";
  return s;
}

std::string pxe_pxelinux_cfg(const PxeBundleRequest& req, const std::string& root_sha256) {
  const std::string dir = bundle_dir_name(req);
  std::string note = req.url.empty()
                         ? "# Built without --pxe-url: replace PXE-SERVER below with the HTTP server that serves the\n"
                           "# directory holding " +
                               dir + "/ (pxelinux has no variable for it).\n"
                         : "";
  // pxelinux's paths are relative to the TFTP root, where the bundle is the directory `dir`.
  return "# mibuild: network boot of " + req.name + " (role " + req.role + ") by pxelinux, docs/pxe.md.\n" + note +
         "# One menu entry per bundle: add the other roles' LABEL blocks (their pxelinux.cfg/default) for a menu.\n"
         "SERIAL 0 115200\n"
         "DEFAULT " +
         req.name +
         "\n"
         "PROMPT 0\n"
         "TIMEOUT 50\n"
         "LABEL " +
         req.name +
         "\n"
         "  MENU LABEL " +
         req.name + " (" + req.role +
         ")\n"
         "  KERNEL " +
         dir +
         "/vmlinuz\n"
         "  INITRD " +
         dir + "/initrd," + dir + "/" + kVarSeed +
         "\n"
         "  APPEND " +
         pxe_kernel_args(req, base_url(req, "http://PXE-SERVER/" + dir + "/") + kRoot, root_sha256) +
         "\n"
         "  IPAPPEND 2\n";
}

std::string pxe_dnsmasq_example(const PxeBundleRequest& req) {
  const std::string dir = bundle_dir_name(req), spec = spec_part(req);
  return "# mibuild: dnsmasq for a bare-metal fleet booting mibuild's PXE bundles (docs/pxe.md).\n"
         "# TFTP serves /srv/mi, the build's OUTDIR holding one <spec>-<role>.pxe/ directory per role;\n"
         "# dnsmasq serves no HTTP: serve the same directory over HTTP on this host (the root is fetched\n"
         "# from there by the initramfs), e.g.  python3 -m http.server 80 --directory /srv/mi\n"
         "# or an nginx/lighttpd location. Build with --pxe-url http://THIS-HOST/ to name it in the\n"
         "# pxelinux entries; the iPXE scripts default to http://${next-server}/<bundle>/.\n"
         "\n"
         "interface=eth1\n"
         "dhcp-range=192.168.77.100,192.168.77.199,12h\n"
         "enable-tftp\n"
         "tftp-root=/srv/mi\n"
         "\n"
         "# Firmware that is not iPXE gets iPXE first (Debian: package ipxe), which asks again (option 175).\n"
         "dhcp-match=set:ipxe,175\n"
         "dhcp-match=set:efi64,option:client-arch,7\n"
         "dhcp-match=set:efi64,option:client-arch,9\n"
         "dhcp-boot=tag:!ipxe,tag:!efi64,undionly.kpxe\n"
         "dhcp-boot=tag:!ipxe,tag:efi64,ipxe.efi\n"
         "\n"
         "# Role per MAC: tag each machine, then give each tag its role's bundle. With a fleet secret,\n"
         "# point these at your own scripts that `set mi-secret URL` and chain the bundle's (docs/pxe.md).\n"
         "dhcp-host=52:54:00:00:01:01,set:control\n"
         "dhcp-host=52:54:00:00:01:02,set:control\n"
         "dhcp-host=52:54:00:00:01:03,set:control\n"
         "dhcp-host=52:54:00:00:02:01,set:compute\n"
         "dhcp-boot=tag:ipxe,tag:control," +
         spec + "-control.pxe/" + spec +
         "-control.ipxe\n"
         "dhcp-boot=tag:ipxe,tag:compute," +
         spec + "-compute.pxe/" + spec +
         "-compute.ipxe\n"
         "# Every other machine: this bundle (" +
         req.role +
         ").\n"
         "dhcp-boot=tag:ipxe,tag:!control,tag:!compute," +
         dir + "/" + req.name +
         ".ipxe\n"
         "\n"
         "# Or role per menu entry (BIOS PXE ROMs, pxelinux from Debian's pxelinux + syslinux-common\n"
         "# copied into /srv/mi): comment out the dhcp-boot lines above and list one pxe-service per\n"
         "# role; pxelinux.cfg/default of each bundle holds its LABEL (merge them for one menu).\n"
         "#pxe-prompt=\"mi: choose a role\",30\n"
         "#pxe-service=x86PC,\"" +
         req.name + " (" + req.role + ")\",pxelinux\n";
}

std::string write_pxe_bundle(const PxeBundleRequest& req) {
  if (auto why = pxe_url_error(req.url); !req.url.empty() && !why.empty()) throw Error("pxe", why);
  if (req.role != "control" && req.role != "compute" && req.role != "all-in-one")
    throw Error("pxe", "role '" + req.role + "': mi.role takes control, compute or all-in-one");
  if (req.name.empty() || !plain_chars(req.name, ".-_")) throw Error("pxe", "bad bundle name '" + req.name + "'");
  for (const auto& a : req.cluster_args)
    if (a.rfind("mi.", 0) != 0 || a.find('=') == std::string::npos || !plain_chars(a, ".-_=,:/"))
      throw Error("pxe", "kernel argument '" + a + "': expected mi.KEY=VALUE without spaces or quotes");
  const std::string out = fs::absolute(req.out_dir).lexically_normal();
  const std::string dir = out + "/" + bundle_dir_name(req);
  remove_stale_bundles(out, bundle_dir_name(req));
  const std::string tmp = temp_name_for(dir);
  fs::remove_all(tmp);
  fs::create_directories(tmp + "/pxelinux.cfg");
  try {
    link_or_copy(req.kernel, tmp + "/vmlinuz");
    link_or_copy(req.initrd, tmp + "/initrd");
    link_or_copy(req.var_seed, tmp + "/" + kVarSeed);
    link_or_copy(req.root, tmp + "/" + kRoot);
    const std::string sha = sha256_file_hex(tmp + "/" + kRoot);
    write_file_atomic(tmp + "/" + req.name + ".ipxe", pxe_ipxe_script(req, sha));
    write_file_atomic(tmp + "/pxelinux.cfg/default", pxe_pxelinux_cfg(req, sha));
    write_file_atomic(tmp + "/dnsmasq.conf.example", pxe_dnsmasq_example(req));
    std::vector<std::string> names = {
        "vmlinuz", "initrd", kVarSeed, kRoot, req.name + ".ipxe", "pxelinux.cfg/default", "dnsmasq.conf.example"};
    std::sort(names.begin(), names.end());
    std::string sums;
    for (const auto& n : names) sums += (n == kRoot ? sha : sha256_file_hex(tmp + "/" + n)) + "  " + n + "\n";
    write_file_atomic(tmp + "/SHA256SUMS", sums);
    for (const auto& n : names) {
      fsync_file(tmp + "/" + n);
      set_mtime(tmp + "/" + n, req.epoch);
    }
    for (const char* d : {"/SHA256SUMS", "/pxelinux.cfg", ""}) set_mtime(tmp + d, req.epoch);
    // In place: swap with an older bundle (one step), then remove it; else a plain rename.
    if (renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, dir.c_str(), RENAME_EXCHANGE) != 0) {
      if (errno != ENOENT) throw Error(dir, std::string("cannot swap the new bundle in: ") + strerror(errno));
      if (rename(tmp.c_str(), dir.c_str()) != 0)
        throw Error(dir, std::string("cannot rename the bundle into place: ") + strerror(errno));
    }
    fs::remove_all(tmp);  // the older bundle, after the exchange
  } catch (...) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    throw;
  }
  int fd = open(out.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
  return dir;
}

}  // namespace mi

// mibuild: the command line. Parses arguments (CLI11), reads and checks the spec, then hands
// over: `build` → plan.h → image_build.h (per role) → manifest.h; `validate`; `roles`;
// `boot` → boot.h. Catches mi::Error once and exits: 0 ok, 1 build/runtime error,
// 2 invalid spec or usage.
#include <CLI/CLI.hpp>
#include <filesystem>
#include <iostream>

#include "builder/boot.h"
#include "builder/image_build.h"
#include "builder/inspect.h"
#include "builder/manifest.h"
#include "builder/signing.h"
#include "builder/plan.h"
#include "builder/progress.h"
#include "builder/pxe_bundle.h"
#include "builder/roles.h"
#include "builder/seed.h"
#include "builder/spec.h"
#include "common/digest.h"
#include "common/error.h"
#include "common/files.h"
#include "common/strings.h"
#include "formats/disk_formats.h"

namespace fs = std::filesystem;

namespace {

constexpr int kOk = 0, kFailed = 1, kUsage = 2;

const char* kExit =
    "EXIT STATUS\n"
    "    0   success\n"
    "    1   build or runtime error (a program failed, a download did not match its sha256, ...)\n"
    "    2   invalid spec or usage (every problem is printed as FILE:LINE:COL: message)\n";

const char* kTopHelp =
    "NAME\n"
    "    mibuild - build immutable role images for a Mesos/Marathon/ZooKeeper/Consul/Docker cluster\n"
    "\n"
    "SYNOPSIS\n"
    "    mibuild build [SPEC] [-r ROLE]... [-f FORMAT]... [-o OUTDIR] [--work-dir DIR] [--keep-work] [--rebuild] "
    "[--dry-run] [--pxe-url URL]\n"
    "    mibuild validate [SPEC]\n"
    "    mibuild roles [SPEC]\n"
    "    mibuild boot IMAGE [--firmware uefi|bios] [--memory MB] [--cpus N] [--check] [--timeout S] [--cdrom]\n"
    "    mibuild seed --secret-file FILE [--new-secret] -o SEED [--format iso|vfat] [node and cluster fields]\n"
    "    mibuild convert RAW -f FORMAT -o OUTPUT [--compress none|zlib|zstd]\n"
    "    mibuild inspect IMAGE [--json]\n"
    "    mibuild keygen -o PREFIX\n"
    "    mibuild verify OUTDIR --pubkey PUB\n"
    "    mibuild --version | --help\n"
    "\n"
    "DESCRIPTION\n"
    "    Reads an image spec (spec.yaml, roles/*.yaml, overlays/) and writes one bootable, read-only\n"
    "    disk image per role, plus OUTDIR/manifest.json. Without SPEC, the spec is $MI_SPEC, else the\n"
    "    repository's spec.yaml. `mibuild COMMAND --help` describes each command; docs/mibuild.md\n"
    "    and docs/spec.md are the full reference.\n"
    "\n";

const char* kBuildHelp =
    "NAME\n"
    "    mibuild build - build role images and their manifest\n"
    "\n"
    "SYNOPSIS\n"
    "    mibuild build [SPEC] [-r ROLE]... [-f FORMAT]... [-o OUTDIR] [--work-dir DIR] [--keep-work] [--rebuild] "
    "[--dry-run] [--pxe-url URL]\n"
    "\n"
    "DESCRIPTION\n"
    "    Validates SPEC, plans each role as ordered stages (bootstrap, packages, components, overlays,\n"
    "    firstboot, finalize, assemble, formats), each keyed by a sha256 of all its inputs, builds\n"
    "    the images and writes OUTDIR/<name>-<role>.<ext> and OUTDIR/manifest.json, each by atomic\n"
    "    rename. Optional components that cannot be resolved are left out, listed at the end and\n"
    "    recorded in the manifest as absent. A role whose stage keys all equal those recorded in\n"
    "    OUTDIR/manifest.json, with its outputs unchanged on disk, is not rebuilt.\n"
    "\n"
    "OPTIONS\n"
    "    SPEC                 the image spec (default: $MI_SPEC, else the repository's spec.yaml)\n"
    "    -r, --role ROLE      build this role (repeatable; default: the spec's `roles`)\n"
    "    -f, --format FORMAT  write this format (repeatable; default: the spec's `formats`);\n"
    "                         supported: raw, qcow2, vmdk (streamOptimized), vhd (fixed),\n"
    "                         openstack (qcow2 + Glance properties + `openstack image create`),\n"
    "                         ami (fixed VHD + AWS import/register JSON + README, one .ami.tar),\n"
    "                         tar (the root file system, xattrs and capabilities kept),\n"
    "                         vagrant (libvirt and VirtualBox boxes with the vagrant user)\n"
    "                         iso (hybrid live ISO: BIOS and UEFI, CD and USB; docs/iso.md)\n"
    "    --compress none|zlib|zstd  compress qcow2 clusters (default: none); vmdk is always deflated\n"
    "    -o, --out DIR        output directory (default: out)\n"
    "    --work-dir DIR       scratch directory (default: OUTDIR/.work)\n"
    "    --keep-work          keep the root file system tree and partition images afterwards\n"
    "    -n, --dry-run        print the plan (stages, keys, outputs) and touch nothing\n"
    "    --rebuild            build every role even when OUTDIR/manifest.json shows it up to date\n"
    "    --json               progress as JSON events on standard error, one per line (begin/end of\n"
    "                         each stage with its time); default: one timestamped line per stage\n"
    "    --sign KEY           sign OUTDIR/manifest.json with the Ed25519 private key KEY (from\n"
    "                         `mibuild keygen`; mode 0600) into OUTDIR/manifest.json.sig\n"
    "    --allow-outside-paths  let spec paths (components.*.path, overlays_dir, roles_dir) be absolute\n"
    "                         or leave the spec's directory tree (refused by default)\n"
    "    -h, --help           this text\n"
    "\n";

const char* kValidateHelp =
    "NAME\n"
    "    mibuild validate - check an image spec and report every problem\n"
    "\n"
    "SYNOPSIS\n"
    "    mibuild validate [SPEC]\n"
    "\n"
    "DESCRIPTION\n"
    "    Reads SPEC and every roles/*.yaml next to it and checks types, keys, referenced files,\n"
    "    components, role includes and cluster settings. Prints every problem found, one per line,\n"
    "    as FILE:LINE:COL: message (on standard error), and notes (e.g. optional components that\n"
    "    will be left out) as FILE:LINE:COL: note: message.\n"
    "\n"
    "OPTIONS\n"
    "    SPEC         the image spec (default: $MI_SPEC, else the repository's spec.yaml)\n"
    "    --allow-outside-paths  accept spec paths that are absolute or leave the spec's tree\n"
    "    -h, --help   this text\n"
    "\n";

const char* kRolesHelp =
    "NAME\n"
    "    mibuild roles - list the roles of a spec, resolved\n"
    "\n"
    "SYNOPSIS\n"
    "    mibuild roles [SPEC]\n"
    "\n"
    "DESCRIPTION\n"
    "    Prints each role defined in the spec's roles directory with its includes flattened: packages\n"
    "    (besides the spec's base packages), components (with where each comes from), overlays (the\n"
    "    spec-wide ones first) and services. Roles marked * are built by default.\n"
    "\n"
    "OPTIONS\n"
    "    SPEC         the image spec (default: $MI_SPEC, else the repository's spec.yaml)\n"
    "    -h, --help   this text\n"
    "\n";

const char* kInspectHelp =
    "NAME\n"
    "    mibuild inspect - what a built disk image is, read from inside it\n"
    "\n"
    "SYNOPSIS\n"
    "    mibuild inspect IMAGE [--json]\n"
    "\n"
    "DESCRIPTION\n"
    "    Opens IMAGE (raw, qcow2, vmdk or vhd) read-only with libguestfs and prints its role and\n"
    "    cluster name, what built it (mibuild version, SOURCE_DATE_EPOCH, the stage keys that\n"
    "    manifest.json records for the role), its components, the versions of the stack's Debian\n"
    "    packages and the partition layout. --json prints the same as one JSON object.\n"
    "\n";

const char* kKeygenHelp =
    "NAME\n"
    "    mibuild keygen - make an Ed25519 key pair to sign builds with\n"
    "\n"
    "SYNOPSIS\n"
    "    mibuild keygen -o PREFIX\n"
    "\n"
    "DESCRIPTION\n"
    "    Writes PREFIX.key (the private key, PKCS#8 PEM, mode 0600: give it to `mibuild build\n"
    "    --sign`) and PREFIX.pub (the public key, PEM: give it to whoever verifies). Never replaces\n"
    "    an existing file.\n"
    "\n";

const char* kVerifyHelp =
    "NAME\n"
    "    mibuild verify - check a build's outputs against its signed manifest\n"
    "\n"
    "SYNOPSIS\n"
    "    mibuild verify OUTDIR --pubkey PUB\n"
    "\n"
    "DESCRIPTION\n"
    "    Checks OUTDIR/manifest.json.sig against the public key PUB, then every output the manifest\n"
    "    lists: present, with the recorded size and sha256. Prints each problem and exits 1 on any\n"
    "    (a changed byte, a missing file, a bad signature), 0 when everything is as signed.\n"
    "\n";

const char* kConvertHelp =
    "NAME\n"
    "    mibuild convert - write a raw disk in another disk format\n"
    "\n"
    "SYNOPSIS\n"
    "    mibuild convert RAW -f FORMAT -o OUTPUT [--compress none|zlib|zstd] [--threads N]\n"
    "\n"
    "DESCRIPTION\n"
    "    Streams the raw disk image RAW through the same writers `mibuild build` uses and writes\n"
    "    OUTPUT by atomic rename: raw (sparse), qcow2 (version 3; --compress zlib or zstd compresses\n"
    "    its clusters), vmdk (streamOptimized, deflated) or vhd (fixed, rounded up to a whole MiB).\n"
    "\n"
    "OPTIONS\n"
    "    -f, --format FORMAT  raw, qcow2, vmdk or vhd\n"
    "    -o, --out OUTPUT     the file to write\n"
    "    --compress C         qcow2 cluster compression: none (default), zlib, zstd\n"
    "    --threads N          compression threads (default: every core)\n"
    "    -h, --help           this text\n"
    "\n";

const char* kBootHelp =
    "NAME\n"
    "    mibuild boot - run a built image under QEMU\n"
    "\n"
    "SYNOPSIS\n"
    "    mibuild boot IMAGE [--firmware uefi|bios] [--memory MB] [--cpus N] [--check] [--timeout S]\n"
    "                 [--console-log FILE] [--seed SEED] [--no-cluster] [--cdrom]\n"
    "\n"
    "DESCRIPTION\n"
    "    Boots IMAGE (raw or qcow2, never modified: QEMU runs on a snapshot) with software emulation.\n"
    "    Interactive by default: the serial console is this terminal (Ctrl-a x quits). With --check\n"
    "    it runs headless, waits for the image's `mi-status:` lines on the serial console and for\n"
    "    its `mi-cluster: formed` line (first boot done, a Consul leader, ZooKeeper serving), prints\n"
    "    them and the cluster in one line, powers the VM off and exits 0 when every check passed.\n"
    "\n"
    "OPTIONS\n"
    "    IMAGE                  the disk image\n"
    "    --firmware uefi|bios   firmware (default: uefi, OVMF)\n"
    "    --memory MB            guest memory (default: 2048)\n"
    "    --cpus N               guest CPUs (default: 2)\n"
    "    --check                headless check of the mi-status lines\n"
    "    --timeout S            --check: seconds to wait for \"mi-status: ready\" (default: 900)\n"
    "    --console-log FILE     --check: where the console is saved (default: IMAGE.console.log)\n"
    "    --seed SEED            attach SEED (from `mibuild seed`) as a read-only drive\n"
    "    --no-cluster           --check: do not wait for the cluster, only for the system\n"
    "    --cdrom                IMAGE is an .iso (`-f iso`): attach it as a CD-ROM and boot from it\n"
    "    -h, --help             this text\n"
    "\n";

const char* kSeedHelp =
    "NAME\n"
    "    mibuild seed - write the NoCloud seed a node or fleet boots with\n"
    "\n"
    "SYNOPSIS\n"
    "    mibuild seed --secret-file FILE [--new-secret] -o SEED [--format iso|vfat] [--role ROLE]\n"
    "                 [--node NAME] [--address IP] [--iface NAME] [--instance-id ID] [--cluster NAME]\n"
    "                 [--datacenter DC] [--control-count N] [--discovery METHOD] [--peers IP,...]\n"
    "                 [--wan-join IP,...]\n"
    "\n"
    "DESCRIPTION\n"
    "    Writes SEED, a small file system labelled CIDATA with NoCloud `meta-data` and `user-data`\n"
    "    (#cloud-config, key `mi:`), as ISO 9660 (default) or FAT, without mounting anything, mode\n"
    "    0600. Attached to a VM (a CD-ROM or a read-only disk) or written to a USB stick, it gives\n"
    "    mi-firstboot the fleet secret, which no image carries, and any field set here, which\n"
    "    overrides the image's defaults. Without --node every node names itself from its\n"
    "    machine-id, so one seed serves a whole fleet. The secret is read from FILE (one line,\n"
    "    mode 0600 or 0640); --new-secret makes FILE first (64 random hex digits, mode 0600).\n"
    "\n"
    "OPTIONS\n"
    "    --secret-file FILE     the fleet secret (required)\n"
    "    --new-secret           create FILE with a new secret (refuses to overwrite one)\n"
    "    -o, --out SEED         the seed image to write (required)\n"
    "    --format iso|vfat      file system (default: iso)\n"
    "    --role ROLE            control, compute or all-in-one (default: the image's)\n"
    "    --node NAME            this node's name (default: <role>-<6 hex of its machine-id>)\n"
    "    --address IP, --iface NAME    the address to bind, or the interface to take it from\n"
    "    --instance-id ID       NoCloud instance id (default: derived from the contents)\n"
    "    --cluster, --datacenter, --control-count, --discovery, --peers, --wan-join\n"
    "                           cluster settings (default: the image's, from the spec's cluster block)\n"
    "    -h, --help             this text\n"
    "\n";

// --allow-outside-paths (build, validate, roles): spec paths may leave the spec's tree.
mi::SpecOptions spec_options;

// Parses the spec; prints every problem (and notes). Returns false when invalid.
bool read_spec(const std::string& path, mi::SpecResult& r, bool print_notes) {
  r = mi::parse_spec(path, spec_options);
  for (const auto& d : r.errors) std::cerr << d.str() << "\n";
  if (print_notes)
    for (const auto& d : r.notes) std::cerr << d.pos.str() << ": note: " << d.message << "\n";
  if (!r.ok())
    std::cerr << "mibuild: " << path << ": " << r.errors.size() << (r.errors.size() == 1 ? " problem" : " problems")
              << "\n";
  return r.ok();
}

int cmd_validate(const std::string& spec_file) {
  mi::SpecResult r;
  if (!read_spec(spec_file, r, true)) return kUsage;
  std::cout << spec_file << ": valid (roles: " << mi::join(r.spec.roles, ", ")
            << "; formats: " << mi::join(r.spec.formats, ", ") << ")\n";
  for (const auto& n : mi::cluster_notes(r.spec)) std::cout << "  " << n << "\n";
  return kOk;
}

int cmd_roles(const std::string& spec_file) {
  mi::SpecResult r;
  if (!read_spec(spec_file, r, false)) return kUsage;
  const mi::Spec& s = r.spec;
  for (const auto& [name, role] : s.role_defs) {
    mi::ResolvedRole rr = mi::resolve_role(s, name);
    bool built = std::find(s.roles.begin(), s.roles.end(), name) != s.roles.end();
    std::cout << name << (built ? " *" : "") << "  (" << role.file << ")\n";
    if (!role.include.empty()) std::cout << "  include:    " << mi::join(role.include, " ") << "\n";
    std::cout << "  packages:   " << (rr.packages.empty() ? "(base only)" : mi::join(rr.packages, " ")) << "\n";
    std::cout << "  components:";
    for (const auto& cn : rr.components) {
      const mi::Component& c = s.components.at(cn);
      std::string from = c.source == "debian"
                             ? "debian " + mi::join(c.packages, ",") + (c.suite.empty() ? "" : "/" + c.suite)
                             : "artifact";
      std::string why = mi::component_unresolved_reason(s, c);
      std::cout << " " << cn << " [" << from << (why.empty() ? "" : ", absent: optional") << "]";
    }
    std::cout << "\n  overlays:   " << mi::join(mi::role_overlays(s, rr), " ") << "\n";
    std::cout << "  services:   " << mi::join(rr.services, " ") << "\n";
  }
  return kOk;
}

struct BuildArgs {
  std::string spec;
  std::vector<std::string> roles, formats;
  std::string compression;
  std::string out_dir = "out";
  std::string work_dir;
  bool keep_work = false;
  bool dry_run = false;
  bool rebuild = false;
  std::string sign_key;  // a path; the key itself is never on the command line
  bool json = false;     // progress as JSON events, one per line
  std::string pxe_url;
};

int cmd_build(const BuildArgs& a) {
  mi::SpecResult r;
  if (!read_spec(a.spec, r, false)) {
    std::cerr << "mibuild: nothing built\n";
    return kUsage;
  }
  const mi::Spec& s = r.spec;
  for (const auto& f : a.formats)
    if (auto why = mi::check_format(f); !why.empty()) {
      std::cerr << "mibuild: -f " << f << ": " << why << "\n";
      return kUsage;
    }
  if (!a.pxe_url.empty())
    if (auto why = mi::pxe_url_error(a.pxe_url); !why.empty()) {
      std::cerr << "mibuild: " << why << "\n";
      return kUsage;
    }
  for (const auto& role : a.roles)
    if (!s.role_defs.count(role)) {
      std::vector<std::string> known;
      for (auto& [n, _] : s.role_defs) known.push_back(n);
      std::cerr << "mibuild: -r " << role << ": unknown role (roles: " << mi::join(known, ", ") << ")\n";
      return kUsage;
    }
  mi::PlanOptions po;
  // Asked twice is asked once.
  for (const auto& x : a.roles)
    if (std::find(po.roles.begin(), po.roles.end(), x) == po.roles.end()) po.roles.push_back(x);
  for (const auto& x : a.formats)
    if (std::find(po.formats.begin(), po.formats.end(), x) == po.formats.end()) po.formats.push_back(x);
  po.out_dir = a.out_dir;
  po.compression = a.compression;
  po.pxe_url = a.pxe_url;
  po.firstboot_binary = mi::default_firstboot_binary();
  // A changed mibuild may build differently: its own bytes are part of every key.
  po.builder_id = mi::sha256_file_hex("/proc/self/exe");
  mi::Plan plan = mi::make_plan(s, po);
  if (a.dry_run) {
    std::cout << mi::format_plan(plan);
    return kOk;
  }
  // Every image carries mi-firstboot: without it a node never forms or joins a cluster.
  std::error_code ec;
  if (po.firstboot_binary.empty() || !fs::is_regular_file(po.firstboot_binary, ec))
    throw mi::Error{po.firstboot_binary.empty() ? "mi-firstboot" : po.firstboot_binary,
                    "mi-firstboot not found; build it (cmake --build build --target mi-firstboot) or set "
                    "MI_FIRSTBOOT_BINARY"};
  // A bad signing key is found now, not after the build; an old signature goes as soon as the
  // manifest it signed is about to be rewritten.
  if (a.json) mi::progress().mode = mi::ProgressMode::kJson;
  if (!a.sign_key.empty()) mi::sign_data(a.sign_key, "");
  fs::create_directories(plan.out_dir);
  fs::remove(mi::signature_path(plan.manifest));
  std::vector<mi::RoleRecord> records;
  std::vector<bool> reused;
  // The previous manifest, to skip roles whose every stage key is unchanged.
  nlohmann::json old;
  if (!a.rebuild && fs::is_regular_file(plan.manifest, ec)) {
    try {
      old = nlohmann::json::parse(mi::read_file(plan.manifest));
    } catch (const nlohmann::json::exception&) {
      old = nullptr;  // unreadable: everything is rebuilt, and the manifest rewritten
    }
  }
  for (const auto& rp : plan.roles) {
    if (auto prev = mi::reusable_result(old, plan, rp)) {
      std::cout << "mibuild: " << rp.role << " is up to date (key " << rp.stages.back().key.substr(0, 12) << ")\n";
      records.push_back(mi::RoleRecord{&rp, *prev});
      reused.push_back(true);
      mi::write_manifest(plan.manifest, mi::manifest_json(s, plan, records));
      continue;
    }
    mi::ImageOptions io;
    io.out_dir = plan.out_dir;
    io.work_dir = a.work_dir;
    io.formats = plan.formats;
    io.compression = plan.compression;
    io.base_name = s.name + "-" + rp.role;
    io.keep_work = a.keep_work;
    io.pxe_url = a.pxe_url;
    io.firstboot_binary = po.firstboot_binary;
    io.extra_files = {{"/usr/lib/mi/cluster.yaml", mi::cluster_defaults_yaml(s, rp.role)}};
    for (const auto& st : rp.stages) {
      if (st.name == "assemble") break;  // the disk's layout and formats are not the root's content
      io.stage_keys.push_back({st.name, st.key});
    }
    std::cout << "mibuild: building " << rp.role << "\n" << std::flush;
    records.push_back(mi::RoleRecord{&rp, mi::build_role_image(s, rp.resolved, io)});
    reused.push_back(false);
    // Rewritten after every role, so that the manifest always describes what is on disk.
    mi::write_manifest(plan.manifest, mi::manifest_json(s, plan, records));
  }
  for (size_t i = 0; i < records.size(); i++)
    for (const auto& o : records[i].result.outputs)
      std::cout << (reused[i] ? "kept " : "wrote ") << o.path << " (" << o.format << ")\n";
  std::cout << "wrote " << plan.manifest << "\n";
  if (!mi::progress().done.empty()) std::cerr << mi::stage_table(mi::progress());
  if (!a.sign_key.empty()) {
    mi::sign_manifest(plan.manifest, a.sign_key);
    std::cout << "wrote " << mi::signature_path(plan.manifest) << " (Ed25519, key " << a.sign_key << ")\n";
  }
  for (const auto& rp : plan.roles)
    for (const auto& absent : rp.absent)
      std::cout << "not in image " << s.name << "-" << rp.role << ": " << absent << "\n";
  return kOk;
}

struct BootArgs {
  std::string image;
  std::string firmware = "uefi";
  int memory_mb = 2048;
  int cpus = 2;
  bool check = false;
  int timeout_s = 900;
  std::string console_log;
  std::vector<std::string> seeds;
  bool no_cluster = false;
  bool cdrom = false;
};

struct ConvertArgs {
  std::string input, format, out, compression;
  int threads = 0;
};

int cmd_convert(const ConvertArgs& a) {
  mi::DiskReader disk(mi::file_disk_source(a.input));
  mi::DiskFormatOptions o;
  o.compression = a.compression;
  o.threads = a.threads;
  {
    // The same input gives the same bytes: identities from the disk's size and its first MiB
    // (the partition table, with the disk's own GUID), not from hashing gigabytes.
    std::string head(std::min<uint64_t>(disk.size(), 1 << 20), '\0');
    disk.read(0, head.size(), reinterpret_cast<uint8_t*>(head.data()));
    o.uuid = mi::derive_uuid(mi::sha256_hex(std::to_string(disk.size()) + ":" + head), "convert");
  }
  if (const char* e = getenv("SOURCE_DATE_EPOCH")) o.epoch = std::strtoull(e, nullptr, 10);
  mi::write_disk_format(a.format, disk, a.out, o);
  std::cout << "wrote " << a.out << " (" << a.format << ")\n";
  return kOk;
}

int cmd_boot(const BootArgs& a) {
  mi::BootOptions o;
  o.image = a.image;
  o.firmware = a.firmware;
  o.memory_mb = a.memory_mb;
  o.cpus = a.cpus;
  o.check = a.check;
  o.timeout_s = a.timeout_s;
  o.console_log = a.console_log;
  o.drives = a.seeds;
  o.wait_cluster = !a.no_cluster;
  o.cdrom = a.cdrom;
  return mi::boot_image(o);
}

int run(int argc, char** argv) {
  CLI::App app{"mibuild"};
  app.set_help_flag();
  bool help = false, version = false;
  app.add_flag("-h,--help", help);
  app.add_flag("--version", version);

  BuildArgs b;
  bool build_help = false;
  CLI::App* build = app.add_subcommand("build");
  build->add_option("SPEC", b.spec);
  build->add_option("-r,--role", b.roles)->allow_extra_args(false);
  build->add_option("-f,--format", b.formats)->allow_extra_args(false);
  build->add_option("-o,--out", b.out_dir);
  build->add_option("--compress", b.compression)->check(CLI::IsMember({"none", "zlib", "zstd"}));
  build->add_option("--work-dir", b.work_dir);
  build->add_flag("--keep-work", b.keep_work);
  build->add_flag("-n,--dry-run", b.dry_run);
  build->add_flag("--rebuild", b.rebuild);
  build->add_option("--sign", b.sign_key);
  build->add_flag("--json", b.json);
  build->add_option("--pxe-url", b.pxe_url);
  build->add_flag("--allow-outside-paths", spec_options.allow_outside_paths);
  build->add_flag("-h,--help", build_help);

  std::string vspec;
  bool validate_help = false;
  CLI::App* validate = app.add_subcommand("validate");
  validate->add_option("SPEC", vspec);
  validate->add_flag("--allow-outside-paths", spec_options.allow_outside_paths);
  validate->add_flag("-h,--help", validate_help);

  std::string rspec;
  bool roles_help = false;
  CLI::App* roles = app.add_subcommand("roles");
  roles->add_option("SPEC", rspec);
  roles->add_flag("--allow-outside-paths", spec_options.allow_outside_paths);
  roles->add_flag("-h,--help", roles_help);

  BootArgs bo;
  bool boot_help = false;
  CLI::App* boot = app.add_subcommand("boot");
  boot->add_option("IMAGE", bo.image);
  boot->add_option("--firmware", bo.firmware)->check(CLI::IsMember({"uefi", "bios"}));
  boot->add_option("--memory", bo.memory_mb)->check(CLI::Range(128, 1 << 20));
  boot->add_option("--cpus", bo.cpus)->check(CLI::Range(1, 64));
  boot->add_flag("--check", bo.check);
  boot->add_option("--timeout", bo.timeout_s)->check(CLI::Range(1, 86400));
  boot->add_option("--console-log", bo.console_log);
  boot->add_option("--seed", bo.seeds)->allow_extra_args(false);
  boot->add_flag("--no-cluster", bo.no_cluster);
  boot->add_flag("--cdrom", bo.cdrom);
  boot->add_flag("-h,--help", boot_help);

  mi::SeedRequest sr;
  bool seed_help = false, new_secret = false;
  CLI::App* seed = app.add_subcommand("seed");
  seed->add_option("--secret-file", sr.secret_file);
  seed->add_flag("--new-secret", new_secret);
  seed->add_option("-o,--out", sr.out);
  seed->add_option("--format", sr.format)->check(CLI::IsMember({"iso", "vfat"}));
  seed->add_option("--role", sr.role);
  seed->add_option("--node", sr.node);
  seed->add_option("--address", sr.address);
  seed->add_option("--iface", sr.interface);
  seed->add_option("--instance-id", sr.instance_id);
  seed->add_option("--cluster", sr.cluster);
  seed->add_option("--datacenter", sr.datacenter);
  seed->add_option("--control-count", sr.control_count);
  seed->add_option("--discovery", sr.discovery);
  seed->add_option("--peers", sr.peers)->delimiter(',')->allow_extra_args(false);
  seed->add_option("--wan-join", sr.wan_join)->delimiter(',')->allow_extra_args(false);
  seed->add_flag("-h,--help", seed_help);

  ConvertArgs cv;
  bool convert_help = false;
  CLI::App* convert = app.add_subcommand("convert");
  convert->add_option("RAW", cv.input);
  convert->add_option("-f,--format", cv.format)->check(CLI::IsMember(mi::disk_formats()));
  convert->add_option("-o,--out", cv.out);
  convert->add_option("--compress", cv.compression)->check(CLI::IsMember({"none", "zlib", "zstd"}));
  convert->add_option("--threads", cv.threads)->check(CLI::Range(0, 1024));
  convert->add_flag("-h,--help", convert_help);

  std::string inspect_image;
  bool inspect_help = false, inspect_json = false;
  CLI::App* inspect = app.add_subcommand("inspect");
  inspect->add_option("IMAGE", inspect_image);
  inspect->add_flag("--json", inspect_json);
  inspect->add_flag("-h,--help", inspect_help);

  std::string key_prefix;
  bool keygen_help = false;
  CLI::App* keygen = app.add_subcommand("keygen");
  keygen->add_option("-o,--out", key_prefix);
  keygen->add_flag("-h,--help", keygen_help);

  std::string verify_dir, verify_pub;
  bool verify_help = false;
  CLI::App* verify = app.add_subcommand("verify");
  verify->add_option("OUTDIR", verify_dir);
  verify->add_option("--pubkey", verify_pub);
  verify->add_flag("-h,--help", verify_help);

  auto usage = [](const std::string& why, const std::string& cmd) {
    std::cerr << "mibuild: " << why << "\n(see `mibuild " << (cmd.empty() ? "" : cmd + " ") << "--help`)\n";
    return kUsage;
  };
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    std::string cmd;
    for (auto* sc : app.get_subcommands()) cmd = sc->get_name();
    return usage(e.what(), cmd);
  }
  if (build_help) return std::cout << kBuildHelp << kExit, kOk;
  if (validate_help) return std::cout << kValidateHelp << kExit, kOk;
  if (roles_help) return std::cout << kRolesHelp << kExit, kOk;
  if (boot_help) return std::cout << kBootHelp << kExit, kOk;
  if (seed_help) return std::cout << kSeedHelp << kExit, kOk;
  if (convert_help) return std::cout << kConvertHelp << kExit, kOk;
  if (inspect_help) return std::cout << kInspectHelp << kExit, kOk;
  if (keygen_help) return std::cout << kKeygenHelp << kExit, kOk;
  if (verify_help) return std::cout << kVerifyHelp << kExit, kOk;
  if (version) return std::cout << "mibuild " << mi::mibuild_version() << "\n", kOk;
  if (help) return std::cout << kTopHelp << kExit, kOk;

  if (build->parsed()) {
    if (b.spec.empty()) b.spec = mi::default_spec_path();
    return cmd_build(b);
  }
  if (validate->parsed()) return cmd_validate(vspec.empty() ? mi::default_spec_path() : vspec);
  if (roles->parsed()) return cmd_roles(rspec.empty() ? mi::default_spec_path() : rspec);
  if (boot->parsed()) {
    if (bo.image.empty()) return usage("boot: IMAGE is required", "boot");
    return cmd_boot(bo);
  }
  if (convert->parsed()) {
    if (cv.input.empty()) return usage("convert: RAW is required", "convert");
    if (cv.format.empty()) return usage("convert: -f FORMAT is required (raw, qcow2, vmdk, vhd)", "convert");
    if (cv.out.empty()) return usage("convert: -o OUTPUT is required", "convert");
    return cmd_convert(cv);
  }
  if (inspect->parsed()) {
    if (inspect_image.empty()) return usage("inspect: IMAGE is required", "inspect");
    auto i = mi::inspect_image(inspect_image);
    std::cout << (inspect_json ? mi::inspection_json(i).dump(2) + "\n" : mi::inspection_text(i));
    return kOk;
  }
  if (keygen->parsed()) {
    if (key_prefix.empty()) return usage("keygen: -o PREFIX is required (writes PREFIX.key and PREFIX.pub)", "keygen");
    mi::write_keypair(key_prefix);
    std::cout << "wrote " << key_prefix << ".key (private, mode 0600) and " << key_prefix << ".pub\n";
    return kOk;
  }
  if (verify->parsed()) {
    if (verify_dir.empty()) return usage("verify: OUTDIR is required", "verify");
    if (verify_pub.empty()) return usage("verify: --pubkey PUB is required", "verify");
    size_t checked = 0;
    auto problems = mi::verify_outdir(verify_dir, verify_pub, &checked);
    for (const auto& p : problems) std::cerr << "mibuild: verify: " << p << "\n";
    if (!problems.empty()) return kFailed;
    std::cout << "verified " << verify_dir << "/manifest.json (signature good) and its " << checked
              << " outputs (size and sha256)\n";
    return kOk;
  }
  if (seed->parsed()) {
    if (sr.secret_file.empty()) return usage("seed: --secret-file is required (the fleet secret)", "seed");
    if (sr.out.empty()) return usage("seed: -o SEED is required", "seed");
    if (new_secret) {
      mi::make_fleet_secret(sr.secret_file);
      std::cout << "wrote " << sr.secret_file << " (a new fleet secret, mode 0600)\n";
    }
    mi::write_seed(sr);
    std::cout << "wrote " << sr.out << " (NoCloud seed, " << sr.format << ", label CIDATA, mode 0600)\n";
    return kOk;
  }
  std::cerr << kTopHelp << kExit;
  return kUsage;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const mi::Error& e) {
    std::cerr << "mibuild: " << e.what() << "\n";
    return kFailed;
  } catch (const std::exception& e) {
    std::cerr << "mibuild: internal error: " << e.what() << "\n";
    return kFailed;
  }
}

// build_role_image: runs the image stages for one role in order and commits the outputs.
//   bootstrap (rootfs.h, cached) → copy to a work tree → finalize (finalize.h) → package list
//   → split /var → ESP (esp.h) → erofs root + ext4 /var (assemble.h) → hybrid ISO of the erofs
//   root (iso.h) → GPT raw → qcow2.
#include "builder/image_build.h"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "builder/artifacts.h"
#include "builder/assemble.h"
#include "builder/bios.h"
#include "builder/cloud_outputs.h"
#include "builder/esp.h"
#include "builder/finalize.h"
#include "builder/plan.h"
#include "builder/progress.h"
#include "builder/iso.h"
#include "builder/live_script.h"
#include "builder/live_var.h"
#include "builder/pxe_bundle.h"
#include "builder/rootfs.h"
#include "builder/sbom.h"
#include "builder/vagrant_image.h"
#include "common/digest.h"
#include "common/error.h"
#include "common/files.h"
#include "common/process.h"
#include "common/strings.h"
#include "formats/disk_formats.h"
#include "formats/tar_writer.h"

namespace fs = std::filesystem;

namespace mi {
namespace {

// What every image needs whatever the role says: a kernel with an initramfs, systemd as init
// with networkd + resolved, systemd-boot for UEFI, GRUB's i386-pc images for BIOS, and sshd for
// the users' keys; libnss-myhostname resolves the host name mi-firstboot gives each node (the
// read-only /etc/hosts cannot name it); busybox gives the initramfs the wget, sha256sum and
// loop mount of a disk-less boot (builder/initramfs/mi-live).
std::vector<std::string> required_packages(const Spec& spec) {
  return {spec.base.kernel,
          "initramfs-tools",
          "systemd",
          "systemd-sysv",
          "systemd-resolved",
          "systemd-boot-efi",
          "udev",
          "dbus",
          "openssh-server",
          "grub-pc-bin",
          "libnss-myhostname",
          "busybox"};
}

// A line about the running stage; a stage's beginning is stage_begin(progress(), ...).
void log(const std::string& msg) { stage_note(progress(), msg); }

bool all_digits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

// SOURCE_DATE_EPOCH if set, else the time of the last commit of the spec's tree, else now.
std::string source_date_epoch(const Spec& spec) {
  if (const char* e = getenv("SOURCE_DATE_EPOCH"); e && all_digits(e)) return e;
  if (!spec.dir.empty()) {
    auto r = run({"git", "-C", spec.dir, "log", "-1", "--format=%ct"}, {.check = false});
    std::string v = r.out.substr(0, r.out.find('\n'));
    if (r.exit_code == 0 && all_digits(v)) return v;
  }
  return std::to_string(time(nullptr));
}

// "1:1.8.7+dfsg1-2+b3" → "1.8.7"
std::string upstream_version(std::string v) {
  if (auto c = v.find(':'); c != std::string::npos) v = v.substr(c + 1);
  if (auto d = v.rfind('-'); d != std::string::npos) v = v.substr(0, d);
  if (auto p = v.find_first_of("+~"); p != std::string::npos) v = v.substr(0, p);
  return v;
}

std::string resolve_path(const Spec& spec, const std::string& p) {
  if (p.empty() || p[0] == '/') return p;
  return (spec.dir.empty() ? std::string(".") : spec.dir) + "/" + p;
}

std::string overlay_dir(const Spec& spec, const std::string& name) {
  std::string base = spec.overlays_dir.empty() ? resolve_path(spec, "overlays") : resolve_path(spec, spec.overlays_dir);
  return fs::absolute(base + "/" + name).lexically_normal();
}

void append_unique(std::vector<std::string>& v, std::set<std::string>& seen, const std::string& x) {
  if (seen.insert(x).second) v.push_back(x);
}

// os_version for Glance: Debian's release number from its code name.
std::string debian_version(const std::string& release) {
  static const std::map<std::string, std::string> v = {
      {"buster", "10"}, {"bullseye", "11"}, {"bookworm", "12"}, {"trixie", "13"}, {"forky", "14"}};
  auto it = v.find(release);
  return it == v.end() ? release : it->second;
}

// /usr/lib/mi/build.json: what built this root (no host names, paths or times but the epoch).
std::string build_record(const std::string& name, const std::string& role, const std::string& epoch,
                         const std::vector<std::pair<std::string, std::string>>& stage_keys,
                         const std::vector<ComponentStatus>& components) {
  nlohmann::json j = {{"name", name}, {"role", role}, {"mibuild_version", mibuild_version()},
                      {"source_date_epoch", epoch}};
  j["stages"] = nlohmann::json::array();
  for (const auto& [stage, key] : stage_keys) j["stages"].push_back({{"name", stage}, {"key", key}});
  j["components"] = nlohmann::json::array();
  for (const auto& c : components)
    j["components"].push_back({{"name", c.name}, {"present", c.present}, {"version", c.version}});
  return j.dump(2) + "\n";
}

ImageOutput describe(const std::string& path, const std::string& format) {
  return {path, format, uint64_t(fs::file_size(path)), sha256_file_hex(path)};
}

}  // namespace

std::vector<std::string> runtime_packages(const std::string& binary) {
  auto r = run({"ldd", binary}, {.check = false});
  if (r.exit_code != 0) return {};  // static binary
  std::vector<std::string> pkgs;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) {
    auto arrow = line.find("=> /");
    if (arrow == std::string::npos) continue;
    std::string lib = line.substr(arrow + 3, line.find(' ', arrow + 3) - (arrow + 3));
    std::string usr = lib.rfind("/usr/", 0) == 0 ? lib.substr(4) : "/usr" + lib;  // merged /usr: either name
    for (const auto& path : {lib, usr}) {
      auto q = run({"dpkg-query", "-S", path}, {.check = false});
      if (q.exit_code != 0) continue;
      std::string pkg = q.out.substr(0, q.out.find(':'));
      if (std::find(pkgs.begin(), pkgs.end(), pkg) == pkgs.end()) pkgs.push_back(pkg);
      break;
    }
  }
  return pkgs;
}

ImageResult build_role_image(const Spec& spec, const ResolvedRole& role, const ImageOptions& opts) {
  ImageResult res;
  const std::string seed = spec.seed.empty() ? spec.name : spec.seed;
  const std::string base = opts.base_name.empty() ? spec.name + "-" + role.name : opts.base_name;
  for (const auto& f : opts.formats)
    if (auto why = check_format(f); !why.empty()) throw Error("formats", why);
  if (opts.formats.empty()) throw Error("formats", "no output format requested");
  fs::create_directories(opts.out_dir);
  const std::string out_dir = fs::absolute(opts.out_dir).lexically_normal();
  const std::string work = fs::absolute(opts.work_dir.empty() ? out_dir + "/.work" : opts.work_dir).lexically_normal();
  const std::string cache = work + "/cache";
  const std::string rw = work + "/" + role.name;
  fs::create_directories(rw);
  res.source_date_epoch = source_date_epoch(spec);
  const std::string& epoch = res.source_date_epoch;

  // Packages and components.
  stage_begin(progress(), role.name, "resolve", "packages and components");
  RootfsRequest req;
  req.release = spec.base.release;
  req.mirror = spec.base.mirror;
  req.source_date_epoch = epoch;
  req.live_script = std::string(mi_live_script());
  std::set<std::string> seen;
  for (const auto& p : required_packages(spec)) append_unique(req.packages, seen, p);
  for (const auto& p : spec.base.packages) append_unique(req.packages, seen, p);
  for (const auto& p : role.packages) append_unique(req.packages, seen, p);
  if (!opts.firstboot_binary.empty())
    for (const auto& p : runtime_packages(opts.firstboot_binary)) append_unique(req.packages, seen, p);
  std::vector<StagedArtifact> artifacts;
  const std::string artifact_dir = rw + "/artifacts";  // verified artifacts, named by digest (artifacts.h)
  fs::remove_all(artifact_dir);
  std::vector<std::pair<const Component*, size_t>> debian_components;  // with index into res.components
  for (const auto& name : role.components) {
    auto it = spec.components.find(name);
    if (it == spec.components.end()) throw Error("role " + role.name, "unknown component " + name);
    const Component& c = it->second;
    ComponentStatus st;
    st.name = name;
    if (c.source == "artifact") {
      StagedArtifact a;
      if (stage_artifact(spec, c, cache, artifact_dir, a, st)) {
        artifacts.push_back(a);
        // Its dependencies come from the mirror in the bootstrap; the .deb is installed after.
        for (const auto& p : artifact_dependencies(a)) append_unique(req.packages, seen, p);
      }
      if (!st.present) log("component " + name + ": " + st.note);
    } else if (c.source == "debian" || c.source.empty()) {
      auto pkgs = c.packages.empty() ? std::vector<std::string>{name} : c.packages;
      for (const auto& p : pkgs) append_unique(req.packages, seen, p);
      if (!c.suite.empty() && c.suite != spec.base.release)
        for (const auto& p : pkgs) req.suite_pins[c.suite].push_back(p);
      debian_components.push_back({&c, res.components.size()});
    } else {
      throw Error(c.pos.str(), "component " + name + ": unknown source '" + c.source + "' (debian | artifact)");
    }
    res.components.push_back(st);
  }

  // Bootstrap (cached), then a private copy to finalize.
  std::string log_path = opts.log_path.empty() ? rw + "/mmdebstrap.log" : opts.log_path;
  stage_begin(progress(), role.name, "bootstrap",
              "bootstrapping (" + std::to_string(req.packages.size()) + " packages, log: " + log_path + ")");
  std::string cached = bootstrap_rootfs(req, cache, log_path);
  std::string tree = rw + "/tree";
  remove_tree_checked(tree);
  run({"cp", "-a", "--reflink=auto", cached, tree});

  // The artifact stage: .debs by dpkg --root, tarballs and files under /opt/<component>/.
  stage_begin(progress(), role.name, "artifacts", "installing " + std::to_string(artifacts.size()) + " artifact(s)");
  install_artifacts(tree, artifacts);
  res.packages = installed_packages(tree);
  for (auto [c, idx] : debian_components) {
    auto& st = res.components[idx];
    auto pkgs = c->packages.empty() ? std::vector<std::string>{c->name} : c->packages;
    auto pv = std::find_if(res.packages.begin(), res.packages.end(),
                           [&](const PackageVersion& p) { return p.name == pkgs[0]; });
    if (pv == res.packages.end())
      throw Error(c->pos.str(), "component " + c->name + ": package " + pkgs[0] + " not installed");
    st.present = true;
    st.version = upstream_version(pv->version);
    st.note = "debian " + pkgs[0] + " " + pv->version + (c->suite.empty() ? "" : " from " + c->suite);
    if (!c->version.empty() && !version_matches(st.version, c->version))
      throw Error(c->pos.str(), "component " + c->name + ": expected version " + c->version + ", Debian's " + pkgs[0] +
                                    " is " + pv->version);
  }

  DiskIds ids = derive_disk_ids(seed, role.name);
  FinalizeRequest fin;
  fin.tree = tree;
  for (const auto& o : spec.overlays) fin.overlay_dirs.push_back(overlay_dir(spec, o));
  for (const auto& o : role.overlays)
    if (std::find(spec.overlays.begin(), spec.overlays.end(), o) == spec.overlays.end())
      fin.overlay_dirs.push_back(overlay_dir(spec, o));
  fin.users = spec.users;
  // wait-online makes network-online.target mean an address from DHCP: mi-firstboot waits for it.
  fin.enable = {"systemd-networkd.service", "systemd-networkd-wait-online.service", "systemd-resolved.service"};
  // The base overlay's units, when it is applied (their absence shows on the console check).
  for (const char* u : {"mi-machine-id.service", "mi-ssh-hostkeys.service", "mi-firstboot.service",
                        "mi-cluster-status.service", "mi-console-status.service"})
    for (const auto& o : fin.overlay_dirs)
      if (fs::exists(o + "/usr/lib/systemd/system/" + u) || fs::exists(o + "/etc/systemd/system/" + u)) {
        fin.enable.push_back(u);
        break;
      }
  for (const auto& s : role.services) fin.enable.push_back(s);
  // mi-firstboot starts these once the cluster is agreed; an immutable image has no apt timers.
  fin.disable = {"consul.service", "zookeeper.service", "apt-daily.timer", "apt-daily-upgrade.timer"};
  fin.hostname = spec.name + "-" + role.name;
  fin.root_partuuid = uuid_string(ids.root_partuuid);
  fin.var_partuuid = uuid_string(ids.var_partuuid);
  fin.firstboot_binary = opts.firstboot_binary;
  fin.source_date_epoch = epoch;
  fin.extra_files = opts.extra_files;
  fin.extra_files.push_back({"/usr/lib/mi/build.json", build_record(spec.name, role.name, epoch, opts.stage_keys, res.components)});
  stage_begin(progress(), role.name, "finalize", "overlays, mi-firstboot, users, units, identity removed");
  finalize_rootfs(fin);

  auto wants = [&](const std::string& f) {
    return std::find(opts.formats.begin(), opts.formats.end(), f) != opts.formats.end();
  };
  const uint64_t epoch_s = std::stoull(epoch);
  // The root file system as a tar, before /var is split off: the archive holds all of it.
  if (wants("tar")) {
    std::string out = out_dir + "/" + base + ".tar", tmp = temp_name_for(out);
    remove_stale_temporaries(out);
    stage_begin(progress(), role.name, "tar", "writing " + out);
    write_rootfs_tar(tree, tmp, {epoch_s, ""});
    commit_rename(tmp, out);
    res.outputs.push_back(describe(out, "tar"));
  }

  // Partitions.
  std::string var_tree = rw + "/var-tree";
  split_var(tree, var_tree);
  clamp_mtimes(var_tree, epoch);
  DiskImages imgs{rw + "/esp.img", rw + "/root.erofs", rw + "/var.ext4", rw + "/bios-core.img"};
  const std::string title = spec.name + " " + role.name, cmdline = kernel_cmdline(uuid_string(ids.root_partuuid));
  stage_begin(progress(), role.name, "esp", "writing the ESP (systemd-boot for UEFI, grub.cfg for BIOS)");
  make_esp({tree, imgs.esp, uint64_t(spec.disk.esp_mb), ids.esp_volume_id, title, cmdline, epoch,
            grub_cfg(title, find_kernel(tree), cmdline)});
  make_bios_core(tree, ids.esp_volume_id, imgs.bios);
  stage_begin(progress(), role.name, "erofs", "writing the erofs root");
  make_erofs(tree, imgs.root, ids.root_fs_uuid, epoch);
  stage_begin(progress(), role.name, "var", "writing the ext4 /var");
  make_var_ext4(var_tree, imgs.var, uint64_t(spec.disk.var_mb), ids.var_fs_uuid, ids.var_hash_seed, epoch);
  // A disk-less boot's /var: the disk's /var partition as a second initrd (live_var.h).
  const std::string var_seed = rw + "/var-seed.cpio.gz";
  if (wants("pxe") || wants("iso")) {
    stage_begin(progress(), role.name, "var-seed", "writing the /var seed of a disk-less boot");
    write_var_seed(var_tree, var_seed, epoch_s);
  }
  // The live image: the same kernel, initrds and erofs root on a CD/USB volume (no disk needed).
  const std::string iso_work = rw + "/iso";
  if (wants("iso")) {
    std::string out = out_dir + "/" + base + ".iso";
    stage_begin(progress(), role.name, "iso", "writing " + out);
    write_iso({.tree = tree,
               .root_image = imgs.root,
               .var_seed = var_seed,
               .work = iso_work,
               .output = out,
               .label = iso_label(spec.name, role.name),
               .title = title,
               .console_args = kernel_console_args(),
               .efi_volume_id = to_hex(derive_uuid(seed, role.name + "/iso-efi").data(), 4),
               .disk_guid = uuid_string(derive_uuid(seed, role.name + "/iso-gpt")),
               .source_date_epoch = epoch});
    res.outputs.push_back(describe(out, "iso"));
  }

  // The disk, streamed into each format from the partition images (no raw intermediate).
  stage_begin(progress(), role.name, "assemble", "assembling the GPT disk");
  AssembledDisk disk = assemble_disk(ids, imgs);
  install_bios_boot(tree, disk.layout, disk.source, 3);
  DiskReader reader(disk.source);
  {
    // Every output holds about the disk's data (compression aside): check the room first, so a
    // full disk is one clear message now instead of a failed write later.
    uint64_t data = 0;
    for (auto [off, len] : reader.data_ranges()) data += len;
    uint64_t n = 0;
    for (const auto& f : opts.formats) n += f == "vagrant" ? 2 : f == "tar" ? 0 : 1;
    require_free_space(out_dir, data * n, "writing " + std::to_string(n) + " output(s) of a " +
                                              std::to_string((data + (1 << 20) - 1) >> 20) + " MiB disk");
    if (wants("vagrant")) require_free_space(rw, data * 3, "the vagrant box's own disk (a copy of the root and /var)");
  }
  DiskFormatOptions fo;
  fo.compression = opts.compression;
  fo.epoch = epoch_s;
  fo.uuid = ids.disk_guid;
  const auto& disk_fmts = disk_formats();
  for (const auto& f : opts.formats) {
    if (std::find(disk_fmts.begin(), disk_fmts.end(), f) == disk_fmts.end()) continue;
    std::string out = out_dir + "/" + base + "." + f;
    stage_begin(progress(), role.name, f, "writing " + out);
    write_disk_format(f, reader, out, fo);
    res.outputs.push_back(describe(out, f));
  }
  // Packaged outputs, around a disk format: OpenStack's qcow2 + Glance properties, AWS's VHD
  // + import and register JSON in one tar.
  if (wants("openstack")) {
    std::string q = out_dir + "/" + base + ".qcow2";
    stage_begin(progress(), role.name, "openstack", "the qcow2 and its Glance properties");
    if (!wants("qcow2")) {
      log("writing " + q);
      write_disk_format("qcow2", reader, q, fo);
    }
    OpenstackImage os{q, spec.name, role.name, debian_version(spec.base.release),
                      fs::exists(tree + "/usr/sbin/qemu-ga")};
    write_openstack_files(os);
    log("wrote the Glance properties and the `openstack image create` command beside " + q);
    res.outputs.push_back(describe(q, "openstack"));
    // The side files too, so that a signed manifest covers every byte a user uploads.
    for (const char* ext : {".glance.json", ".openstack.sh"})
      res.outputs.push_back(describe(out_dir + "/" + openstack_image_name(os) + ext, "openstack"));
  }
  if (wants("ami")) {
    std::string vhd = out_dir + "/" + base + ".vhd";
    stage_begin(progress(), role.name, "ami", "the VHD and the JSON aws ec2 takes");
    if (!wants("vhd")) {
      vhd = rw + "/" + base + ".vhd";
      write_disk_format("vhd", reader, vhd, fo);
    }
    std::string out = out_dir + "/" + base + ".ami.tar";
    log("writing " + out);
    write_ami_tar({vhd, uint64_t(fs::file_size(vhd)), base, epoch_s}, out);
    if (!wants("vhd")) fs::remove(vhd);
    res.outputs.push_back(describe(out, "ami"));
  }
  // Vagrant: the boxes carry a disk of their own, the only one with the `vagrant` user.
  if (wants("vagrant")) {
    stage_begin(progress(), role.name, "vagrant", "the boxes (libvirt, VirtualBox): the role's disk plus the vagrant user");
    for (const auto& box : write_vagrant_boxes({tree, var_tree, rw, ids, imgs.esp, imgs.bios,
                                                uint64_t(spec.disk.var_mb), epoch, fo, seed, base, out_dir}))
      res.outputs.push_back(describe(box, "vagrant"));
  }
  // The network boot: the image's kernel and initrd, its /var as a second initrd and the very
  // erofs of the disk's root partition, with the boot texts (pxe_bundle.h).
  if (wants("pxe")) {
    stage_begin(progress(), role.name, "pxe", "the network boot bundle");
    PxeBundleRequest px;
    px.out_dir = out_dir;
    px.name = base;
    px.role = role.name;
    const std::string kv = find_kernel(tree);
    px.kernel = tree + "/boot/vmlinuz-" + kv;
    px.initrd = tree + "/boot/initrd.img-" + kv;
    px.var_seed = var_seed;
    px.root = imgs.root;
    px.url = opts.pxe_url;
    px.cluster_args = {"mi.cluster=" + spec.cluster.name, "mi.dc=" + spec.cluster.datacenter};
    px.epoch = epoch_s;
    std::string dir = write_pxe_bundle(px);
    log("wrote " + dir + "/");
    // The manifest records the bundle by its SHA256SUMS, which covers every file in it.
    res.outputs.push_back(describe(dir + "/SHA256SUMS", "pxe"));
  }
  // The SBOM beside the manifest: every package and artifact in the image (sbom.h).
  {
    std::string out = out_dir + "/" + base + ".spdx.json";
    std::string identity = opts.stage_keys.empty() ? epoch : opts.stage_keys.back().second;
    write_file_atomic(out, sbom_json({base, spec.base.release, debian_version(spec.base.release), epoch_s, identity,
                                      res.packages, res.components}));
    res.outputs.push_back(describe(out, "sbom"));
  }
  stage_begin(progress(), role.name, "cleanup", opts.keep_work ? "keeping the work files" : "removing the work files");
  if (!opts.keep_work) {
    for (const auto& p : {tree, var_tree, imgs.esp, imgs.root, imgs.var, imgs.bios, artifact_dir, iso_work, var_seed})
      remove_tree_checked(p);
  }
  stage_end(progress());
  for (const auto& o : res.outputs) log("wrote " + o.path + " (" + std::to_string(o.size) + " bytes)");
  return res;
}

}  // namespace mi

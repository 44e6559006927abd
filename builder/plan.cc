// The Plan: per role, the ordered stages with a key each (sha256 over the stage's inputs and
// the previous key) and the output files. Between validation (spec.cc) and the image build;
// `mibuild build --dry-run` prints it, the manifest records it.
#include "builder/plan.h"

#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "builder/roles.h"
#include "builder/vagrant_box.h"
#include "common/digest.h"
#include "common/error.h"
#include "common/strings.h"

namespace fs = std::filesystem;

namespace mi {

namespace {

// One line per file of an overlay tree: relative path, type, mode, content (sha256 or link
// target), so that adding, removing, renaming, chmod-ing or editing a file changes the key.
void hash_tree(const std::string& root, const std::string& label, std::vector<std::string>& lines,
               std::vector<std::string>& files) {
  std::vector<fs::path> entries;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec))
    entries.push_back(it->path());
  if (ec) throw Error{root, "cannot read overlay: " + ec.message()};
  std::sort(entries.begin(), entries.end());
  for (const auto& p : entries) {
    struct stat st;
    if (lstat(p.c_str(), &st) != 0) throw Error{p.string(), "cannot stat"};
    std::string rel = p.lexically_relative(root).string();
    char mode[8];
    snprintf(mode, sizeof mode, "%04o", st.st_mode & 07777);
    std::string line = label + ":" + rel + " mode=" + mode;
    if (S_ISLNK(st.st_mode)) {
      line += " link=" + fs::read_symlink(p).string();
    } else if (S_ISDIR(st.st_mode)) {
      line += " dir";
    } else if (S_ISREG(st.st_mode)) {
      line += " sha256=" + sha256_file_hex(p.string());
      files.push_back(p.string());
    } else {
      throw Error{p.string(), "overlays may hold only files, directories and symlinks"};
    }
    lines.push_back(line);
  }
}

Stage make_stage(const std::string& name, const std::string& prev, std::vector<std::string> inputs) {
  std::string text = "stage " + name + "\nprevious " + prev + "\n";
  for (const auto& i : inputs) text += i + "\n";
  return Stage{name, sha256_hex(text), std::move(inputs)};
}

// pxe: the base URL the bundle's texts use for the root (--pxe-url, else the iPXE default).
std::string pxe_base_url(const Plan& plan, const std::string& bundle) {
  if (plan.pxe_url.empty()) return "http://${next-server}/" + fs::path(bundle).filename().string() + "/";
  return plan.pxe_url.back() == '/' ? plan.pxe_url : plan.pxe_url + "/";
}

}  // namespace

const std::vector<std::string>& stage_names() {
  static const std::vector<std::string> v = {"bootstrap", "packages", "components", "overlays",
                                             "firstboot", "finalize", "assemble",   "formats"};
  return v;
}

std::string mibuild_version() {
#ifdef MI_VERSION
  return MI_VERSION;
#else
  return "0.1.0";
#endif
}

std::string default_firstboot_binary() {
  if (const char* e = std::getenv("MI_FIRSTBOOT_BINARY"); e && *e) return e;
#ifdef MI_FIRSTBOOT_BINARY_DEFAULT
  return MI_FIRSTBOOT_BINARY_DEFAULT;
#else
  return "";
#endif
}

std::string cluster_defaults_yaml(const Spec& spec, const std::string& role) {
  const ClusterDefaults& cl = spec.cluster;
  YAML::Emitter e;
  e << YAML::BeginMap << YAML::Key << "cluster" << YAML::Value << YAML::BeginMap;
  e << YAML::Key << "name" << YAML::Value << cl.name;
  e << YAML::Key << "datacenter" << YAML::Value << cl.datacenter;
  e << YAML::Key << "control_count" << YAML::Value << role_control_count(spec, role);
  e << YAML::Key << "discovery" << YAML::Value << YAML::BeginMap;
  e << YAML::Key << "method" << YAML::Value << cl.discovery.method;
  e << YAML::Key << "peers" << YAML::Value << YAML::Flow << cl.discovery.peers;
  if (!cl.discovery.dns_name.empty()) e << YAML::Key << "dns_name" << YAML::Value << cl.discovery.dns_name;
  e << YAML::Key << "beacon_group" << YAML::Value << cl.discovery.beacon_group;
  if (!cl.discovery.cloud_join.empty()) e << YAML::Key << "cloud_join" << YAML::Value << cl.discovery.cloud_join;
  e << YAML::EndMap;
  e << YAML::Key << "wan_join" << YAML::Value << YAML::Flow << cl.wan_join;
  e << YAML::EndMap;
  if (role == "control" || role == "compute" || role == "all-in-one") e << YAML::Key << "role" << YAML::Value << role;
  e << YAML::EndMap;
  return "# Written by mibuild from the spec's cluster block: mi-firstboot's image defaults.\n" +
         std::string(e.c_str()) + "\n";
}

int role_control_count(const Spec& spec, const std::string& role) {
  return role == "all-in-one" ? 1 : spec.cluster.control_count;
}

std::vector<std::string> cluster_notes(const Spec& spec) {
  const ClusterDefaults& cl = spec.cluster;
  std::vector<std::string> notes;
  bool has_control = false;
  for (const auto& r : spec.roles) has_control |= r == "control" || r == "all-in-one";
  for (const auto& r : spec.roles) {
    int n = role_control_count(spec, r);
    std::string how = cl.discovery.method + " discovery";
    if (r == "all-in-one") {
      notes.push_back(r +
                      ": forms a one-node cluster by itself (control_count 1 for this role); no seed needed, it "
                      "makes its own fleet secret");
    } else if (r == "control" || r == "compute") {
      std::string need = r == "control" ? std::to_string(n) +
                                              " control nodes booted with one fleet secret (a seed: "
                                              "`mibuild seed`), found by " +
                                              how
                                        : "joins the " + std::to_string(n) + " control nodes it finds by " + how;
      if (cl.discovery.method == "static" && int(cl.discovery.peers.size()) < n)
        notes.push_back(r + ": cannot form a cluster with these defaults: static discovery lists " +
                        std::to_string(cl.discovery.peers.size()) + " peers but control_count is " + std::to_string(n) +
                        " (name the peers, or give them per node in a seed)");
      else if (r == "compute" && !has_control)
        notes.push_back(r + ": " + need + "; this spec builds no control image, so they come from another");
      else
        notes.push_back(r + ": " + need);
    } else {
      notes.push_back(r +
                      ": not a role mi-firstboot knows: each node's seed or kernel command line must name its "
                      "role (control, compute or all-in-one)");
    }
  }
  return notes;
}

Plan make_plan(const Spec& spec, const PlanOptions& opts) {
  Plan plan;
  plan.spec_file = spec.file;
  plan.out_dir = opts.out_dir.empty() ? "out" : opts.out_dir;
  plan.formats = opts.formats.empty() ? spec.formats : opts.formats;
  plan.manifest = (fs::path(plan.out_dir) / "manifest.json").string();
  plan.firstboot_binary = opts.firstboot_binary;
  for (const auto& f : plan.formats)
    if (auto why = check_format(f); !why.empty()) throw Error{"formats", why};
  plan.compression = opts.compression == "none" ? "" : opts.compression;
  plan.pxe_url = opts.pxe_url;
  if (plan.compression != "" && plan.compression != "zlib" && plan.compression != "zstd")
    throw Error{"--compress", "unknown compression '" + plan.compression + "' (valid: none, zlib, zstd)"};
  std::vector<std::string> roles = opts.roles.empty() ? spec.roles : opts.roles;
  plan.input_files.push_back(spec.file);
  for (const auto& r : roles) {
    if (!spec.role_defs.count(r)) {
      std::vector<std::string> known;
      for (auto& [n, _] : spec.role_defs) known.push_back(n);
      throw Error{"role " + r, "unknown role (roles: " + join(known, ", ") + ")"};
    }
  }
  std::vector<std::string> overlay_files;

  for (const auto& role_name : roles) {
    RolePlan rp;
    rp.role = role_name;
    rp.resolved = resolve_role(spec, role_name);
    const ResolvedRole& rr = rp.resolved;
    rp.overlays = role_overlays(spec, rr);
    std::string prev = "";

    // bootstrap: the Debian base every role starts from.
    rp.stages.push_back(make_stage(
        "bootstrap", prev,
        {"mibuild=" + mibuild_version() + " " + opts.builder_id, "release=" + spec.base.release,
         "mirror=" + spec.base.mirror, "kernel=" + spec.base.kernel, "packages=" + join(spec.base.packages, ",")}));
    // packages: the role's own Debian packages.
    rp.stages.push_back(make_stage("packages", rp.stages.back().key, {"packages=" + join(rr.packages, ",")}));
    // components: how each one is obtained, and whether it can be.
    std::vector<std::string> comp;
    for (const auto& cn : rr.components) {
      auto it = spec.components.find(cn);
      if (it == spec.components.end()) throw Error{"role " + role_name, "unknown component '" + cn + "'"};
      const Component& c = it->second;
      std::string why = component_unresolved_reason(spec, c);
      std::string line = "component " + cn + " source=" + c.source + " packages=" + join(c.packages, ",") +
                         " suite=" + c.suite + " version=" + c.version + " url=" + c.url + " path=" + c.path +
                         " sha256=" + c.sha256 + " optional=" + (c.optional ? "true" : "false");
      if (!c.path.empty() && why.empty()) {
        line += " file-sha256=" + sha256_file_hex(spec_path(spec, c.path));
        plan.input_files.push_back(spec_path(spec, c.path));
      }
      line += why.empty() ? " status=present" : " status=absent";
      comp.push_back(line);
      if (!why.empty()) rp.absent.push_back(cn + " (" + (c.optional ? "optional; " : "") + why + ")");
    }
    rp.stages.push_back(make_stage("components", rp.stages.back().key, comp));
    // overlays: every file of every overlay tree, then the users (accounts and authorized_keys).
    std::vector<std::string> ov;
    for (const auto& o : rp.overlays) hash_tree((fs::path(spec.overlays_dir) / o).string(), o, ov, overlay_files);
    for (const auto& u : spec.users)
      ov.push_back("user " + u.name + " groups=" + join(u.groups, ",") + " keys=" + sha256_hex(join(u.ssh_keys, "\n")));
    rp.stages.push_back(make_stage("overlays", rp.stages.back().key, ov));
    // firstboot: mi-firstboot itself and the cluster defaults baked in for it.
    std::string fb = opts.firstboot_binary;
    std::error_code ec;
    std::string fb_hash = !fb.empty() && fs::is_regular_file(fb, ec) ? sha256_file_hex(fb) : "absent";
    rp.stages.push_back(make_stage("firstboot", rp.stages.back().key,
                                   {"mi-firstboot sha256=" + fb_hash,
                                    "cluster.yaml sha256=" + sha256_hex(cluster_defaults_yaml(spec, role_name))}));
    // finalize: enabled services, identity-free clean-up, timestamps.
    const char* sde = std::getenv("SOURCE_DATE_EPOCH");
    rp.stages.push_back(make_stage("finalize", rp.stages.back().key,
                                   {"services=" + join(rr.services, ","), "name=" + spec.name,
                                    "source_date_epoch=" + std::string(sde ? sde : "")}));
    // assemble: the disk layout and the seed its UUIDs come from.
    rp.stages.push_back(make_stage("assemble", rp.stages.back().key,
                                   {"seed=" + spec.seed, "esp_mb=" + std::to_string(spec.disk.esp_mb),
                                    "var_mb=" + std::to_string(spec.disk.var_mb)}));
    // formats: one output per format.
    std::vector<std::string> fmt;
    for (const auto& f : plan.formats) {
      std::string out = (fs::path(plan.out_dir) / (spec.name + "-" + role_name + "." + format_extension(f))).string();
      rp.outputs.emplace_back(f, out);
      fmt.push_back("format " + f + " -> " + fs::path(out).filename().string());
      if (f == "vagrant") {  // one box per provider
        rp.outputs.emplace_back(f, virtualbox_box_path(out));
        fmt.push_back("format " + f + " -> " + fs::path(virtualbox_box_path(out)).filename().string());
      }
      if (f == "qcow2" && !plan.compression.empty()) fmt.push_back("qcow2 compression " + plan.compression);
      if (f == "pxe") fmt.push_back("pxe url " + pxe_base_url(plan, out));
    }
    rp.stages.push_back(make_stage("formats", rp.stages.back().key, fmt));
    plan.roles.push_back(std::move(rp));
  }
  for (const auto& rf : spec.role_files) plan.input_files.push_back(rf);
  std::sort(overlay_files.begin(), overlay_files.end());
  overlay_files.erase(std::unique(overlay_files.begin(), overlay_files.end()), overlay_files.end());
  for (auto& f : overlay_files) plan.input_files.push_back(f);
  return plan;
}

std::string format_plan(const Plan& plan) {
  std::string out =
      "plan: " + plan.spec_file + " -> " + plan.out_dir + "/ (formats: " + join(plan.formats, ", ") + ")\n";
  for (const auto& rp : plan.roles) {
    const ResolvedRole& r = rp.resolved;
    out += "\nrole " + rp.role + "\n";
    out += "  packages:   " + join(r.packages, " ") + "\n";
    out += "  components: " + join(r.components, " ") + "\n";
    out += "  overlays:   " + join(rp.overlays, " ") + "\n";
    out += "  services:   " + join(r.services, " ") + "\n";
    out += "  stages:\n";
    for (size_t i = 0; i < rp.stages.size(); i++) {
      std::string n = rp.stages[i].name;
      n.resize(11, ' ');
      out += "    " + std::to_string(i + 1) + ". " + n + " " + rp.stages[i].key + "\n";
    }
    out += "  outputs:\n";
    for (const auto& [f, path] : rp.outputs) {
      out += "    " + path + " (" + f + ")\n";
      if (f == "pxe") out += "      the initramfs fetches " + pxe_base_url(plan, path) + "root.erofs\n";
    }
    for (const auto& a : rp.absent) out += "  not in image: " + a + "\n";
  }
  std::error_code ec;
  bool fb = !plan.firstboot_binary.empty() && fs::is_regular_file(plan.firstboot_binary, ec);
  out += "\nmi-firstboot: " +
         (fb ? plan.firstboot_binary
             : "not found" + (plan.firstboot_binary.empty() ? std::string() : " at " + plan.firstboot_binary)) +
         "\n";
  out += "manifest: " + plan.manifest + "\n";
  return out;
}

}  // namespace mi

// Who am I: the first first-boot step. Each config source is read into a ConfigLayer (only
// the fields it sets, each with where it came from), and merge_layers() applies them from
// lowest to highest precedence into one NodeConfig:
//   1. image defaults   /usr/lib/mi/cluster.yaml            (source_cluster_yaml.cc)
//   2. NoCloud seed     label "cidata": meta-data, user-data (source_nocloud.cc)
//   3. config drive     label "config-2": openstack/latest/  (source_configdrive.cc)
//   4. cloud metadata   EC2 IMDSv2, or OpenStack over HTTP   (source_metadata.cc)
//   5. kernel cmdline   mi.* arguments in /proc/cmdline      (source_cmdline.cc)
// A later source overrides an earlier one field by field. The secret never comes from the
// command line. Every source takes a path or URL so that tests point it at fixtures.
#pragma once
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "firstboot/node_config.h"

namespace mi::firstboot {

// The fields one source sets. `where` of each: "cluster.yaml:4:3", "nocloud:meta-data",
// "cmdline", ... (becomes NodeConfig::provenance).
template <class T>
struct Set {
  std::optional<T> value;
  std::string where;
  void set(T v, std::string w) {
    value = std::move(v);
    where = std::move(w);
  }
};

struct ConfigLayer {
  std::string source;    // "defaults", "nocloud", "configdrive", "ec2", "openstack", "cmdline"
  bool present = false;  // the source exists (a missing seed is not an error)
  Set<Role> role;
  Set<std::string> cluster, datacenter;
  Set<int> control_count;
  Set<std::string> discovery;
  Set<std::vector<std::string>> static_peers;
  Set<std::string> dns_name, beacon_group, cloud_join;
  Set<std::vector<std::string>> wan_join;
  Set<std::string> secret;       // the value itself (seed / user-data)
  Set<std::string> secret_file;  // or a file holding it (read by merge_layers)
  Set<std::string> node_name, address, interface, state_dir, instance_id;
};

// ---- the sources; each returns present=false when its input does not exist ----
// YAML: cluster: {name, datacenter, control_count, discovery: {method, peers, dns_name,
// beacon_group, cloud_join}, wan_join}, role, secret_file, node, address, iface, state_dir.
ConfigLayer read_cluster_yaml(const std::string& path);
// Parses the same schema from text (`where` names it in errors: "where:line:col").
void parse_mi_yaml(const std::string& text, const std::string& where, ConfigLayer* layer);

// A mounted NoCloud seed directory: meta-data (instance-id, local-hostname) and user-data
// (#cloud-config with an `mi:` key holding the cluster.yaml schema plus `secret`).
ConfigLayer read_nocloud(const std::string& dir);
// A mounted OpenStack config drive: openstack/latest/meta_data.json (uuid, name/hostname,
// meta: {mi_role, mi_cluster, mi_dc, mi_control_count, mi_discovery, mi_peers, mi_wan_join,
// mi_secret, ...}) and openstack/latest/user_data (#cloud-config with `mi:` as NoCloud).
ConfigLayer read_configdrive(const std::string& dir);
// Parses OpenStack meta_data.json / user_data text (shared by the drive and HTTP metadata).
void parse_openstack_meta(const std::string& json, const std::string& where, ConfigLayer* layer);
void parse_user_data(const std::string& text, const std::string& where, ConfigLayer* layer);

// Cloud metadata over HTTP at `base_url` (default http://169.254.169.254).
// EC2 IMDSv2: PUT /latest/api/token (X-aws-ec2-metadata-token-ttl-seconds), then GETs with
// X-aws-ec2-metadata-token of /latest/meta-data/{instance-id,local-ipv4,local-hostname} and
// /latest/user-data (404 = none). Not answering (timeout/refused) = present=false.
ConfigLayer read_ec2_metadata(const std::string& base_url, int timeout_ms = 1000);
// OpenStack: GET /openstack/latest/meta_data.json and /openstack/latest/user_data.
ConfigLayer read_openstack_metadata(const std::string& base_url, int timeout_ms = 1000);
// The metadata services' answers, interpreted apart from the requests (pure; fuzzed by
// tests/fuzz/metadata_fuzz.cc). ec2_token_answer: the IMDSv2 session token, or nullopt when
// the answer is not one (not IMDSv2). metadata_answer: the body of a 200; nullopt for a 404
// when `optional`; else mi::Error{where, "<service> metadata answered HTTP N"}.
struct HttpResponse;
std::optional<std::string> ec2_token_answer(const HttpResponse& r);
std::optional<std::string> metadata_answer(const HttpResponse& r, const std::string& where, bool optional,
                                           const std::string& service);

// The kernel command line: mi.role= mi.cluster= mi.dc= mi.control_count= mi.discovery=
// mi.peers=a,b,c mi.wan_join=a,b mi.node= mi.address= mi.iface= (also mi.dns_name=,
// mi.beacon_group=, mi.cloud_join=, mi.secret_file=, mi.state_dir=). Double quotes group
// words as the kernel does ("mi.cloud_join=provider=aws tag_key=mi"). mi.secret= is
// rejected with an error (/proc/cmdline is world-readable). Unknown mi.* keys are errors.
ConfigLayer parse_cmdline(const std::string& text, const std::string& where = "cmdline");
ConfigLayer read_cmdline(const std::string& path = "/proc/cmdline");

// ---- finding the seeds ----
// The block device carrying a file system with this label ("cidata", "config-2", also
// "CIDATA"/"CONFIG-2"), via /dev/disk/by-label or `blkid -t LABEL=... -o device`; "" if none.
std::string find_device_by_label(const std::string& label);
// Mounts `device` read-only at `mountpoint` (created); unmount_seed() undoes it.
void mount_readonly(const std::string& device, const std::string& mountpoint);
void unmount_seed(const std::string& mountpoint);

// ---- merge ----
// Applies layers in order (later wins per field), reads secret_file if the winning secret
// setting is a file (read_secret_file), fills node_name when nothing set it with
// "<role>-<first 6 hex of the machine-id>" (every clone of an image has the same host name,
// but its own machine-id; the host name only when `machine_id_file` is missing or empty),
// validates (role names, odd control_count >= 1, discovery method and its setting, address
// literal), and records provenance. Throws mi::Error naming the field and the source that
// set it. No secret is not an error here (NodeConfig::secret stays empty, and
// NodeConfig::secret_note says why when a named secret_file is missing or empty): the run
// waits for one (fleet_secret.h).
NodeConfig merge_layers(const std::vector<ConfigLayer>& layers, const std::string& machine_id_file = "/etc/machine-id");

// The machine-id in `path` (32 lowercase hex digits, as systemd writes /etc/machine-id), or ""
// when the file is missing, empty or holds no machine-id (e.g. "uninitialized").
std::string read_machine_id(const std::string& path);

// Reads a file holding the cluster secret, trimmed of trailing newlines and spaces. Refused
// (mi::Error at `path`, with its mode in octal and the fix) when anyone but its owner may
// access it other than by group read, i.e. when (mode & 0137) != 0: 0600, 0400, 0640, 0440
// are accepted. A directory, a missing or an empty file are errors too (`where` names the
// setting that named the file).
std::string read_secret_file(const std::string& path, const std::string& where);

// Where each source is looked for; tests point these at fixtures.
struct SourcePaths {
  std::string defaults_file = "/usr/lib/mi/cluster.yaml";
  std::string nocloud_dir;      // "" = find label cidata, mount under run_dir
  std::string configdrive_dir;  // "" = find label config-2, mount under run_dir
  bool find_seeds = true;       // false: only the dirs above (tests)
  std::string run_dir = "/run/mi";
  std::string metadata_url = "http://169.254.169.254";  // "" = skip cloud metadata
  int metadata_timeout_ms = 1000;
  std::string cmdline_file = "/proc/cmdline";  // "" = skip
  // The node name's default comes from the machine-id (merge_layers).
  std::string machine_id_file = "/etc/machine-id";
};

// Reads every source (in precedence order) and merges them.
std::vector<ConfigLayer> read_all_sources(const SourcePaths& paths);
NodeConfig load_node_config(const SourcePaths& paths = {});

// "field <- source" lines for status/logs (never the secret's value).
std::string describe_provenance(const NodeConfig& cfg);

}  // namespace mi::firstboot

// The image spec: what `mibuild` reads from spec.yaml + roles/*.yaml, validated, with the
// position of every value kept so that later errors can point back into the file.
// Flow: spec.yaml → parse_spec() → Spec → resolve_role() → plan.h → stages.
#pragma once
#include <map>
#include <string>
#include <vector>

namespace mi {

struct Pos {
  std::string file;
  int line = 0;  // 1-based; 0 when unknown
  int col = 0;   // 1-based
  std::string str() const;  // "file:line:col"
};

struct Base {
  std::string release = "bookworm";
  std::string mirror = "http://deb.debian.org/debian";
  std::string kernel = "linux-image-amd64";
  std::vector<std::string> packages;  // installed in every role
};

struct User {
  std::string name;
  std::vector<std::string> ssh_keys;  // authorized_keys lines; there are no passwords
  std::vector<std::string> groups;
  Pos pos;
};

// A stack component: from Debian (optionally another suite, pinned for this package alone)
// or an artifact (URL or local path + sha256).
struct Component {
  std::string name;
  std::string source;                 // "debian" | "artifact"
  std::vector<std::string> packages;  // debian: the packages (default: {name})
  std::string suite;                  // debian: e.g. "bullseye"; empty = base release
  std::string version;                // expected upstream version, checked when known
  std::string url;                    // artifact
  std::string path;                   // artifact, relative to the spec's directory
  std::string sha256;                 // artifact
  bool optional = false;
  Pos pos;
};

struct Discovery {
  std::string method = "static";       // static | dns | beacon | cloud
  std::vector<std::string> peers;      // static
  std::string dns_name;                // dns
  std::string beacon_group = "239.255.77.77:7946";  // beacon
  std::string cloud_join;              // cloud: a Consul cloud auto-join string
};

// Cluster defaults baked into the image as /usr/lib/mi/cluster.yaml for mi-firstboot.
struct ClusterDefaults {
  std::string name = "mi";
  std::string datacenter = "dc1";
  int control_count = 3;  // odd
  Discovery discovery;
  std::vector<std::string> wan_join;
};

struct Disk {
  int esp_mb = 256;
  int var_mb = 1024;
};

struct Role {
  std::string name;
  std::vector<std::string> include;     // roles composed into this one
  std::vector<std::string> packages;
  std::vector<std::string> components;  // names in Spec::components
  std::vector<std::string> overlays;    // directories under overlays/
  std::vector<std::string> services;    // systemd units enabled in the image
  Pos pos;
};

// A role with its includes flattened (order kept, duplicates dropped).
struct ResolvedRole {
  std::string name;
  std::vector<std::string> packages;
  std::vector<std::string> components;
  std::vector<std::string> overlays;
  std::vector<std::string> services;
};

struct Spec {
  std::string file;  // path of spec.yaml
  std::string dir;   // its directory: relative paths resolve against it
  std::string name = "mi";
  std::string seed;  // derives UUIDs and salts; default: name
  Base base;
  std::vector<std::string> roles;    // the roles to build
  std::vector<std::string> formats;  // raw | qcow2 | ...
  std::vector<std::string> overlays; // applied to every role, before the role's own
  std::vector<User> users;
  std::map<std::string, Component> components;
  ClusterDefaults cluster;
  Disk disk;
  std::map<std::string, Role> role_defs;  // every role found (roles/*.yaml + inline)
  std::string overlays_dir;               // where overlay names resolve
};

}  // namespace mi

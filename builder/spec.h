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
  int line = 0;             // 1-based; 0 when unknown
  int col = 0;              // 1-based
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
  std::string method = "static";                    // static | dns | beacon | cloud
  std::vector<std::string> peers;                   // static
  std::string dns_name;                             // dns
  std::string beacon_group = "239.255.77.77:7946";  // beacon
  std::string cloud_join;                           // cloud: a Consul cloud auto-join string
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
  std::vector<std::string> include;  // roles composed into this one
  std::vector<std::string> packages;
  std::vector<std::string> components;  // names in Spec::components
  std::vector<std::string> overlays;    // directories under overlays/
  std::vector<std::string> services;    // systemd units enabled in the image
  Pos pos;
  // Added by the parser: where the role came from and where each list entry sits, so that
  // cross-checks (unknown component, include cycle) point at the entry.
  std::string file;                // roles/<x>.yaml
  std::vector<Pos> include_pos;    // parallel to include
  std::vector<Pos> component_pos;  // parallel to components
  std::vector<Pos> overlay_pos;    // parallel to overlays
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
  std::vector<std::string> roles;     // the roles to build
  std::vector<std::string> formats;   // raw | qcow2 | ...
  std::vector<std::string> overlays;  // applied to every role, before the role's own
  std::vector<User> users;
  std::map<std::string, Component> components;
  ClusterDefaults cluster;
  Disk disk;
  std::map<std::string, Role> role_defs;  // every role found in roles_dir/*.yaml
  std::string overlays_dir;               // where overlay names resolve (absolute)
  bool allow_outside_paths = false;       // SpecOptions::allow_outside_paths, as parsed with
  // Added by the parser:
  std::string roles_dir;                // where roles/*.yaml were read (default <dir>/roles)
  std::vector<std::string> role_files;  // every roles/*.yaml read, sorted
  std::vector<Pos> roles_pos;           // parallel to roles
  std::vector<Pos> formats_pos;         // parallel to formats
  std::vector<Pos> overlays_pos;        // parallel to overlays
};

// One problem found in a spec, printed as "FILE:LINE:COL: message".
struct Diag {
  Pos pos;
  std::string message;
  std::string str() const;
};

// Parsing never stops at the first problem: every error found is in `errors` (in file order
// per file), and `spec` holds whatever could be read. `notes` are not errors (e.g. an optional
// component that will be left out of the image).
struct SpecResult {
  Spec spec;
  std::vector<Diag> errors;
  std::vector<Diag> notes;
  bool ok() const { return errors.empty(); }
};

// Reads spec.yaml, every roles/*.yaml of its roles_dir, and checks all of it (types, unknown
// keys, files that must exist, cross references, role include cycles, cluster sanity).
struct SpecOptions {
  // Paths in the spec (components.*.path, overlays_dir, roles_dir, overlay directories) must be
  // relative and stay inside the spec's directory tree, symlinks resolved; `mibuild
  // --allow-outside-paths` lifts that rule (absolute paths and paths leaving the tree allowed).
  bool allow_outside_paths = false;
};
SpecResult parse_spec(const std::string& path, const SpecOptions& opts = {});
// The same on `text` as the content of the spec file `path` (which need not exist; its directory
// still anchors relative paths and roles_dir). For the fuzzer and tests of the grammar.
SpecResult parse_spec_text(const std::string& text, const std::string& path, const SpecOptions& opts = {});

// parse_spec, throwing mi::Error{first error's position, message (+ how many more)} when invalid.
Spec load_spec(const std::string& path, const SpecOptions& opts = {});

// The spec `mibuild` uses when none is given: $MI_SPEC, else the repository's spec.yaml.
std::string default_spec_path();

// The formats `mibuild build` writes.
const std::vector<std::string>& supported_formats();
// "" when `format` can be built, else why not (an unknown format), naming the supported ones.
std::string check_format(const std::string& format);
// The output file extension of a format ("raw" → "raw", "qcow2" → "qcow2", "tar" → "tar").
std::string format_extension(const std::string& format);

// "" when the component can be put into an image (a Debian package, or an artifact with
// url+sha256 or an existing path+sha256); else why not and how to provide it, e.g.
// "provide components.mesos.url+sha256 or path+sha256".
std::string component_unresolved_reason(const Spec& spec, const Component& c);

// A path from the spec, made absolute against the spec's directory (absolute paths unchanged).
std::string spec_path(const Spec& spec, const std::string& p);

}  // namespace mi

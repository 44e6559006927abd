// The Plan: what `mibuild build` will do for each role, as ordered stages (bootstrap →
// packages → components → overlays → firstboot → finalize → assemble → formats), each keyed by
// a SHA-256 over all of its inputs and the previous stage's key, so a key changes exactly when
// something that stage (or an earlier one) depends on changes. Printed by `--dry-run`,
// recorded in the manifest, usable as a cache key by the stages.
// Flow: Spec + ResolvedRole → make_plan() → Plan → (print | build) → manifest.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "builder/spec.h"

namespace mi {

struct Stage {
  std::string name;  // "bootstrap", "packages", ...
  std::string key;   // sha256 hex over `inputs` and the previous stage's key
  // What went into the key, as "label=value" lines (file contents as their sha256), in order.
  std::vector<std::string> inputs;
};

struct RolePlan {
  std::string role;
  ResolvedRole resolved;
  std::vector<std::string> overlays;                         // applied in this order: Spec::overlays, then the role's
  std::vector<Stage> stages;                                 // in order; the last one is "formats"
  std::vector<std::pair<std::string, std::string>> outputs;  // (format, OUTDIR/<name>-<role>.<ext>)
  std::vector<std::string> absent;  // components left out, with why ("mesos (optional; provide ...)")
};

struct PlanOptions {
  std::vector<std::string> roles;    // empty: the spec's roles
  std::vector<std::string> formats;  // empty: the spec's formats
  std::string compression;           // qcow2 clusters: "" (none), "zlib", "zstd"
  std::string out_dir = "out";
  std::string firstboot_binary;  // mi-firstboot baked into the image (hashed when it exists)
  std::string builder_id;        // identifies the mibuild doing the work (its binary's sha256)
  std::string pxe_url;           // pxe: --pxe-url (part of the formats key: it is in the bundle's texts)
};

struct Plan {
  std::string spec_file;
  std::string out_dir;
  std::vector<std::string> formats;
  std::string compression;  // qcow2 clusters: "" (none), "zlib", "zstd"
  std::string pxe_url;      // as given in PlanOptions
  std::vector<RolePlan> roles;
  std::string manifest;                  // OUTDIR/manifest.json
  std::string firstboot_binary;          // as given in PlanOptions; "" or missing: the plan says so
  std::vector<std::string> input_files;  // every file read: spec, roles files, overlay files, local artifacts
};

// The names of the stages, in order.
const std::vector<std::string>& stage_names();

// Builds the plan. Reads (and hashes) the overlay trees and local artifacts; touches nothing.
// Throws mi::Error for an unknown role or a format that cannot be built.
Plan make_plan(const Spec& spec, const PlanOptions& opts);

// The plan as `mibuild build --dry-run` prints it.
std::string format_plan(const Plan& plan);

// /usr/lib/mi/cluster.yaml as baked into `role`'s image: the spec's cluster block, and the
// role when it is one mi-firstboot knows (control, compute, all-in-one). Read by
// firstboot/source_cluster_yaml.cc (docs/firstboot.md); part of the firstboot stage's key.
// Per-role defaults: an all-in-one image is one machine, so it expects one control node
// (control_count 1) and forms its cluster alone; control and compute keep the spec's count.
std::string cluster_defaults_yaml(const Spec& spec, const std::string& role);
int role_control_count(const Spec& spec, const std::string& role);

// What each built role's defaults mean for forming a cluster, one line per role, for
// `mibuild validate`: "all-in-one: forms a one-node cluster by itself", "control: 3 control
// nodes ...", and "cannot form a cluster: ..." where the defaults cannot.
std::vector<std::string> cluster_notes(const Spec& spec);

// Where mibuild finds mi-firstboot to bake in: $MI_FIRSTBOOT_BINARY, else the build tree's.
std::string default_firstboot_binary();

// The mibuild version recorded in manifests and in the bootstrap key.
std::string mibuild_version();

}  // namespace mi

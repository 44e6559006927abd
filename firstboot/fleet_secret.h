// The fleet secret on a node, after the config sources are merged and before anything uses
// it (the identity step; `plan` reads only). A secret that came from a source (seed, config
// drive, metadata, secret_file) is persisted at <state_dir>/firstboot/secret on the node's
// first run, so that a seed removed after the first boot does not change the gossip key; a
// node never changes fleet, so a different secret later is refused. Without any secret a
// one-node all-in-one makes its own; every other node waits for one (never forms an
// unauthenticated cluster). The value never appears in logs, provenance or errors.
#pragma once
#include <cstddef>
#include <string>

#include "firstboot/node_config.h"

namespace mi::firstboot {

// <state_dir>/firstboot/secret
std::string persisted_secret_path(const std::string& state_dir);

struct SecretResolution {
  bool ready = false;   // cfg.secret is set
  std::string said;     // what happened, for the log ("" = nothing new); never the value
  std::string waiting;  // not ready: what the node waits for, one line (for `status`)
};

// Resolves cfg.secret against the persisted one (see above) and updates cfg.provenance
// ("state: <path>" when the persisted one is used). `may_write` false (plan): persists and
// makes nothing (a one-node all-in-one without a secret: not ready, `said` tells what a run
// would do, `waiting` empty). Throws mi::Error when a source gives a secret other than the persisted one,
// or the persisted file cannot be read or written.
SecretResolution resolve_fleet_secret(NodeConfig& cfg, bool may_write = true);

// `bytes` random bytes (getrandom(2)) as lowercase hex.
std::string random_hex(size_t bytes);

}  // namespace mi::firstboot

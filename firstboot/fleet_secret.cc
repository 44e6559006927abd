// Persisting, reusing, making or waiting for the fleet secret (fleet_secret.h).
#include "firstboot/fleet_secret.h"

#include <sys/random.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "common/digest.h"
#include "common/error.h"
#include "common/files.h"
#include "firstboot/beacon.h"
#include "firstboot/config_sources.h"

namespace mi::firstboot {
namespace {

void set_provenance(NodeConfig& cfg, const std::string& src) {
  for (auto& [field, s] : cfg.provenance)
    if (field == "secret") {
      s = src;
      return;
    }
  cfg.provenance.emplace_back("secret", src);
}

std::string provenance_of(const NodeConfig& cfg) {
  for (const auto& [field, s] : cfg.provenance)
    if (field == "secret") return s;
  return "config";
}

void persist(const std::string& path, const std::string& secret) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  write_file_atomic(path, secret + "\n", 0600);
}

}  // namespace

std::string persisted_secret_path(const std::string& state_dir) { return state_dir + "/firstboot/secret"; }

std::string random_hex(size_t bytes) {
  std::string buf(bytes, '\0');
  size_t got = 0;
  while (got < bytes) {
    ssize_t n = getrandom(buf.data() + got, bytes - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error("getrandom", strerror(errno));
    }
    got += size_t(n);
  }
  return to_hex(reinterpret_cast<const uint8_t*>(buf.data()), bytes);
}

SecretResolution resolve_fleet_secret(NodeConfig& cfg, bool may_write) {
  SecretResolution r;
  const std::string path = persisted_secret_path(cfg.state_dir);
  const bool persisted = access(path.c_str(), F_OK) == 0;
  if (!cfg.secret.empty()) {
    r.ready = true;
    if (persisted) {
      std::string kept = read_secret_file(path, path);
      if (kept != cfg.secret)
        throw Error(
            path, "the cluster secret from " + provenance_of(cfg) + " (fingerprint " + secret_fingerprint(cfg.secret) +
                      ") differs from the one this node kept from its first " + "boot (fingerprint " +
                      secret_fingerprint(kept) +
                      "): a node never changes fleet; give it its fleet's secret (or reinstall /var to move it)");
    } else if (may_write) {
      persist(path, cfg.secret);
      r.said = "kept the cluster secret from " + provenance_of(cfg) + " at " + path + " (fingerprint " +
               secret_fingerprint(cfg.secret) + ")";
    }
    return r;
  }
  if (persisted) {
    cfg.secret = read_secret_file(path, path);
    set_provenance(cfg, "state: " + path);
    r.ready = true;
    return r;
  }
  // Nothing anywhere. One node alone may make its own; a fleet must be given one, or its
  // nodes would each make another and never find each other (or form unauthenticated).
  if (cfg.role == Role::all_in_one && cfg.control_count == 1) {
    if (!may_write) {
      r.said = "no cluster secret given: a run makes one at " + path + " (one-node all-in-one)";
      return r;
    }
    cfg.secret = random_hex(32);
    persist(path, cfg.secret);
    set_provenance(cfg, "made by this node: " + path);
    r.ready = true;
    r.said = "no cluster secret given: made one for this one-node all-in-one cluster at " + path + " (fingerprint " +
             secret_fingerprint(cfg.secret) + ")";
    return r;
  }
  r.waiting = "no cluster secret" + (cfg.secret_note.empty() ? "" : " (" + cfg.secret_note + ")") +
              ": give it in a NoCloud seed (user-data `mi: {secret: ...}`, `mibuild seed` writes one), a config "
              "drive, cloud metadata or secret_file";
  return r;
}

}  // namespace mi::firstboot

// The discovery beacon: an authenticated UDP datagram that a node multicasts on its LAN about
// once a second during first boot ("I am NAME at ADDRESS, role R, with this cluster config"),
// so that nodes without a static peer list or DNS find each other. This header is the codec
// (pure functions: bytes in, bytes out) and the receive-side filter (replay, staleness and
// config-mismatch checks with counters). The socket loop is discover_beacon() in
// beacon_socket.cc; discovery.h dispatches to it when NodeConfig::discovery == "beacon".
//
// Wire format, version 1 (all integers big-endian, no padding):
//
//   off  len  field
//   0    4    magic "MIBC" (4d 49 42 43)
//   4    1    version = 1
//   5    1    flags: bit 0 = the sender has already committed an ensemble; others 0
//   6    8    cluster id: first 8 bytes of HMAC-SHA256(K, cluster name)
//   14   1    n = length of the sender's node name, 1..64
//   15   n    node name (bytes, no terminator)
//   15+n 1    address family: 0 = none (use the datagram's source), 4 = IPv4, 6 = IPv6
//   ..   0|4|16  address (network order), length by family
//   ..   1    role: 0 control, 1 compute, 2 all-in-one
//   ..   32   config digest: SHA-256 over the cluster-wide settings (config_digest())
//   ..   8    timestamp, u64 milliseconds since the Unix epoch
//   ..   8    sequence, u64, strictly increasing per sender (starts at the sender's start
//             time in ms, so a restarted sender keeps increasing)
//   ..   32   HMAC-SHA256(K, every byte before this field), full length
//
// K = HKDF-SHA256(ikm = cluster secret, salt = "", info = "mi beacon v1", 32 bytes), see
// beacon_key(). A node with another secret or another cluster name computes another cluster
// id, so its beacons are counted as other_cluster; a forged or damaged beacon fails the MAC.
// Total size: 15 + n + 1 + (0|4|16) + 1 + 32 + 16 + 32 = 97 + n (+4 or +16) bytes.
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/digest.h"
#include "firstboot/node_config.h"

namespace mi::firstboot {

constexpr uint8_t kBeaconVersion = 1;
constexpr uint8_t kBeaconFlagCommitted = 0x01;
constexpr size_t kBeaconMaxName = 64;

struct BeaconMessage {
  std::string cluster;  // not sent: encode hashes it into the cluster id; decode sets it
  uint8_t flags = 0;
  std::string name;     // sender's node name
  std::string address;  // sender's claimed address (IPv4/IPv6 literal), "" = none
  Role role = Role::control;
  Bytes32 digest{};  // config_digest() of the sender
  uint64_t timestamp_ms = 0;
  uint64_t sequence = 0;
};

// The beacon key K from the cluster secret (32 bytes).
std::string beacon_key(const std::string& secret);
// First 8 bytes of HMAC-SHA256(K, cluster name).
std::array<uint8_t, 8> beacon_cluster_id(const std::string& key, const std::string& cluster);

// A short public fingerprint of the secret (hex, 16 chars), safe for logs and status:
// HKDF(secret, "", "mi secret fingerprint", 8).
std::string secret_fingerprint(const std::string& secret);
// SHA-256 over the cluster-wide settings every node of a cluster must agree on: cluster name,
// datacenter, control_count, ports, secret fingerprint (a canonical text, see beacon.cc).
Bytes32 config_digest(const NodeConfig& cfg);

// Encodes `m` under key K. Throws mi::Error{"beacon", ...} if the name is empty or longer
// than kBeaconMaxName, or the address is not an IP literal.
std::string encode_beacon(const BeaconMessage& m, const std::string& key);

enum class BeaconStatus {
  ok,
  malformed,        // truncated, bad magic/version/lengths/enums, trailing bytes
  other_cluster,    // cluster id is not ours (another cluster name or another secret)
  bad_mac,          // our cluster id but the HMAC does not verify
  stale,            // timestamp outside +-window of our clock (filter only)
  wrong_source,     // the datagram's source is not the address the beacon names, or it names none (filter only)
  replayed,         // sequence not above the highest seen from that sender (filter only)
  config_mismatch,  // authenticated, but the config digest differs from ours (filter only)
  self,             // our own beacon, looped back (filter only)
};
const char* beacon_status_name(BeaconStatus s);

// Stateless decode: checks the format, the cluster id and the MAC. On ok fills `*out`.
// Never reads outside `bytes`, whatever they hold.
BeaconStatus decode_beacon(const std::string& bytes, const std::string& key, const std::string& cluster,
                           BeaconMessage* out);

struct BeaconCounters {
  uint64_t accepted = 0, malformed = 0, other_cluster = 0, bad_mac = 0, stale = 0, wrong_source = 0, replayed = 0,
           config_mismatch = 0, self = 0;
  uint64_t dropped() const {
    return malformed + other_cluster + bad_mac + stale + wrong_source + replayed + config_mismatch;
  }
};

// Receive-side state: decode, then the source check, the time window, the per-sender replay
// check and the config digest comparison; every drop is counted. A beacon is believed only
// from the address it names (the datagram's source must be that address), so a genuine
// beacon captured and sent again from another host is wrong_source, and one sent again from
// its own address is replayed: the highest sequence per sender address is kept for the
// whole run and, through replay_state_to_json / load_replay_state (persisted by the beacon
// socket under the state dir), across restarts of the process.
struct BeaconFilter {
  std::string key;      // beacon_key(secret)
  std::string cluster;  // our cluster name
  std::string self_name;
  std::string self_address;                          // "" = unknown: then our own beacons are known by name
  Bytes32 digest{};                                  // our config_digest()
  int64_t window_ms = 30000;                         // accepted clock skew, either direction
  std::map<std::string, uint64_t> highest_sequence;  // per sender address
  // Senders whose authenticated beacons carry another config digest: address -> name.
  std::map<std::string, std::string> mismatched;
  BeaconCounters counters;
};
BeaconFilter make_beacon_filter(const NodeConfig& cfg, int64_t window_ms = 30000);

// Runs one received datagram through the filter at local time `now_ms`. `source` is the
// datagram's source address, which must be the address the beacon names. On ok and
// config_mismatch fills `*out`. Counts the result in f.counters.
BeaconStatus filter_beacon(BeaconFilter& f, const std::string& bytes, uint64_t now_ms, const std::string& source,
                           BeaconMessage* out);

// The replay state (highest sequence per sender address) as JSON {"version":1,"highest":{...}},
// and back into a filter (entries only raise what the filter holds). A malformed text throws
// mi::Error{where, ...}: replay protection is never silently reset.
std::string replay_state_to_json(const BeaconFilter& f);
void load_replay_state(BeaconFilter& f, const std::string& json, const std::string& where);

}  // namespace mi::firstboot

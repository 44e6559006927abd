// The beacon codec and receive-side filter (format in beacon.h). Decoding checks, in order:
// the structure (magic, version, lengths, address family; anything else is malformed), the
// cluster id (other_cluster), the HMAC (bad_mac), then the authenticated contents (role
// value, name characters: malformed). So a damaged or forged beacon of our cluster is
// bad_mac unless the damage hit the magic, version, a length or the family byte.
#include "firstboot/beacon.h"

#include <arpa/inet.h>
#include <openssl/crypto.h>

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

#include "common/endian.h"
#include "common/error.h"

namespace mi::firstboot {
namespace {

constexpr char kMagic[4] = {'M', 'I', 'B', 'C'};
constexpr size_t kHeader = 15;  // magic, version, flags, cluster id, name length
constexpr size_t kMac = 32;

bool valid_name(const std::string& n) {
  if (n.empty() || n.size() > kBeaconMaxName) return false;
  for (char c : n)
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_')) return false;
  return true;
}

}  // namespace

std::string beacon_key(const std::string& secret) { return hkdf_sha256(secret, "", "mi beacon v1", 32); }

std::array<uint8_t, 8> beacon_cluster_id(const std::string& key, const std::string& cluster) {
  auto h = hmac_sha256(key, cluster);
  std::array<uint8_t, 8> id{};
  std::memcpy(id.data(), h.data(), 8);
  return id;
}

std::string secret_fingerprint(const std::string& secret) {
  std::string f = hkdf_sha256(secret, "", "mi secret fingerprint", 8);
  return to_hex(reinterpret_cast<const uint8_t*>(f.data()), f.size());
}

Bytes32 config_digest(const NodeConfig& c) {
  // One canonical line per setting; a new cluster-wide setting is added here (and the
  // beacon version bumped only if the format changes, not the digest input).
  const Ports& p = c.ports;
  std::string text = "mi config v1\n";
  text += "cluster=" + c.cluster + "\n";
  text += "datacenter=" + c.datacenter + "\n";
  text += "control_count=" + std::to_string(c.control_count) + "\n";
  text += "ports=zk:" + std::to_string(p.zk_client) + "," + std::to_string(p.zk_peer) + "," +
          std::to_string(p.zk_election) + ";consul:" + std::to_string(p.consul_server) + "," +
          std::to_string(p.consul_serf_lan) + "," + std::to_string(p.consul_serf_wan) + "," +
          std::to_string(p.consul_http) + "," + std::to_string(p.consul_dns) +
          ";mesos:" + std::to_string(p.mesos_master) + "," + std::to_string(p.mesos_agent) +
          ";marathon:" + std::to_string(p.marathon) + "\n";
  text += "secret=" + secret_fingerprint(c.secret) + "\n";
  return sha256(text);
}

std::string encode_beacon(const BeaconMessage& m, const std::string& key) {
  if (!valid_name(m.name))
    throw Error("beacon", "node name '" + m.name + "' must be 1.." + std::to_string(kBeaconMaxName) +
                              " characters of [A-Za-z0-9._-]");
  uint8_t family = 0;
  uint8_t addr[16] = {};
  size_t addr_len = 0;
  if (!m.address.empty()) {
    if (inet_pton(AF_INET, m.address.c_str(), addr) == 1) {
      family = 4;
      addr_len = 4;
    } else if (inet_pton(AF_INET6, m.address.c_str(), addr) == 1) {
      family = 6;
      addr_len = 16;
    } else {
      throw Error("beacon", "address '" + m.address + "' is not an IPv4 or IPv6 literal");
    }
  }
  std::string out(kMagic, 4);
  out += char(kBeaconVersion);
  out += char(m.flags);
  auto id = beacon_cluster_id(key, m.cluster);
  out.append(reinterpret_cast<const char*>(id.data()), id.size());
  out += char(m.name.size());
  out += m.name;
  out += char(family);
  out.append(reinterpret_cast<const char*>(addr), addr_len);
  out += char(static_cast<uint8_t>(m.role));
  out.append(reinterpret_cast<const char*>(m.digest.data()), m.digest.size());
  uint8_t nums[16];
  put_be64(nums, m.timestamp_ms);
  put_be64(nums + 8, m.sequence);
  out.append(reinterpret_cast<const char*>(nums), sizeof nums);
  auto mac = hmac_sha256(key, out);
  out.append(reinterpret_cast<const char*>(mac.data()), mac.size());
  return out;
}

const char* beacon_status_name(BeaconStatus s) {
  switch (s) {
    case BeaconStatus::ok:
      return "ok";
    case BeaconStatus::malformed:
      return "malformed";
    case BeaconStatus::other_cluster:
      return "other_cluster";
    case BeaconStatus::bad_mac:
      return "bad_mac";
    case BeaconStatus::stale:
      return "stale";
    case BeaconStatus::wrong_source:
      return "wrong_source";
    case BeaconStatus::replayed:
      return "replayed";
    case BeaconStatus::config_mismatch:
      return "config_mismatch";
    case BeaconStatus::self:
      return "self";
  }
  return "?";
}

BeaconStatus decode_beacon(const std::string& bytes, const std::string& key, const std::string& cluster,
                           BeaconMessage* out) {
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  const size_t size = bytes.size();
  // Structure: every length is checked against `size` before it is used.
  if (size < kHeader || std::memcmp(p, kMagic, 4) != 0 || p[4] != kBeaconVersion) return BeaconStatus::malformed;
  size_t n = p[14];
  if (n == 0 || n > kBeaconMaxName) return BeaconStatus::malformed;
  size_t off = kHeader + n;
  if (size < off + 1) return BeaconStatus::malformed;
  uint8_t family = p[off];
  size_t addr_len = family == 0 ? 0 : family == 4 ? 4 : family == 6 ? 16 : SIZE_MAX;
  if (addr_len == SIZE_MAX) return BeaconStatus::malformed;
  const size_t addr_off = off + 1;
  const size_t role_off = addr_off + addr_len;
  const size_t digest_off = role_off + 1;
  const size_t ts_off = digest_off + 32;
  const size_t mac_off = ts_off + 16;
  if (size != mac_off + kMac) return BeaconStatus::malformed;  // truncated or trailing bytes

  auto id = beacon_cluster_id(key, cluster);
  if (std::memcmp(p + 6, id.data(), 8) != 0) return BeaconStatus::other_cluster;
  auto mac = hmac_sha256(key, bytes.substr(0, mac_off));
  if (CRYPTO_memcmp(mac.data(), p + mac_off, kMac) != 0) return BeaconStatus::bad_mac;

  // Authenticated from here on; still check what a buggy sender could get wrong.
  if (p[role_off] > static_cast<uint8_t>(Role::all_in_one)) return BeaconStatus::malformed;
  std::string name(reinterpret_cast<const char*>(p + kHeader), n);
  if (!valid_name(name)) return BeaconStatus::malformed;
  BeaconMessage m;
  m.cluster = cluster;
  m.flags = p[5];
  m.name = name;
  if (family != 0) {
    char buf[INET6_ADDRSTRLEN] = {};
    inet_ntop(family == 4 ? AF_INET : AF_INET6, p + addr_off, buf, sizeof buf);
    m.address = buf;
  }
  m.role = static_cast<Role>(p[role_off]);
  std::memcpy(m.digest.data(), p + digest_off, 32);
  m.timestamp_ms = get_be64(p + ts_off);
  m.sequence = get_be64(p + ts_off + 8);
  if (out) *out = std::move(m);
  return BeaconStatus::ok;
}

BeaconFilter make_beacon_filter(const NodeConfig& cfg, int64_t window_ms) {
  BeaconFilter f;
  f.key = beacon_key(cfg.secret);
  f.cluster = cfg.cluster;
  f.self_name = cfg.node_name;
  f.self_address = cfg.address;
  f.digest = config_digest(cfg);
  f.window_ms = window_ms;
  return f;
}

BeaconStatus filter_beacon(BeaconFilter& f, const std::string& bytes, uint64_t now_ms, const std::string& source,
                           BeaconMessage* out) {
  BeaconMessage m;
  BeaconStatus s = decode_beacon(bytes, f.key, f.cluster, &m);
  if (s == BeaconStatus::ok) {
    int64_t skew = int64_t(m.timestamp_ms - now_ms);
    bool own = f.self_address.empty() ? m.name == f.self_name : m.address == f.self_address;
    if (own && source == m.address) {
      s = BeaconStatus::self;
    } else if (m.address.empty() || m.address != source) {
      s = BeaconStatus::wrong_source;  // believed only from the address it names
    } else if (skew > f.window_ms || skew < -f.window_ms) {
      s = BeaconStatus::stale;
    } else if (auto it = f.highest_sequence.find(m.address);
               it != f.highest_sequence.end() && m.sequence <= it->second) {
      s = BeaconStatus::replayed;
    } else {
      f.highest_sequence[m.address] = m.sequence;
      if (m.digest != f.digest) {
        f.mismatched[m.address] = m.name;
        s = BeaconStatus::config_mismatch;
      }
    }
  }
  switch (s) {
    case BeaconStatus::ok:
      f.counters.accepted++;
      break;
    case BeaconStatus::malformed:
      f.counters.malformed++;
      break;
    case BeaconStatus::other_cluster:
      f.counters.other_cluster++;
      break;
    case BeaconStatus::bad_mac:
      f.counters.bad_mac++;
      break;
    case BeaconStatus::stale:
      f.counters.stale++;
      break;
    case BeaconStatus::wrong_source:
      f.counters.wrong_source++;
      break;
    case BeaconStatus::replayed:
      f.counters.replayed++;
      break;
    case BeaconStatus::config_mismatch:
      f.counters.config_mismatch++;
      break;
    case BeaconStatus::self:
      f.counters.self++;
      break;
  }
  if (out && (s == BeaconStatus::ok || s == BeaconStatus::config_mismatch)) *out = std::move(m);
  return s;
}

std::string replay_state_to_json(const BeaconFilter& f) {
  nlohmann::json j = {{"version", 1}, {"highest", f.highest_sequence}};
  return j.dump() + "\n";
}

void load_replay_state(BeaconFilter& f, const std::string& json, const std::string& where) {
  nlohmann::json j = nlohmann::json::parse(json, nullptr, false);
  // (a "version" of another type, e.g. [1], is not version 1: j.value() would throw a type_error)
  if (j.is_discarded() || !j.is_object() || !j.contains("version") || j["version"] != 1 || !j.contains("highest") ||
      !j["highest"].is_object())
    throw Error(where, "not a beacon replay state (want {\"version\":1,\"highest\":{ADDRESS: SEQUENCE}})");
  for (auto& [addr, v] : j["highest"].items()) {
    if (!v.is_number_unsigned()) throw Error(where, "sequence of " + addr + " is not an unsigned number");
    uint64_t seq = v.get<uint64_t>();
    auto& cur = f.highest_sequence[addr];
    cur = std::max(cur, seq);
  }
}

}  // namespace mi::firstboot

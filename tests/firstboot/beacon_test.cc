// The beacon codec and filter: exact bytes of a known message (golden hex computed
// independently from the format in beacon.h with Python's hmac/hashlib), MAC verification,
// every bit flip and truncation, random garbage, and the filter's other_cluster, replayed,
// stale and config_mismatch drops, each counted.
#include "firstboot/beacon.h"

#include <catch2/catch.hpp>
#include <random>

#include "common/error.h"

using namespace mi::firstboot;

namespace {

std::string hex(const std::string& s) { return mi::to_hex(reinterpret_cast<const uint8_t*>(s.data()), s.size()); }

BeaconMessage known_message() {
  BeaconMessage m;
  m.cluster = "mi";
  m.name = "ctl-1";
  m.address = "10.0.0.11";
  m.role = Role::control;
  m.digest = mi::sha256("digest");
  m.timestamp_ms = 1700000000000ull;
  m.sequence = 42;
  return m;
}

// Python: K = HKDF(b"test-secret", b"", b"mi beacon v1", 32); see the format in beacon.h.
const char* kGolden =
    "4d494243"          // "MIBC"
    "01"                // version
    "00"                // flags
    "7be68e229f821dec"  // cluster id
    "05"
    "63746c2d31"  // name "ctl-1"
    "04"
    "0a00000b"                                                           // IPv4 10.0.0.11
    "00"                                                                 // role control
    "0bf474896363505e5ea5e5d6ace8ebfb13a760a409b1fb467d428fc716f9f284"   // digest
    "0000018bcfe56800"                                                   // timestamp ms
    "000000000000002a"                                                   // sequence 42
    "5fa20cdd36a3e95d10c41bf1d78afd16e3eed5c70a20989b9218c87c635f5155";  // HMAC

NodeConfig node(const std::string& name, const std::string& secret = "test-secret") {
  NodeConfig c;
  c.cluster = "mi";
  c.node_name = name;
  c.secret = secret;
  return c;
}

}  // namespace

TEST_CASE("beacon: golden bytes of a known message", "[beacon]") {
  std::string key = beacon_key("test-secret");
  std::string wire = encode_beacon(known_message(), key);
  CHECK(hex(wire) == kGolden);
  CHECK(wire.size() == 97 + 5 + 4);
  BeaconMessage back;
  REQUIRE(decode_beacon(wire, key, "mi", &back) == BeaconStatus::ok);
  CHECK(back.name == "ctl-1");
  CHECK(back.address == "10.0.0.11");
  CHECK(back.role == Role::control);
  CHECK(back.digest == mi::sha256("digest"));
  CHECK(back.timestamp_ms == 1700000000000ull);
  CHECK(back.sequence == 42);
  CHECK(back.flags == 0);
}

TEST_CASE("beacon: round trip of IPv6, no address, flags, roles", "[beacon]") {
  std::string key = beacon_key("s");
  for (std::string addr : {"fd00::77:1", ""}) {
    for (Role r : {Role::control, Role::compute, Role::all_in_one}) {
      BeaconMessage m = known_message();
      m.address = addr;
      m.role = r;
      m.flags = kBeaconFlagCommitted;
      m.name = std::string(kBeaconMaxName, 'n');
      BeaconMessage back;
      REQUIRE(decode_beacon(encode_beacon(m, key), key, "mi", &back) == BeaconStatus::ok);
      CHECK(back.address == addr);
      CHECK(back.role == r);
      CHECK(back.flags == kBeaconFlagCommitted);
      CHECK(back.name == m.name);
    }
  }
  BeaconMessage bad = known_message();
  bad.name = "";
  CHECK_THROWS_AS(encode_beacon(bad, key), mi::Error);
  bad.name = std::string(kBeaconMaxName + 1, 'n');
  CHECK_THROWS_AS(encode_beacon(bad, key), mi::Error);
  bad.name = "has space";
  CHECK_THROWS_AS(encode_beacon(bad, key), mi::Error);
  bad = known_message();
  bad.address = "not-an-ip";
  CHECK_THROWS_AS(encode_beacon(bad, key), mi::Error);
}

TEST_CASE("beacon: wrong key or cluster", "[beacon]") {
  std::string wire = encode_beacon(known_message(), beacon_key("test-secret"));
  CHECK(decode_beacon(wire, beacon_key("other-secret"), "mi", nullptr) == BeaconStatus::other_cluster);
  CHECK(decode_beacon(wire, beacon_key("test-secret"), "other", nullptr) == BeaconStatus::other_cluster);
}

TEST_CASE("beacon: every flipped bit is rejected; in the MAC-covered opaque fields it is bad_mac", "[beacon]") {
  std::string key = beacon_key("test-secret");
  std::string wire = encode_beacon(known_message(), key);
  // Layout of this message: 0-3 magic, 4 version, 5 flags, 6-13 cluster id, 14 name length,
  // 15-19 name, 20 family, 21-24 address, 25 role, then digest, timestamp, sequence, MAC.
  for (size_t byte = 0; byte < wire.size(); byte++) {
    for (int bit = 0; bit < 8; bit++) {
      std::string w = wire;
      w[byte] = char(w[byte] ^ (1 << bit));
      BeaconStatus s = decode_beacon(w, key, "mi", nullptr);
      INFO("byte " << byte << " bit " << bit << " -> " << beacon_status_name(s));
      CHECK(s != BeaconStatus::ok);
      if (byte <= 4 || byte == 14 || byte == 20)
        CHECK(s == BeaconStatus::malformed);  // magic, version, lengths, family: structure
      else if (byte >= 6 && byte <= 13)
        CHECK(s == BeaconStatus::other_cluster);
      else
        CHECK(s == BeaconStatus::bad_mac);
    }
  }
}

TEST_CASE("beacon: every truncation and any extension is malformed", "[beacon]") {
  std::string key = beacon_key("test-secret");
  std::string wire = encode_beacon(known_message(), key);
  for (size_t len = 0; len < wire.size(); len++) {
    INFO("length " << len);
    CHECK(decode_beacon(wire.substr(0, len), key, "mi", nullptr) == BeaconStatus::malformed);
  }
  CHECK(decode_beacon(wire + "x", key, "mi", nullptr) == BeaconStatus::malformed);
}

TEST_CASE("beacon: random garbage is dropped and counted", "[beacon]") {
  BeaconFilter f = make_beacon_filter(node("me"));
  std::mt19937_64 rng(12345);
  std::string wire = encode_beacon(known_message(), f.key);
  const int n = 5000;
  for (int i = 0; i < n; i++) {
    std::string buf;
    size_t len = rng() % 200;
    if (i % 2 == 0) {
      // Half of them start like a real beacon, so the deeper checks get exercised too.
      buf = wire.substr(0, std::min<size_t>(len, 15));
      buf[0] = 'M';
    }
    while (buf.size() < len) buf += char(rng());
    if (i % 2 == 0 && buf.size() >= 15) buf.replace(0, 15, wire.substr(0, 15));
    BeaconStatus s = filter_beacon(f, buf, 1700000000000ull, "127.0.0.1", nullptr);
    CHECK(s != BeaconStatus::ok);
  }
  CHECK(f.counters.accepted == 0);
  CHECK(f.counters.dropped() == uint64_t(n));
  CHECK(f.counters.malformed > 0);
}

TEST_CASE("beacon filter: ok, self, wrong source, other cluster, replayed, stale, config mismatch", "[beacon]") {
  NodeConfig me = node("me");
  me.address = "10.0.0.11";
  BeaconFilter f = make_beacon_filter(me, 30000);
  const uint64_t now = 1700000000000ull;
  auto beacon_from = [&](const NodeConfig& c, uint64_t ts, uint64_t seq, const std::string& addr) {
    BeaconMessage m;
    m.cluster = c.cluster;
    m.name = c.node_name;
    m.address = addr;
    m.role = c.role;
    m.digest = config_digest(c);
    m.timestamp_ms = ts;
    m.sequence = seq;
    return encode_beacon(m, beacon_key(c.secret));
  };
  NodeConfig peer = node("peer-1");
  BeaconMessage got;
  CHECK(filter_beacon(f, beacon_from(peer, now, 100, "10.0.0.12"), now, "10.0.0.12", &got) == BeaconStatus::ok);
  CHECK(got.address == "10.0.0.12");
  // Believed only from the address it names: no address, or another source, is wrong_source
  // (a genuine beacon captured and sent again from another host), before any other check.
  CHECK(filter_beacon(f, beacon_from(peer, now, 101, ""), now, "10.0.0.12", nullptr) == BeaconStatus::wrong_source);
  CHECK(filter_beacon(f, beacon_from(peer, now, 102, "10.0.0.12"), now, "10.0.0.66", nullptr) ==
        BeaconStatus::wrong_source);
  CHECK(filter_beacon(f, beacon_from(peer, now, 103, "10.0.0.22"), now, "10.0.0.12", nullptr) ==
        BeaconStatus::wrong_source);
  // The same datagram again from its own address, and an older sequence: replayed.
  std::string first = beacon_from(peer, now + 5, 104, "10.0.0.12");
  CHECK(filter_beacon(f, first, now, "10.0.0.12", nullptr) == BeaconStatus::ok);
  CHECK(filter_beacon(f, first, now, "10.0.0.12", nullptr) == BeaconStatus::replayed);
  CHECK(filter_beacon(f, beacon_from(peer, now, 50, "10.0.0.12"), now, "10.0.0.12", nullptr) == BeaconStatus::replayed);
  // Outside the window, either direction.
  CHECK(filter_beacon(f, beacon_from(peer, now - 30001, 200, "10.0.0.12"), now, "10.0.0.12", nullptr) ==
        BeaconStatus::stale);
  CHECK(filter_beacon(f, beacon_from(peer, now + 30001, 201, "10.0.0.12"), now, "10.0.0.12", nullptr) ==
        BeaconStatus::stale);
  CHECK(filter_beacon(f, beacon_from(peer, now - 30000, 202, "10.0.0.12"), now, "10.0.0.12", nullptr) ==
        BeaconStatus::ok);
  // Own beacon looped back; a clone with our name at another address is another node.
  CHECK(filter_beacon(f, beacon_from(me, now, 1, "10.0.0.11"), now, "10.0.0.11", nullptr) == BeaconStatus::self);
  CHECK(filter_beacon(f, beacon_from(me, now, 2, "10.0.0.31"), now, "10.0.0.31", &got) == BeaconStatus::ok);
  CHECK(got.name == "me");
  // Our own beacon sent again from another host: not ours, and not believed.
  CHECK(filter_beacon(f, beacon_from(me, now, 3, "10.0.0.11"), now, "10.0.0.66", nullptr) ==
        BeaconStatus::wrong_source);
  // Another secret, another cluster name.
  CHECK(filter_beacon(f, beacon_from(node("intruder", "wrong"), now, 1, "10.0.0.9"), now, "10.0.0.9", nullptr) ==
        BeaconStatus::other_cluster);
  NodeConfig other = node("other-1");
  other.cluster = "prod";
  CHECK(filter_beacon(f, beacon_from(other, now, 1, "10.0.0.9"), now, "10.0.0.9", nullptr) ==
        BeaconStatus::other_cluster);
  // Same cluster and secret, another control count: reported by name and address.
  NodeConfig odd = node("ctl-7");
  odd.control_count = 5;
  CHECK(filter_beacon(f, beacon_from(odd, now, 1, "10.0.0.17"), now, "10.0.0.17", &got) ==
        BeaconStatus::config_mismatch);
  CHECK(got.name == "ctl-7");
  REQUIRE(f.mismatched.count("10.0.0.17") == 1);
  CHECK(f.mismatched["10.0.0.17"] == "ctl-7");
  // A damaged beacon of our cluster.
  std::string dmg = beacon_from(peer, now, 300, "10.0.0.12");
  dmg[dmg.size() - 40] ^= 1;
  CHECK(filter_beacon(f, dmg, now, "10.0.0.12", nullptr) == BeaconStatus::bad_mac);
  CHECK(filter_beacon(f, "MIBC", now, "10.0.0.12", nullptr) == BeaconStatus::malformed);

  CHECK(f.counters.accepted == 4);
  CHECK(f.counters.wrong_source == 4);
  CHECK(f.counters.replayed == 2);
  CHECK(f.counters.stale == 2);
  CHECK(f.counters.self == 1);
  CHECK(f.counters.other_cluster == 2);
  CHECK(f.counters.config_mismatch == 1);
  CHECK(f.counters.bad_mac == 1);
  CHECK(f.counters.malformed == 1);
}

TEST_CASE("beacon filter: replay state is per sender address and survives a restart through its JSON", "[beacon]") {
  NodeConfig me = node("me");
  me.address = "10.0.0.11";
  const uint64_t now = 1700000000000ull;
  auto wire = [&](const std::string& name, const std::string& addr, uint64_t seq) {
    BeaconMessage m;
    m.cluster = "mi";
    m.name = name;
    m.address = addr;
    m.digest = config_digest(me);
    m.timestamp_ms = now;
    m.sequence = seq;
    return encode_beacon(m, beacon_key("test-secret"));
  };
  std::string captured = wire("ctl-2", "10.0.0.12", 500);
  BeaconFilter before = make_beacon_filter(me);
  CHECK(filter_beacon(before, captured, now, "10.0.0.12", nullptr) == BeaconStatus::ok);
  // Two nodes with one name keep separate sequences (keyed by address, never merged).
  CHECK(filter_beacon(before, wire("ctl-2", "10.0.0.22", 10), now, "10.0.0.22", nullptr) == BeaconStatus::ok);
  std::string saved = replay_state_to_json(before);

  // The process restarts within the time window: the captured beacon is still refused.
  BeaconFilter after = make_beacon_filter(me);
  load_replay_state(after, saved, "beacon-replay.json");
  CHECK(filter_beacon(after, captured, now, "10.0.0.12", nullptr) == BeaconStatus::replayed);
  CHECK(filter_beacon(after, wire("ctl-2", "10.0.0.12", 501), now, "10.0.0.12", nullptr) == BeaconStatus::ok);
  CHECK(filter_beacon(after, wire("ctl-2", "10.0.0.22", 10), now, "10.0.0.22", nullptr) == BeaconStatus::replayed);
  // Without the saved state it would have been accepted: that is what the file is for.
  BeaconFilter forgetful = make_beacon_filter(me);
  CHECK(filter_beacon(forgetful, captured, now, "10.0.0.12", nullptr) == BeaconStatus::ok);
  // Loading only raises; a broken file is an error, never a silent reset.
  load_replay_state(after, R"({"version":1,"highest":{"10.0.0.12":3}})", "f");
  CHECK(after.highest_sequence["10.0.0.12"] == 501);
  CHECK_THROWS_AS(load_replay_state(after, "{", "f"), mi::Error);
  CHECK_THROWS_AS(load_replay_state(after, R"({"version":1,"highest":{"10.0.0.12":-1}})", "f"), mi::Error);
  CHECK_THROWS_AS(load_replay_state(after, R"({"version":2,"highest":{}})", "f"), mi::Error);
}

TEST_CASE("config digest covers the cluster-wide settings only", "[beacon]") {
  NodeConfig a = node("a"), b = node("b");
  b.role = Role::compute;
  b.address = "10.1.1.1";
  CHECK(config_digest(a) == config_digest(b));  // per-node settings do not matter
  auto differs = [&](auto change) {
    NodeConfig c = node("a");
    change(c);
    return config_digest(c) != config_digest(a);
  };
  CHECK(differs([](NodeConfig& c) { c.cluster = "x"; }));
  CHECK(differs([](NodeConfig& c) { c.datacenter = "dc2"; }));
  CHECK(differs([](NodeConfig& c) { c.control_count = 5; }));
  CHECK(differs([](NodeConfig& c) { c.ports.consul_serf_lan = 9301; }));
  CHECK(differs([](NodeConfig& c) { c.secret = "other"; }));
  CHECK(secret_fingerprint("test-secret").size() == 16);
  CHECK(secret_fingerprint("test-secret").find("test") == std::string::npos);
}

// Fuzz target `beacon`: the beacon decoder and receive filter (firstboot/beacon.cc) and the
// saved replay state. The first byte picks the mode:
//   0: the rest is a datagram, as received (almost always refused at the cluster id or MAC);
//   1: the rest is a datagram whose cluster id and MAC the harness sets right, so that the
//      decoder's parsing behind the MAC is what gets fuzzed;
//   2: the rest is a replay-state JSON text (load_replay_state).
#include "common/digest.h"
#include "firstboot/beacon.h"
#include "tests/fuzz/fuzz.h"

using namespace mi::firstboot;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const std::string secret(32, 's');
  static const std::string key = beacon_key(secret);
  static const std::string cluster = "fuzz";
  static const auto id = beacon_cluster_id(key, cluster);
  std::string in = mi::fuzz::text(data + 1, size - 1);
  const int mode = data[0] % 3;
  if (mode == 2) {
    BeaconFilter f;
    f.key = key;
    f.cluster = cluster;
    mi::fuzz::call([&] { load_replay_state(f, in, "replay.json"); });
    replay_state_to_json(f);
    return 0;
  }
  if (mode == 1) {
    if (in.size() < 14 + 32) in.resize(14 + 32);
    std::copy(id.begin(), id.end(), in.begin() + 6);
    std::string body = in.substr(0, in.size() - 32);
    auto mac = mi::hmac_sha256(key, body);
    in = body + std::string(mac.begin(), mac.end());
  }
  BeaconMessage m;
  BeaconStatus st = decode_beacon(in, key, cluster, &m);
  if (st == BeaconStatus::ok) {
    // What decodes must encode back to the same bytes (names and addresses checked on the way).
    mi::fuzz::call([&] {
      if (encode_beacon(m, key) != in) {
        std::fprintf(stderr, "fuzz: beacon decoded but does not encode back to the same bytes\n");
        std::abort();
      }
    });
  }
  BeaconFilter f;
  f.key = key;
  f.cluster = cluster;
  f.self_name = "self";
  filter_beacon(f, in, m.timestamp_ms, m.address, &m);
  beacon_status_name(st);
  return 0;
}

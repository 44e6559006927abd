// Fuzz target `consul`: the interpretation of the Consul HTTP API's answers
// (firstboot/consul_client.cc) — what the first-boot steps believe about the leader, the Raft
// peers, the gossip members, a check-and-set, a KV read and the ensemble it holds
// (firstboot/agreement.cc ensemble_from_json: its addresses go into zoo.cfg). Input: a status byte (an index
// into the statuses an agent gives), then the body; every interpreter sees the same answer.
#include "firstboot/agreement.h"
#include "firstboot/consul_client.h"
#include "tests/fuzz/fuzz.h"

using namespace mi::firstboot;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const int statuses[] = {200, 500, 404, 403, 400, 0, 999, -1};
  HttpResponse r;
  r.status = statuses[data[0] % 8];
  r.body = mi::fuzz::text(data + 1, size - 1);
  const std::string where = "http://127.0.0.1:8500/v1/x";
  mi::fuzz::call([&] { consul_leader_answer(r, where); });
  mi::fuzz::call([&] { consul_peers_answer(r, where); });
  mi::fuzz::call([&] { consul_members_answer(r, where); });
  mi::fuzz::call([&] { consul_cas_answer(r, where); });
  mi::fuzz::call([&] { consul_kv_answer(r, where); });
  mi::fuzz::call([&] { consul_ok_answer(r, where); });
  mi::fuzz::call([&] {
    for (const auto& p : parse_consul_peers(r.body)) mi::strip_port(p);
  });
  mi::fuzz::call([&] {
    Ensemble e = ensemble_from_json(r.body, "mi/fuzz/zookeeper/ensemble");
    for (const auto& m : e.members) {
      mi::fuzz::expect_one_line(m.name, "an ensemble name");
      if (!mi::is_ip(m.address)) {
        std::fprintf(stderr, "fuzz: ensemble address '%s' is not an IP\n", mi::one_line(m.address).c_str());
        std::abort();
      }
    }
  });
  return 0;
}

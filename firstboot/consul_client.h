// The local Consul agent's HTTP API (http://127.0.0.1:8500 by default), as the first-boot
// steps use it: is there a leader, who are the Raft peers and the gossip members, the
// ensemble key in KV (check-and-set), service registration and WAN join. Built on
// firstboot/http.h; every call has a timeout and throws mi::Error{url, why} on failure.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "common/net.h"
#include "firstboot/http.h"

namespace mi::firstboot {

struct ConsulAgent {
  std::string base = "http://127.0.0.1:8500";
  int timeout_ms = 3000;
};

struct ConsulMember {
  std::string name;
  std::string address;
  int port = 0;
  int status = 0;          // serf: 1 alive, 2 leaving, 3 left, 4 failed
  std::string role;        // Tags.role: "consul" for servers, "node" for clients
  std::string datacenter;  // Tags.dc
  bool alive() const { return status == 1; }
  bool server() const { return role == "consul"; }
};

// GET /v1/status/leader: "10.0.0.11:8300", or "" while there is none (also when the
// agent answers 500 "No cluster leader").
std::string consul_leader(const ConsulAgent& a);
// GET /v1/status/peers: the Raft peers, "addr:port".
std::vector<std::string> consul_peers(const ConsulAgent& a);
// GET /v1/agent/members[?wan=1].
std::vector<ConsulMember> consul_members(const ConsulAgent& a, bool wan = false);
// True when the agent answers at all (GET /v1/agent/self).
bool consul_reachable(const ConsulAgent& a);

// PUT /v1/kv/<key>?cas=<index>: with index 0 the write succeeds only if the key does not
// exist. Returns Consul's answer (true: written).
bool consul_kv_cas(const ConsulAgent& a, const std::string& key, const std::string& value, uint64_t index = 0);
// GET /v1/kv/<key>?raw; nullopt when the key does not exist.
std::optional<std::string> consul_kv_get(const ConsulAgent& a, const std::string& key);

// PUT /v1/agent/service/register with the given JSON definition.
void consul_register_service(const ConsulAgent& a, const std::string& definition_json);
// PUT /v1/agent/join/<address>[?wan=1].
void consul_join(const ConsulAgent& a, const std::string& address, bool wan);

// Parsers, separate for tests: /v1/status/peers and /v1/agent/members bodies.
std::vector<std::string> parse_consul_peers(const std::string& json);
// The interpretation of each answer, apart from the request (pure, fuzzed by
// tests/fuzz/consul_fuzz.cc): `where` is the URL asked. A refusal is an mi::Error of one line
// (an answer's body is quoted shortened and escaped); nothing else is thrown.
std::string consul_leader_answer(const HttpResponse& r, const std::string& where);
std::vector<std::string> consul_peers_answer(const HttpResponse& r, const std::string& where);
std::vector<ConsulMember> consul_members_answer(const HttpResponse& r, const std::string& where);
bool consul_cas_answer(const HttpResponse& r, const std::string& where);
std::optional<std::string> consul_kv_answer(const HttpResponse& r, const std::string& where);
void consul_ok_answer(const HttpResponse& r, const std::string& where);
std::vector<ConsulMember> parse_consul_members(const std::string& json);

// strip_port: common/net.h

}  // namespace mi::firstboot

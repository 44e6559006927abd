// Consul HTTP API calls for the first-boot steps (see consul_client.h), over firstboot/http.h.
#include "firstboot/consul_client.h"

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "firstboot/http.h"

namespace mi::firstboot {
namespace {

HttpResponse call(const ConsulAgent& a, const std::string& method, const std::string& path,
                  const std::string& body = "") {
  return http_request(method, a.base + path, body, {}, a.timeout_ms);
}

HttpResponse call_ok(const ConsulAgent& a, const std::string& method, const std::string& path,
                     const std::string& body = "") {
  auto r = call(a, method, path, body);
  if (r.status != 200) {
    std::string b = r.body.size() > 300 ? r.body.substr(0, 300) + "..." : r.body;
    throw Error(a.base + path, "HTTP " + std::to_string(r.status) + ": " + b);
  }
  return r;
}

nlohmann::json parse(const std::string& body, const std::string& where) {
  try {
    return nlohmann::json::parse(body);
  } catch (const nlohmann::json::exception& e) {
    throw Error(where, std::string("not JSON: ") + e.what());
  }
}

}  // namespace

std::string strip_port(const std::string& hp) {
  if (!hp.empty() && hp[0] == '[') {
    auto e = hp.find(']');
    return e == std::string::npos ? hp : hp.substr(1, e - 1);
  }
  auto c = hp.rfind(':');
  if (c == std::string::npos || hp.find(':') != c) return hp;  // no port, or a bare IPv6 literal
  return hp.substr(0, c);
}

std::string consul_leader(const ConsulAgent& a) {
  auto r = call(a, "GET", "/v1/status/leader");
  if (r.status == 500) return "";  // "No cluster leader"
  if (r.status != 200) throw Error(a.base + "/v1/status/leader", "HTTP " + std::to_string(r.status));
  auto j = parse(r.body, "/v1/status/leader");
  return j.is_string() ? j.get<std::string>() : "";
}

std::vector<std::string> parse_consul_peers(const std::string& json) {
  auto j = parse(json, "/v1/status/peers");
  std::vector<std::string> out;
  if (!j.is_array()) throw Error("/v1/status/peers", "expected a JSON array");
  for (const auto& p : j)
    if (p.is_string()) out.push_back(p.get<std::string>());
  return out;
}

std::vector<std::string> consul_peers(const ConsulAgent& a) {
  auto r = call(a, "GET", "/v1/status/peers");
  if (r.status == 500) return {};
  if (r.status != 200) throw Error(a.base + "/v1/status/peers", "HTTP " + std::to_string(r.status));
  return parse_consul_peers(r.body);
}

std::vector<ConsulMember> parse_consul_members(const std::string& json) {
  auto j = parse(json, "/v1/agent/members");
  if (!j.is_array()) throw Error("/v1/agent/members", "expected a JSON array");
  std::vector<ConsulMember> out;
  for (const auto& m : j) {
    ConsulMember c;
    c.name = m.value("Name", "");
    c.address = m.value("Addr", "");
    c.port = m.value("Port", 0);
    c.status = m.value("Status", 0);
    if (m.contains("Tags") && m["Tags"].is_object()) {
      c.role = m["Tags"].value("role", "");
      c.datacenter = m["Tags"].value("dc", "");
    }
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<ConsulMember> consul_members(const ConsulAgent& a, bool wan) {
  return parse_consul_members(call_ok(a, "GET", wan ? "/v1/agent/members?wan=1" : "/v1/agent/members").body);
}

bool consul_reachable(const ConsulAgent& a) {
  try {
    return call(a, "GET", "/v1/agent/self").status == 200;
  } catch (const Error&) {
    return false;
  }
}

bool consul_kv_cas(const ConsulAgent& a, const std::string& key, const std::string& value, uint64_t index) {
  auto r = call_ok(a, "PUT", "/v1/kv/" + key + "?cas=" + std::to_string(index), value);
  auto b = r.body;
  while (!b.empty() && (b.back() == '\n' || b.back() == ' ')) b.pop_back();
  if (b == "true") return true;
  if (b == "false") return false;
  throw Error(a.base + "/v1/kv/" + key, "unexpected answer to a check-and-set: " + b);
}

std::optional<std::string> consul_kv_get(const ConsulAgent& a, const std::string& key) {
  auto r = call(a, "GET", "/v1/kv/" + key + "?raw");
  if (r.status == 404) return std::nullopt;
  if (r.status != 200) throw Error(a.base + "/v1/kv/" + key, "HTTP " + std::to_string(r.status) + ": " + r.body);
  return r.body;
}

void consul_register_service(const ConsulAgent& a, const std::string& definition_json) {
  call_ok(a, "PUT", "/v1/agent/service/register", definition_json);
}

void consul_join(const ConsulAgent& a, const std::string& address, bool wan) {
  call_ok(a, "PUT", "/v1/agent/join/" + address + (wan ? "?wan=1" : ""));
}

}  // namespace mi::firstboot

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

nlohmann::json parse(const std::string& body, const std::string& where) {
  try {
    return nlohmann::json::parse(body);
  } catch (const nlohmann::json::exception& e) {
    throw Error(where, std::string("not JSON: ") + e.what());
  }
}

}  // namespace

std::string consul_leader_answer(const HttpResponse& r, const std::string& where) {
  if (r.status == 500) return "";  // "No cluster leader"
  if (r.status != 200) throw Error(where, "HTTP " + std::to_string(r.status));
  auto j = parse(r.body, where);
  return j.is_string() ? j.get<std::string>() : "";
}

std::string consul_leader(const ConsulAgent& a) {
  return consul_leader_answer(call(a, "GET", "/v1/status/leader"), a.base + "/v1/status/leader");
}

std::vector<std::string> parse_consul_peers(const std::string& json) {
  auto j = parse(json, "/v1/status/peers");
  std::vector<std::string> out;
  if (!j.is_array()) throw Error("/v1/status/peers", "expected a JSON array");
  for (const auto& p : j)
    if (p.is_string()) out.push_back(p.get<std::string>());
  return out;
}

std::vector<std::string> consul_peers_answer(const HttpResponse& r, const std::string& where) {
  if (r.status == 500) return {};
  if (r.status != 200) throw Error(where, "HTTP " + std::to_string(r.status));
  return parse_consul_peers(r.body);
}

std::vector<std::string> consul_peers(const ConsulAgent& a) {
  return consul_peers_answer(call(a, "GET", "/v1/status/peers"), a.base + "/v1/status/peers");
}

std::vector<ConsulMember> parse_consul_members(const std::string& json) {
  auto j = parse(json, "/v1/agent/members");
  if (!j.is_array()) throw Error("/v1/agent/members", "expected a JSON array");
  std::vector<ConsulMember> out;
  // Fields of another type than Consul gives them are errors, not nlohmann type_errors.
  const std::string where = "/v1/agent/members";
  auto str = [&](const nlohmann::json& o, const char* k) -> std::string {
    if (!o.contains(k) || o[k].is_null()) return "";
    if (!o[k].is_string()) throw Error(where, std::string(k) + " is not a string");
    return o[k].get<std::string>();
  };
  auto num = [&](const nlohmann::json& o, const char* k) -> int {
    if (!o.contains(k) || o[k].is_null()) return 0;
    if (!o[k].is_number_integer() || o[k].get<int64_t>() < 0 || o[k].get<int64_t>() > 65535)
      throw Error(where, std::string(k) + " is not a number from 0 to 65535");
    return int(o[k].get<int64_t>());
  };
  for (const auto& m : j) {
    if (!m.is_object()) throw Error(where, "expected a JSON array of objects");
    ConsulMember c;
    c.name = str(m, "Name");
    c.address = str(m, "Addr");
    c.port = num(m, "Port");
    c.status = num(m, "Status");
    if (m.contains("Tags") && m["Tags"].is_object()) {
      c.role = str(m["Tags"], "role");
      c.datacenter = str(m["Tags"], "dc");
    }
    out.push_back(std::move(c));
  }
  return out;
}

void consul_ok_answer(const HttpResponse& r, const std::string& where) {
  if (r.status != 200) {
    std::string b = r.body.size() > 300 ? r.body.substr(0, 300) + "..." : r.body;
    throw Error(where, "HTTP " + std::to_string(r.status) + ": " + b);
  }
}

std::vector<ConsulMember> consul_members_answer(const HttpResponse& r, const std::string& where) {
  consul_ok_answer(r, where);
  return parse_consul_members(r.body);
}

std::vector<ConsulMember> consul_members(const ConsulAgent& a, bool wan) {
  const std::string path = wan ? "/v1/agent/members?wan=1" : "/v1/agent/members";
  return consul_members_answer(call(a, "GET", path), a.base + path);
}

bool consul_reachable(const ConsulAgent& a) {
  try {
    return call(a, "GET", "/v1/agent/self").status == 200;
  } catch (const Error&) {
    return false;
  }
}

bool consul_cas_answer(const HttpResponse& r, const std::string& where) {
  consul_ok_answer(r, where);
  auto b = r.body;
  while (!b.empty() && (b.back() == '\n' || b.back() == ' ')) b.pop_back();
  if (b == "true") return true;
  if (b == "false") return false;
  throw Error(where, "unexpected answer to a check-and-set: " + b);
}

bool consul_kv_cas(const ConsulAgent& a, const std::string& key, const std::string& value, uint64_t index) {
  return consul_cas_answer(call(a, "PUT", "/v1/kv/" + key + "?cas=" + std::to_string(index), value),
                           a.base + "/v1/kv/" + key);
}

std::optional<std::string> consul_kv_answer(const HttpResponse& r, const std::string& where) {
  if (r.status == 404) return std::nullopt;
  if (r.status != 200) throw Error(where, "HTTP " + std::to_string(r.status) + ": " + r.body);
  return r.body;
}

std::optional<std::string> consul_kv_get(const ConsulAgent& a, const std::string& key) {
  return consul_kv_answer(call(a, "GET", "/v1/kv/" + key + "?raw"), a.base + "/v1/kv/" + key);
}

void consul_register_service(const ConsulAgent& a, const std::string& definition_json) {
  consul_ok_answer(call(a, "PUT", "/v1/agent/service/register", definition_json),
                   a.base + "/v1/agent/service/register");
}

void consul_join(const ConsulAgent& a, const std::string& address, bool wan) {
  const std::string path = "/v1/agent/join/" + address + (wan ? "?wan=1" : "");
  consul_ok_answer(call(a, "PUT", path), a.base + path);
}

}  // namespace mi::firstboot

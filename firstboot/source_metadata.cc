// Source 4: cloud metadata over HTTP (base URL default http://169.254.169.254; tests point
// it at a fixture server). EC2 with IMDSv2: a session token from PUT /latest/api/token, then
// GETs carrying it. OpenStack: GET /openstack/latest/meta_data.json and user_data, parsed as
// on the config drive. A service that does not answer means "not on that cloud".
#include "common/error.h"
#include "firstboot/http.h"
#include "firstboot/source_yaml.h"

namespace mi::firstboot {
namespace {

std::string trim_slash(std::string s) {
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

}  // namespace

std::optional<std::string> ec2_token_answer(const HttpResponse& r) {
  if (r.status != 200 || r.body.empty()) return std::nullopt;  // not IMDSv2 (e.g. an OpenStack service)
  // The token goes back in a request header: printable ASCII only (a CR/LF in it would add
  // headers of the answerer's choosing). Anything else is not an IMDSv2 token.
  for (unsigned char c : r.body)
    if (c < 0x21 || c > 0x7e) return std::nullopt;
  if (r.body.size() > 1024) return std::nullopt;
  return r.body;
}

std::optional<std::string> metadata_answer(const HttpResponse& r, const std::string& where, bool optional,
                                           const std::string& service) {
  if (r.status == 200) return r.body;
  if (r.status == 404 && optional) return std::nullopt;
  throw Error(where, service + " metadata answered HTTP " + std::to_string(r.status));
}

ConfigLayer read_ec2_metadata(const std::string& base_url, int timeout_ms) {
  ConfigLayer L;
  L.source = "ec2";
  if (base_url.empty()) return L;
  const std::string base = trim_slash(base_url);
  HttpResponse tok;
  try {
    tok = http_request("PUT", base + "/latest/api/token", "", {{"X-aws-ec2-metadata-token-ttl-seconds", "300"}},
                       timeout_ms);
  } catch (const Error&) {
    return L;  // nothing there: not EC2 (or no metadata service at all)
  }
  std::optional<std::string> token = ec2_token_answer(tok);
  if (!token) return L;
  L.present = true;
  const std::map<std::string, std::string> auth = {{"X-aws-ec2-metadata-token", *token}};
  auto get = [&](const std::string& path, bool optional) -> std::optional<std::string> {
    const std::string url = base + path;
    return metadata_answer(http_request("GET", url, "", auth, timeout_ms), url, optional, "EC2");
  };
  const std::string md = "/latest/meta-data/";
  if (auto v = get(md + "instance-id", false)) L.instance_id.set(*v, base + md + "instance-id");
  if (auto v = get(md + "local-hostname", true)) L.node_name.set(short_hostname(*v), base + md + "local-hostname");
  if (auto v = get(md + "local-ipv4", true)) L.address.set(*v, base + md + "local-ipv4");
  if (auto v = get("/latest/user-data", true)) parse_user_data(*v, base + "/latest/user-data", &L);
  return L;
}

ConfigLayer read_openstack_metadata(const std::string& base_url, int timeout_ms) {
  ConfigLayer L;
  L.source = "openstack";
  if (base_url.empty()) return L;
  const std::string base = trim_slash(base_url);
  const std::string meta = base + "/openstack/latest/meta_data.json";
  HttpResponse r;
  try {
    r = http_request("GET", meta, "", {}, timeout_ms);
  } catch (const Error&) {
    return L;
  }
  if (r.status != 200) return L;
  L.present = true;
  parse_openstack_meta(r.body, meta, &L);
  const std::string user = base + "/openstack/latest/user_data";
  if (auto u = metadata_answer(http_request("GET", user, "", {}, timeout_ms), user, true, "OpenStack"))
    parse_user_data(*u, user, &L);
  return L;
}

}  // namespace mi::firstboot

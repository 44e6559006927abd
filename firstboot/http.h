// A small HTTP client over libcurl (plain http:// only, no TLS, no redirects, no proxies):
// enough for the cloud metadata services (EC2 IMDSv2, OpenStack) read by config_sources, and
// for the local Consul HTTP API on 127.0.0.1:8500 used by the later first-boot steps. The
// response parser that faces the network is libcurl's; this file bounds each exchange in time
// and the response in size, and gives the answer as a plain struct. One request per
// connection.
#pragma once
#include <map>
#include <string>

namespace mi::firstboot {

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased ("content-type")
  std::string body;
};

// At most this many bytes of body are accepted by default; a larger answer is an error.
constexpr size_t kHttpMaxBody = 4 << 20;

// `url` is "http://host[:port]/path[?query]" (host: name, IPv4, or [IPv6]); port defaults
// to 80. Sends `body` with a Content-Length when the method is not GET or the body is not
// empty (a PUT without a body says Content-Length: 0, as IMDSv2 wants). Any HTTP status is
// returned (a 401 or 404 is not an error); throws mi::Error{url, why} (one line) when the URL
// or a header is bad, the connection fails, `timeout_ms` (the whole exchange) passes, or the
// body would be larger than `max_body` bytes.
HttpResponse http_request(const std::string& method, const std::string& url, const std::string& body = "",
                          const std::map<std::string, std::string>& headers = {}, int timeout_ms = 2000,
                          size_t max_body = kHttpMaxBody);

// The parts of an http:// URL; throws mi::Error{url, ...} if it is not one.
struct HttpUrl {
  std::string host;  // without brackets
  int port = 80;
  std::string target;  // "/path?query", at least "/"
};
HttpUrl parse_http_url(const std::string& url);

}  // namespace mi::firstboot

// A tiny HTTP/1.1 client over plain sockets (no TLS): enough for the cloud metadata
// services (EC2 IMDSv2, OpenStack) read by config_sources, and for the local Consul HTTP API
// on 127.0.0.1:8500 used by the later first-boot steps. One request per connection
// ("Connection: close"); Content-Length and chunked responses are both understood.
#pragma once
#include <map>
#include <string>

namespace mi::firstboot {

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased ("content-type")
  std::string body;
};

// `url` is "http://host[:port]/path[?query]" (host: name, IPv4, or [IPv6]); port defaults
// to 80. Sends `body` with a Content-Length when the method is not GET or the body is not
// empty. Any HTTP status is returned (a 401 or 404 is not an error); throws
// mi::Error{url, why} when the URL is bad, the connection fails, or `timeout_ms` (the whole
// exchange) passes.
HttpResponse http_request(const std::string& method, const std::string& url, const std::string& body = "",
                          const std::map<std::string, std::string>& headers = {}, int timeout_ms = 2000);

// The parts of an http:// URL; throws mi::Error{url, ...} if it is not one.
struct HttpUrl {
  std::string host;  // without brackets
  int port = 80;
  std::string target;  // "/path?query", at least "/"
};
HttpUrl parse_http_url(const std::string& url);

}  // namespace mi::firstboot

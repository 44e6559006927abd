// The HTTP client of http.h over libcurl: one easy handle per request, plain HTTP only, no
// redirects, no proxy from the environment, the whole exchange bounded by the timeout and the
// body by max_body. Headers are collected by a callback, names lower-cased.
#include "firstboot/http.h"

#include <curl/curl.h>

#include <cctype>
#include <memory>
#include <mutex>
#include <regex>

#include "common/error.h"

namespace mi::firstboot {
namespace {

std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

struct Exchange {
  HttpResponse* resp;
  size_t max_body;
  bool too_large = false;
};

size_t on_body(char* p, size_t size, size_t n, void* user) {
  auto* x = static_cast<Exchange*>(user);
  const size_t len = size * n;
  if (x->resp->body.size() + len > x->max_body) {
    x->too_large = true;
    return 0;  // libcurl stops with CURLE_WRITE_ERROR
  }
  x->resp->body.append(p, len);
  return len;
}

size_t on_header(char* p, size_t size, size_t n, void* user) {
  auto* x = static_cast<Exchange*>(user);
  const size_t len = size * n;
  std::string line(p, len);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  if (line.rfind("HTTP/", 0) == 0) {
    x->resp->headers.clear();  // a new response (after a 1xx): its headers only
    return len;
  }
  size_t colon = line.find(':');
  if (colon == std::string::npos) return len;
  std::string value = line.substr(colon + 1);
  value.erase(0, value.find_first_not_of(" \t"));
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.pop_back();
  x->resp->headers[lower(line.substr(0, colon))] = value;
  return len;
}

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) throw Error("libcurl", "curl_global_init failed");
  });
}

bool header_safe(const std::string& s) {
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f) return false;
  return true;
}

}  // namespace

HttpUrl parse_http_url(const std::string& url) {
  const std::string scheme = "http://";
  if (url.compare(0, scheme.size(), scheme) != 0) throw Error(url, "not an http:// URL");
  std::string rest = url.substr(scheme.size());
  size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  HttpUrl u;
  u.target = slash == std::string::npos ? "/" : rest.substr(slash);
  if (authority.empty()) throw Error(url, "no host in URL");
  std::string port;
  if (authority[0] == '[') {
    size_t close_b = authority.find(']');
    if (close_b == std::string::npos) throw Error(url, "unterminated [IPv6] host");
    u.host = authority.substr(1, close_b - 1);
    if (close_b + 1 < authority.size()) {
      if (authority[close_b + 1] != ':') throw Error(url, "garbage after [IPv6] host");
      port = authority.substr(close_b + 2);
    }
  } else {
    size_t colon = authority.rfind(':');
    u.host = authority.substr(0, colon);
    if (colon != std::string::npos) port = authority.substr(colon + 1);
  }
  if (!port.empty()) {
    if (port.find_first_not_of("0123456789") != std::string::npos || port.size() > 5)
      throw Error(url, "bad port '" + port + "'");
    u.port = std::stoi(port);
    if (u.port < 1 || u.port > 65535) throw Error(url, "bad port '" + port + "'");
  }
  if (u.host.empty()) throw Error(url, "no host in URL");
  return u;
}

HttpResponse http_request(const std::string& method, const std::string& url, const std::string& body,
                          const std::map<std::string, std::string>& headers, int timeout_ms, size_t max_body) {
  parse_http_url(url);  // http:// with a host and a valid port, or an error naming the URL
  for (char c : method)
    if (!std::isupper(static_cast<unsigned char>(c))) throw Error(url, "bad HTTP method '" + one_line(method) + "'");
  global_init();
  std::unique_ptr<CURL, void (*)(CURL*)> h(curl_easy_init(), curl_easy_cleanup);
  if (!h) throw Error(url, "curl_easy_init failed");
  std::unique_ptr<curl_slist, void (*)(curl_slist*)> list(nullptr, curl_slist_free_all);
  auto add = [&](const std::string& line) {
    curl_slist* l = curl_slist_append(list.get(), line.c_str());
    if (!l) throw Error(url, "out of memory");
    list.release();
    list.reset(l);
  };
  bool has_type = false;
  for (const auto& [k, v] : headers) {
    if (k.empty() || !header_safe(k) || !header_safe(v) || k.find(':') != std::string::npos)
      throw Error(url, "bad HTTP header '" + one_line(k) + "'");
    if (lower(k) == "content-type") has_type = true;
    add(k + ": " + v);
  }
  if (!has_type) add("Content-Type:");  // none rather than libcurl's form-urlencoded
  add("Expect:");                       // no 100-continue round trip

  HttpResponse resp;
  Exchange x{&resp, max_body};
  char err[CURL_ERROR_SIZE] = "";
  CURL* c = h.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, long(timeout_ms));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, long(timeout_ms));
  curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, curl_off_t(max_body));
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &x);
  if (method == "HEAD") {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (method != "GET" || !body.empty()) {
    // POSTFIELDS sends the body with its Content-Length (0 included); the method is ours.
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.size()));
    if (method != "POST") curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, list.get());

  CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) {
    std::string detail = one_line(*err ? err : curl_easy_strerror(rc));
    // curl says how long a failed connect took ("... after 1 ms: ..."): dropped, so that the
    // same failure gives the same message (a waiting step logs a message only when it changes).
    static const std::regex elapsed(R"( after [0-9]+ ms)");
    detail = std::regex_replace(detail, elapsed, "");
    if (x.too_large || rc == CURLE_FILESIZE_EXCEEDED)
      throw Error(url, "response larger than " + std::to_string(max_body) + " bytes");
    if (rc == CURLE_OPERATION_TIMEDOUT)
      throw Error(url, "timed out after " + std::to_string(timeout_ms) + " ms (" + detail + ")");
    if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST) throw Error(url, "cannot connect: " + detail);
    throw Error(url, detail);
  }
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  resp.status = int(status);
  return resp;
}

}  // namespace mi::firstboot

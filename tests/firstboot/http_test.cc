// The firstboot HTTP client against the fixture server on 127.0.0.1: methods, headers and
// bodies both ways, chunked responses, status codes passed through, timeouts and refused
// connections as mi::Error, URL parsing.
#include "firstboot/http.h"

#include <catch2/catch.hpp>

#include "common/error.h"
#include "fixture_http_server.h"

using namespace mi::firstboot;

TEST_CASE("http: GET and PUT with headers and body", "[http]") {
  FixtureHttpServer srv([](const FixtureRequest& r) {
    FixtureReply rep;
    rep.body = r.method + " " + r.target + " x=" + (r.headers.count("x-test") ? r.headers.at("x-test") : "") +
               " body=" + r.body;
    rep.headers["X-Reply"] = "yes";
    return rep;
  });
  auto g = http_request("GET", srv.base_url() + "/a/b?c=1", "", {{"X-Test", "42"}});
  CHECK(g.status == 200);
  CHECK(g.body == "GET /a/b?c=1 x=42 body=");
  CHECK(g.headers.at("x-reply") == "yes");
  auto p = http_request("PUT", srv.base_url() + "/v1/kv/x", "hello world");
  CHECK(p.body == "PUT /v1/kv/x x= body=hello world");
  auto reqs = srv.requests();
  REQUIRE(reqs.size() == 2);
  CHECK(reqs[1].headers.at("content-length") == "11");
  CHECK(reqs[0].headers.at("host") == "127.0.0.1:" + std::to_string(srv.port()));
  // A PUT without a body still says Content-Length: 0 (IMDSv2 insists on it).
  http_request("PUT", srv.base_url() + "/t");
  CHECK(srv.requests().back().headers.at("content-length") == "0");
}

TEST_CASE("http: chunked bodies and statuses pass through", "[http]") {
  std::string big(10000, 'z');
  big += "end";
  FixtureHttpServer srv([&](const FixtureRequest& r) {
    FixtureReply rep;
    if (r.target == "/missing") {
      rep.status = 404;
      rep.body = "nope";
    } else {
      rep.chunked = true;
      rep.body = big;
    }
    return rep;
  });
  auto a = http_request("GET", srv.base_url() + "/chunked");
  CHECK(a.status == 200);
  CHECK(a.body == big);
  auto b = http_request("GET", srv.base_url() + "/missing");
  CHECK(b.status == 404);
  CHECK(b.body == "nope");
  // The size bound: a body larger than max_body is an error, chunked or not.
  CHECK_THROWS_WITH(http_request("GET", srv.base_url() + "/chunked", "", {}, 2000, 1000),
                    Catch::Contains("larger than 1000 bytes"));
  CHECK(http_request("GET", srv.base_url() + "/chunked", "", {}, 2000, big.size()).body == big);
}

TEST_CASE("http: a header value with CR/LF is refused, nothing is sent", "[http]") {
  FixtureHttpServer srv([](const FixtureRequest&) { return FixtureReply{}; });
  CHECK_THROWS_WITH(http_request("GET", srv.base_url() + "/", "", {{"X-aws-ec2-metadata-token", "t\r\nX-Evil: 1"}}),
                    Catch::Contains("bad HTTP header"));
  CHECK(srv.requests().empty());
}

TEST_CASE("http: timeouts and refused connections throw", "[http]") {
  FixtureHttpServer srv([](const FixtureRequest&) {
    FixtureReply rep;
    rep.hang = true;
    return rep;
  });
  auto t0 = std::chrono::steady_clock::now();
  CHECK_THROWS_WITH(http_request("GET", srv.base_url() + "/", "", {}, 200), Catch::Contains("timed out"));
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2));
  int port;
  {
    FixtureHttpServer gone([](const FixtureRequest&) { return FixtureReply{}; });
    port = gone.port();
  }
  CHECK_THROWS_WITH(http_request("GET", "http://127.0.0.1:" + std::to_string(port) + "/"),
                    Catch::Contains("cannot connect"));
  // The same failure gives the same message: curl's elapsed time is not in it.
  std::string a, b;
  for (auto* m : {&a, &b}) try {
      http_request("GET", "http://127.0.0.1:" + std::to_string(port) + "/");
    } catch (const mi::Error& e) {
      *m = e.what();
    }
  CHECK(a == b);
  CHECK(a.find(" ms") == std::string::npos);
}

TEST_CASE("http: URL parsing", "[http]") {
  auto u = parse_http_url("http://169.254.169.254/latest/api/token");
  CHECK(u.host == "169.254.169.254");
  CHECK(u.port == 80);
  CHECK(u.target == "/latest/api/token");
  auto v = parse_http_url("http://[fd00::1]:8500");
  CHECK(v.host == "fd00::1");
  CHECK(v.port == 8500);
  CHECK(v.target == "/");
  CHECK_THROWS_AS(parse_http_url("https://x/"), mi::Error);
  CHECK_THROWS_AS(parse_http_url("http://x:99999/"), mi::Error);
  CHECK_THROWS_AS(parse_http_url("http:///p"), mi::Error);
}

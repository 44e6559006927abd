// zk_client: parsing real `srvr`/`mntr`/`ruok` answers of ZooKeeper 3.8 (captured from a
// 3-node ensemble and a standalone server, tests/fixtures/firstboot/golden/zk/), and the
// four-letter exchange over TCP against a local listener that answers like ZooKeeper does.
#include "firstboot/zk_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <thread>

#include "common/error.h"
#include "common/files.h"

using namespace mi::firstboot;

static std::string sample(const std::string& name) {
  return mi::read_file(std::string(MI_SOURCE_DIR) + "/tests/fixtures/firstboot/golden/zk/" + name);
}

TEST_CASE("srvr of a leader, a follower, a standalone server") {
  auto l = parse_srvr(sample("srvr-leader.txt"));
  CHECK(l.mode == "leader");
  CHECK(l.zxid == "0x100000000");
  CHECK(l.node_count == 5);
  CHECK(l.version.rfind("3.8.0", 0) == 0);
  CHECK(parse_srvr(sample("srvr-follower.txt")).mode == "follower");
  CHECK(parse_srvr(sample("srvr-standalone.txt")).mode == "standalone");
}

TEST_CASE("srvr of a server without quorum has no mode") {
  auto info = parse_srvr(sample("srvr-not-serving.txt"));
  CHECK(info.mode.empty());
  CHECK(info.node_count == -1);
}

TEST_CASE("mntr of a leader") {
  auto m = parse_mntr(sample("mntr-leader.txt"));
  CHECK(m.at("zk_server_state") == "leader");
  CHECK(m.at("zk_synced_followers") == "2");
  CHECK(m.at("zk_quorum_size") == "3");
  CHECK(m.at("zk_version").rfind("3.8.0", 0) == 0);
}

TEST_CASE("four-letter word over TCP, and an unreachable server") {
  int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(ls >= 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(ls, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
  REQUIRE(listen(ls, 4) == 0);
  socklen_t len = sizeof sa;
  getsockname(ls, reinterpret_cast<sockaddr*>(&sa), &len);
  int port = ntohs(sa.sin_port);
  std::string got_word;
  std::thread server([&] {
    int c = accept(ls, nullptr, nullptr);
    char buf[16];
    ssize_t n = read(c, buf, 4);
    got_word.assign(buf, n > 0 ? size_t(n) : 0);
    auto answer = sample("srvr-follower.txt");
    (void)!write(c, answer.data(), answer.size());
    close(c);
  });
  auto info = parse_srvr(zk_four_letter("127.0.0.1", port, "srvr"));
  server.join();
  close(ls);
  CHECK(got_word == "srvr");
  CHECK(info.mode == "follower");
  // The listener is closed now: refused, an error for zk_four_letter, no mode for zk_status.
  CHECK_THROWS_AS(zk_four_letter("127.0.0.1", port, "ruok", 500), mi::Error);
  CHECK(zk_status("127.0.0.1", port, 500).mode.empty());
}

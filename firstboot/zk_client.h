// ZooKeeper's four-letter words (srvr, mntr, ruok) over TCP to the client port (2181): how
// the zookeeper step knows the ensemble formed (Mode: leader / follower) and how `status`
// shows it. The server whitelists exactly these three (zoo.cfg 4lw.commands.whitelist).
#pragma once
#include <map>
#include <string>

namespace mi::firstboot {

// Sends `word` to host:port and returns everything the server answers before it closes.
// Throws mi::Error{"zookeeper host:port", why} on connection failure or timeout.
std::string zk_four_letter(const std::string& host, int port, const std::string& word, int timeout_ms = 2000);

struct ZkServerInfo {
  std::string version;  // "3.8.0-..., built on ..."
  std::string mode;     // "leader", "follower", "standalone", "observer"; "" when not serving
  std::string zxid;     // "0x100000002"
  long node_count = -1;
  long connections = -1;
};

// Parses `srvr` output. A server that is up but not in a quorum answers "This ZooKeeper
// instance is not currently serving requests": mode stays "".
ZkServerInfo parse_srvr(const std::string& text);
// Parses `mntr` output: "key<TAB>value" lines.
std::map<std::string, std::string> parse_mntr(const std::string& text);

// `srvr` against host:port; mode "" also when the server cannot be reached (never throws).
ZkServerInfo zk_status(const std::string& host, int port, int timeout_ms = 2000);

}  // namespace mi::firstboot

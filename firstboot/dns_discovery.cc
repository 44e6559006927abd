// DNS discovery: the control nodes are the A/AAAA records of a name (getaddrinfo, so
// /etc/hosts and nsswitch apply), or, for a name starting with '_' (e.g.
// "_mi-control._tcp.dc1.example"), its SRV records (libresolv res_query, parsed with
// ns_initparse/ns_parserr) whose targets are then resolved to addresses.
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>

#include <algorithm>
#include <cstring>

#include "common/error.h"
#include "firstboot/discovery.h"

namespace mi::firstboot {

std::vector<std::string> resolve_addresses(const std::string& name) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;  // one entry per address instead of one per socket type
  addrinfo* res = nullptr;
  int rc = getaddrinfo(name.c_str(), nullptr, &hints, &res);
  if (rc != 0) throw Error("dns:" + name, std::string("does not resolve: ") + gai_strerror(rc));
  std::vector<std::string> v4, v6;
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    char buf[INET6_ADDRSTRLEN] = {};
    if (ai->ai_family == AF_INET) {
      inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(ai->ai_addr)->sin_addr, buf, sizeof buf);
      if (std::find(v4.begin(), v4.end(), buf) == v4.end()) v4.push_back(buf);
    } else if (ai->ai_family == AF_INET6) {
      inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(ai->ai_addr)->sin6_addr, buf, sizeof buf);
      if (std::find(v6.begin(), v6.end(), buf) == v6.end()) v6.push_back(buf);
    }
  }
  freeaddrinfo(res);
  v4.insert(v4.end(), v6.begin(), v6.end());
  if (v4.empty()) throw Error("dns:" + name, "no A or AAAA records");
  return v4;
}

std::vector<SrvRecord> parse_srv_answer(const unsigned char* msg, int len) {
  ns_msg handle;
  if (ns_initparse(msg, len, &handle) != 0) throw Error("dns", "malformed DNS answer");
  std::vector<SrvRecord> out;
  int count = ns_msg_count(handle, ns_s_an);
  for (int i = 0; i < count; i++) {
    ns_rr rr;
    if (ns_parserr(&handle, ns_s_an, i, &rr) != 0) throw Error("dns", "malformed DNS answer record");
    if (ns_rr_type(rr) != ns_t_srv) continue;  // e.g. a CNAME before the SRVs
    const unsigned char* rd = ns_rr_rdata(rr);
    if (ns_rr_rdlen(rr) < 7) throw Error("dns", "SRV record too short");
    SrvRecord s;
    s.priority = ns_get16(rd);
    s.weight = ns_get16(rd + 2);
    s.port = ns_get16(rd + 4);
    char target[NS_MAXDNAME];
    if (ns_name_uncompress(ns_msg_base(handle), ns_msg_end(handle), rd + 6, target, sizeof target) < 0)
      throw Error("dns", "bad SRV target name");
    s.target = target;
    out.push_back(s);
  }
  // Lowest priority first, then highest weight, then name: a stable order for the ensemble.
  std::sort(out.begin(), out.end(), [](const SrvRecord& a, const SrvRecord& b) {
    if (a.priority != b.priority) return a.priority < b.priority;
    if (a.weight != b.weight) return a.weight > b.weight;
    return a.target < b.target;
  });
  return out;
}

std::vector<SrvRecord> resolve_srv(const std::string& name) {
  unsigned char answer[NS_PACKETSZ * 4];
  int n = res_query(name.c_str(), ns_c_in, ns_t_srv, answer, sizeof answer);
  if (n < 0) throw Error("dns:" + name, std::string("SRV lookup failed: ") + hstrerror(h_errno));
  auto recs = parse_srv_answer(answer, n);
  if (recs.empty()) throw Error("dns:" + name, "no SRV records");
  return recs;
}

}  // namespace mi::firstboot

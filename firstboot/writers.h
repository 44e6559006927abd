// The configuration writers of first boot: pure functions from what the node committed
// (WriterInput) to the files ZooKeeper, Consul, Mesos, Marathon, dnsmasq and Registrator
// read, plus ensure_file(), which writes one only when its content, mode or group differ.
// One writer per file: zookeeper_writer.cc, consul_writer.cc, mesos_writer.cc,
// marathon_writer.cc, dnsmasq_writer.cc, registrator_writer.cc. Golden tests pin them.
#pragma once
#include <sys/types.h>

#include <string>
#include <vector>

#include "firstboot/agreement.h"
#include "firstboot/node_config.h"
#include "firstboot/state.h"

namespace mi::firstboot {

struct GeneratedFile {
  std::string path;
  std::string content;
  mode_t mode = 0644;
  std::string group;    // chgrp to this group when it exists ("consul"); "" = leave root's
  bool secret = false;  // holds key material: `plan` shows it redacted
};

struct WriterInput {
  NodeConfig cfg;                 // cluster, datacenter, role, control_count, wan_join, secret, ports
  std::string address;            // this node's bind address
  std::vector<std::string> join;  // control node addresses for Consul retry_join (not this node)
  std::string cloud_join;         // or a Consul cloud auto-join string (discovery: cloud)
  Ensemble ensemble;              // the committed ZooKeeper ensemble (may be empty for consul_files)
  int myid = 0;                   // this node's ZooKeeper id, 0 = runs no ZooKeeper
  Layout layout;
};

bool is_compute_role(Role r);  // compute, all-in-one: Mesos agent, Docker, Registrator

// Consul's gossip encryption key: HKDF-SHA256(ikm = cluster secret, salt = "mi-firstboot
// consul gossip", info = "cluster=<cluster>") → 32 bytes → base64 (the length `consul keygen`
// makes). Throws mi::Error when the secret is empty.
std::string consul_gossip_key(const std::string& secret, const std::string& cluster);

// <consul.d>/consul.json (0640, group consul): server or client agent.
std::vector<GeneratedFile> consul_files(const WriterInput& in);
// <etc>/zookeeper/zoo.cfg and <zookeeper data>/myid; nothing when myid == 0.
std::vector<GeneratedFile> zookeeper_files(const WriterInput& in);
// <etc>/mesos/mesos-master.env (server roles), mesos-agent.env (compute roles).
std::vector<GeneratedFile> mesos_files(const WriterInput& in);
// <etc>/marathon/marathon.env (server roles).
std::vector<GeneratedFile> marathon_files(const WriterInput& in);
// <etc>/dnsmasq.d/10-consul.conf (every role).
std::vector<GeneratedFile> dnsmasq_files(const WriterInput& in);
// <etc>/registrator/registrator.env (compute roles).
std::vector<GeneratedFile> registrator_files(const WriterInput& in);

// "new", "changed" or "unchanged" against what is on disk (content and mode).
std::string file_state(const GeneratedFile& f);
// Writes the file (atomically, parent dirs created) when file_state() is not "unchanged",
// and sets its group; returns whether anything was written.
bool ensure_file(const GeneratedFile& f);

}  // namespace mi::firstboot

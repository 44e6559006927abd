// The ServiceSpecs of the services a node runs (Consul, ZooKeeper, and the optional Mesos,
// Marathon, Registrator, dnsmasq), for the runners and `plan`.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "firstboot/steps.h"

namespace mi::firstboot {

ServiceSpec consul_service(const Layout& layout) {
  ServiceSpec s;
  s.name = "consul";
  s.description = "Consul agent (configured by mi-firstboot)";
  s.argv = {"consul", "agent", "-config-dir=" + layout.consul_config_dir()};
  s.user = "consul";
  s.log_file = layout.run_dir() + "/consul.log";
  return s;
}

namespace {
// Debian's zookeeper package: CLASSPATH in /etc/zookeeper/conf/environment (sourced by
// zkEnv.sh); zookeeper.jar's manifest names its dependencies. slf4j-simple, when present,
// makes ZooKeeper log to stderr (the unit's journal, or the process runner's log file).
std::string zookeeper_classpath() {
  std::string cp = "/etc/zookeeper/conf:/usr/share/java/zookeeper.jar";
  std::ifstream env("/etc/zookeeper/conf/environment");
  std::string line;
  while (std::getline(env, line)) {
    if (line.rfind("CLASSPATH=", 0) != 0) continue;
    cp = line.substr(10);
    cp.erase(std::remove(cp.begin(), cp.end(), '"'), cp.end());
  }
  if (std::filesystem::exists("/usr/share/java/slf4j-simple.jar")) cp += ":/usr/share/java/slf4j-simple.jar";
  return cp;
}
}  // namespace

ServiceSpec zookeeper_service(const Layout& layout, bool small_heap) {
  ServiceSpec s;
  s.name = "zookeeper";
  s.description = "ZooKeeper (configured by mi-firstboot)";
  s.argv = {"java",
            small_heap ? "-Xmx256m" : "-Xmx1g",
            "-XX:+UseSerialGC",
            "-Dzookeeper.log.dir=" + layout.run_dir(),
            "-cp",
            zookeeper_classpath(),
            "org.apache.zookeeper.server.quorum.QuorumPeerMain",
            layout.zk_config_dir() + "/zoo.cfg"};
  s.user = "zookeeper";
  s.working_dir = layout.zk_data_dir();
  s.log_file = layout.run_dir() + "/zookeeper.log";
  return s;
}

std::vector<ServiceSpec> optional_services(Role role, const Layout& layout) {
  std::vector<ServiceSpec> v;
  auto add = [&](std::string name, std::string env_file) {
    ServiceSpec s;
    s.name = std::move(name);
    s.env_file = std::move(env_file);
    v.push_back(std::move(s));
  };
  if (is_control(role)) {
    add("mesos-master", layout.mesos_dir() + "/mesos-master.env");
    add("marathon", layout.marathon_dir() + "/marathon.env");
  }
  if (is_compute_role(role)) {
    add("mesos-agent", layout.mesos_dir() + "/mesos-agent.env");
    add("registrator", layout.registrator_dir() + "/registrator.env");
  }
  // Debian's dnsmasq init script takes extra options from DNSMASQ_OPTS.
  ServiceSpec d;
  d.name = "dnsmasq";
  d.env = {{"DNSMASQ_OPTS", "--conf-dir=" + layout.dnsmasq_dir()}};
  v.push_back(d);
  return v;
}

}  // namespace mi::firstboot

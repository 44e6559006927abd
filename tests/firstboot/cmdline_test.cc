// The kernel command line source: mi.* arguments among the kernel's own, split as the kernel
// splits (double quotes group words and are dropped), unknown mi.* keys refused, and the
// secret refused without ever echoing it.
#include <catch2/catch.hpp>

#include "common/error.h"
#include "firstboot/config_sources.h"

using namespace mi::firstboot;

TEST_CASE("cmdline: mi.* arguments among the kernel's", "[cmdline]") {
  ConfigLayer L = parse_cmdline(
      "BOOT_IMAGE=/vmlinuz root=PARTUUID=0a1b ro quiet mi.role=control mi.cluster=prod mi.dc=dc2 "
      "mi.control_count=5 mi.discovery=static mi.peers=10.0.0.11,10.0.0.12,,10.0.0.13 mi.wan_join=10.1.0.11 "
      "mi.node=ctl-1 mi.address=10.0.0.11 mi.iface=eth1 console=ttyS0,115200n8\n");
  CHECK(L.present);
  CHECK(*L.role.value == Role::control);
  CHECK(*L.cluster.value == "prod");
  CHECK(*L.datacenter.value == "dc2");
  CHECK(*L.control_count.value == 5);
  CHECK(*L.discovery.value == "static");
  CHECK(*L.static_peers.value == std::vector<std::string>{"10.0.0.11", "10.0.0.12", "10.0.0.13"});
  CHECK(*L.wan_join.value == std::vector<std::string>{"10.1.0.11"});
  CHECK(*L.node_name.value == "ctl-1");
  CHECK(*L.address.value == "10.0.0.11");
  CHECK(*L.interface.value == "eth1");
  CHECK(L.role.where == "cmdline");
  CHECK_FALSE(L.secret.value);
  CHECK_FALSE(L.dns_name.value);
}

TEST_CASE("cmdline: a live boot's mi.live.* arguments are the initramfs's, not ours", "[cmdline]") {
  ConfigLayer L = parse_cmdline(
      "boot=mi-live mi.live.root=http://10.0.2.2:8080/root.erofs mi.live.sha256=00ff fstab=no mi.role=all-in-one");
  CHECK(*L.role.value == Role::all_in_one);
  CHECK_FALSE(L.cluster.value);
  CHECK_THROWS_WITH(parse_cmdline("mi.liver=1", "/proc/cmdline"), Catch::Contains("mi.liver: unknown argument"));
}

TEST_CASE("cmdline: quoting as the kernel does it", "[cmdline]") {
  ConfigLayer L = parse_cmdline("ro mi.cloud_join=\"provider=aws tag_key=mi tag_value=prod\" quiet");
  CHECK(*L.cloud_join.value == "provider=aws tag_key=mi tag_value=prod");
  L = parse_cmdline("\"mi.cloud_join=provider=gce tag_value=x\"\tmi.role=compute");
  CHECK(*L.cloud_join.value == "provider=gce tag_value=x");
  CHECK(*L.role.value == Role::compute);
  L = parse_cmdline("mi.dns_name=\"\"");  // an empty quoted value is a value
  CHECK(*L.dns_name.value == "");
  CHECK_THROWS_WITH(parse_cmdline("mi.cloud_join=\"provider=aws", "/proc/cmdline"),
                    Catch::Contains("unterminated double quote"));
  // A later argument wins, as with the kernel's own parameters.
  L = parse_cmdline("mi.role=control mi.role=compute");
  CHECK(*L.role.value == Role::compute);
}

TEST_CASE("cmdline: the secret is refused and never echoed", "[cmdline]") {
  try {
    parse_cmdline("ro mi.secret=hunter2-very-secret quiet", "/proc/cmdline");
    FAIL("mi.secret was accepted");
  } catch (const mi::Error& e) {
    CHECK(e.where == "/proc/cmdline: mi.secret");
    CHECK(std::string(e.what()).find("readable by every user") != std::string::npos);
    CHECK(std::string(e.what()).find("hunter2") == std::string::npos);
  }
  CHECK_THROWS_WITH(parse_cmdline("mi.secret"), Catch::Contains("may not be given on the kernel command line"));
  // A file name is fine: it is not the secret.
  CHECK(*parse_cmdline("mi.secret_file=/var/lib/mi/secret").secret_file.value == "/var/lib/mi/secret");
}

TEST_CASE("cmdline: bad arguments", "[cmdline]") {
  CHECK_THROWS_WITH(parse_cmdline("mi.rolee=control"), Catch::StartsWith("cmdline: mi.rolee: unknown argument"));
  CHECK_THROWS_WITH(parse_cmdline("mi.role=boss"), Catch::Contains("unknown role 'boss'"));
  CHECK_THROWS_WITH(parse_cmdline("mi.control_count=3x"), Catch::Contains("whole number"));
  CHECK_THROWS_WITH(parse_cmdline("mi.node"), Catch::Contains("needs a value"));
  // Not ours: ignored.
  CHECK_FALSE(parse_cmdline("mitigations=off mi initrd=x").role.value);
}

// The bootstrap's live-boot pieces (builder/rootfs.cc): the mi-live script reaches the tree by
// a fixed customize hook and a file named in the environment (no script text in the hook),
// before update-initramfs, and its content is part of the bootstrap's key.
#include "builder/rootfs.h"

#include <algorithm>
#include <catch2/catch.hpp>

#include "builder/live_script.h"

TEST_CASE("the mi-live script: a fixed hook before update-initramfs, its file by the environment, in the key") {
  mi::RootfsRequest req;
  req.packages = {"systemd"};
  req.source_date_epoch = "1700000000";
  const std::string before = mi::rootfs_key(req);
  auto plain = mi::mmdebstrap_argv(req, "/target");
  CHECK(mi::mmdebstrap_env(req, "/p").count("MI_LIVE_SCRIPT") == 0);

  req.live_script = std::string(mi::mi_live_script());
  REQUIRE(req.live_script.find("mountroot()") != std::string::npos);  // the real script is built in
  auto argv = mi::mmdebstrap_argv(req, "/target");
  const std::string hook =
      "--customize-hook=install -D -m 0755 \"$MI_LIVE_SCRIPT\" \"$1/etc/initramfs-tools/scripts/mi-live\" && for m in "
      "loop af_packet isofs; do grep -qx $m \"$1/etc/initramfs-tools/modules\" || echo $m >> "
      "\"$1/etc/initramfs-tools/modules\"; done";
  auto at = std::find(argv.begin(), argv.end(), hook);
  REQUIRE(at != argv.end());
  auto initramfs = std::find_if(argv.begin(), argv.end(),
                                [](const std::string& a) { return a.find("update-initramfs") != std::string::npos; });
  CHECK(at < initramfs);
  CHECK(argv.size() == plain.size() + 1);
  for (const auto& a : argv) CHECK(a.find("mi_live_fail") == std::string::npos);  // no script text in argv
  CHECK(mi::mmdebstrap_env(req, "/p", "/s").at("MI_LIVE_SCRIPT") == "/s");

  const std::string with = mi::rootfs_key(req);
  CHECK(with != before);
  req.live_script += "# changed\n";
  CHECK(mi::rootfs_key(req) != with);
}

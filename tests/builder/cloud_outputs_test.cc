// The `openstack` and `ami` outputs (builder/cloud_outputs.cc): the JSON has exactly the
// documented keys, the upload script is valid sh and hands `openstack` the exact argv (a fake
// `openstack` first on PATH prints it), and the ami tar lists (bsdtar) exactly its entries,
// owned by 0:0 at the epoch, the same bytes for the same inputs.
#include "builder/cloud_outputs.h"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "common/error.h"
#include "common/files.h"
#include "common/process.h"
#include "skip.h"
#include "temp_dir.h"

namespace fs = std::filesystem;
using Json = nlohmann::json;

namespace {

struct TempDir : mi::test::TempDir {
  TempDir() : mi::test::TempDir("mi-cloud-test") {}
};

std::set<std::string> keys(const Json& j) {
  std::set<std::string> k;
  for (const auto& [key, v] : j.items()) k.insert(key);
  return k;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> v;
  size_t start = 0;
  for (size_t i = 0; i < s.size(); i++)
    if (s[i] == sep) v.push_back(s.substr(start, i - start)), start = i + 1;
  if (start < s.size()) v.push_back(s.substr(start));
  return v;
}

mi::OpenstackImage sample(const std::string& dir) {
  mi::OpenstackImage o;
  o.qcow2 = dir + "/mi-control.qcow2";
  o.name = "mi";
  o.role = "control";
  o.debian_version = "12";
  o.guest_agent = true;
  return o;
}

struct Entry {
  std::string name;
  int64_t uid, gid, mtime, size;
  unsigned mode;
};

// The tar's entries as libarchive reads them back.
std::vector<Entry> read_entries(const std::string& tar) {
  std::vector<Entry> out;
  archive* a = archive_read_new();
  archive_read_support_format_all(a);
  archive_read_support_filter_all(a);
  REQUIRE(archive_read_open_filename(a, tar.c_str(), 65536) == ARCHIVE_OK);
  archive_entry* e;
  while (archive_read_next_header(a, &e) == ARCHIVE_OK)
    out.push_back({archive_entry_pathname(e), archive_entry_uid(e), archive_entry_gid(e), archive_entry_mtime(e),
                   archive_entry_size(e), unsigned(archive_entry_perm(e))});
  archive_read_free(a);
  return out;
}

}  // namespace

TEST_CASE("shell_quote leaves plain words alone and single-quotes the rest") {
  CHECK(mi::shell_quote("hw_disk_bus=virtio") == "hw_disk_bus=virtio");
  CHECK(mi::shell_quote("mi-control.qcow2") == "mi-control.qcow2");
  CHECK(mi::shell_quote("") == "''");
  CHECK(mi::shell_quote("a b") == "'a b'");
  CHECK(mi::shell_quote("it's") == "'it'\\''s'");
  CHECK(mi::shell_quote("$(reboot)") == "'$(reboot)'");
}

TEST_CASE("glance.json is Glance's image body with exactly the documented properties") {
  TempDir d;
  auto o = sample(d.path);
  Json j = Json::parse(mi::glance_json(o));
  CHECK(keys(j) == std::set<std::string>{"name", "container_format", "disk_format", "hw_disk_bus", "hw_firmware_type",
                                         "hw_machine_type", "hw_qemu_guest_agent", "hw_vif_model", "os_distro",
                                         "os_type", "os_version"});
  CHECK(j["name"] == "mi-control");
  CHECK(j["container_format"] == "bare");
  CHECK(j["disk_format"] == "qcow2");
  CHECK(j["hw_firmware_type"] == "uefi");
  CHECK(j["hw_machine_type"] == "q35");
  CHECK(j["hw_disk_bus"] == "virtio");
  CHECK(j["hw_vif_model"] == "virtio");
  CHECK(j["hw_qemu_guest_agent"] == "yes");
  CHECK(j["os_type"] == "linux");
  CHECK(j["os_distro"] == "debian");
  CHECK(j["os_version"] == "12");
  o.guest_agent = false;
  CHECK(Json::parse(mi::glance_json(o))["hw_qemu_guest_agent"] == "no");
  // Stable text: the same request gives the same bytes, keys sorted.
  CHECK(mi::glance_json(o) == mi::glance_json(o));
  CHECK(mi::glance_json(o).find("\"container_format\"") < mi::glance_json(o).find("\"disk_format\""));

  o.debian_version = "bookworm";
  CHECK_THROWS_WITH(mi::glance_json(o), Catch::Contains("os_version"));
  o.debian_version = "12";
  o.name = "bad\nname";
  CHECK_THROWS_WITH(mi::glance_json(o), Catch::Contains("control characters"));
}

TEST_CASE("the openstack script passes sh -n and gives openstack the exact argv, quoted names included") {
  if (!mi::have_program("sh")) return mi::test::skip_or_fail("sh not found");
  TempDir d;
  fs::create_directories(d.path + "/out");
  fs::create_directories(d.path + "/bin");
  // The fake client prints its working directory, then each argument NUL-terminated.
  mi::write_file_atomic(d.path + "/bin/openstack", "#!/bin/sh\nprintf '%s\\0' \"$PWD\" \"$@\"\n", 0755);
  auto o = sample(d.path + "/out");
  o.name = "it's \"mi\" $HOME";
  o.qcow2 = d.path + "/out/it's \"mi\" $HOME-control.qcow2";
  mi::write_openstack_files(o);
  std::string base = d.path + "/out/it's \"mi\" $HOME-control";
  std::string script = base + ".openstack.sh";
  struct stat st {};
  REQUIRE(stat(script.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0755);
  CHECK(mi::read_file(script) == mi::openstack_create_script(o));
  CHECK(mi::read_file(base + ".glance.json") == mi::glance_json(o));
  CHECK(Json::parse(mi::read_file(base + ".glance.json"))["name"] == "it's \"mi\" $HOME-control");

  mi::run({"sh", "-n", script});
  mi::RunOptions env;
  env.env["PATH"] = d.path + "/bin:" + std::string(getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
  env.cwd = "/";  // the script changes to its own directory
  auto argv = split(mi::run({script}, env).out, '\0');
  std::vector<std::string> want = {fs::canonical(d.path + "/out").string(),
                                   "image",
                                   "create",
                                   "--disk-format",
                                   "qcow2",
                                   "--container-format",
                                   "bare",
                                   "--file",
                                   "it's \"mi\" $HOME-control.qcow2",
                                   "--property",
                                   "hw_disk_bus=virtio",
                                   "--property",
                                   "hw_firmware_type=uefi",
                                   "--property",
                                   "hw_machine_type=q35",
                                   "--property",
                                   "hw_qemu_guest_agent=yes",
                                   "--property",
                                   "hw_vif_model=virtio",
                                   "--property",
                                   "os_distro=debian",
                                   "--property",
                                   "os_type=linux",
                                   "--property",
                                   "os_version=12",
                                   "it's \"mi\" $HOME-control"};
  CHECK(argv == want);
}

TEST_CASE("the ami JSON files have exactly the documented keys and placeholders") {
  mi::AmiImage a{"/nonexistent/mi-control.vhd", 3 << 20, "mi-control", 1700000000};
  Json imp = Json::parse(mi::ami_import_snapshot_json(a));
  CHECK(keys(imp) == std::set<std::string>{"Description", "Format", "UserBucket"});
  CHECK(imp["Format"] == "VHD");
  CHECK(imp["Description"] == "mi-control");
  CHECK(imp["UserBucket"] == Json{{"S3Bucket", "S3_BUCKET"}, {"S3Key", "mi-control.vhd"}});

  Json reg = Json::parse(mi::ami_register_image_json(a));
  CHECK(keys(reg) == std::set<std::string>{"Name", "Architecture", "RootDeviceName", "BlockDeviceMappings",
                                           "VirtualizationType", "EnaSupport", "BootMode", "ImdsSupport"});
  CHECK(reg["Name"] == "mi-control");
  CHECK(reg["Architecture"] == "x86_64");
  CHECK(reg["RootDeviceName"] == "/dev/xvda");
  CHECK(reg["VirtualizationType"] == "hvm");
  CHECK(reg["EnaSupport"] == true);
  CHECK(reg["BootMode"] == "uefi-preferred");
  CHECK(reg["ImdsSupport"] == "v2.0");
  REQUIRE(reg["BlockDeviceMappings"].size() == 1);
  Json m = reg["BlockDeviceMappings"][0];
  CHECK(keys(m) == std::set<std::string>{"DeviceName", "Ebs"});
  CHECK(m["DeviceName"] == "/dev/xvda");
  CHECK(m["Ebs"] == Json{{"SnapshotId", "SNAPSHOT_ID"}, {"VolumeType", "gp3"}, {"DeleteOnTermination", true}});

  std::string readme = mi::ami_readme(a);
  size_t at = 0;
  for (const char* step :
       {"aws s3 cp mi-control.vhd s3://BUCKET/mi-control.vhd", "aws ec2 import-snapshot",
        "aws ec2 describe-import-snapshot-tasks", "aws ec2 register-image --cli-input-json", "mi:\n       secret:"}) {
    CAPTURE(step);
    size_t p = readme.find(step, at);
    CHECK(p != std::string::npos);
    if (p != std::string::npos) at = p;
  }
  a.base = "x";
  CHECK_THROWS_WITH(mi::ami_register_image_json(a), Catch::Contains("AMI name"));
}

TEST_CASE("the ami tar holds the VHD and its files, sorted, 0:0 at the epoch, the same bytes every time") {
  if (!mi::have_program("bsdtar")) return mi::test::skip_or_fail("bsdtar not found (libarchive-tools)");
  TempDir d;
  std::string vhd = d.path + "/mi-control.vhd", disk(3 << 20, '\0');
  for (size_t i = 0; i < disk.size(); i += 4096) disk[i] = char(i / 4096);
  mi::write_file_atomic(vhd, disk);
  mi::AmiImage a{vhd, disk.size(), "mi-control", 1700000000};
  mi::write_ami_tar(a, d.path + "/out/mi-control.ami.tar");
  std::string tar = d.path + "/out/mi-control.ami.tar";

  auto names = split(mi::run({"bsdtar", "-tf", tar}).out, '\n');
  CHECK(names == std::vector<std::string>{"mi-control.ami/", "mi-control.ami/README",
                                          "mi-control.ami/import-snapshot.json", "mi-control.ami/mi-control.vhd",
                                          "mi-control.ami/register-image.json"});
  std::string listing = mi::run({"bsdtar", "-tvf", tar}).out;
  CHECK(split(listing, '\n').size() == 5);
  for (const auto& e : read_entries(tar)) {
    CAPTURE(e.name);
    CHECK(e.uid == 0);
    CHECK(e.gid == 0);
    CHECK(e.mtime == 1700000000);
    CHECK(e.mode == (e.name.back() == '/' ? 0755u : 0644u));
  }
  CHECK(mi::run({"bsdtar", "-xOf", tar, "mi-control.ami/mi-control.vhd"}).out == disk);
  CHECK(mi::run({"bsdtar", "-xOf", tar, "mi-control.ami/README"}).out == mi::ami_readme(a));
  CHECK(mi::run({"bsdtar", "-xOf", tar, "mi-control.ami/register-image.json"}).out == mi::ami_register_image_json(a));
  CHECK(mi::run({"bsdtar", "-xOf", tar, "mi-control.ami/import-snapshot.json"}).out == mi::ami_import_snapshot_json(a));

  mi::write_ami_tar(a, d.path + "/again.tar");
  CHECK(mi::read_file(d.path + "/again.tar") == mi::read_file(tar));
  a.epoch = 1700000001;
  mi::write_ami_tar(a, d.path + "/later.tar");
  CHECK(mi::read_file(d.path + "/later.tar") != mi::read_file(tar));
  // No temporaries left beside the output.
  for (const auto& e : fs::directory_iterator(d.path + "/out")) CHECK(e.path().filename() == "mi-control.ami.tar");

  a.vhd_size = disk.size() + 512;
  CHECK_THROWS_WITH(mi::write_ami_tar(a, d.path + "/bad.tar"), Catch::Contains("expected"));
  CHECK_FALSE(fs::exists(d.path + "/bad.tar"));
}

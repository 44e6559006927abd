// The `openstack` and `ami` outputs (cloud_outputs.h): JSON through nlohmann::json (keys
// sorted, so the text is stable), shell and README text by hand, the ami tar by write_tar.
#include "builder/cloud_outputs.h"

#include <cctype>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <vector>

#include "builder/tar_bundle.h"
#include "common/error.h"
#include "common/files.h"

namespace fs = std::filesystem;

namespace mi {
namespace {

using Json = nlohmann::json;

std::string dump(const Json& j) { return j.dump(2) + "\n"; }

bool has_control_char(const std::string& s) {
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f) return true;
  return false;
}

void check_openstack(const OpenstackImage& o) {
  if (o.qcow2.empty() || has_control_char(fs::path(o.qcow2).filename().string()))
    throw Error("openstack: qcow2", "'" + o.qcow2 + "' is not a file name for the script");
  if (o.name.empty() || has_control_char(o.name)) throw Error("openstack: name", "empty or holds control characters");
  if (o.role.empty() || has_control_char(o.role)) throw Error("openstack: role", "empty or holds control characters");
  if (o.name.find('/') != std::string::npos || o.role.find('/') != std::string::npos)
    throw Error("openstack", "'" + openstack_image_name(o) + "' names files: no '/' in it");
  const std::string& v = o.debian_version;
  bool ok = !v.empty() && v.front() != '.' && v.back() != '.' && v.find("..") == std::string::npos &&
            v.find_first_not_of("0123456789.") == std::string::npos;
  if (!ok) throw Error("openstack: os_version", "'" + v + "' is not a version number such as 12 or 12.5");
}

// The image properties Nova reads, in the order the command line gives them (sorted).
std::vector<std::pair<std::string, std::string>> glance_properties(const OpenstackImage& o) {
  return {
      {"hw_disk_bus", "virtio"},  {"hw_firmware_type", "uefi"},
      {"hw_machine_type", "q35"}, {"hw_qemu_guest_agent", o.guest_agent ? "yes" : "no"},
      {"hw_vif_model", "virtio"}, {"os_distro", "debian"},
      {"os_type", "linux"},       {"os_version", o.debian_version},
  };
}

// AMI names: 3..128 of letters, digits, ( ) [ ] space . / - ' @ _ (EC2 RegisterImage).
void check_ami(const AmiImage& a) {
  if (a.vhd.empty()) throw Error("ami", "no VHD given");
  bool ok = a.base.size() >= 3 && a.base.size() <= 128;
  for (char c : a.base)
    if (!isalnum(static_cast<unsigned char>(c)) && std::string("()[] ./-'@_").find(c) == std::string::npos) ok = false;
  if (!ok || a.base.find('/') != std::string::npos)
    throw Error("ami: name",
                "'" + a.base + "' is not an AMI name (3..128 of letters, digits, ( ) [ ] space . - ' @ _)");
}

std::string vhd_name(const AmiImage& a) { return a.base + ".vhd"; }

}  // namespace

std::string shell_quote(const std::string& s) {
  static const std::string safe = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_./:=@%+,-";
  if (!s.empty() && s.find_first_not_of(safe) == std::string::npos) return s;
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string openstack_image_name(const OpenstackImage& o) { return o.name + "-" + o.role; }

std::string glance_json(const OpenstackImage& o) {
  check_openstack(o);
  Json j = Json::object();
  j["name"] = openstack_image_name(o);
  j["container_format"] = "bare";
  j["disk_format"] = "qcow2";
  for (const auto& [k, v] : glance_properties(o)) j[k] = v;
  return dump(j);
}

std::string openstack_create_script(const OpenstackImage& o) {
  check_openstack(o);
  std::string s =
      "#!/bin/sh\n"
      "# Uploads the image to Glance (written by mibuild; the same as its .glance.json).\n"
      "# The cloud and credentials come from the environment: OS_CLOUD or OS_AUTH_URL, ...\n"
      "set -eu\n"
      "cd \"$(dirname \"$0\")\"\n"
      "exec openstack image create \\\n"
      "  --disk-format qcow2 --container-format bare \\\n"
      "  --file " +
      shell_quote(fs::path(o.qcow2).filename().string()) + " \\\n";
  for (const auto& [k, v] : glance_properties(o)) s += "  --property " + shell_quote(k + "=" + v) + " \\\n";
  s += "  " + shell_quote(openstack_image_name(o)) + "\n";
  return s;
}

void write_openstack_files(const OpenstackImage& o) {
  std::string json = glance_json(o), script = openstack_create_script(o);
  fs::path dir = fs::path(o.qcow2).parent_path();
  std::string base = (dir / openstack_image_name(o)).string();
  write_file_atomic(base + ".glance.json", json, 0644);
  write_file_atomic(base + ".openstack.sh", script, 0755);
}

std::string ami_import_snapshot_json(const AmiImage& a) {
  check_ami(a);
  Json j = {
      {"Description", a.base},
      {"Format", "VHD"},
      {"UserBucket", {{"S3Bucket", "S3_BUCKET"}, {"S3Key", vhd_name(a)}}},
  };
  return dump(j);
}

std::string ami_register_image_json(const AmiImage& a) {
  check_ami(a);
  Json ebs = {{"SnapshotId", "SNAPSHOT_ID"}, {"VolumeType", "gp3"}, {"DeleteOnTermination", true}};
  Json j = {
      {"Name", a.base},
      {"Architecture", "x86_64"},
      {"RootDeviceName", "/dev/xvda"},
      {"BlockDeviceMappings", Json::array({{{"DeviceName", "/dev/xvda"}, {"Ebs", ebs}}})},
      {"VirtualizationType", "hvm"},
      {"EnaSupport", true},
      {"BootMode", "uefi-preferred"},
      {"ImdsSupport", "v2.0"},
  };
  return dump(j);
}

std::string ami_readme(const AmiImage& a) {
  check_ami(a);
  const std::string vhd = vhd_name(a), gib = std::to_string((a.vhd_size + (1ull << 30) - 1) >> 30);
  const std::string name = shell_quote(a.base), key = shell_quote(vhd);
  return a.base + ": an Amazon EC2 image (AMI) from a fixed VHD of " + gib +
         " GiB, written by mibuild.\n"
         "\n"
         "It boots with UEFI, or legacy BIOS on instance types without UEFI (BootMode\n"
         "uefi-preferred), and mi-firstboot reads instance metadata with IMDSv2 only\n"
         "(ImdsSupport v2.0: instances require session tokens, hop limit 2).\n"
         "\n"
         "You need the AWS CLI, an S3 bucket in the region you import into, and the\n"
         "`vmimport` service role that VM Import/Export uses to read that bucket (see\n"
         "\"Required permissions for VM Import/Export\" in the AWS documentation).\n"
         "Below, BUCKET is your bucket's name.\n"
         "\n"
         "1. Upload the disk:\n"
         "\n"
         "     aws s3 cp " +
         key + " s3://BUCKET/" + key +
         "\n"
         "\n"
         "2. Import it as an EBS snapshot (import-snapshot.json names the bucket S3_BUCKET):\n"
         "\n"
         "     sed -i 's/S3_BUCKET/BUCKET/' import-snapshot.json\n"
         "     aws ec2 import-snapshot --description " +
         name +
         " --disk-container file://import-snapshot.json\n"
         "\n"
         "   It answers with an ImportTaskId (import-snap-...).\n"
         "\n"
         "3. Wait until the task's status is `completed`, and note its SnapshotId (snap-...):\n"
         "\n"
         "     aws ec2 describe-import-snapshot-tasks --import-task-ids import-snap-... \\\n"
         "       --query 'ImportSnapshotTasks[0].SnapshotTaskDetail.[Status,Progress,SnapshotId]'\n"
         "\n"
         "   (`aws ec2 wait snapshot-imported --import-task-ids import-snap-...` polls the same\n"
         "   for at most 10 minutes; run it again if the import takes longer.)\n"
         "\n"
         "4. Register the AMI from the snapshot (register-image.json names it SNAPSHOT_ID):\n"
         "\n"
         "     sed -i 's/SNAPSHOT_ID/snap-.../' register-image.json\n"
         "     aws ec2 register-image --cli-input-json file://register-image.json\n"
         "\n"
         "   It answers with the ImageId (ami-...). AMI names are unique per account and\n"
         "   region: change \"Name\" in register-image.json to register a newer build.\n"
         "\n"
         "5. Launch nodes. The fleet secret reaches mi-firstboot in the instance's user data: a\n"
         "   #cloud-config whose `mi:` key is the NoCloud seed's (`mibuild seed` writes the same).\n"
         "   Put it in a file `user-data`, mode 0600:\n"
         "\n"
         "     #cloud-config\n"
         "     mi:\n"
         "       secret: \"<the fleet secret: the line in fleet.secret>\"\n"
         "\n"
         "     aws ec2 run-instances --image-id ami-... --instance-type m5.large \\\n"
         "       --user-data file://user-data ...\n"
         "\n"
         "   mi-firstboot reads it over IMDSv2 and keeps the secret on the node\n"
         "   (<state_dir>/firstboot/secret, 0600). User data stays readable by anyone allowed\n"
         "   ec2:DescribeInstanceAttribute in the account, and by every process on the\n"
         "   instance that can reach 169.254.169.254.\n";
}

void write_ami_tar(const AmiImage& a, const std::string& out) {
  check_ami(a);
  std::error_code ec;
  uint64_t size = fs::file_size(a.vhd, ec);
  if (ec) throw Error(a.vhd, "cannot read the VHD: " + ec.message());
  if (size != a.vhd_size)
    throw Error(a.vhd, "is " + std::to_string(size) + " bytes, expected " + std::to_string(a.vhd_size));
  const std::string dir = a.base + ".ami/";
  std::vector<TarEntry> entries = {
      {dir, "", "", 0755, true},
      {dir + "README", ami_readme(a)},
      {dir + "import-snapshot.json", ami_import_snapshot_json(a)},
      {dir + "register-image.json", ami_register_image_json(a)},
      {dir + vhd_name(a), "", a.vhd},
  };
  write_tar(out, std::move(entries), a.epoch, false);
}

}  // namespace mi

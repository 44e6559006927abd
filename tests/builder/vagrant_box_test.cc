// The Vagrant boxes (builder/vagrant_box.cc), made from small disks qemu-img writes: the
// entries (bsdtar), metadata.json, box.ovf as xmllint reads it (well-formed; sizes, capacity
// and UUIDs that agree with the VMDK and with each other), the Vagrantfiles as Ruby reads
// them, the same bytes for the same inputs, and Vagrant itself adding each box. Also the
// project's vagrant/Vagrantfile, as Vagrant validates it.
#include "builder/vagrant_box.h"

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/files.h"
#include "common/process.h"
#include "skip.h"
#include "temp_dir.h"

namespace fs = std::filesystem;
using Json = nlohmann::json;

namespace {

constexpr uint64_t kEpoch = 1700000000;

struct TempDir : mi::test::TempDir {
  TempDir() : mi::test::TempDir("mi-vagrant-test") {}
};

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> v;
  size_t start = 0;
  for (size_t i = 0; i < s.size(); i++)
    if (s[i] == '\n') v.push_back(s.substr(start, i - start)), start = i + 1;
  return v;
}

// A 2.5 GiB qcow2 of a few hundred KiB and the same disk as a streamOptimized VMDK.
bool make_disks(const std::string& dir) {
  if (!mi::have_program("qemu-img")) {
    mi::test::skip_or_fail("qemu-img not found (qemu-utils)");
    return false;
  }
  mi::run({"qemu-img", "create", "-q", "-f", "qcow2", dir + "/d.qcow2", "2560M"});
  mi::run({"qemu-img", "convert", "-O", "vmdk", "-o", "subformat=streamOptimized", dir + "/d.qcow2", dir + "/d.vmdk"});
  return true;
}

uint64_t qemu_virtual_size(const std::string& path) {
  return Json::parse(mi::run({"qemu-img", "info", "--output=json", path}).out)["virtual-size"].get<uint64_t>();
}

// The string value of an XPath expression, as xmllint evaluates it.
std::string xpath(const std::string& file, const std::string& expr) {
  std::string v = mi::run({"xmllint", "--xpath", "string(" + expr + ")", file}).out;
  if (!v.empty() && v.back() == '\n') v.pop_back();
  return v;
}

// An element or attribute by its local name (OVF mixes four namespaces).
std::string el(const std::string& name) { return "*[local-name()='" + name + "']"; }
std::string at(const std::string& name) { return "@*[local-name()='" + name + "']"; }

mi::RunOptions vagrant_env(const std::string& home, const std::string& cwd = "") {
  mi::RunOptions o;
  o.env["VAGRANT_HOME"] = home;
  o.env["VAGRANT_CHECKPOINT_DISABLE"] = "1";
  o.cwd = cwd;
  o.timeout_seconds = 120;
  return o;
}

}  // namespace

TEST_CASE("the disks' sizes are read from their headers, as qemu-img reads them") {
  TempDir d;
  if (!make_disks(d.path)) return;
  CHECK(mi::qcow2_virtual_size(d.path + "/d.qcow2") == qemu_virtual_size(d.path + "/d.qcow2"));
  CHECK(mi::vmdk_capacity(d.path + "/d.vmdk") == qemu_virtual_size(d.path + "/d.vmdk"));
  CHECK(mi::qcow2_virtual_size(d.path + "/d.qcow2") == 2560ull << 20);
  CHECK_THROWS_WITH(mi::qcow2_virtual_size(d.path + "/d.vmdk"), Catch::Contains("not a qcow2"));
  CHECK_THROWS_WITH(mi::vmdk_capacity(d.path + "/d.qcow2"), Catch::Contains("not a sparse VMDK"));
  CHECK(mi::virtualbox_box_path("out/mi-all-in-one.box") == "out/mi-all-in-one.virtualbox.box");
}

TEST_CASE("the libvirt box: gzip'd tar of Vagrantfile, box.img, metadata.json; the same bytes every time") {
  if (!mi::have_program("bsdtar")) return mi::test::skip_or_fail("bsdtar not found (libarchive-tools)");
  TempDir d;
  if (!make_disks(d.path)) return;
  std::string box = d.path + "/out/mi-all-in-one.box";
  mi::write_libvirt_box(d.path + "/d.qcow2", box, kEpoch);

  auto listing = lines(mi::run({"bsdtar", "-tvf", box}).out);
  REQUIRE(listing.size() == 3);
  CHECK(mi::run({"bsdtar", "-tf", box}).out == "Vagrantfile\nbox.img\nmetadata.json\n");
  for (const auto& l : listing) CHECK(l.find(" 0 0 ") != std::string::npos);  // uid, gid
  std::string bytes = mi::read_file(box);
  REQUIRE(bytes.size() > 10);
  CHECK(bytes.substr(0, 2) == "\x1f\x8b");            // gzip
  CHECK(bytes.substr(4, 4) == std::string(4, '\0'));  // no time in its header
  CHECK(mi::run({"bsdtar", "-xOf", box, "box.img"}).out == mi::read_file(d.path + "/d.qcow2"));
  CHECK(mi::run({"bsdtar", "-xOf", box, "Vagrantfile"}).out == mi::libvirt_box_vagrantfile());
  Json meta = Json::parse(mi::run({"bsdtar", "-xOf", box, "metadata.json"}).out);
  CHECK(meta == Json{{"provider", "libvirt"}, {"format", "qcow2"}, {"virtual_size", 3}});  // 2.5 GiB, rounded up
  CHECK(Json::parse(mi::libvirt_box_metadata(1ull << 30))["virtual_size"] == 1);
  CHECK(Json::parse(mi::libvirt_box_metadata((1ull << 30) + 1))["virtual_size"] == 2);

  mi::write_libvirt_box(d.path + "/d.qcow2", d.path + "/again.box", kEpoch);
  CHECK(mi::read_file(d.path + "/again.box") == bytes);
  CHECK_THROWS_WITH(mi::write_libvirt_box(d.path + "/d.vmdk", d.path + "/bad.box", kEpoch),
                    Catch::Contains("not a qcow2"));
  CHECK_FALSE(fs::exists(d.path + "/bad.box"));
}

TEST_CASE("the VirtualBox box: box.ovf agrees with the VMDK it carries and xmllint reads it") {
  if (!mi::have_program("bsdtar")) return mi::test::skip_or_fail("bsdtar not found (libarchive-tools)");
  if (!mi::have_program("xmllint")) return mi::test::skip_or_fail("xmllint not found (libxml2-utils)");
  TempDir d;
  if (!make_disks(d.path)) return;
  std::string box = d.path + "/out/mi-all-in-one.virtualbox.box";
  mi::write_virtualbox_box(d.path + "/d.vmdk", "mi-all-in-one", "mi", box, kEpoch);

  CHECK(mi::run({"bsdtar", "-tf", box}).out == "Vagrantfile\nbox-disk001.vmdk\nbox.ovf\nmetadata.json\n");
  CHECK(lines(mi::run({"bsdtar", "-tvf", box}).out).size() == 4);
  std::string bytes = mi::read_file(box);
  REQUIRE(bytes.size() > 262);
  CHECK(bytes.substr(257, 5) == "ustar");  // a plain tar: the VMDK is compressed already
  CHECK(mi::run({"bsdtar", "-xOf", box, "box-disk001.vmdk"}).out == mi::read_file(d.path + "/d.vmdk"));
  CHECK(Json::parse(mi::run({"bsdtar", "-xOf", box, "metadata.json"}).out) == Json{{"provider", "virtualbox"}});
  CHECK(mi::run({"bsdtar", "-xOf", box, "Vagrantfile"}).out == mi::virtualbox_box_vagrantfile());

  std::string ovf = d.path + "/box.ovf";
  mi::write_file_atomic(ovf, mi::run({"bsdtar", "-xOf", box, "box.ovf"}).out);
  mi::run({"xmllint", "--noout", ovf});
  CHECK(xpath(ovf, "/*/" + at("version")) == "1.0");
  CHECK(xpath(ovf, "//" + el("File") + "/" + at("href")) == "box-disk001.vmdk");
  CHECK(xpath(ovf, "//" + el("File") + "/" + at("size")) == std::to_string(fs::file_size(d.path + "/d.vmdk")));
  CHECK(xpath(ovf, "//" + el("Disk") + "/" + at("capacity")) == std::to_string(qemu_virtual_size(d.path + "/d.vmdk")));
  CHECK(xpath(ovf, "//" + el("Disk") + "/" + at("format")) ==
        "http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized");
  CHECK(xpath(ovf, "count(//" + el("VirtualSystem") + ")") == "1");
  CHECK(xpath(ovf, "//" + el("VirtualSystem") + "/" + at("id")) == "mi-all-in-one");
  // 2 CPUs (ResourceType 3), 4096 MB (4), one SATA controller (20), the disk (17), one NIC on NAT (10).
  auto item = [&](int type, const std::string& field) {
    return xpath(ovf, "//" + el("Item") + "[" + el("ResourceType") + "='" + std::to_string(type) + "']/" + el(field));
  };
  CHECK(item(3, "VirtualQuantity") == "2");
  CHECK(item(4, "VirtualQuantity") == "4096");
  CHECK(item(20, "ResourceSubType") == "AHCI");
  CHECK(item(17, "HostResource") == "ovf:/disk/vmdisk1");
  CHECK(item(17, "Parent") == item(20, "InstanceID"));
  CHECK(item(10, "Connection") == "NAT");
  CHECK(xpath(ovf, "count(//" + el("Item") + "[" + el("ResourceType") + "='10'])") == "1");
  // The VirtualBox part: EFI, and its disk attachment names the DiskSection's disk.
  CHECK(xpath(ovf, "//" + el("Machine") + "//" + el("Firmware") + "/@type") == "EFI");
  CHECK(xpath(ovf, "//" + el("Machine") + "//" + el("IOAPIC") + "/@enabled") == "true");
  CHECK(xpath(ovf, "//" + el("Machine") + "//" + el("Memory") + "/@RAMSize") == "4096");
  CHECK(xpath(ovf, "//" + el("Machine") + "//" + el("CPU") + "/@count") == "2");
  std::string disk_uuid = xpath(ovf, "//" + el("Disk") + "/" + at("uuid"));
  CHECK(disk_uuid.size() == 36);
  CHECK(xpath(ovf, "//" + el("AttachedDevice") + "//" + el("Image") + "/@uuid") == "{" + disk_uuid + "}");
  std::string machine_uuid = xpath(ovf, "//" + el("Machine") + "/@uuid");
  CHECK(machine_uuid.size() == 38);
  CHECK(machine_uuid != "{" + disk_uuid + "}");

  mi::write_virtualbox_box(d.path + "/d.vmdk", "mi-all-in-one", "mi", d.path + "/again.box", kEpoch);
  CHECK(mi::read_file(d.path + "/again.box") == bytes);
  mi::write_virtualbox_box(d.path + "/d.vmdk", "mi-all-in-one", "other seed", d.path + "/other.box", kEpoch);
  CHECK(mi::read_file(d.path + "/other.box") != bytes);
  // A name that needs escaping stays well-formed XML.
  mi::VirtualboxOvf o{"a<b>&\"c'", 1, 512, "11111111-2222-4333-8444-555555555555",
                      "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"};
  mi::write_file_atomic(d.path + "/odd.ovf", mi::virtualbox_ovf(o));
  mi::run({"xmllint", "--noout", d.path + "/odd.ovf"});
  CHECK(xpath(d.path + "/odd.ovf", "//" + el("VirtualSystem") + "/" + at("id")) == o.vm_name);
}

TEST_CASE("the boxes' Vagrantfiles are Ruby, and Vagrant adds both boxes") {
  if (!mi::have_program("vagrant")) return mi::test::skip_or_fail("vagrant not found (Debian package vagrant)");
  TempDir d;
  if (!make_disks(d.path)) return;
  mi::write_file_atomic(d.path + "/libvirt.rb", mi::libvirt_box_vagrantfile());
  mi::write_file_atomic(d.path + "/virtualbox.rb", mi::virtualbox_box_vagrantfile());
  mi::run({"ruby", "-c", d.path + "/libvirt.rb"});
  mi::run({"ruby", "-c", d.path + "/virtualbox.rb"});

  std::string libvirt = d.path + "/mi-all-in-one.box", vbox = mi::virtualbox_box_path(libvirt);
  mi::write_libvirt_box(d.path + "/d.qcow2", libvirt, kEpoch);
  mi::write_virtualbox_box(d.path + "/d.vmdk", "mi-all-in-one", "mi", vbox, kEpoch);
  std::string home = d.path + "/vagrant.d";
  mi::run({"vagrant", "box", "add", "--name", "t", libvirt}, vagrant_env(home));
  mi::run({"vagrant", "box", "add", "--name", "t", vbox}, vagrant_env(home));
  std::string list = mi::run({"vagrant", "box", "list"}, vagrant_env(home)).out;
  CHECK(list.find("t (libvirt, 0)") != std::string::npos);
  CHECK(list.find("t (virtualbox, 0)") != std::string::npos);
  for (const char* f : {"libvirt/box.img", "libvirt/metadata.json", "libvirt/Vagrantfile", "virtualbox/box.ovf",
                        "virtualbox/box-disk001.vmdk", "virtualbox/metadata.json", "virtualbox/Vagrantfile"}) {
    CAPTURE(f);
    CHECK(fs::is_regular_file(home + "/boxes/t/0/" + f));
  }
}

TEST_CASE("vagrant/Vagrantfile brings up the all-in-one box with 4 GB and its UIs forwarded") {
  std::string file = std::string(MI_SOURCE_DIR) + "/vagrant/Vagrantfile";
  std::string text = mi::read_file(file);
  CHECK(text.find("config.vm.box = \"mi/all-in-one\"") != std::string::npos);
  for (const char* port : {"8500", "8080", "5050"}) CHECK(text.find(port) != std::string::npos);
  CHECK(text.find("libvirt.memory = 4096") != std::string::npos);
  CHECK(text.find("vb.memory = 4096") != std::string::npos);
  if (!mi::have_program("vagrant")) return mi::test::skip_or_fail("vagrant not found (Debian package vagrant)");
  TempDir d;
  fs::create_directories(d.path + "/project");
  fs::copy_file(file, d.path + "/project/Vagrantfile");
  auto r =
      mi::run({"vagrant", "validate", "--ignore-provider"}, vagrant_env(d.path + "/vagrant.d", d.path + "/project"));
  CHECK(r.out.find("validated successfully") != std::string::npos);
}

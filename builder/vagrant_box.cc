// The Vagrant boxes (vagrant_box.h): metadata.json through nlohmann::json, the Vagrantfiles
// and box.ovf as text, the tars by write_tar. Disk sizes are read from the disks' own headers
// so that a box can never describe another disk than the one it holds.
#include "builder/vagrant_box.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <vector>

#include "builder/tar_bundle.h"
#include "common/digest.h"
#include "common/endian.h"
#include "common/error.h"

namespace fs = std::filesystem;

namespace mi {
namespace {

constexpr uint64_t kGiB = 1ull << 30;
constexpr int kMemoryMB = 4096;
constexpr int kCpus = 2;

// The first `n` bytes of `path` (fewer if it is shorter).
std::string head(const std::string& path, size_t n) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(path, std::string("cannot read: ") + strerror(errno));
  std::string buf(n, '\0');
  ssize_t got = pread(fd, buf.data(), n, 0);
  int e = errno;
  close(fd);
  if (got < 0) throw Error(path, std::string("read: ") + strerror(e));
  buf.resize(size_t(got));
  return buf;
}

const uint8_t* bytes(const std::string& s) { return reinterpret_cast<const uint8_t*>(s.data()); }

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// Settings shared by both providers' box Vagrantfiles. The image's root is read-only and has
// no shared-folder tools, so no synced folder. Vagrant's key insertion stays on (its default):
// the box's vagrant user has a writable home on /var for the new key (vagrant_image.h).
const char* kVagrantCommon = "  config.vm.synced_folder \".\", \"/vagrant\", disabled: true\n";

}  // namespace

std::string virtualbox_box_path(const std::string& libvirt_box) {
  fs::path p(libvirt_box);
  return (p.parent_path() / (p.stem().string() + ".virtualbox.box")).string();
}

uint64_t qcow2_virtual_size(const std::string& path) {
  std::string h = head(path, 32);
  if (h.size() < 32 || get_be32(bytes(h)) != 0x514649fb) throw Error(path, "not a qcow2 image (no QFI\\xfb magic)");
  return get_be64(bytes(h) + 24);
}

uint64_t vmdk_capacity(const std::string& path) {
  std::string h = head(path, 20);
  if (h.size() < 20 || h.compare(0, 4, "KDMV") != 0) throw Error(path, "not a sparse VMDK (no KDMV magic)");
  return get_le64(bytes(h) + 12) * 512;
}

std::string libvirt_box_metadata(uint64_t virtual_size) {
  uint64_t gib = std::max<uint64_t>(1, (virtual_size + kGiB - 1) / kGiB);
  nlohmann::json j = {{"provider", "libvirt"}, {"format", "qcow2"}, {"virtual_size", gib}};
  return j.dump() + "\n";
}

std::string libvirt_box_vagrantfile() {
  return std::string(
             "# Defaults of this box for vagrant-libvirt (written by mibuild); a project's Vagrantfile\n"
             "# overrides any of them.\n"
             "Vagrant.configure(\"2\") do |config|\n") +
         kVagrantCommon +
         "  config.vm.provider :libvirt do |libvirt|\n"
         "    libvirt.driver = \"kvm\"\n"
         "    libvirt.memory = " +
         std::to_string(kMemoryMB) +
         "\n"
         "    libvirt.cpus = " +
         std::to_string(kCpus) +
         "\n"
         "    libvirt.machine_type = \"q35\"\n"
         "    libvirt.disk_bus = \"virtio\"\n"
         "    libvirt.nic_model_type = \"virtio\"\n"
         "    # UEFI: OVMF where Debian's ovmf package puts it (Fedora: /usr/share/edk2/ovmf/OVMF_CODE.fd).\n"
         "    # The image boots with SeaBIOS as well: `libvirt.loader = nil` uses that.\n"
         "    libvirt.loader = \"/usr/share/ovmf/OVMF.fd\"\n"
         "  end\n"
         "end\n";
}

void write_libvirt_box(const std::string& qcow2, const std::string& out, uint64_t epoch) {
  uint64_t size = qcow2_virtual_size(qcow2);
  write_tar(out,
            {
                {"Vagrantfile", libvirt_box_vagrantfile()},
                {"box.img", "", qcow2},
                {"metadata.json", libvirt_box_metadata(size)},
            },
            epoch, true);
}

std::string virtualbox_ovf(const VirtualboxOvf& o) {
  const std::string name = xml_escape(o.vm_name), mem = std::to_string(kMemoryMB), cpus = std::to_string(kCpus);
  // The rasd: elements of each Item in alphabetical order, as OVF (and VMware) require.
  return "<?xml version=\"1.0\"?>\n"
         "<Envelope ovf:version=\"1.0\" xml:lang=\"en-US\" xmlns=\"http://schemas.dmtf.org/ovf/envelope/1\""
         " xmlns:ovf=\"http://schemas.dmtf.org/ovf/envelope/1\""
         " xmlns:rasd=\"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData\""
         " xmlns:vssd=\"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData\""
         " xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\""
         " xmlns:vbox=\"http://www.virtualbox.org/ovf/machine\">\n"
         "  <References>\n"
         "    <File ovf:id=\"file1\" ovf:href=\"box-disk001.vmdk\" ovf:size=\"" +
         std::to_string(o.vmdk_size) +
         "\"/>\n"
         "  </References>\n"
         "  <DiskSection>\n"
         "    <Info>List of the virtual disks used in the package</Info>\n"
         "    <Disk ovf:capacity=\"" +
         std::to_string(o.capacity) +
         "\" ovf:diskId=\"vmdisk1\" ovf:fileRef=\"file1\""
         " ovf:format=\"http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized\""
         " vbox:uuid=\"" +
         o.disk_uuid +
         "\"/>\n"
         "  </DiskSection>\n"
         "  <NetworkSection>\n"
         "    <Info>Logical networks used in the package</Info>\n"
         "    <Network ovf:name=\"NAT\">\n"
         "      <Description>Logical network used by this appliance.</Description>\n"
         "    </Network>\n"
         "  </NetworkSection>\n"
         "  <VirtualSystem ovf:id=\"" +
         name +
         "\">\n"
         "    <Info>A virtual machine</Info>\n"
         "    <OperatingSystemSection ovf:id=\"96\">\n"
         "      <Info>The kind of installed guest operating system</Info>\n"
         "      <Description>Debian_64</Description>\n"
         "      <vbox:OSType ovf:required=\"false\">Debian_64</vbox:OSType>\n"
         "    </OperatingSystemSection>\n"
         "    <VirtualHardwareSection>\n"
         "      <Info>Virtual hardware requirements for a virtual machine</Info>\n"
         "      <System>\n"
         "        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>\n"
         "        <vssd:InstanceID>0</vssd:InstanceID>\n"
         "        <vssd:VirtualSystemIdentifier>" +
         name +
         "</vssd:VirtualSystemIdentifier>\n"
         "        <vssd:VirtualSystemType>virtualbox-2.2</vssd:VirtualSystemType>\n"
         "      </System>\n"
         "      <Item>\n"
         "        <rasd:Caption>" +
         cpus +
         " virtual CPU</rasd:Caption>\n"
         "        <rasd:Description>Number of virtual CPUs</rasd:Description>\n"
         "        <rasd:ElementName>" +
         cpus +
         " virtual CPU</rasd:ElementName>\n"
         "        <rasd:InstanceID>1</rasd:InstanceID>\n"
         "        <rasd:ResourceType>3</rasd:ResourceType>\n"
         "        <rasd:VirtualQuantity>" +
         cpus +
         "</rasd:VirtualQuantity>\n"
         "      </Item>\n"
         "      <Item>\n"
         "        <rasd:AllocationUnits>MegaBytes</rasd:AllocationUnits>\n"
         "        <rasd:Caption>" +
         mem +
         " MB of memory</rasd:Caption>\n"
         "        <rasd:Description>Memory Size</rasd:Description>\n"
         "        <rasd:ElementName>" +
         mem +
         " MB of memory</rasd:ElementName>\n"
         "        <rasd:InstanceID>2</rasd:InstanceID>\n"
         "        <rasd:ResourceType>4</rasd:ResourceType>\n"
         "        <rasd:VirtualQuantity>" +
         mem +
         "</rasd:VirtualQuantity>\n"
         "      </Item>\n"
         "      <Item>\n"
         "        <rasd:Address>0</rasd:Address>\n"
         "        <rasd:Caption>sataController0</rasd:Caption>\n"
         "        <rasd:Description>SATA Controller</rasd:Description>\n"
         "        <rasd:ElementName>sataController0</rasd:ElementName>\n"
         "        <rasd:InstanceID>3</rasd:InstanceID>\n"
         "        <rasd:ResourceSubType>AHCI</rasd:ResourceSubType>\n"
         "        <rasd:ResourceType>20</rasd:ResourceType>\n"
         "      </Item>\n"
         "      <Item>\n"
         "        <rasd:AddressOnParent>0</rasd:AddressOnParent>\n"
         "        <rasd:Caption>disk1</rasd:Caption>\n"
         "        <rasd:Description>Disk Image</rasd:Description>\n"
         "        <rasd:ElementName>disk1</rasd:ElementName>\n"
         "        <rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource>\n"
         "        <rasd:InstanceID>4</rasd:InstanceID>\n"
         "        <rasd:Parent>3</rasd:Parent>\n"
         "        <rasd:ResourceType>17</rasd:ResourceType>\n"
         "      </Item>\n"
         "      <Item>\n"
         "        <rasd:AutomaticAllocation>true</rasd:AutomaticAllocation>\n"
         "        <rasd:Caption>Ethernet adapter on 'NAT'</rasd:Caption>\n"
         "        <rasd:Connection>NAT</rasd:Connection>\n"
         "        <rasd:ElementName>Ethernet adapter on 'NAT'</rasd:ElementName>\n"
         "        <rasd:InstanceID>5</rasd:InstanceID>\n"
         "        <rasd:ResourceSubType>E1000</rasd:ResourceSubType>\n"
         "        <rasd:ResourceType>10</rasd:ResourceType>\n"
         "      </Item>\n"
         "    </VirtualHardwareSection>\n"
         "    <vbox:Machine ovf:required=\"false\" version=\"1.16-linux\" uuid=\"{" +
         o.machine_uuid + "}\" name=\"" + name +
         "\" OSType=\"Debian_64\" snapshotFolder=\"Snapshots\">\n"
         "      <ovf:Info>Complete VirtualBox machine configuration in VirtualBox format</ovf:Info>\n"
         "      <Hardware>\n"
         "        <CPU count=\"" +
         cpus +
         "\">\n"
         "          <PAE enabled=\"true\"/>\n"
         "          <LongMode enabled=\"true\"/>\n"
         "        </CPU>\n"
         "        <Memory RAMSize=\"" +
         mem +
         "\"/>\n"
         "        <Firmware type=\"EFI\"/>\n"
         "        <BIOS>\n"
         "          <IOAPIC enabled=\"true\"/>\n"
         "        </BIOS>\n"
         "        <Network>\n"
         "          <Adapter slot=\"0\" enabled=\"true\" type=\"82540EM\">\n"
         "            <NAT/>\n"
         "          </Adapter>\n"
         "        </Network>\n"
         "        <RTC localOrUTC=\"UTC\"/>\n"
         "      </Hardware>\n"
         "      <StorageControllers>\n"
         "        <StorageController name=\"SATA\" type=\"AHCI\" PortCount=\"1\" useHostIOCache=\"false\""
         " Bootable=\"true\">\n"
         "          <AttachedDevice type=\"HardDisk\" hotpluggable=\"false\" port=\"0\" device=\"0\">\n"
         "            <Image uuid=\"{" +
         o.disk_uuid +
         "}\"/>\n"
         "          </AttachedDevice>\n"
         "        </StorageController>\n"
         "      </StorageControllers>\n"
         "    </vbox:Machine>\n"
         "  </VirtualSystem>\n"
         "</Envelope>\n";
}

std::string virtualbox_box_metadata() { return nlohmann::json{{"provider", "virtualbox"}}.dump() + "\n"; }

std::string virtualbox_box_vagrantfile() {
  return std::string(
             "# Defaults of this box for VirtualBox (written by mibuild); a project's Vagrantfile\n"
             "# overrides any of them.\n"
             "Vagrant.configure(\"2\") do |config|\n") +
         kVagrantCommon +
         "  config.vm.provider :virtualbox do |vb|\n"
         "    vb.memory = " +
         std::to_string(kMemoryMB) +
         "\n"
         "    vb.cpus = " +
         std::to_string(kCpus) +
         "\n"
         "    vb.check_guest_additions = false\n"
         "    # box.ovf says EFI already; this keeps it when a VM is made from the disk alone.\n"
         "    vb.customize [\"modifyvm\", :id, \"--firmware\", \"efi\"]\n"
         "  end\n"
         "end\n";
}

void write_virtualbox_box(const std::string& vmdk, const std::string& vm_name, const std::string& seed,
                          const std::string& out, uint64_t epoch) {
  if (vm_name.empty()) throw Error(out, "no VM name for box.ovf");
  for (unsigned char c : vm_name)
    if (c < 0x20 || c == 0x7f) throw Error(out, "the VM name holds control characters");
  VirtualboxOvf o;
  o.vm_name = vm_name;
  o.capacity = vmdk_capacity(vmdk);
  std::error_code ec;
  o.vmdk_size = fs::file_size(vmdk, ec);
  if (ec) throw Error(vmdk, "cannot read: " + ec.message());
  o.machine_uuid = uuid_string(derive_uuid(seed, "vagrant virtualbox machine " + vm_name));
  o.disk_uuid = uuid_string(derive_uuid(seed, "vagrant virtualbox disk " + vm_name));
  write_tar(out,
            {
                {"Vagrantfile", virtualbox_box_vagrantfile()},
                {"box-disk001.vmdk", "", vmdk},
                {"box.ovf", virtualbox_ovf(o)},
                {"metadata.json", virtualbox_box_metadata()},
            },
            epoch, false);
}

}  // namespace mi

// write_pxe_bundle (builder/pxe_bundle.cc): the bundle's files, the kernel line of the iPXE
// script and of pxelinux (mi.role, the root URL, its sha256), SHA256SUMS as sha256sum -c reads
// it, a rebuild replacing the bundle whole, and bad URLs refused with a line that says what
// would be valid.
#include "builder/pxe_bundle.h"

#include <catch2/catch.hpp>
#include <filesystem>

#include "common/digest.h"
#include "common/error.h"
#include "common/files.h"
#include "common/process.h"
#include "skip.h"
#include "temp_dir.h"

namespace fs = std::filesystem;

namespace {

struct Inputs : mi::test::TempDir {
  mi::PxeBundleRequest req;
  Inputs() : mi::test::TempDir("mi-pxe-test") {
    fs::create_directories(path + "/in");
    fs::create_directories(path + "/out");
    mi::write_file_atomic(path + "/in/vmlinuz-6.1.0-1-amd64", "kernel");
    mi::write_file_atomic(path + "/in/initrd.img-6.1.0-1-amd64", "initrd");
    mi::write_file_atomic(path + "/in/var-seed.cpio.gz", "var");
    mi::write_file_atomic(path + "/in/root.erofs", std::string(1 << 20, 'r'));
    req.out_dir = path + "/out";
    req.name = "mi-all-in-one";
    req.role = "all-in-one";
    req.kernel = path + "/in/vmlinuz-6.1.0-1-amd64";
    req.initrd = path + "/in/initrd.img-6.1.0-1-amd64";
    req.var_seed = path + "/in/var-seed.cpio.gz";
    req.root = path + "/in/root.erofs";
    req.cluster_args = {"mi.cluster=mi", "mi.dc=dc1"};
    req.epoch = 1764000000;
  }
};

std::vector<std::string> files_under(const std::string& dir) {
  std::vector<std::string> v;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) v.push_back(fs::relative(e.path(), dir).string());
  std::sort(v.begin(), v.end());
  return v;
}

}  // namespace

TEST_CASE("pxe bundle: its files, and SHA256SUMS over them") {
  Inputs in;
  std::string dir = mi::write_pxe_bundle(in.req);
  CHECK(dir == in.path + "/out/mi-all-in-one.pxe");
  CHECK(files_under(dir) == std::vector<std::string>{"SHA256SUMS", "dnsmasq.conf.example", "initrd",
                                                     "mi-all-in-one.ipxe", "pxelinux.cfg/default", "root.erofs",
                                                     "var-seed.cpio.gz", "vmlinuz"});
  CHECK(mi::read_file(dir + "/vmlinuz") == "kernel");
  std::string root_sha = mi::sha256_file_hex(in.req.root);
  std::string sums = mi::read_file(dir + "/SHA256SUMS");
  CHECK(sums.find(root_sha + "  root.erofs\n") != std::string::npos);
  CHECK(sums.find(mi::sha256_hex("initrd") + "  initrd\n") != std::string::npos);
  CHECK(std::count(sums.begin(), sums.end(), '\n') == 7);
  if (mi::have_program("sha256sum")) {
    mi::RunOptions o;
    o.cwd = dir;
    CHECK(mi::run({"sha256sum", "--quiet", "-c", "SHA256SUMS"}, o).exit_code == 0);
  }
  CHECK(fs::last_write_time(dir + "/root.erofs").time_since_epoch().count() != 0);
  // Nothing but the bundle in OUTDIR: the temporary directory was renamed.
  CHECK(files_under(in.path + "/out").size() == 8);
}

TEST_CASE("pxe bundle: the kernel lines carry the role, the root URL and its sha256") {
  Inputs in;
  std::string dir = mi::write_pxe_bundle(in.req);
  std::string sha = mi::sha256_file_hex(in.req.root);
  std::string ipxe = mi::read_file(dir + "/mi-all-in-one.ipxe");
  CHECK(ipxe.rfind("#!ipxe\n", 0) == 0);
  CHECK(ipxe.find("isset ${mi-url} || set mi-url http://${next-server}/mi-all-in-one.pxe/\n") != std::string::npos);
  CHECK(ipxe.find("kernel vmlinuz initrd=initrd initrd=var-seed.cpio.gz ${mi-secret-args} boot=mi-live "
                  "mi.live.root=${mi-url}root.erofs "
                  "mi.live.sha256=" +
                  sha +
                  " ip=dhcp fstab=no ro mi.role=all-in-one mi.cluster=mi mi.dc=dc1 "
                  "console=tty0 console=ttyS0,115200 ${mi-args}\n") != std::string::npos);
  CHECK(ipxe.find("\ninitrd initrd\ninitrd var-seed.cpio.gz\nisset ${mi-secret} && initrd --name mi-secret "
                  "${mi-secret} ||\nboot\n") != std::string::npos);
  CHECK(ipxe.find("isset ${mi-secret} && set mi-secret-args initrd=mi-secret "
                  "mi.secret_file=/var/lib/mi/fleet-secret || clear mi-secret-args\n") != std::string::npos);
  std::string pxelinux = mi::read_file(dir + "/pxelinux.cfg/default");
  CHECK(pxelinux.find("  KERNEL mi-all-in-one.pxe/vmlinuz\n") != std::string::npos);
  CHECK(pxelinux.find("  INITRD mi-all-in-one.pxe/initrd,mi-all-in-one.pxe/var-seed.cpio.gz\n") != std::string::npos);
  CHECK(pxelinux.find("mi.live.root=http://PXE-SERVER/mi-all-in-one.pxe/root.erofs mi.live.sha256=" + sha) !=
        std::string::npos);
  CHECK(pxelinux.find("replace PXE-SERVER") != std::string::npos);
  std::string dnsmasq = mi::read_file(dir + "/dnsmasq.conf.example");
  CHECK(dnsmasq.find("dhcp-boot=tag:ipxe,tag:control,mi-control.pxe/mi-control.ipxe\n") != std::string::npos);
  CHECK(dnsmasq.find("dhcp-boot=tag:ipxe,tag:!control,tag:!compute,mi-all-in-one.pxe/mi-all-in-one.ipxe\n") !=
        std::string::npos);

  // With --pxe-url both texts name it (a missing trailing slash is added).
  in.req.url = "http://10.1.2.3:8080/images";
  dir = mi::write_pxe_bundle(in.req);
  CHECK(mi::read_file(dir + "/mi-all-in-one.ipxe").find("set mi-url http://10.1.2.3:8080/images/\n") !=
        std::string::npos);
  pxelinux = mi::read_file(dir + "/pxelinux.cfg/default");
  CHECK(pxelinux.find("mi.live.root=http://10.1.2.3:8080/images/root.erofs ") != std::string::npos);
  CHECK(pxelinux.find("PXE-SERVER") == std::string::npos);
  // The rebuild replaced the bundle whole: nothing else is left in OUTDIR.
  CHECK(std::distance(fs::directory_iterator(in.path + "/out"), fs::directory_iterator()) == 1);
}

TEST_CASE("pxe bundle: bad URLs and arguments are refused, saying what would be valid") {
  CHECK(mi::pxe_url_error("http://boot.example.org/mi/").empty());
  CHECK(mi::pxe_url_error("http://10.0.2.2:8000/").empty());
  CHECK(mi::pxe_url_error("http://h").empty());
  CHECK_THAT(mi::pxe_url_error("https://boot.example.org/"),
             Catch::StartsWith("--pxe-url 'https://boot.example.org/': expected http://HOST[:PORT]/PATH/") &&
                 Catch::Contains("no TLS"));
  CHECK_THAT(mi::pxe_url_error("http://h/a b/"), Catch::Contains("bad path '/a b/'"));
  CHECK_THAT(mi::pxe_url_error("http://h/${x}/"), Catch::Contains("bad path"));
  CHECK_THAT(mi::pxe_url_error("http://h:99999/"), Catch::Contains("bad port '99999'"));
  CHECK_THAT(mi::pxe_url_error("http://h:/"), Catch::Contains("bad port ''"));
  CHECK_THAT(mi::pxe_url_error("http://-h/"), Catch::Contains("bad host '-h'"));
  CHECK_THAT(mi::pxe_url_error("http:///x"), Catch::Contains("bad host ''"));

  Inputs in;
  in.req.url = "http://h/a\"b/";
  CHECK_THROWS_WITH(mi::write_pxe_bundle(in.req), Catch::Contains("bad path"));
  in.req.url = "";
  in.req.role = "worker";
  CHECK_THROWS_WITH(mi::write_pxe_bundle(in.req), Catch::Contains("control, compute or all-in-one"));
  in.req.role = "all-in-one";
  in.req.cluster_args = {"mi.cluster=a b"};
  CHECK_THROWS_WITH(mi::write_pxe_bundle(in.req), Catch::Contains("mi.KEY=VALUE"));
  in.req.cluster_args = {};
  fs::remove(in.req.root);
  CHECK_THROWS_WITH(mi::write_pxe_bundle(in.req), Catch::Contains("root.erofs: missing"));
  // A failed build leaves nothing in OUTDIR.
  CHECK(fs::is_empty(in.path + "/out"));
}

// Fuzz target `metadata`: what mi-firstboot makes of the cloud metadata services' answers
// (firstboot/source_metadata.cc): the EC2 IMDSv2 token, each EC2 value, and the OpenStack
// meta_data.json and user_data (source_configdrive.cc, source_nocloud.cc). Input: a status
// byte, then the body. (The HTTP exchange itself is libcurl's.)
#include "firstboot/config_sources.h"
#include "firstboot/http.h"
#include "tests/fuzz/fuzz.h"

using namespace mi::firstboot;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const int statuses[] = {200, 404, 401, 500, 0, 302, 200, 200};
  HttpResponse r;
  r.status = statuses[data[0] % 8];
  r.body = mi::fuzz::text(data + 1, size - 1);
  const std::string base = "http://169.254.169.254";
  mi::fuzz::call([&] {
    if (auto token = ec2_token_answer(r)) mi::fuzz::expect_one_line(*token, "an accepted IMDSv2 token");
  });
  mi::fuzz::call([&] { metadata_answer(r, base + "/latest/meta-data/instance-id", false, "EC2"); });
  mi::fuzz::call([&] {
    ConfigLayer L;
    if (auto v = metadata_answer(r, base + "/openstack/latest/meta_data.json", true, "OpenStack"))
      parse_openstack_meta(*v, base + "/openstack/latest/meta_data.json", &L);
  });
  mi::fuzz::call([&] {
    ConfigLayer L;
    parse_user_data(r.body, base + "/latest/user-data", &L);
  });
  return 0;
}

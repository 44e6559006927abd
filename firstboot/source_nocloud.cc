// Source 2: a NoCloud seed (a file system labelled "cidata", as cloud-localds or an ISO made
// for cloud-init holds it): meta-data (YAML: instance-id, local-hostname) and user-data
// (#cloud-config YAML; our settings under the top-level `mi:` key, the secret included).
// parse_user_data() is shared with the config drive and the cloud metadata sources.
#include <sys/stat.h>

#include "common/error.h"
#include "common/files.h"
#include "firstboot/source_yaml.h"

namespace mi::firstboot {
namespace {

bool exists(const std::string& p) {
  struct stat st {};
  return stat(p.c_str(), &st) == 0;
}

}  // namespace

void parse_user_data(const std::string& text, const std::string& where, ConfigLayer* L) {
  // Only a cloud-config is ours to read; a shell script or a MIME multipart user-data is
  // for cloud-init (if the image had it) and carries no mi settings.
  size_t start = text.compare(0, 3, "\xEF\xBB\xBF") == 0 ? 3 : 0;
  if (text.compare(start, 13, "#cloud-config") != 0) return;
  YAML::Node doc = load_yaml(text, where);
  if (doc.IsNull()) return;
  if (!doc.IsMap()) throw Error(where, "a #cloud-config must be a YAML mapping");
  if (doc["hostname"] && doc["hostname"].IsScalar())
    L->node_name.set(short_hostname(doc["hostname"].Scalar()), yaml_where(where, doc["hostname"]));
  if (doc["mi"]) apply_mi_yaml(doc["mi"], where, true, L);
}

ConfigLayer read_nocloud(const std::string& dir) {
  ConfigLayer L;
  L.source = "nocloud";
  if (dir.empty()) return L;
  const std::string meta = dir + "/meta-data", user = dir + "/user-data";
  if (!exists(meta) && !exists(user)) return L;
  L.present = true;
  if (exists(meta)) {
    YAML::Node m = load_yaml(read_file(meta), meta);
    if (m.IsMap()) {
      if (m["instance-id"] && m["instance-id"].IsScalar())
        L.instance_id.set(m["instance-id"].Scalar(), yaml_where(meta, m["instance-id"]));
      if (m["local-hostname"] && m["local-hostname"].IsScalar())
        L.node_name.set(short_hostname(m["local-hostname"].Scalar()), yaml_where(meta, m["local-hostname"]));
    } else if (!m.IsNull()) {
      throw Error(meta, "meta-data must be a YAML mapping (instance-id, local-hostname)");
    }
  }
  if (exists(user)) parse_user_data(read_file(user), user, &L);
  return L;
}

}  // namespace mi::firstboot

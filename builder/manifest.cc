// manifest.json: inputs with their sha256, the mibuild version, per role the stage keys,
// packages with versions, components present/absent with the reason, and the outputs with
// format, size and sha256. Built from the Plan and the image build's results; written
// atomically at the end of each role's build.
#include "builder/manifest.h"

#include <algorithm>
#include <filesystem>

#include "common/digest.h"
#include "common/files.h"

namespace fs = std::filesystem;

namespace mi {

nlohmann::json manifest_json(const Spec& spec, const Plan& plan, const std::vector<RoleRecord>& records) {
  using nlohmann::json;
  json m;
  m["mibuild_version"] = mibuild_version();
  m["spec"] = {{"path", spec.file}, {"sha256", sha256_file_hex(spec.file)}, {"name", spec.name}};
  json inputs = json::array();
  for (const auto& f : plan.input_files) inputs.push_back({{"path", f}, {"sha256", sha256_file_hex(f)}});
  m["inputs"] = inputs;
  m["formats"] = plan.formats;
  std::string manifest_dir = fs::path(plan.manifest).parent_path().string();
  if (manifest_dir.empty()) manifest_dir = ".";

  json roles = json::array();
  for (const auto& rec : records) {
    const RolePlan& rp = *rec.plan;
    const ImageResult& res = rec.result;
    json r;
    r["name"] = rp.role;
    r["source_date_epoch"] = res.source_date_epoch;
    json stages = json::array();
    for (const auto& s : rp.stages) stages.push_back({{"name", s.name}, {"key", s.key}});
    r["stages"] = stages;
    r["packages"] = json::array();
    for (const auto& p : res.packages) r["packages"].push_back({{"name", p.name}, {"version", p.version}});
    // Components: the image build's word where it gave one, else what the plan knows.
    json comps = json::array();
    for (const auto& cn : rp.resolved.components) {
      auto it = std::find_if(res.components.begin(), res.components.end(),
                             [&](const ComponentStatus& c) { return c.name == cn; });
      json c = {{"name", cn}};
      auto spec_c = spec.components.find(cn);
      std::string plan_why =
          spec_c == spec.components.end() ? "not in the spec" : component_unresolved_reason(spec, spec_c->second);
      if (spec_c != spec.components.end()) c["source"] = spec_c->second.source;
      if (it != res.components.end()) {
        c["present"] = it->present;
        if (!it->version.empty()) c["version"] = it->version;
        if (!it->present)
          c["reason"] = it->note.empty() ? plan_why : it->note;
        else if (!it->note.empty())
          c["note"] = it->note;
      } else {
        c["present"] = plan_why.empty();
        if (!plan_why.empty()) c["reason"] = plan_why;
      }
      comps.push_back(c);
    }
    r["components"] = comps;
    json arts = json::array();
    for (const auto& o : res.outputs) {
      std::string rel = fs::path(o.path).lexically_proximate(manifest_dir).string();
      // The image build normally fills size and sha256; if it did not, they are taken here.
      std::error_code ec;
      uint64_t size = o.size ? o.size : fs::file_size(o.path, ec);
      std::string sum = !o.sha256.empty() ? o.sha256 : fs::is_regular_file(o.path, ec) ? sha256_file_hex(o.path) : "";
      arts.push_back({{"path", rel}, {"format", o.format}, {"size", size}, {"sha256", sum}});
    }
    r["artifacts"] = arts;
    roles.push_back(r);
  }
  m["roles"] = roles;
  return m;
}

void write_manifest(const std::string& path, const nlohmann::json& manifest) {
  write_file_atomic(path, manifest.dump(2) + "\n", 0644);
}

}  // namespace mi

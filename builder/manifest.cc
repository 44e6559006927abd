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
        if (!it->artifact_sha256.empty())
          c["artifact"] = {{"source", it->artifact_source}, {"sha256", it->artifact_sha256}};
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

std::optional<ImageResult> reusable_result(const nlohmann::json& old, const Plan& plan, const RolePlan& role) {
  try {
    if (!old.is_object() || !old.contains("roles")) return std::nullopt;
    std::string dir = fs::path(plan.manifest).parent_path().string();
    if (dir.empty()) dir = ".";
    for (const auto& r : old["roles"]) {
      if (r.value("name", "") != role.role) continue;
      const auto& stages = r.at("stages");
      if (stages.size() != role.stages.size()) return std::nullopt;
      for (size_t i = 0; i < stages.size(); i++)
        if (stages[i].at("key") != role.stages[i].key) return std::nullopt;
      ImageResult res;
      res.source_date_epoch = r.value("source_date_epoch", "");
      for (const auto& [format_, path] : role.outputs) {
        const std::string& format = format_;  // (clang 14 cannot capture a structured binding)
        std::string rel = fs::path(path).lexically_proximate(dir).string();
        auto a = std::find_if(r.at("artifacts").begin(), r.at("artifacts").end(),
                              [&](const nlohmann::json& x) { return x.at("path") == rel && x.at("format") == format; });
        if (a == r.at("artifacts").end()) return std::nullopt;
        std::error_code ec;
        uint64_t size = a->at("size");
        if (!fs::is_regular_file(path, ec) || fs::file_size(path, ec) != size) return std::nullopt;
        std::string sum = a->at("sha256");
        if (sha256_file_hex(path) != sum) return std::nullopt;
        res.outputs.push_back(ImageOutput{path, format, size, sum});
      }
      for (const auto& p : r.at("packages")) res.packages.push_back({p.at("name"), p.at("version")});
      for (const auto& c : r.at("components")) {
        ComponentStatus st{c.at("name"), c.at("present"), c.value("version", ""),
                           c.value("note", c.value("reason", ""))};
        if (c.contains("artifact")) {
          st.artifact_source = c["artifact"].value("source", "");
          st.artifact_sha256 = c["artifact"].value("sha256", "");
        }
        res.components.push_back(st);
      }
      return res;
    }
  } catch (const nlohmann::json::exception&) {
    // A manifest of another shape (older mibuild, edited by hand): rebuild.
  }
  return std::nullopt;
}

void write_manifest(const std::string& path, const nlohmann::json& manifest) {
  write_file_atomic(path, manifest.dump(2) + "\n", 0644);
}

}  // namespace mi

// manifest.json: the record of one `mibuild build`: the spec and every input file with its
// sha256, the mibuild version, and per role the stage keys, the Debian packages with versions,
// which components are in the image and which are not (and why), and each output file with its
// format, size and sha256. The last step of a build; written atomically next to the images.
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "builder/image_build.h"
#include "builder/plan.h"
#include "builder/spec.h"

namespace mi {

// What one role's build produced, as the manifest records it.
struct RoleRecord {
  const RolePlan* plan = nullptr;  // stages and keys, components the plan found absent
  ImageResult result;              // from build_role_image
};

// The manifest of `plan` with the roles built so far (`records`, in plan order). Output paths
// are recorded relative to the manifest's directory.
nlohmann::json manifest_json(const Spec& spec, const Plan& plan, const std::vector<RoleRecord>& records);

// A role needs no rebuild when the previous manifest (`old`, as read from the plan's manifest
// path) recorded it with exactly the same stage keys and every output it lists for the plan's
// formats is still on disk with the recorded size and sha256. Returns that build's result then.
std::optional<ImageResult> reusable_result(const nlohmann::json& old, const Plan& plan, const RolePlan& role);

// Writes `manifest` to `path` (pretty-printed, trailing newline) by atomic rename.
void write_manifest(const std::string& path, const nlohmann::json& manifest);

}  // namespace mi

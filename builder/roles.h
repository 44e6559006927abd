// Role composition: a role (roles/<name>.yaml) may `include` other roles; resolving flattens the
// includes depth-first, in order, the including role's own entries last, dropping duplicates.
// Flow: Spec (role_defs) → resolve_role() → ResolvedRole → plan.h / image_build.h.
#pragma once
#include <string>
#include <vector>

#include "builder/spec.h"

namespace mi {

// Flattens `name`. ResolvedRole::overlays holds the role's own overlays (and its includes');
// the spec-wide Spec::overlays are applied before them by the image build, the same way
// Spec::base.packages go in before ResolvedRole::packages.
// Throws mi::Error{position, why} for an unknown role or an include cycle (parse_spec reports
// both already, so a validated Spec never throws here).
ResolvedRole resolve_role(const Spec& spec, const std::string& name);

// Every include cycle among spec.role_defs, one Diag per include entry that closes a cycle,
// e.g. "roles/a.yaml:3:5: role include cycle: a → b → a". Also reports includes of unknown roles.
std::vector<Diag> check_role_includes(const Spec& spec);

// The overlays a role's image gets, in application order: Spec::overlays, then the role's.
std::vector<std::string> role_overlays(const Spec& spec, const ResolvedRole& role);

}  // namespace mi

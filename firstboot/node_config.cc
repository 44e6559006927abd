// Role names as they appear in cluster.yaml, seeds, metadata and the kernel command line.
#include "firstboot/node_config.h"

#include "common/error.h"

namespace mi::firstboot {

const char* role_name(Role r) {
  switch (r) {
    case Role::control:
      return "control";
    case Role::compute:
      return "compute";
    case Role::all_in_one:
      return "all-in-one";
  }
  return "?";
}

Role parse_role(const std::string& s, const std::string& where) {
  if (s == "control") return Role::control;
  if (s == "compute") return Role::compute;
  if (s == "all-in-one" || s == "all_in_one") return Role::all_in_one;
  throw Error(where, "unknown role '" + s + "' (expected control, compute or all-in-one)");
}

}  // namespace mi::firstboot

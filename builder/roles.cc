// Role composition: flattening `include` (depth-first, in order, own entries last, duplicates
// dropped) and finding include cycles. Called by parse_spec (checks) and by the CLI / plan
// (resolve_role) once the Spec is valid.
#include "builder/roles.h"

#include <algorithm>
#include <functional>

#include "common/error.h"

namespace mi {

namespace {

void append_unique(std::vector<std::string>& to, const std::vector<std::string>& from) {
  for (const auto& x : from)
    if (std::find(to.begin(), to.end(), x) == to.end()) to.push_back(x);
}

std::string chain(const std::vector<std::string>& stack, size_t from, const std::string& last) {
  std::string out;
  for (size_t i = from; i < stack.size(); i++) out += stack[i] + " → ";
  return out + last;
}

void resolve_into(const Spec& spec, const std::string& name, const Pos& at, std::vector<std::string>& stack,
                  ResolvedRole& out) {
  auto it = spec.role_defs.find(name);
  if (it == spec.role_defs.end()) throw Error{at.str(), "unknown role '" + name + "'"};
  auto on_stack = std::find(stack.begin(), stack.end(), name);
  if (on_stack != stack.end())
    throw Error{at.str(), "role include cycle: " + chain(stack, on_stack - stack.begin(), name)};
  const Role& r = it->second;
  stack.push_back(name);
  for (size_t i = 0; i < r.include.size(); i++)
    resolve_into(spec, r.include[i], i < r.include_pos.size() ? r.include_pos[i] : r.pos, stack, out);
  stack.pop_back();
  append_unique(out.packages, r.packages);
  append_unique(out.components, r.components);
  append_unique(out.overlays, r.overlays);
  append_unique(out.services, r.services);
}

}  // namespace

ResolvedRole resolve_role(const Spec& spec, const std::string& name) {
  ResolvedRole out;
  out.name = name;
  std::vector<std::string> stack;
  resolve_into(spec, name, Pos{spec.file, 0, 0}, stack, out);
  return out;
}

std::vector<Diag> check_role_includes(const Spec& spec) {
  std::vector<Diag> out;
  enum Color { white, gray, black };
  std::map<std::string, Color> color;
  std::vector<std::string> stack;
  std::vector<std::string> known;
  for (auto& [n, _] : spec.role_defs) known.push_back(n);
  std::function<void(const std::string&)> visit = [&](const std::string& name) {
    color[name] = gray;
    stack.push_back(name);
    const Role& r = spec.role_defs.at(name);
    for (size_t i = 0; i < r.include.size(); i++) {
      const std::string& inc = r.include[i];
      Pos at = i < r.include_pos.size() ? r.include_pos[i] : r.pos;
      if (!spec.role_defs.count(inc)) {
        std::string list = join_capped(known);
        out.push_back(
            Diag{at, one_line("include[" + std::to_string(i) + "]: unknown role '" + inc + "' (roles: " + list + ")")});
      } else if (color[inc] == gray) {
        auto from = std::find(stack.begin(), stack.end(), inc) - stack.begin();
        out.push_back(Diag{at, "include[" + std::to_string(i) + "]: role include cycle: " + chain(stack, from, inc)});
      } else if (color[inc] == white) {
        visit(inc);
      }
    }
    stack.pop_back();
    color[name] = black;
  };
  for (auto& n : known)
    if (color[n] == white) visit(n);
  return out;
}

std::vector<std::string> role_overlays(const Spec& spec, const ResolvedRole& role) {
  std::vector<std::string> out = spec.overlays;
  append_unique(out, role.overlays);
  return out;
}

}  // namespace mi

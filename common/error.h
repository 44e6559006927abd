// The one error type of the project: where something went wrong (a file:line:col, a field,
// a program) and why. Thrown by every library, caught once at the top of each program.
#pragma once
#include <stdexcept>
#include <string>

namespace mi {

struct Error : std::runtime_error {
  std::string where;  // "spec.yaml:3:5", "mmdebstrap", "zoo.cfg", ... may be empty
  std::string why;
  Error(std::string where_, std::string why_)
      : std::runtime_error(where_.empty() ? why_ : where_ + ": " + why_),
        where(std::move(where_)),
        why(std::move(why_)) {}
};

}  // namespace mi

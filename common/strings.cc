// See strings.h.
#include "common/strings.h"

namespace mi {

std::string join(const std::vector<std::string>& v, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); i++) out += (i ? sep : "") + v[i];
  return out;
}

bool version_matches(const std::string& have, const std::string& want) {
  return have == want || have.rfind(want + ".", 0) == 0;
}

}  // namespace mi

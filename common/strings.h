// Small string helpers shared by mibuild and mi-firstboot: joining a list, and the "same
// version or a finer one" match used by the image checks (1.8 matches 1.8 and 1.8.7).
#pragma once
#include <string>
#include <vector>

namespace mi {

// v[0] + sep + v[1] + ...; "" for an empty list.
std::string join(const std::vector<std::string>& v, const std::string& sep);

// `have` equals `want`, or starts with `want` followed by a '.': "1.8.7" matches "1.8" and
// "1.8.7", not "1.80" nor "1".
bool version_matches(const std::string& have, const std::string& want);

}  // namespace mi

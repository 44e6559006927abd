// The one error type of the project: where something went wrong (a file:line:col, a field,
// a program) and why. Thrown by every library, caught once at the top of each program.
#pragma once
#include <stdexcept>
#include <string>
#include <vector>

namespace mi {

// `s` on one line: control characters (and DEL) escaped as \n, \t, \r, \0 or \xNN, so that a
// value echoed in an error can never split it over several lines or hide in the terminal.
inline std::string one_line(const std::string& s) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (c >= 0x20 && c != 0x7f)
      out += char(c);
    else if (c == '\n')
      out += "\\n";
    else if (c == '\t')
      out += "\\t";
    else if (c == '\r')
      out += "\\r";
    else if (c == 0)
      out += "\\0";
    else
      out += std::string("\\x") + hex[c >> 4] + hex[c & 15];
  }
  return out;
}

// Every error is one line: `where` and `why` are kept with their control characters escaped
// (one_line), whatever value a thrower quoted in them (a seed's, a metadata answer's, a
// program's stderr), so that no input can split an error or forge a line of the log.
struct Error : std::runtime_error {
  std::string where;  // "spec.yaml:3:5", "mmdebstrap", "zoo.cfg", ... may be empty
  std::string why;
  Error(const std::string& where_, const std::string& why_)
      : std::runtime_error(where_.empty() ? one_line(why_) : one_line(where_) + ": " + one_line(why_)),
        where(one_line(where_)),
        why(one_line(why_)) {}
};


// At most `max` items of `v` joined by ", ", then "... and N more": error messages stay short
// whatever the size of the list they quote.
inline std::string join_capped(const std::vector<std::string>& v, size_t max = 10) {
  std::string out;
  for (size_t i = 0; i < v.size() && i < max; i++) out += (i ? ", " : "") + v[i];
  if (v.size() > max) out += ", ... and " + std::to_string(v.size() - max) + " more";
  return out;
}

}  // namespace mi

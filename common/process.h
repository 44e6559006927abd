// The one way the project runs external programs (mmdebstrap, mkfs.erofs, qemu-img, consul,
// ...): argv only (never a shell), stderr captured and put into the Error when it fails.
#pragma once
#include <map>
#include <string>
#include <vector>

namespace mi {

struct RunOptions {
  std::string input;                        // written to the program's stdin
  std::map<std::string, std::string> env;   // added to (or replacing in) the environment
  std::string cwd;
  bool capture_stdout = true;               // false: stdout goes to ours (progress, consoles)
  bool check = true;                        // false: a non-zero exit is returned, not thrown
  int timeout_seconds = 0;                  // 0: none; on expiry the process group is killed
};

struct RunResult {
  int exit_code = 0;  // 128+signal when killed by a signal
  std::string out;
  std::string err;
  // Set when the program closed its stdin before reading all of RunOptions::input (EPIPE; our
  // process never gets SIGPIPE for it), e.g. "stdin: broken pipe (EPIPE) after 65536 of 1048576
  // bytes". Part of the error when the program then fails.
  std::string input_error;
};

// Runs argv[0] (searched in PATH). Throws mi::Error{argv[0], "exit N: <stderr tail>"} on
// failure when opts.check.
RunResult run(const std::vector<std::string>& argv, const RunOptions& opts = {});

// True when `name` is found in PATH (or is an executable path).
bool have_program(const std::string& name);

}  // namespace mi

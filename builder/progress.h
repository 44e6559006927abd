// Build progress: what each stage of a role's build is doing, since when, and at the end how
// long every stage took. Plain (the default): one line per stage as it begins, with the time
// since the build began ("mibuild: [  84.2 s] all-in-one erofs: writing the erofs root");
// JSON (`mibuild build --json`): one object per event and line, for CI to read
// ({"t":84.2,"event":"begin","role":"all-in-one","stage":"erofs","what":"..."} and
// {"t":97.0,"event":"end","role":"all-in-one","stage":"erofs","seconds":12.8}). Both on
// standard error; the summary table of stage times follows the build.
// Flow: main.cc sets the mode → image_build.cc reports stages → main.cc prints the summary.
#pragma once
#include <chrono>
#include <ostream>
#include <string>
#include <vector>

namespace mi {

enum class ProgressMode { kPlain, kJson };

struct StageTime {
  std::string role, stage;
  double seconds = 0;
};

struct Progress {
  ProgressMode mode = ProgressMode::kPlain;
  std::ostream* out = nullptr;  // default: std::cerr
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  std::vector<StageTime> done;  // ended stages, in order
  // The stage running now, per the last begin (one role builds at a time).
  std::string role, stage;
  double stage_began = 0;
};

// The process's one progress stream.
Progress& progress();

// Ends the running stage (if any) and begins `stage` of `role`, doing `what`.
void stage_begin(Progress& p, const std::string& role, const std::string& stage, const std::string& what);
// A line about the running stage that starts nothing new (a component left out, a file written).
void stage_note(Progress& p, const std::string& what);
// Ends the running stage, if any.
void stage_end(Progress& p);

// The table of stage times: one line per stage ("  all-in-one  erofs        12.8 s"), then the
// total per role.
std::string stage_table(const Progress& p);

// Seconds since p.start (a clock the tests can set through p.start).
double progress_now(const Progress& p);

}  // namespace mi

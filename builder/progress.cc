// Build progress lines and events (see progress.h).
#include "builder/progress.h"

#include <cstdio>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

namespace mi {
namespace {

std::ostream& out(Progress& p) { return p.out ? *p.out : std::cerr; }

double round1(double s) { return double(int64_t(s * 10 + 0.5)) / 10; }

}  // namespace

Progress& progress() {
  static Progress p;
  return p;
}

double progress_now(const Progress& p) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - p.start).count();
}

void stage_end(Progress& p) {
  if (p.stage.empty()) return;
  double now = progress_now(p), secs = now - p.stage_began;
  p.done.push_back({p.role, p.stage, secs});
  if (p.mode == ProgressMode::kJson)
    out(p) << nlohmann::json{{"t", round1(now)},
                             {"event", "end"},
                             {"role", p.role},
                             {"stage", p.stage},
                             {"seconds", round1(secs)}}
                  .dump()
           << std::endl;
  p.stage.clear();
}

void stage_begin(Progress& p, const std::string& role, const std::string& stage, const std::string& what) {
  stage_end(p);
  p.role = role;
  p.stage = stage;
  p.stage_began = progress_now(p);
  if (p.mode == ProgressMode::kJson) {
    out(p) << nlohmann::json{{"t", round1(p.stage_began)},
                             {"event", "begin"},
                             {"role", role},
                             {"stage", stage},
                             {"what", what}}
                  .dump()
           << std::endl;
  } else {
    char t[32];
    snprintf(t, sizeof t, "[%7.1f s] ", p.stage_began);
    out(p) << "mibuild: " << t << role << " " << stage << ": " << what << std::endl;
  }
}

void stage_note(Progress& p, const std::string& what) {
  double now = progress_now(p);
  if (p.mode == ProgressMode::kJson) {
    out(p)
        << nlohmann::json{{"t", round1(now)}, {"event", "note"}, {"role", p.role}, {"stage", p.stage}, {"what", what}}
               .dump()
        << std::endl;
  } else {
    char t[32];
    snprintf(t, sizeof t, "[%7.1f s] ", now);
    out(p) << "mibuild: " << t << what << std::endl;
  }
}

std::string stage_table(const Progress& p) {
  std::string s = "stage times:\n";
  std::map<std::string, double> total;
  std::vector<std::string> roles;
  char line[160];
  for (const auto& st : p.done) {
    snprintf(line, sizeof line, "  %-12s %-12s %8.1f s\n", st.role.c_str(), st.stage.c_str(), st.seconds);
    s += line;
    if (!total.count(st.role)) roles.push_back(st.role);
    total[st.role] += st.seconds;
  }
  for (const auto& r : roles) {
    snprintf(line, sizeof line, "  %-12s %-12s %8.1f s\n", r.c_str(), "(all)", total[r]);
    s += line;
  }
  return s;
}

}  // namespace mi

// Step 5, writers: the Mesos, Marathon, dnsmasq and Registrator files, and those services
// started where their units are installed.
#include <algorithm>
#include <string>
#include <vector>

#include "firstboot/run_context.h"
#include "firstboot/writers.h"

namespace mi::firstboot::detail {

void step_writers(Context& c, bool replay) {
  WriterInput in = writer_input(c.cfg, c.st, c.layout);
  std::vector<GeneratedFile> files;
  for (auto* w : {mesos_files, marathon_files, dnsmasq_files, registrator_files})
    for (auto& f : w(in)) files.push_back(std::move(f));
  std::vector<std::string> written, started, absent;
  for (const auto& f : files)
    if (ensure_file(f)) written.push_back(f.path);
  for (const auto& s : optional_services(c.cfg.role, c.layout)) {
    if (!c.runner->available(s)) {
      absent.push_back(s.name);
      continue;
    }
    // Restarted only when its own settings changed (its env file, or dnsmasq's conf dir).
    bool changed = std::any_of(written.begin(), written.end(), [&](const std::string& w) {
      return w == s.env_file || (s.name == "dnsmasq" && w.rfind(c.layout.dnsmasq_dir() + "/", 0) == 0);
    });
    services_prepared(c);
    c.runner->start(s, changed);
    started.push_back(s.name);
  }
  if (replay) return;
  c.progress("done", std::to_string(files.size()) + " files (" + std::to_string(written.size()) + " written)" +
                         (started.empty() ? "" : "; started " + join(started, ", ")) +
                         (absent.empty() ? "" : "; not installed here: " + join(absent, ", ")));
}

}  // namespace mi::firstboot::detail

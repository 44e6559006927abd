// Artifact staging: fetch (path or curl), verify the sha256 of the very bytes that are staged,
// and name them by their digest. See artifacts.h.
#include "builder/artifacts.h"

#include <algorithm>
#include <filesystem>
#include <sstream>

#include "common/digest.h"
#include "common/error.h"
#include "common/files.h"
#include "common/process.h"

namespace fs = std::filesystem;

namespace mi {
namespace {

bool is_hex64(const std::string& s) {
  return s.size() == 64 &&
         std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return s;
}

// The last path element of a url (without query or fragment) or of a path.
std::string last_element(const std::string& s) {
  std::string p = s;
  if (p.find("://") != std::string::npos) p = p.substr(0, p.find_first_of("?#", p.find("://") + 3));
  while (!p.empty() && p.back() == '/') p.pop_back();
  auto slash = p.rfind('/');
  return slash == std::string::npos ? p : p.substr(slash + 1);
}

// Debian policy 5.6.1: [a-z0-9][a-z0-9+.-]+
bool is_debian_package_name(const std::string& s) {
  if (s.size() < 2 ||
      !(std::islower(static_cast<unsigned char>(s[0])) || std::isdigit(static_cast<unsigned char>(s[0]))))
    return false;
  return std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return std::islower(c) || std::isdigit(c) || c == '+' || c == '-' || c == '.';
  });
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// A file name that may appear under /opt/<component>/ as it is.
bool safe_file_name(const std::string& s) {
  if (s.empty() || s.size() > 128 || s[0] == '.' || s[0] == '-') return false;
  return std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '.' || c == '_' || c == '-' || c == '+' || c == '~';
  });
}

// Copies `src` to `dst` through a temporary next to it, committing only when the copy's digest
// is `want`; throws (naming the component) otherwise.
void copy_verified(const std::string& src, const std::string& dst, const std::string& want, const Component& c,
                   const std::string& shown) {
  std::string tmp = temp_name_for(dst);
  fs::remove(tmp);
  fs::copy_file(src, tmp, fs::copy_options::overwrite_existing);
  std::string have = sha256_file_hex(tmp);
  if (have != want) {
    fs::remove(tmp);
    throw Error(c.pos.str(), "component " + c.name + ": sha256 of " + shown + " is " + have + ", the spec says " +
                                 want + " (nothing was installed)");
  }
  commit_rename(tmp, dst);
}

}  // namespace

std::string artifact_kind(const std::string& url_or_path) {
  std::string fn = lower(last_element(url_or_path));
  if (ends_with(fn, ".deb")) return "deb";
  for (const char* t : {".tar", ".tar.gz", ".tgz", ".tar.xz", ".tar.zst", ".tar.bz2"})
    if (ends_with(fn, t)) return "tar";
  return "file";
}

std::string staged_name(const std::string& sha256, const std::string& kind) {
  std::string d = lower(sha256);
  if (!is_hex64(d)) throw Error("artifact", "not a sha256: expected 64 hex digits");
  if (kind != "deb" && kind != "tar" && kind != "file") throw Error("artifact", "unknown artifact kind");
  return d + "." + kind;
}

bool stage_artifact(const Spec& spec, const Component& c, const std::string& cache_dir, const std::string& stage_dir,
                    StagedArtifact& out, ComponentStatus& st) {
  std::string how = "provide components." + c.name + ".url+sha256 or components." + c.name + ".path+sha256";
  if (c.path.empty() && c.url.empty()) {
    if (c.optional) {
      st.note = "optional artifact without url or path: not included (" + how + ")";
      return false;
    }
    throw Error(c.pos.str(), "component " + c.name + " has no url or path: " + how);
  }
  if (c.sha256.empty())
    throw Error(c.pos.str(), "component " + c.name + ": artifact without sha256 cannot be verified");
  const std::string want = lower(c.sha256);
  if (!is_hex64(want)) throw Error(c.pos.str(), "component " + c.name + ": sha256 is not 64 hex digits");

  std::string src, shown;
  if (!c.path.empty()) {
    src = spec_path(spec, c.path);
    shown = "components." + c.name + ".path";
    std::error_code ec;
    auto status = fs::status(src, ec);
    if (!fs::exists(status)) {
      if (c.optional) {
        st.note = "optional artifact not found at components." + c.name + ".path: not included (" + how + ")";
        return false;
      }
      throw Error(c.pos.str(), "component " + c.name + ": components." + c.name + ".path does not exist (" + how + ")");
    }
    if (!fs::is_regular_file(status))
      throw Error(c.pos.str(), "component " + c.name + ": components." + c.name +
                                   ".path is not a regular file (a directory, device or other special file)");
    out.source = "path " + c.path;
    out.kind = artifact_kind(c.path);
  } else {
    shown = "the download of components." + c.name + ".url";
    fs::create_directories(cache_dir + "/artifacts");
    src = cache_dir + "/artifacts/" + want;  // the cache is named by digest alone
    if (!fs::is_regular_file(src) || sha256_file_hex(src) != want) {
      std::string tmp = temp_name_for(src);
      run({"curl", "-fsSL", "--retry", "2", "--proto", "=http,https", "--max-time", "1800", "-o", tmp, "--url", c.url});
      std::string have = sha256_file_hex(tmp);
      if (have != want) {
        fs::remove(tmp);
        throw Error(c.pos.str(), "component " + c.name + ": sha256 of " + shown + " is " + have + ", the spec says " +
                                     want + " (nothing was installed)");
      }
      commit_rename(tmp, src);
    }
    out.source = "url " + c.url;
    out.kind = artifact_kind(c.url);
  }
  fs::create_directories(stage_dir);
  out.component = c.name;
  out.sha256 = want;
  out.file = fs::absolute(fs::path(stage_dir) / staged_name(want, out.kind)).lexically_normal().string();
  std::string base = last_element(c.path.empty() ? c.url : c.path);
  out.name = safe_file_name(base) ? base : c.name;
  copy_verified(src, out.file, want, c, shown);
  st.present = true;
  st.artifact_source = out.source;
  st.artifact_sha256 = want;
  st.version = c.version;
  st.note = "artifact " + out.kind + " sha256:" + want + " (verified)";
  return true;
}

std::vector<std::string> artifact_dependencies(const StagedArtifact& a) {
  if (a.kind != "deb") return {};
  auto r = run({"dpkg-deb", "--field", a.file, "Depends", "Pre-Depends"});
  // "Field: value" lines; continuation lines start with a space.
  std::string all;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    if (line[0] == ' ' || line[0] == '\t') {
      all += " " + line;
    } else {
      auto colon = line.find(':');
      all += ", " + (colon == std::string::npos ? line : line.substr(colon + 1));
    }
  }
  std::vector<std::string> deps;
  size_t start = 0;
  while (start <= all.size()) {
    size_t end = all.find(',', start);
    if (end == std::string::npos) end = all.size();
    std::string entry = all.substr(start, end - start);
    start = end + 1;
    entry = entry.substr(0, entry.find('|'));  // the first alternative
    auto b = entry.find_first_not_of(" \t");
    if (b == std::string::npos) continue;
    std::string name = entry.substr(b, entry.find_first_of(" \t(:[<", b) - b);
    if (!is_debian_package_name(name))
      throw Error("component " + a.component,
                  "the .deb's dependency '" + one_line(name) + "' is not a Debian package name");
    if (std::find(deps.begin(), deps.end(), name) == deps.end()) deps.push_back(name);
  }
  return deps;
}

void install_artifacts(const std::string& tree, const std::vector<StagedArtifact>& artifacts) {
  std::vector<std::string> dpkg = {"dpkg", "--root=" + tree, "--force-unsafe-io", "--install"};
  for (const auto& a : artifacts)
    if (a.kind == "deb") dpkg.push_back(a.file);
  if (dpkg.size() > 4) {
    RunOptions ro;
    ro.env = {{"DEBIAN_FRONTEND", "noninteractive"}};
    ro.check = false;
    auto r = run(dpkg, ro);
    if (r.exit_code != 0)
      throw Error("dpkg", "installing the artifact .debs failed with exit " + std::to_string(r.exit_code) +
                              " (a dependency that is not in the image? add it to the role's packages):\n" +
                              (r.err.size() > 3000 ? "..." + r.err.substr(r.err.size() - 3000) : r.err));
  }
  for (const auto& a : artifacts) {
    if (a.kind == "deb") continue;
    std::string dst = tree + "/opt/" + a.component;
    fs::create_directories(dst);
    if (a.kind == "tar")
      run({"tar", "-xf", a.file, "-C", dst, "--no-same-owner"});
    else
      fs::copy_file(a.file, dst + "/" + a.name, fs::copy_options::overwrite_existing);
  }
}

}  // namespace mi

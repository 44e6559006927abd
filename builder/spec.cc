// Reading and checking the image spec: spec.yaml plus every roles/*.yaml next to it. The first
// step of `mibuild`: everything later (roles.cc, plan.cc, the image build) trusts the Spec.
// Parsing never stops at the first problem; every error carries the file:line:col of the value
// (or key) it is about, taken from yaml-cpp's marks.
#include "builder/spec.h"

#include <arpa/inet.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <sstream>
#include <set>

#include "builder/roles.h"
#include "common/error.h"
#include "common/files.h"
#include "common/net.h"
#include "firstboot/cluster_rules.h"
#include "common/strings.h"

namespace fs = std::filesystem;

namespace mi {

std::string Pos::str() const {
  if (line <= 0) return one_line(file);
  return one_line(file) + ":" + std::to_string(line) + ":" + std::to_string(col);
}

std::string Diag::str() const { return pos.str() + ": " + one_line(message); }

namespace {


// Collects errors and notes for one file.
struct Ctx {
  std::string file;
  std::vector<Diag>* errors;
  std::vector<Diag>* notes;
  // parse_spec_text: the spec file's text, given instead of read from `file` (roles still read).
  const std::string* text = nullptr;

  Pos pos(const YAML::Node& n, const Pos& fallback) const {
    if (!n.IsDefined()) return fallback;
    YAML::Mark m = n.Mark();
    if (m.is_null()) return fallback;
    return Pos{file, m.line + 1, m.column + 1};
  }
  // Every message is one line: values echoed in it have their control characters escaped.
  void error(const Pos& p, const std::string& msg) const { errors->push_back(Diag{p, one_line(msg)}); }
  void note(const Pos& p, const std::string& msg) const { notes->push_back(Diag{p, one_line(msg)}); }
};

std::string describe(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Null:
      return "nothing";
    case YAML::NodeType::Scalar:
      return "\"" + n.Scalar() + "\"";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a map";
    default:
      return "nothing";
  }
}

std::string sub(const std::string& path, const std::string& key) { return path.empty() ? key : path + "." + key; }
std::string idx(const std::string& path, size_t i) { return path + "[" + std::to_string(i) + "]"; }

bool has_control(const std::string& s) {
  for (unsigned char ch : s)
    if (ch < 0x20 || ch == 0x7f) return true;
  return false;
}

bool is_password_key(std::string k) {
  std::transform(k.begin(), k.end(), k.begin(), [](unsigned char ch) { return std::tolower(ch); });
  return k.find("password") != std::string::npos || k.find("passwd") != std::string::npos;
}

// One key: value pair of a map, with the positions of both.
struct Entry {
  std::string key;
  YAML::Node value;
  Pos key_pos;
  Pos value_pos;  // the key's position when the value is empty
};

// A YAML map checked for its keys: duplicates, unknown keys (naming the valid ones), and any
// key that looks like a password are reported; only valid keys are kept.
struct MapView {
  std::string path;
  Pos pos;
  std::vector<Entry> entries;
  const Entry* get(const std::string& key) const {
    for (auto& e : entries)
      if (e.key == key) return &e;
    return nullptr;
  }
};

std::optional<MapView> as_map(const Ctx& c, const YAML::Node& node, const Pos& at, const std::string& path,
                              const std::vector<std::string>& valid) {
  if (!node.IsMap()) {
    c.error(at, (path.empty() ? "spec" : path) + ": expected a map, got " + describe(node));
    return std::nullopt;
  }
  MapView m{path, at, {}};
  std::map<std::string, Pos> seen;
  for (auto it = node.begin(); it != node.end(); ++it) {
    Pos kp = c.pos(it->first, at);
    if (!it->first.IsScalar()) {
      c.error(kp, (path.empty() ? "spec" : path) + ": keys must be plain names, got " + describe(it->first));
      continue;
    }
    std::string key = it->first.Scalar();
    std::string where = sub(path, key);
    if (has_control(key) || key.empty()) {
      c.error(kp, (path.empty() ? "spec" : path) + ": key '" + key +
                      "' is empty or holds a control character (NUL, newline, tab, ...)");
      continue;
    }
    if (auto s = seen.find(key); s != seen.end()) {
      c.error(kp, where + ": duplicate key (first at line " + std::to_string(s->second.line) + ")");
      continue;
    }
    seen[key] = kp;
    if (is_password_key(key)) {
      c.error(kp, where +
                      ": passwords are not accepted in a spec; users log in with ssh_keys "
                      "(public keys, one authorized_keys line each)");
      continue;
    }
    if (std::find(valid.begin(), valid.end(), key) == valid.end()) {
      c.error(kp,
              "unknown key '" + key + "'" + (path.empty() ? "" : " in " + path) + " (valid keys: " + join(valid, ", ") + ")");
      continue;
    }
    m.entries.push_back(Entry{key, it->second, kp, c.pos(it->second, kp)});
  }
  return m;
}

// Typed getters: leave `out` unchanged when the key is absent or null; report a wrong type.
bool get_str(const Ctx& c, const MapView& m, const std::string& key, std::string& out, Pos* where = nullptr) {
  const Entry* e = m.get(key);
  if (!e || e->value.IsNull()) return false;
  if (!e->value.IsScalar()) {
    c.error(e->value_pos, sub(m.path, key) + ": expected a string, got " + describe(e->value));
    return false;
  }
  out = e->value.Scalar();
  if (where) *where = e->value_pos;
  return true;
}

bool get_int(const Ctx& c, const MapView& m, const std::string& key, int& out, Pos* where = nullptr) {
  const Entry* e = m.get(key);
  if (!e || e->value.IsNull()) return false;
  const std::string& s = e->value.IsScalar() ? e->value.Scalar() : std::string();
  int v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (!e->value.IsScalar() || s.empty() || ec != std::errc() || p != s.data() + s.size()) {
    c.error(e->value_pos, sub(m.path, key) + ": expected an integer, got " + describe(e->value));
    return false;
  }
  out = v;
  if (where) *where = e->value_pos;
  return true;
}

bool get_bool(const Ctx& c, const MapView& m, const std::string& key, bool& out) {
  const Entry* e = m.get(key);
  if (!e || e->value.IsNull()) return false;
  const std::string s = e->value.IsScalar() ? e->value.Scalar() : std::string();
  if (s == "true" || s == "yes") {
    out = true;
  } else if (s == "false" || s == "no") {
    out = false;
  } else {
    c.error(e->value_pos, sub(m.path, key) + ": expected true or false, got " + describe(e->value));
    return false;
  }
  return true;
}

bool get_list(const Ctx& c, const MapView& m, const std::string& key, std::vector<std::string>& out,
              std::vector<Pos>* positions = nullptr, Pos* where = nullptr) {
  const Entry* e = m.get(key);
  if (!e || e->value.IsNull()) return false;
  if (where) *where = e->value_pos;
  if (!e->value.IsSequence()) {
    c.error(e->value_pos, sub(m.path, key) + ": expected a list of strings, got " + describe(e->value));
    return false;
  }
  out.clear();
  if (positions) positions->clear();
  for (size_t i = 0; i < e->value.size(); i++) {
    const YAML::Node& item = e->value[i];
    Pos ip = c.pos(item, e->value_pos);
    if (!item.IsScalar()) {
      c.error(ip, idx(sub(m.path, key), i) + ": expected a string, got " + describe(item));
      continue;
    }
    out.push_back(item.Scalar());
    if (positions) positions->push_back(ip);
  }
  return true;
}

// A name that becomes part of a file name or a unit: lower-case letters, digits, '-'.
bool is_name(const std::string& s) {
  if (s.empty() || s.size() > 63) return false;
  for (char ch : s)
    if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-')) return false;
  return s.front() != '-';
}

bool is_package_name(const std::string& s) {  // Debian policy 5.6.1
  if (s.size() < 2) return false;
  for (char ch : s)
    if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '+' || ch == '-' || ch == '.')) return false;
  return std::isalnum(static_cast<unsigned char>(s.front()));
}

bool is_user_name(const std::string& s) {
  if (s.empty() || s.size() > 32) return false;
  if (!((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_')) return false;
  for (char ch : s)
    if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-')) return false;
  return true;
}

// A Debian suite or codename: "bookworm", "bookworm-backports", "stable", "sid".
bool is_suite(const std::string& s) {
  if (s.empty() || s.size() > 64 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9'))) return false;
  for (char ch : s)
    if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '+' || ch == '_'))
      return false;
  return true;
}
const char* kSuiteGrammar = "a Debian suite or codename: lower-case letters, digits, '-', '.', '+', '_', e.g. bookworm";

// An apt mirror: http://, https:// or file:/ followed by printable ASCII without spaces.
bool is_mirror(const std::string& s) {
  if (s.rfind("http://", 0) != 0 && s.rfind("https://", 0) != 0 && s.rfind("file:/", 0) != 0) return false;
  for (unsigned char ch : s)
    if (ch <= ' ' || ch >= 0x7f || ch == '[' || ch == ']' || ch == '"' || ch == '\\') return false;
  return true;
}

// An http(s) URL in one word of printable ASCII.
bool is_url(const std::string& s) {
  if (s.rfind("http://", 0) != 0 && s.rfind("https://", 0) != 0) return false;
  if (s.size() > 2048) return false;
  for (unsigned char ch : s)
    if (ch <= ' ' || ch >= 0x7f) return false;
  return true;
}

const std::vector<std::string> kUnitSuffixes = {".service", ".socket",    ".target", ".timer", ".path",
                                                ".mount",   ".automount", ".swap",   ".slice", ".device"};
// A systemd unit name (systemd.unit(5)): [A-Za-z0-9:_.@\\-], at most 255, ending in a unit type.
bool is_unit_name(const std::string& s) {
  if (s.empty() || s.size() > 255 || s[0] == '-' || s[0] == '.') return false;
  for (char ch : s)
    if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == ':' || ch == '_' || ch == '.' || ch == '@' ||
          ch == '-' || ch == '\\'))
      return false;
  for (const auto& suf : kUnitSuffixes)
    if (s.size() > suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0) return true;
  return false;
}

bool is_sha256(const std::string& s) {
  if (s.size() != 64) return false;
  for (char ch : s)
    if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F'))) return false;
  return true;
}

const std::vector<std::string> kSshKeyTypes = {"ssh-ed25519",
                                               "ssh-rsa",
                                               "ecdsa-sha2-nistp256",
                                               "ecdsa-sha2-nistp384",
                                               "ecdsa-sha2-nistp521",
                                               "sk-ssh-ed25519@openssh.com",
                                               "sk-ecdsa-sha2-nistp256@openssh.com"};

// "" when `line` looks like an authorized_keys line ("TYPE BASE64 [comment]"), else why not.
std::string check_ssh_key(const std::string& line) {
  if (line.find("PRIVATE KEY") != std::string::npos)
    return "this is a private key; put only public keys (the .pub file's line) in a spec";
  if (has_control(line))
    return "an authorized_keys entry is one line: no newline or other control character (one list item per key)";
  auto sp = line.find(' ');
  std::string type = line.substr(0, sp);
  if (std::find(kSshKeyTypes.begin(), kSshKeyTypes.end(), type) == kSshKeyTypes.end())
    return "not an OpenSSH public key line: expected \"TYPE BASE64 [comment]\" with TYPE one of " + join(kSshKeyTypes, ", ");
  std::string rest = sp == std::string::npos ? "" : line.substr(sp + 1);
  std::string b64 = rest.substr(0, rest.find(' '));
  if (b64.size() < 16 ||
      b64.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") != std::string::npos)
    return "not an OpenSSH public key line: the key data after \"" + type + "\" is not base64";
  return "";
}

// "ADDR:PORT" with ADDR an IPv4 multicast address (split as everywhere: common/net.h).
bool is_multicast_group(const std::string& s) {
  std::string host;
  int port = 0;
  try {
    split_host_port(s, "beacon_group", &host, &port);
  } catch (const Error&) {
    return false;
  }
  in_addr a{};
  if (inet_pton(AF_INET, host.c_str(), &a) != 1) return false;
  return (ntohl(a.s_addr) >> 28) == 0xe;
}

// Whether `full` (absolute, or relative to the working directory) lies inside the spec's
// directory tree once symlinks are resolved: "" if so (or when outside paths are allowed),
// else why not.
std::string outside_tree(const Spec& s, const std::string& full) {
  if (s.allow_outside_paths) return "";
  std::error_code ec;
  fs::path root = fs::weakly_canonical(fs::absolute(s.dir.empty() ? "." : s.dir), ec);
  fs::path resolved = fs::weakly_canonical(fs::absolute(full), ec);
  fs::path rel = resolved.lexically_relative(root);
  if (rel.empty() || *rel.begin() == "..")
    return "resolves to " + resolved.string() + ", outside the spec's directory " + root.string() +
           " (symlinks resolved; mibuild --allow-outside-paths allows it)";
  return "";
}

// The same for a path as written in the spec, which must also be relative.
std::string path_rule(const Spec& s, const std::string& p) {
  if (s.allow_outside_paths) return "";
  if (!p.empty() && p[0] == '/')
    return "must be relative to the spec's directory (an absolute path needs mibuild --allow-outside-paths)";
  return outside_tree(s, spec_path(s, p));
}

const std::vector<std::string> kTopKeys = {"name",     "seed",         "base",  "roles",      "roles_dir", "formats",
                                           "overlays", "overlays_dir", "users", "components", "cluster",   "disk"};
const std::vector<std::string> kBaseKeys = {"release", "mirror", "kernel", "packages"};
const std::vector<std::string> kUserKeys = {"name", "ssh_keys", "groups"};
const std::vector<std::string> kComponentKeys = {"source", "packages", "suite",  "version",
                                                 "url",    "path",     "sha256", "optional"};
const std::vector<std::string> kClusterKeys = {"name", "datacenter", "control_count", "discovery", "wan_join"};
const std::vector<std::string> kDiscoveryKeys = {"method", "peers", "dns_name", "beacon_group", "cloud_join"};
const std::vector<std::string> kDiskKeys = {"esp_mb", "var_mb"};
constexpr int kMaxEspMb = 4096;    // an ESP holds boot loaders, kernels and initrds
constexpr int kMaxVarMb = 262144;  // the image's /var; the node's grows on first boot
const std::vector<std::string> kRoleKeys = {"name", "include", "packages", "components", "overlays", "services"};
const std::vector<std::string> kMethods = {"static", "dns", "beacon", "cloud"};
// Started by mi-firstboot once the cluster has agreed, with the configuration it writes.
const std::vector<std::string> kFirstbootServices = {"consul", "zookeeper"};

// Explicit tags (`!!float`, `!custom`) anywhere in `n` are errors: a spec is plain data, typed by
// the key it is under, never by the file.
void check_tags(const Ctx& c, const YAML::Node& n, const Pos& fallback, int depth = 0) {
  if (depth > 64) return;  // yaml-cpp itself refuses deeper nesting
  const std::string& tag = n.Tag();
  if (!tag.empty() && tag != "?" && tag != "!") {
    std::string shown = tag.rfind("tag:yaml.org,2002:", 0) == 0 ? "!!" + tag.substr(18) : tag;
    c.error(c.pos(n, fallback),
            "explicit YAML tag '" + shown + "' is not accepted: write the value plainly (its key decides its type)");
  }
  if (n.IsSequence()) {
    for (const auto& item : n) check_tags(c, item, fallback, depth + 1);
  } else if (n.IsMap()) {
    for (auto it = n.begin(); it != n.end(); ++it) {
      check_tags(c, it->first, fallback, depth + 1);
      check_tags(c, it->second, fallback, depth + 1);
    }
  }
}

// The line (1-based) of the second document's start ("---" or "..." then more) in `text`, or 0.
int second_document_line(const std::string& text) {
  bool content = false;
  int ended = 0;  // line of a "..." seen
  int line = 0;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string l = text.substr(start, end - start);
    line++;
    bool marker = (l.rfind("---", 0) == 0 || l.rfind("...", 0) == 0) &&
                  (l.size() == 3 || l[3] == ' ' || l[3] == '\t' || l[3] == '\r');
    if (marker && l[0] == '-' && content) return line;
    if (marker && l[0] == '.' && ended == 0) ended = line;  // a document end: fine if nothing follows
    auto first = l.find_first_not_of(" \t\r");
    if (!marker && first != std::string::npos && l[first] != '#' && l[first] != '%') {
      if (ended > 0) return ended;
      content = true;
    }
    start = end + 1;
  }
  return 0;
}

const char* kSecondDocument =
    "a second YAML document starts here: a spec or role file is one document (remove '---' / '...' and what "
    "follows, or merge it into the first)";

// Counts the documents of a text and where each starts, without building nodes.
struct DocumentStarts : YAML::EventHandler {
  std::vector<YAML::Mark> starts;
  void OnDocumentStart(const YAML::Mark& m) override { starts.push_back(m); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

bool load_yaml(const Ctx& c, const std::string& path, YAML::Node& out) {
  std::error_code ec;
  const bool given = c.text && path == c.file;
  if (given) {
    // the text is given: nothing to check on disk
  } else if (fs::is_directory(path, ec)) {
    c.error(Pos{path, 1, 1}, "is a directory, not a YAML file (give the spec file itself, e.g. " +
                                 (fs::path(path) / "spec.yaml").string() + ")");
    return false;
  } else if (!fs::is_regular_file(path, ec)) {
    c.error(Pos{path, 0, 0},
            fs::is_symlink(fs::symlink_status(path, ec)) ? "file not found (a dangling symlink)" : "file not found");
    return false;
  }
  std::string text;
  try {
    text = given ? *c.text : read_file(path);
    // Before parsing: garbage in a second document is reported as what it is.
    if (int second = second_document_line(text); second > 0) {
      c.error(Pos{path, second, 1}, kSecondDocument);
      return false;
    }
    // At most two documents are looked at: yaml-cpp's parser (0.7) reads a stray ',' at the top
    // level as endless empty documents without moving on, so YAML::LoadAll never returns on
    // ", x" and takes all memory (found by the spec fuzzer, tests/fuzz/corpus/spec/).
    std::istringstream in(text);
    YAML::Parser parser(in);
    DocumentStarts docs;
    while (docs.starts.size() < 2 && parser.HandleNextDocument(docs)) {
    }
    if (docs.starts.size() > 1) {
      const YAML::Mark& m = docs.starts[1];
      if (m.pos == docs.starts[0].pos)
        c.error(Pos{path, m.line + 1, m.column + 1},
                "YAML syntax error: nothing can be read here (a ',' outside [ ] or { }?)");
      else
        c.error(Pos{path, m.line + 1, m.column + 1}, kSecondDocument);
      return false;
    }
    out = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    c.error(Pos{path, e.mark.line + 1, e.mark.column + 1}, "YAML syntax error: " + e.msg);
    return false;
  } catch (const std::exception& e) {
    c.error(Pos{path, 0, 0}, std::string("cannot read: ") + e.what());
    return false;
  }
  size_t before = c.errors->size();
  check_tags(c, out, Pos{path, 1, 1});
  return c.errors->size() == before;
}

void check_packages(const Ctx& c, const std::string& path, const std::vector<std::string>& pkgs,
                    const std::vector<Pos>& pos) {
  for (size_t i = 0; i < pkgs.size() && i < pos.size(); i++)
    if (!is_package_name(pkgs[i]))
      c.error(pos[i], idx(path, i) + ": '" + pkgs[i] +
                          "' is not a Debian package name (lower-case letters, digits, + - .; at least 2)");
}

void parse_component(const Ctx& c, Spec& s, const std::string& name, const Entry& e) {
  std::string path = "components." + name;
  Component comp;
  comp.name = name;
  comp.pos = e.key_pos;
  if (!is_name(name)) c.error(e.key_pos, path + ": component names are lower-case letters, digits and '-'");
  auto m = as_map(c, e.value, e.value_pos, path, kComponentKeys);
  if (!m) {
    s.components[name] = comp;
    return;
  }
  Pos src_pos = e.key_pos, sha_pos = e.key_pos, path_pos = e.key_pos, url_pos = e.key_pos;
  std::vector<Pos> pkg_pos;
  bool has_packages = get_list(c, *m, "packages", comp.packages, &pkg_pos);
  Pos suite_pos = e.key_pos;
  if (get_str(c, *m, "suite", comp.suite, &suite_pos) && !is_suite(comp.suite))
    c.error(suite_pos, path + ".suite: \"" + comp.suite + "\" is not " + kSuiteGrammar);
  get_str(c, *m, "version", comp.version);
  get_str(c, *m, "url", comp.url, &url_pos);
  get_str(c, *m, "path", comp.path, &path_pos);
  get_str(c, *m, "sha256", comp.sha256, &sha_pos);
  get_bool(c, *m, "optional", comp.optional);
  if (!get_str(c, *m, "source", comp.source, &src_pos)) {
    c.error(e.key_pos, path + ": missing 'source' (debian or artifact)");
  } else if (comp.source == "debian") {
    if (!has_packages) comp.packages = {name};
    check_packages(c, path + ".packages", comp.packages, pkg_pos);
    for (const char* k : {"url", "path", "sha256"})
      if (const Entry* x = m->get(k))
        c.error(x->key_pos, path + "." + k + ": only valid with source: artifact (this component is a Debian package)");
  } else if (comp.source == "artifact") {
    check_packages(c, path + ".packages", comp.packages, pkg_pos);
    if (const Entry* x = m->get("suite")) c.error(x->key_pos, path + ".suite: only valid with source: debian");
    if (!comp.sha256.empty() && !is_sha256(comp.sha256))
      c.error(sha_pos, path + ".sha256: not a SHA-256: expected 64 hex digits, got " +
                           std::to_string(comp.sha256.size()) + " characters");
    if (!comp.url.empty() && !is_url(comp.url))
      c.error(url_pos, path + ".url: expected an http:// or https:// URL, got \"" + comp.url + "\"" +
                           (has_control(comp.url) || comp.url.find(' ') != std::string::npos
                                ? " (spaces and control characters must be %-encoded)"
                                : ""));
    std::string path_why = comp.path.empty() ? "" : path_rule(s, comp.path);
    if (!path_why.empty()) c.error(path_pos, path + ".path: " + path_why);
    bool located = !comp.url.empty() || !comp.path.empty();
    if (located && comp.sha256.empty())
      c.error(e.key_pos, path +
                             ": an artifact needs sha256 (the SHA-256 of the file, 64 hex digits) to be checked "
                             "against");
    std::error_code ec;
    bool path_missing = !comp.path.empty() && !fs::exists(spec_path(s, comp.path), ec);
    if (!comp.path.empty() && !path_missing && !fs::is_regular_file(spec_path(s, comp.path), ec))
      c.error(path_pos, path + ".path: not a regular file (a directory, device or other special file): " +
                            spec_path(s, comp.path));
    if (!located) {
      std::string how = "provide " + path + ".url+sha256 or path+sha256";
      if (comp.optional)
        c.note(e.key_pos, "not in image: " + name + " (optional; " + how + ")");
      else
        c.error(e.key_pos,
                path + ": cannot be resolved: an artifact needs url or path; " + how + ", or mark it optional: true");
    } else if (path_missing) {
      std::string what = path + ".path: file not found: " + spec_path(s, comp.path);
      if (comp.optional)
        c.note(path_pos, "not in image: " + name + " (optional; " + what + ")");
      else
        c.error(path_pos, what);
    }
  } else {
    c.error(src_pos, path + ".source: unknown source '" + comp.source + "' (valid: debian, artifact)");
  }
  s.components[name] = comp;
}

void parse_users(const Ctx& c, Spec& s, const Entry& e) {
  if (e.value.IsNull()) return;
  if (!e.value.IsSequence()) {
    c.error(e.value_pos, "users: expected a list of users ({name, ssh_keys, groups}), got " + describe(e.value));
    return;
  }
  std::map<std::string, Pos> seen;
  for (size_t i = 0; i < e.value.size(); i++) {
    std::string path = idx("users", i);
    Pos up = c.pos(e.value[i], e.value_pos);
    auto m = as_map(c, e.value[i], up, path, kUserKeys);
    if (!m) continue;
    User u;
    u.pos = up;
    Pos name_pos = up;
    if (!get_str(c, *m, "name", u.name, &name_pos)) {
      c.error(up, path + ": missing 'name'");
    } else if (!is_user_name(u.name)) {
      c.error(name_pos, path + ".name: '" + u.name + "' is not a valid user name (a-z, 0-9, _ and -, at most 32)");
    } else if (auto d = seen.find(u.name); d != seen.end()) {
      c.error(name_pos, path + ".name: duplicate user '" + u.name + "' (first at " + d->second.str() + ")");
    } else {
      seen[u.name] = name_pos;
    }
    std::vector<Pos> key_pos;
    get_list(c, *m, "ssh_keys", u.ssh_keys, &key_pos);
    for (size_t k = 0; k < u.ssh_keys.size(); k++)
      if (auto why = check_ssh_key(u.ssh_keys[k]); !why.empty())
        c.error(key_pos[k], idx(path + ".ssh_keys", k) + ": " + why);
    std::vector<Pos> group_pos;
    get_list(c, *m, "groups", u.groups, &group_pos);
    for (size_t g = 0; g < u.groups.size(); g++)
      if (!is_user_name(u.groups[g]))
        c.error(group_pos[g],
                idx(path + ".groups", g) + ": '" + u.groups[g] +
                    "' is not a valid group name (a-z, 0-9, _ and -, starting with a letter or _, at most "
                    "32)");
    if (u.ssh_keys.empty() && !u.name.empty())
      c.note(up, path + ": user " + u.name + " has no ssh_keys and no password: nobody can log in as " + u.name);
    s.users.push_back(u);
  }
}

void parse_cluster(const Ctx& c, Spec& s, const Entry& e) {
  auto m = as_map(c, e.value, e.value_pos, "cluster", kClusterKeys);
  if (!m) return;
  ClusterDefaults& cl = s.cluster;
  Pos p = e.key_pos;
  if (get_str(c, *m, "name", cl.name, &p) && !is_name(cl.name))
    c.error(p, "cluster.name: '" + cl.name + "' is not a valid name (lower-case letters, digits and '-')");
  if (get_str(c, *m, "datacenter", cl.datacenter, &p) && !is_name(cl.datacenter))
    c.error(p, "cluster.datacenter: '" + cl.datacenter + "' is not a valid name (lower-case letters, digits and '-')");
  if (get_int(c, *m, "control_count", cl.control_count, &p)) {
    if (cl.control_count < 1)
      c.error(p, "cluster.control_count: must be at least 1, got " + std::to_string(cl.control_count));
    else if (cl.control_count % 2 == 0)
      c.error(p, "cluster.control_count: " + std::to_string(cl.control_count) + " is even; use " +
                     std::to_string(cl.control_count - 1) + " or " + std::to_string(cl.control_count + 1) +
                     ": an even count gives no extra fault tolerance over one node fewer and more ways to "
                     "tie a vote");
  }
  get_list(c, *m, "wan_join", cl.wan_join);
  if (const Entry* d = m->get("discovery")) {
    auto dm = as_map(c, d->value, d->value_pos, "cluster.discovery", kDiscoveryKeys);
    if (dm) {
      Discovery& di = cl.discovery;
      if (get_str(c, *dm, "method", di.method, &p) &&
          std::find(kMethods.begin(), kMethods.end(), di.method) == kMethods.end())
        c.error(p, "cluster.discovery.method: unknown method '" + di.method + "' (valid: " + join(kMethods, ", ") + ")");
      Pos method_pos = d->value_pos;
      if (const Entry* me = dm->get("method")) method_pos = me->value_pos;
      bool method_known = std::find(kMethods.begin(), kMethods.end(), di.method) != kMethods.end();
      get_list(c, *dm, "peers", di.peers);
      get_str(c, *dm, "dns_name", di.dns_name);
      get_str(c, *dm, "cloud_join", di.cloud_join);
      Pos group_pos = method_pos;
      bool group_bad = false;
      if (get_str(c, *dm, "beacon_group", di.beacon_group, &group_pos) && !is_multicast_group(di.beacon_group)) {
        group_bad = true;
        c.error(group_pos,
                "cluster.discovery.beacon_group: expected an IPv4 multicast ADDRESS:PORT (e.g. "
                "239.255.77.77:7946), got \"" +
                    di.beacon_group + "\"");
      }
      // What mi-firstboot would refuse at first boot, refused here by the same code (unless a
      // key of the block was already refused: a misspelt key is the one problem to report).
      bool all_keys_valid = dm->entries.size() == d->value.size();
      if (method_known && all_keys_valid) {
        if (auto problem =
                firstboot::check_discovery(di.method, di.peers.size(), di.dns_name, di.beacon_group, di.cloud_join)) {
          if (problem->field != "beacon_group")
            c.error(method_pos, "cluster.discovery: " + problem->why);
          else if (!group_bad)
            c.error(group_pos, "cluster.discovery.beacon_group: " + problem->why);
        }
      }
    }
  }
}

void parse_disk(const Ctx& c, Spec& s, const Entry& e) {
  auto m = as_map(c, e.value, e.value_pos, "disk", kDiskKeys);
  if (!m) return;
  Pos p;
  if (get_int(c, *m, "esp_mb", s.disk.esp_mb, &p)) {
    if (s.disk.esp_mb < 32)
      c.error(p,
              "disk.esp_mb: must be at least 32 (FAT32 and a kernel + initrd), got " + std::to_string(s.disk.esp_mb));
    else if (s.disk.esp_mb > kMaxEspMb)
      c.error(p,
              "disk.esp_mb: must be at most " + std::to_string(kMaxEspMb) + ", got " + std::to_string(s.disk.esp_mb));
  }
  if (get_int(c, *m, "var_mb", s.disk.var_mb, &p)) {
    if (s.disk.var_mb < 16)
      c.error(p, "disk.var_mb: must be at least 16, got " + std::to_string(s.disk.var_mb));
    else if (s.disk.var_mb > kMaxVarMb)
      c.error(p, "disk.var_mb: must be at most " + std::to_string(kMaxVarMb) +
                     " (256 GiB: the image's /var, which grows on the node), got " + std::to_string(s.disk.var_mb));
  }
}

// One roles/<x>.yaml. Duplicate names are found by the caller.
std::optional<Role> parse_role_file(const Ctx& c, const std::string& file) {
  YAML::Node root;
  if (!load_yaml(c, file, root)) return std::nullopt;
  Pos top{file, 1, 1};
  auto m = as_map(c, root, c.pos(root, top), "", kRoleKeys);
  if (!m) return std::nullopt;
  Role r;
  r.file = file;
  r.pos = top;
  r.name = fs::path(file).stem().string();
  Pos np = top;
  if (get_str(c, *m, "name", r.name, &np)) r.pos = np;
  if (!is_name(r.name))
    c.error(np, "name: '" + r.name + "' is not a valid role name (lower-case letters, digits, '-')");
  get_list(c, *m, "include", r.include, &r.include_pos);
  std::vector<Pos> pkg_pos, svc_pos;
  get_list(c, *m, "packages", r.packages, &pkg_pos);
  check_packages(c, "packages", r.packages, pkg_pos);
  get_list(c, *m, "components", r.components, &r.component_pos);
  get_list(c, *m, "overlays", r.overlays, &r.overlay_pos);
  get_list(c, *m, "services", r.services, &svc_pos);
  for (size_t i = 0; i < r.services.size(); i++) {
    std::string unit = r.services[i];
    std::string bare = unit.size() > 8 && unit.ends_with(".service") ? unit.substr(0, unit.size() - 8) : unit;
    if (std::find(kFirstbootServices.begin(), kFirstbootServices.end(), bare) != kFirstbootServices.end())
      c.error(svc_pos[i], idx("services", i) + ": " + unit +
                              " is started by mi-firstboot once the cluster has agreed on its configuration; "
                              "enabled at boot it would start unconfigured (list the component instead)");
    else if (!is_unit_name(unit))
      c.error(svc_pos[i], idx("services", i) + ": '" + unit +
                              "' is not a systemd unit name (letters, digits, ':', '_', '.', '@', '-', not starting "
                              "with '-' or '.', ending in " +
                              join(kUnitSuffixes, ", ") + ")");
  }
  return r;
}

void check_overlays(const Ctx& c, const Spec& s, const std::string& path, const std::vector<std::string>& names,
                    const std::vector<Pos>& pos) {
  for (size_t i = 0; i < names.size() && i < pos.size(); i++) {
    const std::string& n = names[i];
    std::error_code ec;
    if (n.empty() || n.find('/') != std::string::npos || n == "." || n == ".." || has_control(n))
      c.error(pos[i], idx(path, i) + ": '" + n + "' is not an overlay name (a directory directly under " +
                          s.overlays_dir + ")");
    else if (!fs::is_directory(fs::path(s.overlays_dir) / n, ec))
      c.error(pos[i], idx(path, i) + ": overlay directory not found: " + (fs::path(s.overlays_dir) / n).string());
    else if (auto why = outside_tree(s, (fs::path(s.overlays_dir) / n).string()); !why.empty())
      c.error(pos[i], idx(path, i) + ": overlay directory " + why);
  }
}

}  // namespace

std::string spec_path(const Spec& spec, const std::string& p) {
  if (p.empty() || p[0] == '/') return p;
  return (fs::path(spec.dir.empty() ? "." : spec.dir) / p).lexically_normal().string();
}

const std::vector<std::string>& supported_formats() {
  static const std::vector<std::string> v = {"raw", "qcow2", "vmdk", "vhd", "openstack",
                                             "ami", "vagrant", "tar", "pxe", "iso"};
  return v;
}

std::string check_format(const std::string& format) {
  const auto& sup = supported_formats();
  if (std::find(sup.begin(), sup.end(), format) != sup.end()) return "";
  return "unknown format '" + format + "' (supported: " + join(sup, ", ") + ")";
}

std::string format_extension(const std::string& format) {
  if (format == "openstack") return "qcow2";
  if (format == "vagrant") return "box";
  if (format == "pxe") return "pxe";  // a directory: <name>.pxe/ (pxe_bundle.h)
  if (format == "ami") return format + ".tar";
  return format;
}

std::string component_unresolved_reason(const Spec& spec, const Component& c) {
  if (c.source != "artifact") return "";
  std::string how = "provide components." + c.name + ".url+sha256 or path+sha256";
  if (!is_sha256(c.sha256)) return how;
  if (!c.url.empty()) return "";
  std::error_code ec;
  if (!c.path.empty()) {
    if (fs::is_regular_file(spec_path(spec, c.path), ec)) return "";
    return "components." + c.name + ".path not found: " + spec_path(spec, c.path) + "; " + how;
  }
  return how;
}

std::string default_spec_path() {
  if (const char* e = std::getenv("MI_SPEC"); e && *e) return e;
#ifdef MI_DEFAULT_SPEC
  return MI_DEFAULT_SPEC;
#else
  return "spec.yaml";
#endif
}

namespace {
SpecResult parse_spec_impl(const std::string& path, const SpecOptions& opts, const std::string* text) {
  SpecResult r;
  Spec& s = r.spec;
  s.file = path;
  s.allow_outside_paths = opts.allow_outside_paths;
  s.dir = fs::path(path).parent_path().string();
  if (s.dir.empty()) s.dir = ".";
  s.roles_dir = spec_path(s, "roles");
  // Absolute, so that it names the same directory whatever the image build resolves it against.
  s.overlays_dir = fs::absolute(spec_path(s, "overlays")).lexically_normal().string();
  Ctx c{path, &r.errors, &r.notes, text};

  YAML::Node root;
  if (!load_yaml(c, path, root)) return r;
  Pos top{path, 1, 1};
  if (root.IsNull()) {
    c.error(top, "the spec is empty (expected a map with keys: " + join(kTopKeys, ", ") + ")");
    return r;
  }
  auto m = as_map(c, root, c.pos(root, top), "", kTopKeys);
  if (!m) return r;

  Pos p = top;
  if (get_str(c, *m, "name", s.name, &p) && !is_name(s.name))
    c.error(p, "name: '" + s.name + "' is not a valid image name (lower-case letters, digits and '-')");
  if (get_str(c, *m, "seed", s.seed, &p) && s.seed.empty()) c.error(p, "seed: must not be empty (omit it to use name)");
  if (s.seed.empty()) s.seed = s.name;
  if (get_str(c, *m, "roles_dir", s.roles_dir, &p)) {
    if (auto why = path_rule(s, s.roles_dir); !why.empty()) c.error(p, "roles_dir: " + why);
    s.roles_dir = spec_path(s, s.roles_dir);
  }
  if (get_str(c, *m, "overlays_dir", s.overlays_dir, &p)) {
    if (auto why = path_rule(s, s.overlays_dir); !why.empty()) c.error(p, "overlays_dir: " + why);
    s.overlays_dir = fs::absolute(spec_path(s, s.overlays_dir)).lexically_normal().string();
    std::error_code ec;
    if (!fs::is_directory(s.overlays_dir, ec)) c.error(p, "overlays_dir: directory not found: " + s.overlays_dir);
  }

  if (const Entry* e = m->get("base")) {
    if (auto bm = as_map(c, e->value, e->value_pos, "base", kBaseKeys)) {
      if (get_str(c, *bm, "release", s.base.release, &p) && !is_suite(s.base.release))
        c.error(p, "base.release: \"" + s.base.release + "\" is not " + kSuiteGrammar);
      if (get_str(c, *bm, "mirror", s.base.mirror, &p) && !is_mirror(s.base.mirror))
        c.error(p,
                "base.mirror: expected an http://, https:// or file:/ URL without spaces, quotes or brackets, got \"" +
                    s.base.mirror + "\"");
      if (get_str(c, *bm, "kernel", s.base.kernel, &p) && !is_package_name(s.base.kernel))
        c.error(p, "base.kernel: '" + s.base.kernel + "' is not a Debian package name");
      std::vector<Pos> pkg_pos;
      get_list(c, *bm, "packages", s.base.packages, &pkg_pos);
      check_packages(c, "base.packages", s.base.packages, pkg_pos);
    }
  }

  bool roles_given = get_list(c, *m, "roles", s.roles, &s.roles_pos, &p);
  if (roles_given && s.roles.empty()) c.error(p, "roles: empty list: nothing to build");
  Pos formats_at = top;
  if (get_list(c, *m, "formats", s.formats, &s.formats_pos, &formats_at)) {
    if (s.formats.empty()) c.error(formats_at, "formats: empty list: nothing to write");
    for (size_t i = 0; i < s.formats.size(); i++) {
      if (auto why = check_format(s.formats[i]); !why.empty())
        c.error(s.formats_pos[i], idx("formats", i) + ": " + why);
      else if (std::find(s.formats.begin(), s.formats.begin() + i, s.formats[i]) != s.formats.begin() + i)
        c.error(s.formats_pos[i], idx("formats", i) + ": '" + s.formats[i] + "' listed twice");
    }
  } else {
    s.formats = {"raw"};
  }
  get_list(c, *m, "overlays", s.overlays, &s.overlays_pos);
  if (const Entry* e = m->get("users")) parse_users(c, s, *e);
  // Components: a map of free names, so walked here rather than through as_map's key list.
  if (const Entry* e = m->get("components"); e && !e->value.IsNull()) {
    if (!e->value.IsMap())
      c.error(e->value_pos, "components: expected a map of name: {source, ...}, got " + describe(e->value));
    if (e->value.IsMap()) {
      std::set<std::string> seen;
      for (auto it = e->value.begin(); it != e->value.end(); ++it) {
        Pos kp = c.pos(it->first, e->value_pos);
        if (!it->first.IsScalar()) {
          c.error(kp, "components: names must be plain strings");
          continue;
        }
        std::string name = it->first.Scalar();
        if (is_password_key(name)) {
          c.error(kp, "components." + name +
                          ": passwords are not accepted in a spec (not even as a component name); users log in "
                          "with ssh_keys");
          continue;
        }
        if (!seen.insert(name).second) {
          c.error(kp, "components." + name + ": duplicate component");
          continue;
        }
        parse_component(c, s, name, Entry{name, it->second, kp, c.pos(it->second, kp)});
      }
    }
  }
  if (const Entry* e = m->get("cluster")) parse_cluster(c, s, *e);
  if (const Entry* e = m->get("disk")) parse_disk(c, s, *e);
  check_overlays(c, s, "overlays", s.overlays, s.overlays_pos);

  // roles/*.yaml: every file is read and checked, whether built or not.
  std::error_code ec;
  if (!fs::is_directory(s.roles_dir, ec)) {
    const Entry* e = m->get("roles_dir");
    c.error(e ? e->value_pos : top, "roles directory not found: " + s.roles_dir);
  } else {
    for (auto& de : fs::directory_iterator(s.roles_dir, ec)) {
      auto ext = de.path().extension();
      if (ext != ".yaml" && ext != ".yml") continue;
      std::error_code fe;
      std::string f = de.path().string();
      Pos fp{f, 0, 0};
      if (fs::is_symlink(de.symlink_status(fe)) && !fs::exists(de.status(fe)))
        c.error(fp, "a dangling symlink where a roles file was expected (remove it or fix its target)");
      else if (fs::is_directory(de.status(fe)))
        c.error(fp, "a directory named like a roles file (roles files are regular files)");
      else if (!fs::is_regular_file(de.status(fe)))
        c.error(fp, "not a regular file (a device, socket or pipe) where a roles file was expected");
      else if (auto why = outside_tree(s, f); !why.empty())
        c.error(fp, "roles file " + why);
      else
        s.role_files.push_back(f);
    }
    std::sort(s.role_files.begin(), s.role_files.end());
  }
  std::string known_components;  // for "unknown component" errors: made once, at most 10 names
  for (const auto& file : s.role_files) {
    Ctx rc{file, &r.errors, &r.notes};
    auto role = parse_role_file(rc, file);
    if (!role) continue;
    if (auto d = s.role_defs.find(role->name); d != s.role_defs.end()) {
      rc.error(role->pos, "duplicate role '" + role->name + "' (also defined at " + d->second.pos.str() + ")");
      c.error(d->second.pos, "duplicate role '" + role->name + "' (also defined at " + role->pos.str() + ")");
      continue;
    }
    check_overlays(rc, s, "overlays", role->overlays, role->overlay_pos);
    for (size_t i = 0; i < role->components.size(); i++) {
      const std::string& cn = role->components[i];
      if (s.components.count(cn)) continue;
      if (known_components.empty()) {
        std::vector<std::string> names;
        for (auto it = s.components.begin(); it != s.components.end() && names.size() < 10; ++it)
          names.push_back(it->first);
        known_components = s.components.empty()
                               ? std::string("the spec defines none")
                               : "defined in " + path + ": " + join(names, ", ") +
                                     (s.components.size() > names.size()
                                          ? ", ... and " + std::to_string(s.components.size() - names.size()) + " more"
                                          : "");
      }
      rc.error(role->component_pos[i],
               idx("components", i) + ": unknown component '" + cn + "' (" + known_components + ")");
    }
    s.role_defs[role->name] = *role;
  }
  std::vector<std::string> found;
  for (auto& [n, _] : s.role_defs) found.push_back(n);
  if (!roles_given) s.roles = found;
  std::set<std::string> listed;
  for (size_t i = 0; i < s.roles.size() && i < s.roles_pos.size(); i++) {
    const std::string& rn = s.roles[i];
    if (!listed.insert(rn).second) c.error(s.roles_pos[i], idx("roles", i) + ": role '" + rn + "' listed twice");
    if (!s.role_defs.count(rn))
      c.error(s.roles_pos[i], idx("roles", i) + ": unknown role '" + rn + "': no roles file defines it (" +
                                  (found.empty() ? "no roles in " + s.roles_dir
                                                 : "roles in " + s.roles_dir + ": " + join_capped(found)) +
                                  ")");
  }
  for (auto& d : check_role_includes(s)) r.errors.push_back(d);

  // File order: the spec first, then each roles file; within a file by position.
  auto rank = [&](const Diag& d) { return d.pos.file == path ? 0 : 1; };
  std::stable_sort(r.errors.begin(), r.errors.end(), [&](const Diag& a, const Diag& b) {
    if (rank(a) != rank(b)) return rank(a) < rank(b);
    if (a.pos.file != b.pos.file) return a.pos.file < b.pos.file;
    if (a.pos.line != b.pos.line) return a.pos.line < b.pos.line;
    return a.pos.col < b.pos.col;
  });
  return r;
}

}  // namespace

SpecResult parse_spec(const std::string& path, const SpecOptions& opts) { return parse_spec_impl(path, opts, nullptr); }

SpecResult parse_spec_text(const std::string& text, const std::string& path, const SpecOptions& opts) {
  return parse_spec_impl(path, opts, &text);
}

Spec load_spec(const std::string& path, const SpecOptions& opts) {
  SpecResult r = parse_spec(path, opts);
  if (!r.ok()) {
    std::string more = r.errors.size() > 1 ? " (and " + std::to_string(r.errors.size() - 1) +
                                                 " more problems: run `mibuild validate " + path + "`)"
                                           : "";
    throw Error{r.errors[0].pos.str(), r.errors[0].message + more};
  }
  return r.spec;
}

}  // namespace mi

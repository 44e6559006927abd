// The artifact stage: components with `source: artifact` (a local `path` or a `url`, and a
// sha256) are fetched, verified, and copied into a staging directory under a name made of their
// digest alone (`<sha256>.deb`, `<sha256>.tar`, `<sha256>.file`), so that nothing later (the
// mmdebstrap hooks, tar, the manifest) ever sees a byte of the spec's file name or URL in shell
// text or in a path. A .deb's dependencies (read from its control file, checked against the
// Debian package name grammar) join the bootstrap's package list (rootfs.h); the .deb itself is
// installed into the bootstrapped tree by `dpkg --root` (argv only, no shell), tarballs and
// plain files are copied under /opt/<component>/.
// Flow: spec.h → stage_artifact() → artifact_dependencies() → rootfs.h → install_artifacts()
//       → finalize.h; the manifest records each artifact's source and digest.
#pragma once
#include <string>
#include <vector>

#include "builder/image_build.h"
#include "builder/spec.h"

namespace mi {

struct StagedArtifact {
  std::string component;
  std::string source;  // as the spec gives it: "url https://..." or "path files/x.deb"
  std::string sha256;  // lower-case hex, verified
  std::string kind;    // "deb" | "tar" | "file"
  std::string file;    // <stage_dir>/<sha256>.<kind>: the verified bytes
  std::string name;    // file: the name it gets under /opt/<component>/ (safe, or the component's)
};

// "deb", "tar" (.tar, .tar.gz, .tgz, .tar.xz, .tar.zst) or "file", from the last path element of
// a url (query and fragment ignored) or a path.
std::string artifact_kind(const std::string& url_or_path);

// The staged file name of an artifact: "<sha256>.<kind>" (sha256 must be 64 hex digits).
std::string staged_name(const std::string& sha256, const std::string& kind);

// Resolves the artifact `c` (path relative to the spec, or url fetched with curl into
// <cache_dir>/artifacts/<sha256>), checks its sha256, and copies it to
// <stage_dir>/<sha256>.<kind>. Returns false (and fills `st`) when it is optional and cannot be
// resolved. Throws mi::Error when it is required and cannot be resolved, when the path is not a
// regular file, or when its digest differs from the spec's: then nothing is written to
// stage_dir (and a download with the wrong digest is not kept in the cache).
bool stage_artifact(const Spec& spec, const Component& c, const std::string& cache_dir, const std::string& stage_dir,
                    StagedArtifact& out, ComponentStatus& st);

// The packages a staged .deb needs from the mirror: the first alternative of each Depends and
// Pre-Depends entry of its control file (architecture qualifier, version and restrictions
// dropped), each checked against Debian's package name grammar. Empty for tar and file.
std::vector<std::string> artifact_dependencies(const StagedArtifact& a);

// Installs the artifacts into `tree`: every .deb in one `dpkg --root=TREE --install` run (its
// dependencies must be in the tree: artifact_dependencies()), a tarball extracted into
// /opt/<component>/ (owners not kept), a file copied to /opt/<component>/<name>.
void install_artifacts(const std::string& tree, const std::vector<StagedArtifact>& artifacts);

}  // namespace mi

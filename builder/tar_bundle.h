// A deterministic tar (optionally gzip-compressed) written through libarchive: the bundles
// that carry a disk with its metadata (the `ami` tar, the Vagrant boxes). Entries are sorted
// by name, owned by uid/gid 0 with no user or group names, dated at the given epoch, and the
// gzip header carries no time, so the same inputs give the same bytes. The tar appears by
// atomic rename.
// Flow: write_disk_format() (formats/) → cloud_outputs.cc / vagrant_box.cc → write_tar().
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace mi {

struct TarEntry {
  std::string name;  // path inside the tar ("box.img", "mi-control.ami/README")
  std::string data;  // the content, when `file` is empty
  std::string file;  // else: this file's content, streamed (a disk image)
  unsigned mode = 0644;
  bool directory = false;
};

// Writes `entries` (sorted by name here) to `out`. pax format, which is plain ustar unless an
// entry needs more (a file of 8 GiB or more, a long name). Throws mi::Error naming `out` or
// an entry's file.
void write_tar(const std::string& out, std::vector<TarEntry> entries, uint64_t epoch, bool gzip);

}  // namespace mi

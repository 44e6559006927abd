// The `tar` output: the image's root file system as one POSIX pax tar archive, written through
// libarchive, the same bytes for the same tree (container and machine importers, `machinectl
// import-tar`, `docker import`, unpacking onto a disk of one's own).
// Flow: bootstrap → components → overlays, firstboot, finalize (builder/) → the finished root
// tree → write_rootfs_tar() → out_dir (the caller commits by rename). The disk formats take the
// other branch: assemble → disk_source() → write_disk_format().
#pragma once
#include <cstdint>
#include <string>

namespace mi {

struct TarOptions {
  uint64_t epoch = 0;       // SOURCE_DATE_EPOCH: every mtime later than it is clamped to it
  std::string compression;  // "" (plain .tar; "none" too), "zstd" or "gzip"
  // "pax" (the tar), or "newc": the kernel's initramfs cpio (a live boot's /var seed, an extra
  // initrd): no xattrs or ACLs, inode numbers counted from 1 in archive order, hard links
  // written as separate copies, and `top` as the archive name of `root`.
  std::string format = "pax";
  std::string top = ".";  // newc: e.g. "mi-live/var"; its parent directories are written first
};

// Writes the directory tree `root` (the image's root file system as mibuild built it, read as
// root) as a pax tar to `path` (created or truncated, mode 0644; not renamed: the caller writes
// to a temporary name and commits). Entries: "./" for the root, then "./<path>", each
// directory's names in byte order before its subdirectories' contents (the same tree gives
// the same bytes). Kept: numeric owners and groups with the names the tree's own /etc/passwd
// and /etc/group give them (never the build host's), modes, symlinks, hard links, device
// nodes, FIFOs, file flags, xattrs (security.capability among them) and POSIX ACLs. Not kept:
// atime, ctime, sub-second mtimes; sockets are left out. Symlinks are not followed and
// mounts below `root` appear as empty directories. fsyncs before returning. Throws
// mi::Error naming `root`, the file that failed in it, or `path`.
void write_rootfs_tar(const std::string& root, const std::string& path, const TarOptions& o = {});

}  // namespace mi

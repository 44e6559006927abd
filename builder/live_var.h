// The /var seed of a disk-less boot (PXE: pxe_bundle.h; the ISO): the image's /var tree, which
// the disk carries on its own partition and the read-only root leaves empty, as a gzip'd newc
// cpio whose entries sit under mi-live/var/. Given to the kernel as a second initrd, it is
// unpacked beside the initramfs; builder/initramfs/mi-live copies it onto the fresh /var.
// Flow: image_build.cc → split_var() → write_var_seed() → the bundle.
#pragma once
#include <cstdint>
#include <string>

namespace mi {

// Writes `var_tree` (split_var's output) to `out` through a temporary name and a rename;
// mtimes clamped to `epoch`, so the same tree gives the same bytes.
void write_var_seed(const std::string& var_tree, const std::string& out, uint64_t epoch);

}  // namespace mi

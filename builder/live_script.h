// The initramfs-tools boot script of a disk-less boot (builder/initramfs/mi-live, built into
// mibuild at compile time). rootfs.cc installs it into every image as
// /etc/initramfs-tools/scripts/mi-live before update-initramfs; `boot=mi-live` selects it
// (the PXE bundle, pxe_bundle.h, and the ISO). The disk boot never runs it.
#pragma once
#include <string_view>

namespace mi {

// The script's text, byte for byte as in the repository.
std::string_view mi_live_script();

}  // namespace mi

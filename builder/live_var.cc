// The /var seed: write_rootfs_tar() in its newc form (formats/tar_writer.h), gzip'd (the
// kernel's initramfs unpacker reads gzip; the cpio's mtimes and numbers are the tree's own).
#include "builder/live_var.h"

#include "common/files.h"
#include "formats/tar_writer.h"

namespace mi {

void write_var_seed(const std::string& var_tree, const std::string& out, uint64_t epoch) {
  std::string tmp = temp_name_for(out);
  remove_stale_temporaries(out);
  TarOptions o;
  o.epoch = epoch;
  o.compression = "gzip";
  o.format = "newc";
  o.top = "mi-live/var";
  write_rootfs_tar(var_tree, tmp, o);
  commit_rename(tmp, out);
}

}  // namespace mi

// write_disk_format(): one name → one writer, written to a temporary and committed by rename.
#include "formats/disk_formats.h"

#include <cstdio>
#include <filesystem>

#include "common/endian.h"
#include "common/error.h"
#include "common/files.h"
#include "common/strings.h"
#include "formats/qcow2_writer.h"
#include "formats/raw.h"
#include "formats/vhd_writer.h"
#include "formats/vmdk_writer.h"

namespace mi {

const std::vector<std::string>& disk_formats() {
  static const std::vector<std::string> v = {"raw", "qcow2", "vmdk", "vhd"};
  return v;
}

void write_disk_format(const std::string& format, const DiskReader& disk, const std::string& path,
                       const DiskFormatOptions& o) {
  if (o.compression != "" && o.compression != "none" && o.compression != "zlib" && o.compression != "zstd")
    throw Error("compression", "unknown compression '" + o.compression + "' (valid: none, zlib, zstd)");
  remove_stale_temporaries(path);  // of a killed run
  std::string tmp = temp_name_for(path);
  std::remove(tmp.c_str());
  try {
    if (format == "raw") {
      write_raw_sparse(disk, tmp);
    } else if (format == "vhd") {
      write_vhd_fixed(disk, tmp, {o.epoch, o.uuid});
    } else if (format == "vmdk") {
      VmdkOptions v;
      v.threads = o.threads;
      v.file_name = std::filesystem::path(path).filename().string();
      v.cid = get_le32(o.uuid.data());  // stable per image; never one of the two reserved values
      if (v.cid >= 0xfffffffeu || v.cid == 0) v.cid = 1;
      write_vmdk_stream_optimized(disk, tmp, v);
    } else if (format == "qcow2") {
      write_qcow2(disk, tmp, {o.compression == "none" ? "" : o.compression, o.threads});
    } else {
      throw Error("format", "unknown disk format '" + format + "' (valid: " + join(disk_formats(), ", ") + ")");
    }
  } catch (...) {
    std::remove(tmp.c_str());
    throw;
  }
  commit_rename(tmp, path);  // fsyncs the file, renames, fsyncs the directory
}

}  // namespace mi

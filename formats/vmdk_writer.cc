// streamOptimized VMDK writer: the byte layout (header, descriptor, markers, grain tables,
// grain directory, footer) and the ordered parallel deflate of the grains it streams.
//
// File layout, in 512-byte sectors:
//   0          sparse extent header, gdOffset = GD_AT_END (the footer has the real one)
//   1 .. 20    embedded descriptor (zero padded)
//   128 ..     grains in disk order: grain marker {lba, size} + zlib stream, padded to a sector;
//              after the last grain of each 32 MiB span, its grain table (GT marker + 4 sectors)
//   then       GD marker + grain directory, footer marker + footer, end-of-stream marker
// All-zero grains are not written (their grain table entry is 0), and neither is a grain
// table whose entries would all be 0 (its grain directory entry is 0), as VMware's own
// stream-optimized disks do; qemu and VirtualBox read both as zeros.
#include "formats/vmdk_writer.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

#include "common/endian.h"
#include "common/error.h"

namespace mi {
namespace {

constexpr uint64_t kSectorBytes = 512;
constexpr uint64_t kGrainSectors = 128;  // grainSize: 64 KiB grains
constexpr uint64_t kGrainBytes = kGrainSectors * kSectorBytes;
constexpr uint32_t kGtEntries = 512;  // numGTEsPerGT: one grain table covers 32 MiB
constexpr uint64_t kGtSectors = kGtEntries * 4 / kSectorBytes;
constexpr uint64_t kDescriptorOffset = 1;  // sectors
constexpr uint64_t kDescriptorSectors = 20;
constexpr uint64_t kOverhead = 128;  // sectors before the first grain (header + descriptor, grain aligned)
constexpr uint64_t kGdAtEnd = ~uint64_t(0);
constexpr uint32_t kFlagNewlineDetect = 1u << 0;
constexpr uint32_t kFlagCompressed = 1u << 16;
constexpr uint32_t kFlagMarkers = 1u << 17;
constexpr uint16_t kCompressDeflate = 1;
constexpr uint32_t kMarkerEos = 0, kMarkerGt = 1, kMarkerGd = 2, kMarkerFooter = 3;
constexpr size_t kGrainMarkerBytes = 12;  // lba (8) + size (4), then the compressed data
constexpr int kDeflateLevel = 6;          // zlib's default, what qemu's compress() uses
constexpr uint32_t kDefaultCid = 1;       // when the caller gives none

uint64_t round_up(uint64_t n, uint64_t to) { return (n + to - 1) / to * to; }

// The SparseExtentHeader (header and footer): every field little-endian at its spec offset.
std::vector<uint8_t> sparse_header(uint64_t capacity, uint64_t gd_offset) {
  std::vector<uint8_t> h(kSectorBytes);
  memcpy(h.data(), "KDMV", 4);  // magicNumber 0x564d444b, little-endian
  put_le32(&h[4], 3);           // version 3: stream-optimized
  put_le32(&h[8], kFlagNewlineDetect | kFlagCompressed | kFlagMarkers);
  put_le64(&h[12], capacity);  // sectors
  put_le64(&h[20], kGrainSectors);
  put_le64(&h[28], kDescriptorOffset);
  put_le64(&h[36], kDescriptorSectors);
  put_le32(&h[44], kGtEntries);
  put_le64(&h[48], 0);  // rgdOffset: no redundant grain directory
  put_le64(&h[56], gd_offset);
  put_le64(&h[64], kOverhead);
  h[72] = 0;  // uncleanShutdown
  h[73] = '\n';
  h[74] = ' ';
  h[75] = '\r';
  h[76] = '\n';
  put_le16(&h[77], kCompressDeflate);
  return h;
}

// A metadata marker sector: {numSectors of what follows, size 0, type}, zero padded.
std::vector<uint8_t> marker(uint64_t num_sectors, uint32_t type) {
  std::vector<uint8_t> m(kSectorBytes);
  put_le64(&m[0], num_sectors);
  put_le32(&m[8], 0);
  put_le32(&m[12], type);
  return m;
}

// The embedded descriptor. Geometry as VMware writes it: 16 heads on IDE, 255 on SCSI, 63
// sectors per track, cylinders rounded up (capped at 16383 on IDE, 65535 on SCSI).
std::string descriptor(uint64_t capacity, uint32_t cid, const std::string& adapter, const std::string& name) {
  uint64_t heads = adapter == "ide" ? 16 : 255, max_cylinders = adapter == "ide" ? 16383 : 65535;
  uint64_t cylinders = std::min((capacity + heads * 63 - 1) / (heads * 63), max_cylinders);
  char id[16];
  snprintf(id, sizeof id, "%08x", cid);
  std::string d;
  d += "# Disk DescriptorFile\n";
  d += "version=1\n";
  d += "encoding=\"UTF-8\"\n";
  d += "CID=" + std::string(id) + "\n";  // before parentCID: qemu takes the first "CID"
  d += "parentCID=ffffffff\n";
  d += "createType=\"streamOptimized\"\n";
  d += "\n";
  d += "# Extent description\n";
  d += "RW " + std::to_string(capacity) + " SPARSE \"" + name + "\"\n";
  d += "\n";
  d += "# The Disk Data Base\n";
  d += "#DDB\n";
  d += "\n";
  d += "ddb.virtualHWVersion = \"4\"\n";
  d += "ddb.geometry.cylinders = \"" + std::to_string(cylinders) + "\"\n";
  d += "ddb.geometry.heads = \"" + std::to_string(heads) + "\"\n";
  d += "ddb.geometry.sectors = \"63\"\n";
  d += "ddb.adapterType = \"" + adapter + "\"\n";
  return d;
}

// Grain `g` of the disk as it goes into the file: grain marker + zlib stream (RFC 1950, as
// vmdk.c's compress()/uncompress()), zero padded to a sector; empty when the grain is all zero.
// The last grain of a disk that is not a whole number of grains is deflated zero-filled to 64 KiB.
std::vector<uint8_t> grain_record(const DiskReader& disk, uint64_t g, std::vector<uint8_t>& raw) {
  uint64_t off = g * kGrainBytes, n = std::min(kGrainBytes, disk.size() - off);
  disk.read(off, n, raw.data());
  memset(raw.data() + n, 0, kGrainBytes - n);
  if (is_zero(raw.data(), kGrainBytes)) return {};
  uLongf len = compressBound(kGrainBytes);
  std::vector<uint8_t> rec(kGrainMarkerBytes + len);
  int r = compress2(rec.data() + kGrainMarkerBytes, &len, raw.data(), kGrainBytes, kDeflateLevel);
  if (r != Z_OK)
    throw Error("vmdk", "deflate of the grain at byte " + std::to_string(off) + ": zlib error " + std::to_string(r));
  put_le64(rec.data(), g * kGrainSectors);  // lba: the grain's first sector on the disk
  put_le32(rec.data() + 8, uint32_t(len));
  rec.resize(round_up(kGrainMarkerBytes + len, kSectorBytes));  // the tail past `len` stays zero
  return rec;
}

// Deflates grains on `threads` workers; results come back in submission order. At most
// `window` grains are in flight (submitted and not yet taken), so memory stays bounded.
class Deflater {
 public:
  struct Grain {
    uint64_t index = 0;
    std::vector<uint8_t> record;  // empty: all zero
  };

  Deflater(const DiskReader& disk, int threads, size_t window) : disk_(disk), slots_(window) {
    for (int i = 0; i < threads; i++) workers_.emplace_back([this] { work(); });
  }
  ~Deflater() {
    {
      std::lock_guard lk(m_);
      stop_ = true;
    }
    work_cv_.notify_all();
    for (auto& t : workers_) t.join();
  }
  Deflater(const Deflater&) = delete;
  Deflater& operator=(const Deflater&) = delete;

  size_t in_flight() const { return size_t(head_ - tail_); }
  size_t window() const { return slots_.size(); }

  // Precondition: in_flight() < window().
  void submit(uint64_t grain) {
    {
      std::lock_guard lk(m_);
      Slot& s = slots_[head_ % slots_.size()];
      s = Slot{};
      s.grain = grain;
      head_++;
    }
    work_cv_.notify_one();
  }

  // The oldest submitted grain, once deflated (rethrows a worker's error). Precondition: in_flight() > 0.
  Grain take() {
    std::unique_lock lk(m_);
    Slot& s = slots_[tail_ % slots_.size()];
    done_cv_.wait(lk, [&] { return s.done; });
    tail_++;
    if (s.error) std::rethrow_exception(s.error);
    return Grain{s.grain, std::move(s.record)};
  }

 private:
  struct Slot {
    uint64_t grain = 0;
    bool done = false;
    std::vector<uint8_t> record;
    std::exception_ptr error;
  };

  void work() {
    std::vector<uint8_t> raw(kGrainBytes);
    for (;;) {
      uint64_t seq, grain;
      {
        std::unique_lock lk(m_);
        work_cv_.wait(lk, [&] { return stop_ || claimed_ < head_; });
        if (stop_) return;
        seq = claimed_++;
        grain = slots_[seq % slots_.size()].grain;
      }
      std::vector<uint8_t> rec;
      std::exception_ptr err;
      try {
        rec = grain_record(disk_, grain, raw);
      } catch (...) {
        err = std::current_exception();
      }
      {
        std::lock_guard lk(m_);
        Slot& s = slots_[seq % slots_.size()];  // not reused before take() of seq
        s.record = std::move(rec);
        s.error = err;
        s.done = true;
      }
      done_cv_.notify_all();
    }
  }

  const DiskReader& disk_;
  std::mutex m_;
  std::condition_variable work_cv_, done_cv_;
  std::vector<Slot> slots_;
  uint64_t head_ = 0;     // grains submitted
  uint64_t claimed_ = 0;  // grains a worker took up
  uint64_t tail_ = 0;     // grains taken back (head_/tail_ are only changed by the caller's thread)
  bool stop_ = false;
  std::vector<std::thread> workers_;
};

// The output file, written front to back through a buffer; pos() is the byte offset of the
// next byte.
class Output {
 public:
  explicit Output(const std::string& path) : path_(path) {
    fd_ = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) throw Error(path, std::string("create: ") + strerror(errno));
    buf_.reserve(kBuffer);
  }
  ~Output() {
    if (fd_ >= 0) close(fd_);
  }
  Output(const Output&) = delete;
  Output& operator=(const Output&) = delete;

  uint64_t pos() const { return pos_; }
  // pos() in sectors, as a 32-bit grain table / directory entry.
  uint32_t sector32() const {
    if (pos_ / kSectorBytes > UINT32_MAX) throw Error(path_, "VMDK larger than 2 TiB (32-bit sector offsets)");
    return uint32_t(pos_ / kSectorBytes);
  }
  void put(const std::vector<uint8_t>& b) { put(b.data(), b.size()); }
  void put(const uint8_t* p, size_t n) {
    buf_.insert(buf_.end(), p, p + n);
    pos_ += n;
    if (buf_.size() >= kBuffer) flush();
  }
  void pad_to(uint64_t offset) {
    std::vector<uint8_t> zeros(offset - pos_);
    put(zeros);
  }
  // Writes out the buffer, fsyncs and closes.
  void finish() {
    flush();
    if (fsync(fd_) != 0) throw Error(path_, std::string("fsync: ") + strerror(errno));
    int fd = fd_;
    fd_ = -1;
    if (close(fd) != 0) throw Error(path_, std::string("close: ") + strerror(errno));
  }

 private:
  static constexpr size_t kBuffer = 1 << 20;
  void flush() {
    size_t off = 0;
    while (off < buf_.size()) {
      ssize_t w = write(fd_, buf_.data() + off, buf_.size() - off);
      if (w < 0) {
        if (errno == EINTR) continue;
        throw Error(path_, std::string("write: ") + strerror(errno));
      }
      off += size_t(w);
    }
    buf_.clear();
  }
  std::string path_;
  int fd_ = -1;
  std::vector<uint8_t> buf_;
  uint64_t pos_ = 0;
};

void put_le32_table(Output& out, const std::vector<uint32_t>& t, uint64_t sectors) {
  std::vector<uint8_t> b(sectors * kSectorBytes);
  for (size_t i = 0; i < t.size(); i++) put_le32(&b[i * 4], t[i]);
  out.put(b);
}

}  // namespace

void write_vmdk_stream_optimized(const DiskReader& disk, const std::string& path, const VmdkOptions& o) {
  static const char* adapters[] = {"ide", "buslogic", "lsilogic", "legacyESX"};
  if (std::find(std::begin(adapters), std::end(adapters), o.adapter) == std::end(adapters))
    throw Error("vmdk adapter", "'" + o.adapter + "' is not one of ide, buslogic, lsilogic, legacyESX");
  std::string name = o.file_name.empty() ? std::filesystem::path(path).filename().string() : o.file_name;
  if (name.empty() || std::any_of(name.begin(), name.end(),
                                  [](char c) { return c == '"' || c == '/' || uint8_t(c) < 0x20 || c == 0x7f; }))
    throw Error("vmdk file name", "'" + name + "' must be a non-empty base name without quotes or control characters");
  if (disk.size() == 0 || disk.size() % kSectorBytes)
    throw Error(path, "disk size " + std::to_string(disk.size()) + " is not a positive multiple of 512");

  uint64_t capacity = disk.size() / kSectorBytes;
  uint64_t grains = (capacity + kGrainSectors - 1) / kGrainSectors;
  uint64_t gts = (grains + kGtEntries - 1) / kGtEntries;
  uint64_t gd_sectors = (gts * 4 + kSectorBytes - 1) / kSectorBytes;
  if (o.cid == 0xffffffff || o.cid == 0xfffffffe)
    throw Error("vmdk cid",
                "ffffffff and fffffffe are avoided: some software reads them as no parent / an all-zero disk");
  std::string desc = descriptor(capacity, o.cid ? o.cid : kDefaultCid, o.adapter, name);
  if (desc.size() > kDescriptorSectors * kSectorBytes) throw Error(path, "descriptor longer than 20 sectors");

  Output out(path);
  out.put(sparse_header(capacity, kGdAtEnd));
  out.put(reinterpret_cast<const uint8_t*>(desc.data()), desc.size());
  out.pad_to(kOverhead * kSectorBytes);

  std::vector<uint32_t> gd(gts, 0), gt(kGtEntries, 0);
  uint64_t gt_index = 0;
  bool gt_used = false;
  auto flush_gt = [&] {
    if (!gt_used) return;  // all zero: no table, directory entry 0
    out.put(marker(kGtSectors, kMarkerGt));
    gd[gt_index] = out.sector32();
    put_le32_table(out, gt, kGtSectors);
    std::fill(gt.begin(), gt.end(), 0);
    gt_used = false;
  };
  auto put_grain = [&](Deflater::Grain g) {
    if (g.record.empty()) return;
    if (g.index / kGtEntries != gt_index) {
      flush_gt();
      gt_index = g.index / kGtEntries;
    }
    gt[g.index % kGtEntries] = out.sector32();
    gt_used = true;
    out.put(g.record);
  };

  int threads = o.threads > 0 ? o.threads : int(std::max(1u, std::thread::hardware_concurrency()));
  {
    Deflater deflater(disk, threads, size_t(threads) * 4);
    uint64_t next = 0;  // the first grain not yet submitted
    for (auto [off, len] : disk.data_ranges()) {
      uint64_t end = std::min(grains, (off + len + kGrainBytes - 1) / kGrainBytes);
      for (uint64_t g = std::max(next, off / kGrainBytes); g < end; g++) {
        if (deflater.in_flight() == deflater.window()) put_grain(deflater.take());
        deflater.submit(g);
      }
      next = std::max(next, end);
    }
    while (deflater.in_flight()) put_grain(deflater.take());
  }
  flush_gt();

  out.put(marker(gd_sectors, kMarkerGd));
  uint64_t gd_offset = out.pos() / kSectorBytes;
  put_le32_table(out, gd, gd_sectors);
  out.put(marker(1, kMarkerFooter));
  out.put(sparse_header(capacity, gd_offset));
  out.put(marker(0, kMarkerEos));
  out.finish();
}

}  // namespace mi

// The streaming qcow2 v3 writer (spec: qemu's docs/interop/qcow2.txt). Its file, in order:
//   cluster 0      header (112 bytes), then the end of the header extensions
//   clusters 1..   L1 table (absent for an empty disk)
//   then           one L2 table for each L1 entry whose range meets a data range of the disk,
//                  placed before any data is read; an L2 whose clusters all read zero is left
//                  out of L1 (an unreferenced hole, refcount 0)
//   then           the non-zero guest clusters in disk order: uncompressed, one host cluster
//                  each; compressed, packed byte-wise as qemu packs them (a compressed cluster
//                  may run on into the next host cluster when that is the next free one, and a
//                  later one may fill the tail of an earlier, partly used host cluster)
//   then           refcount blocks and the refcount table, sized for the whole file once the
//                  data is placed.
// Refcounts (16 bits): 1 for the header, L1, used L2 tables, the refcount structures and each
// uncompressed data cluster; a host cluster with compressed data counts once for each compressed
// cluster whose bytes touch it (how qemu allocates them and how qemu-img check counts them).
#include "formats/qcow2_writer.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "common/endian.h"
#include "common/error.h"
#include "common/files.h"

namespace mi {
namespace {

constexpr uint32_t kMagic = 0x514649fb;       // "QFI\xfb"
constexpr uint32_t kHeaderLength = 112;       // v3 fields through compression_type (104), padded to 8
constexpr uint64_t kCopied = 1ull << 63;      // L1/L2 entry: refcount exactly one
constexpr uint64_t kCompressed = 1ull << 62;  // L2 entry: compressed cluster descriptor
constexpr uint64_t kZstdFeature = 1ull << 3;  // incompatible feature: compression_type non-zero
constexpr uint64_t kMaxL1Bytes = 32 << 20;    // qemu's limit on the L1 table

uint64_t div_up(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

// One worker's compressor: a cluster in, its compressed bytes out when they are fewer than a
// cluster (qemu's rule; otherwise the cluster is stored as it is). zlib is raw deflate with a
// 4 KiB window (windowBits -12), as qemu writes and reads it; zstd is one standard frame, which
// qemu's streaming decoder reads until it has a whole cluster.
class Compressor {
 public:
  Compressor(const std::string& type, size_t cluster_size) : zstd_(type == "zstd"), limit_(cluster_size - 1) {
    if (zstd_) {
      zctx_ = ZSTD_createCCtx();
      if (!zctx_) throw Error("zstd", "cannot create a compression context");
    } else {
      if (deflateInit2(&z_, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -12, 9, Z_DEFAULT_STRATEGY) != Z_OK)
        throw Error("zlib", "deflateInit2 failed");
      z_init_ = true;
    }
  }
  ~Compressor() {
    if (zctx_) ZSTD_freeCCtx(zctx_);
    if (z_init_) deflateEnd(&z_);
  }
  Compressor(const Compressor&) = delete;
  Compressor& operator=(const Compressor&) = delete;

  bool compress(const uint8_t* in, size_t n, std::vector<uint8_t>& out) {
    out.resize(limit_);
    if (zstd_) {
      size_t r = ZSTD_compress2(zctx_, out.data(), out.size(), in, n);
      if (ZSTD_isError(r)) {
        if (ZSTD_getErrorCode(r) == ZSTD_error_dstSize_tooSmall) return false;
        throw Error("zstd", ZSTD_getErrorName(r));
      }
      out.resize(r);
      return true;
    }
    if (deflateReset(&z_) != Z_OK) throw Error("zlib", "deflateReset failed");
    z_.next_in = const_cast<Bytef*>(in);
    z_.avail_in = uInt(n);
    z_.next_out = out.data();
    z_.avail_out = uInt(out.size());
    int r = deflate(&z_, Z_FINISH);
    if (r == Z_STREAM_END) {
      out.resize(out.size() - z_.avail_out);
      return true;
    }
    if (r == Z_OK || r == Z_BUF_ERROR) return false;  // did not fit
    throw Error("zlib", "deflate failed (" + std::to_string(r) + ")");
  }

 private:
  bool zstd_;
  size_t limit_;
  ZSTD_CCtx* zctx_ = nullptr;
  z_stream z_{};
  bool z_init_ = false;
};

// The guest clusters that meet a data range, in order, each once: the only ones read.
class Candidates {
 public:
  Candidates(const std::vector<std::pair<uint64_t, uint64_t>>& ranges, int cluster_bits)
      : ranges_(ranges), bits_(cluster_bits) {}
  bool next(uint64_t& cluster) {
    for (; i_ < ranges_.size(); i_++) {
      auto [off, len] = ranges_[i_];
      if (len == 0) continue;
      uint64_t from = std::max(off >> bits_, pos_), last = (off + len - 1) >> bits_;
      if (from <= last) {
        cluster = from;
        pos_ = from + 1;
        return true;
      }
    }
    return false;
  }

 private:
  const std::vector<std::pair<uint64_t, uint64_t>>& ranges_;
  int bits_;
  size_t i_ = 0;
  uint64_t pos_ = 0;  // the first cluster not yet given
};

// One guest cluster as a worker leaves it.
struct Cluster {
  uint64_t index = 0;           // guest cluster number
  std::vector<uint8_t> data;    // its bytes, zeros past the disk's end
  std::vector<uint8_t> packed;  // its compressed bytes when `compressed`
  bool zero = false, compressed = false, done = false;
  std::exception_ptr error;
};

// Reads (and compresses) clusters on `threads` workers and hands them back in the order they
// were submitted, with at most 4 per worker in flight (memory stays bounded).
class ClusterPipeline {
 public:
  ClusterPipeline(const DiskReader& disk, const std::string& compression, int cluster_bits, int threads)
      : disk_(disk), bits_(cluster_bits), slots_(size_t(threads) * 4) {
    try {
      for (int i = 0; i < threads; i++) workers_.emplace_back([this, compression] { work(compression); });
    } catch (...) {
      stop();
      throw;
    }
  }
  ~ClusterPipeline() { stop(); }
  ClusterPipeline(const ClusterPipeline&) = delete;
  ClusterPipeline& operator=(const ClusterPipeline&) = delete;

  bool full() const { return submitted_ - taken_ == slots_.size(); }
  bool empty() const { return submitted_ == taken_; }

  void submit(uint64_t index) {
    size_t slot = submitted_ % slots_.size();
    {
      std::lock_guard<std::mutex> l(mu_);
      slots_[slot].index = index;
      slots_[slot].done = false;
      slots_[slot].error = nullptr;
      queue_.push_back(slot);
    }
    submitted_++;
    work_cv_.notify_one();
  }

  // The oldest submitted cluster once done (its error rethrown); valid until the next submit().
  const Cluster& take() {
    Cluster& c = slots_[taken_ % slots_.size()];
    {
      std::unique_lock<std::mutex> l(mu_);
      done_cv_.wait(l, [&] { return c.done; });
    }
    taken_++;
    if (c.error) std::rethrow_exception(c.error);
    return c;
  }

 private:
  void stop() {
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;
    }
    work_cv_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

  void work(const std::string& compression) {
    std::unique_ptr<Compressor> comp;
    std::exception_ptr init_error;
    try {
      if (!compression.empty()) comp = std::make_unique<Compressor>(compression, size_t(1) << bits_);
    } catch (...) {
      init_error = std::current_exception();
    }
    for (;;) {
      size_t slot;
      {
        std::unique_lock<std::mutex> l(mu_);
        work_cv_.wait(l, [&] { return stop_ || !queue_.empty(); });
        if (stop_) return;
        slot = queue_.front();
        queue_.pop_front();
      }
      Cluster& c = slots_[slot];
      try {
        if (init_error) std::rethrow_exception(init_error);
        fill(c, comp.get());
      } catch (...) {
        c.error = std::current_exception();
      }
      {
        std::lock_guard<std::mutex> l(mu_);
        c.done = true;
      }
      done_cv_.notify_all();
    }
  }

  void fill(Cluster& c, Compressor* comp) const {
    size_t cs = size_t(1) << bits_;
    c.data.resize(cs);
    uint64_t off = c.index << bits_, n = std::min<uint64_t>(cs, disk_.size() - off);
    disk_.read(off, n, c.data.data());
    if (n < cs) memset(c.data.data() + n, 0, cs - n);
    c.zero = is_zero(c.data.data(), cs);
    c.compressed = !c.zero && comp && comp->compress(c.data.data(), cs, c.packed);
  }

  const DiskReader& disk_;
  int bits_;
  std::vector<Cluster> slots_;
  uint64_t submitted_ = 0, taken_ = 0;  // main thread only
  std::mutex mu_;
  std::condition_variable work_cv_, done_cv_;
  std::deque<size_t> queue_;
  bool stop_ = false;
  std::vector<std::thread> workers_;
};

// The file being written: places clusters as they come (in guest order), keeps the current L2
// table, L1 and the refcounts, and writes the metadata at the end.
class Image {
 public:
  Image(int fd, const std::string& path, const DiskReader& disk, const Qcow2Options& o)
      : fd_(fd), path_(path), size_(disk.size()), bits_(o.cluster_bits), zstd_(o.compression == "zstd") {
    cs_ = uint64_t(1) << bits_;
    l2_entries_ = cs_ / 8;
    uint64_t l1_size = div_up(div_up(size_, cs_), l2_entries_);
    if (l1_size * 8 > kMaxL1Bytes)
      throw Error(path_, "a disk of " + std::to_string(size_) + " bytes needs an L1 table larger than qemu's 32 MiB " +
                             "with cluster_bits " + std::to_string(bits_));
    l1_.assign(l1_size, 0);
    l1_clusters_ = div_up(l1_size * 8, cs_);
    l2_.assign(cs_, 0);
    // An L2 table for each L1 entry whose range meets a data range, in disk order.
    l2_host_.assign(l1_size, 0);
    next_ = 1 + l1_clusters_;
    for (auto [off, len] : disk.data_ranges()) {
      if (len == 0) continue;
      for (uint64_t i = (off >> bits_) / l2_entries_; i <= ((off + len - 1) >> bits_) / l2_entries_; i++)
        if (!l2_host_[i]) l2_host_[i] = next_++;
    }
    refs_.assign(next_, 0);
    for (uint64_t c = 0; c < 1 + l1_clusters_; c++) ref(c);  // header, L1
  }

  void add(const Cluster& c) {
    uint64_t l1 = c.index / l2_entries_;
    if (l1 != cur_l1_) {
      flush_l2();
      cur_l1_ = l1;
      std::fill(l2_.begin(), l2_.end(), 0);
      l2_used_ = false;
    }
    if (c.zero) return;
    if (!l2_host_[l1]) throw Error(path_, "internal: no L2 table placed for cluster " + std::to_string(c.index));
    uint64_t entry;
    if (c.compressed) {
      uint64_t off = place_compressed(c.packed), offset_bits = 62 - uint64_t(bits_ - 8);
      if (off >> offset_bits) throw Error(path_, "compressed data past what a descriptor can address");
      uint64_t more_sectors = ((off + c.packed.size() - 1) >> 9) - (off >> 9);
      entry = kCompressed | more_sectors << offset_bits | off;
    } else {
      uint64_t host = next_++;
      ref(host);
      pwrite_all(fd_, c.data.data(), cs_, host << bits_, path_);
      entry = kCopied | host << bits_;
    }
    put_be64(&l2_[(c.index % l2_entries_) * 8], entry);
    l2_used_ = true;
  }

  // The last L2 table, the refcount blocks and table, L1, and the header.
  void finish() {
    flush_l2();
    // Refcount blocks at clusters n.., then the table: enough blocks for every cluster of the
    // file, themselves and the table included; enough table for the blocks.
    uint64_t n = next_, per_block = cs_ * 8 / 16, per_table_cluster = cs_ / 8, blocks = 0, table = 0;
    for (;;) {
      uint64_t b = div_up(n + blocks + table, per_block), t = div_up(b, per_table_cluster);
      if (b == blocks && t == table) break;
      blocks = b;
      table = t;
    }
    for (uint64_t c = n; c < n + blocks + table; c++) ref(c);
    std::vector<uint8_t> buf(cs_);
    for (uint64_t b = 0; b < blocks; b++) {
      std::fill(buf.begin(), buf.end(), 0);
      for (uint64_t j = 0; j < per_block && b * per_block + j < refs_.size(); j++)
        put_be16(&buf[j * 2], refs_[b * per_block + j]);
      pwrite_all(fd_, buf.data(), cs_, (n + b) << bits_, path_);
    }
    std::vector<uint8_t> rt(table * cs_, 0);
    for (uint64_t b = 0; b < blocks; b++) put_be64(&rt[b * 8], (n + b) << bits_);
    pwrite_all(fd_, rt.data(), rt.size(), (n + blocks) << bits_, path_);

    std::vector<uint8_t> l1(l1_clusters_ * cs_, 0);
    for (size_t i = 0; i < l1_.size(); i++) put_be64(&l1[i * 8], l1_[i]);
    pwrite_all(fd_, l1.data(), l1.size(), cs_, path_);

    uint8_t h[kHeaderLength + 8] = {};  // the rest of cluster 0 stays zero (a hole)
    put_be32(&h[0], kMagic);
    put_be32(&h[4], 3);  // version; backing file offset (8) and size (16) stay 0
    put_be32(&h[20], uint32_t(bits_));
    put_be64(&h[24], size_);
    put_be32(&h[32], 0);  // crypt_method: none
    put_be32(&h[36], uint32_t(l1_.size()));
    put_be64(&h[40], l1_.empty() ? 0 : cs_);
    put_be64(&h[48], (n + blocks) << bits_);
    put_be32(&h[56], uint32_t(table));
    put_be32(&h[60], 0);  // nb_snapshots; snapshots_offset (64) stays 0
    put_be64(&h[72], zstd_ ? kZstdFeature : 0);
    put_be64(&h[80], 0);  // compatible features
    put_be64(&h[88], 0);  // autoclear features
    put_be32(&h[96], 4);  // refcount_order: 16-bit refcounts
    put_be32(&h[100], kHeaderLength);
    h[104] = zstd_ ? 1 : 0;  // compression_type, then zero padding to 112
    // 112: header extension type 0, length 0 (the end of the extensions): zeros already.
    pwrite_all(fd_, h, sizeof h, 0, path_);
  }

 private:
  void ref(uint64_t cluster) {
    if (cluster >= refs_.size()) refs_.resize(cluster + 1, 0);
    if (refs_[cluster] == 0xffff)
      throw Error(path_, "internal: refcount of cluster " + std::to_string(cluster) + " overflows");
    refs_[cluster]++;
  }

  void flush_l2() {
    if (cur_l1_ == kNone || !l2_used_) return;
    uint64_t host = l2_host_[cur_l1_];
    pwrite_all(fd_, l2_.data(), cs_, host << bits_, path_);
    ref(host);
    l1_[cur_l1_] = kCopied | host << bits_;
  }

  // Where the compressed bytes go: the tail of the open host cluster if they fit there, or
  // running on into the next free cluster if that follows it; otherwise a new host cluster.
  // Every host cluster they touch gains a reference.
  uint64_t place_compressed(const std::vector<uint8_t>& p) {
    if (tail_) {
      uint64_t tc = tail_ >> bits_;
      bool fits = tail_ + p.size() <= (tc + 1) << bits_, runs_on = tc + 1 == next_;
      if (refs_[tc] == 0xffff || (!fits && !runs_on)) tail_ = 0;
    }
    uint64_t off = tail_ ? tail_ : next_ << bits_, end = off + p.size();
    next_ = std::max(next_, ((end - 1) >> bits_) + 1);
    for (uint64_t c = off >> bits_; c <= (end - 1) >> bits_; c++) ref(c);
    pwrite_all(fd_, p.data(), p.size(), off, path_);
    tail_ = (end & (cs_ - 1)) ? end : 0;
    return off;
  }

  static constexpr uint64_t kNone = ~uint64_t(0);
  int fd_;
  std::string path_;
  uint64_t size_;
  int bits_;
  bool zstd_;
  uint64_t cs_ = 0, l2_entries_ = 0, l1_clusters_ = 0;
  std::vector<uint64_t> l1_;       // entries, written at the end
  std::vector<uint64_t> l2_host_;  // per L1 entry: the host cluster placed for its L2 table, 0: none
  std::vector<uint8_t> l2_;        // the current L2 table (big-endian entries)
  uint64_t cur_l1_ = kNone;
  bool l2_used_ = false;
  std::vector<uint16_t> refs_;  // per host cluster
  uint64_t next_ = 0;           // the next free host cluster
  uint64_t tail_ = 0;           // byte offset where compressed data continues; 0: no cluster open
};

}  // namespace

void write_qcow2(const DiskReader& disk, const std::string& path, const Qcow2Options& o) {
  if (o.compression != "" && o.compression != "zlib" && o.compression != "zstd")
    throw Error("compression", "'" + o.compression + "' is not one of none, zlib, zstd");
  if (o.cluster_bits < 9 || o.cluster_bits > 21)
    throw Error("cluster_bits", std::to_string(o.cluster_bits) + " is not between 9 (512 bytes) and 21 (2 MiB)");
  if (o.threads < 0) throw Error("threads", std::to_string(o.threads) + " is negative");
  int threads = o.threads ? o.threads : int(std::max(1u, std::thread::hardware_concurrency()));

  UniqueFd out = create_file(path);
  Image image(out.fd, path, disk, o);
  {
    ClusterPipeline pipe(disk, o.compression, o.cluster_bits, threads);
    Candidates candidates(disk.data_ranges(), o.cluster_bits);
    bool more = true;
    for (;;) {
      uint64_t c;
      while (more && !pipe.full()) {
        if ((more = candidates.next(c))) pipe.submit(c);
      }
      if (pipe.empty()) break;
      image.add(pipe.take());
    }
  }
  image.finish();
  fsync_or_throw(out.fd, path);
  int fd = out.fd;
  out.fd = -1;
  if (close(fd) != 0) throw Error(path, std::string("close: ") + strerror(errno));
}

}  // namespace mi

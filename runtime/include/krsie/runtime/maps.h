#pragma once
// Kernel BPF maps by file descriptor: maps of a loaded object (borrowed, duplicated fd) and maps
// reopened from their bpffs pins by a later krsie-load. Raw bytes in, raw bytes out; the ABI
// meaning of keys and values lives in generation.h.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

namespace krsie::runtime {

using Bytes = std::vector<std::uint8_t>;

// An owned file descriptor (closed once).
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd();
  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_ = -1;
};

struct MapInfo {
  std::string name;  // as the kernel stores it (truncated to 15 bytes)
  std::uint32_t id = 0;
  std::uint32_t type = 0;
  std::uint32_t key_size = 0;
  std::uint32_t value_size = 0;
  std::uint32_t max_entries = 0;
  std::uint32_t flags = 0;
};

// The values of an array map created with BPF_F_MMAPABLE, mapped into this process (munmap at
// destruction): element i at i * stride. Stores here are plain memory writes, visible to BPF
// programs like an update's (no system call per element).
class MappedValues {
 public:
  MappedValues(void* base, std::size_t length, std::size_t stride, std::uint32_t count)
      : base_(static_cast<std::uint8_t*>(base)), length_(length), stride_(stride), count_(count) {}
  MappedValues(const MappedValues&) = delete;
  MappedValues& operator=(const MappedValues&) = delete;
  ~MappedValues();
  std::uint32_t count() const { return count_; }
  std::size_t stride() const { return stride_; }
  // Element `index` (< count()).
  std::span<std::uint8_t> at(std::uint32_t index) const { return {base_ + std::size_t{index} * stride_, stride_}; }
  // Zeroes elements [first, first + n) (clamped to count()).
  void zero(std::uint32_t first, std::uint32_t n) const;

 private:
  std::uint8_t* base_;
  std::size_t length_, stride_;
  std::uint32_t count_;
};

class MapHandle {
 public:
  // The map pinned at `path` (BPF_OBJ_GET). Throws RuntimeError naming the path.
  static MapHandle open_pinned(const std::string& path, const std::string& label);
  // A duplicate of `fd` (the caller keeps its own).
  static MapHandle from_fd(int fd, const std::string& label);

  const std::string& label() const { return label_; }
  const MapInfo& info() const { return info_; }
  int fd() const { return fd_.get(); }

  // Inserts or replaces; sizes must match the map's key and value sizes.
  void update(std::span<const std::uint8_t> key, std::span<const std::uint8_t> value);
  // Whole value of `key` (per-CPU maps: every CPU's value, each padded to 8 bytes).
  std::optional<Bytes> lookup(std::span<const std::uint8_t> key) const;
  // Deletes `key`; false when it was absent.
  bool erase(std::span<const std::uint8_t> key);
  // Every key (a snapshot; hash and LPM maps). Hash maps are listed in batches.
  std::vector<Bytes> keys() const;
  // Deletes every key that is present (absent ones are skipped); hash maps in one batch.
  void erase_many(const std::vector<Bytes>& keys);
  // Updates `count` entries, keys and values each concatenated, at once where the kernel supports
  // it (array and hash maps), else one by one.
  void update_batch(const Bytes& keys, const Bytes& values, std::size_t count);
  void pin(const std::string& path) const;
  // The values as memory when this is an array map with BPF_F_MMAPABLE (mapped on first use, kept
  // while the handle lives), else nullptr (the caller updates through system calls).
  const MappedValues* values_mapped();

  template <typename K, typename V>
  void put(const K& key, const V& value) {
    update(std::span(reinterpret_cast<const std::uint8_t*>(&key), sizeof key),
           std::span(reinterpret_cast<const std::uint8_t*>(&value), sizeof value));
  }
  template <typename K, typename V>
  bool get(const K& key, V& value) const {
    auto v = lookup(std::span(reinterpret_cast<const std::uint8_t*>(&key), sizeof key));
    if (!v || v->size() < sizeof value) return false;
    std::memcpy(&value, v->data(), sizeof value);
    return true;
  }

 private:
  MapHandle(Fd fd, std::string label);
  std::optional<std::vector<Bytes>> keys_batched() const;
  Fd fd_;
  std::string label_;
  MapInfo info_;
  std::shared_ptr<MappedValues> mapped_;
  bool map_tried_ = false;
};

// Number of possible CPUs (size of a per-CPU map value array).
int possible_cpus();

// Blocks until every BPF program that was running when it was called has finished (an RCU grace
// period, triggered through a map-in-map update: the kernel waits for running programs there).
void wait_for_running_programs();

// wait_for_running_programs() on a thread of its own, started by the constructor, so that the
// caller's work overlaps the grace period (which is mostly idle time: a few scheduler ticks).
// `wait()` returns once every program run that began before the constructor has ended, and the
// milliseconds it blocked; it throws the RuntimeError of a wait that could not be made. The
// destructor joins the thread.
class BackgroundGracePeriod {
 public:
  BackgroundGracePeriod();
  ~BackgroundGracePeriod();
  BackgroundGracePeriod(const BackgroundGracePeriod&) = delete;
  BackgroundGracePeriod& operator=(const BackgroundGracePeriod&) = delete;
  double wait();

 private:
  std::atomic<bool> running_{false};  // set by the thread once it runs
  std::thread thread_;
  std::exception_ptr error_;
};

}  // namespace krsie::runtime

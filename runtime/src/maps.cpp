#include "krsie/runtime/maps.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cerrno>
#include <cstring>

#include "krsie/runtime/error.h"

namespace krsie::runtime {

Fd& Fd::operator=(Fd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) close(fd_);
    fd_ = o.release();
  }
  return *this;
}

Fd::~Fd() {
  if (fd_ >= 0) close(fd_);
}

MapHandle::MapHandle(Fd fd, std::string label) : fd_(std::move(fd)), label_(std::move(label)) {
  bpf_map_info info{};
  __u32 len = sizeof info;
  if (bpf_obj_get_info_by_fd(fd_.get(), &info, &len) != 0)
    throw RuntimeError(describe_errno("reading the map info of " + label_, errno), errno);
  info_.name = info.name;
  info_.id = info.id;
  info_.type = info.type;
  info_.key_size = info.key_size;
  info_.value_size = info.value_size;
  info_.max_entries = info.max_entries;
  info_.flags = info.map_flags;
}

MapHandle MapHandle::open_pinned(const std::string& path, const std::string& label) {
  int fd = bpf_obj_get(path.c_str());
  if (fd < 0) {
    int err = errno;
    throw RuntimeError(describe_errno("opening pinned map " + path, err), err,
                       err == ENOENT ? ErrorKind::not_loaded : ErrorKind::generic);
  }
  return MapHandle(Fd(fd), label);
}

MapHandle MapHandle::from_fd(int fd, const std::string& label) {
  int copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (copy < 0) throw RuntimeError(describe_errno("duplicating the fd of map " + label, errno), errno);
  return MapHandle(Fd(copy), label);
}

void MapHandle::update(std::span<const std::uint8_t> key, std::span<const std::uint8_t> value) {
  if (key.size() != info_.key_size || value.size() != info_.value_size)
    throw RuntimeError("map " + label_ + " takes " + std::to_string(info_.key_size) + "-byte keys and " +
                           std::to_string(info_.value_size) + "-byte values, got " + std::to_string(key.size()) +
                           " and " + std::to_string(value.size()),
                       EINVAL, ErrorKind::bad_object);
  if (bpf_map_update_elem(fd_.get(), key.data(), value.data(), BPF_ANY) != 0) {
    int err = errno;
    std::string why = describe_errno("updating map " + label_, err);
    if (err == E2BIG || err == ENOMEM || err == ENOSPC)
      why += " (the map holds at most " + std::to_string(info_.max_entries) + " entries)";
    throw RuntimeError(why, err);
  }
}

std::optional<Bytes> MapHandle::lookup(std::span<const std::uint8_t> key) const {
  std::size_t size = info_.value_size;
  if (info_.type == BPF_MAP_TYPE_PERCPU_ARRAY || info_.type == BPF_MAP_TYPE_PERCPU_HASH ||
      info_.type == BPF_MAP_TYPE_LRU_PERCPU_HASH)
    size = ((size + 7) / 8 * 8) * static_cast<std::size_t>(possible_cpus());
  Bytes value(size);
  if (bpf_map_lookup_elem(fd_.get(), key.data(), value.data()) != 0) return std::nullopt;
  return value;
}

bool MapHandle::erase(std::span<const std::uint8_t> key) {
  if (bpf_map_delete_elem(fd_.get(), key.data()) == 0) return true;
  if (errno == ENOENT) return false;
  throw RuntimeError(describe_errno("deleting from map " + label_, errno), errno);
}

std::optional<std::vector<Bytes>> MapHandle::keys_batched() const {
  // BPF_MAP_LOOKUP_BATCH (hash maps, kernel 5.6+): a few system calls for the whole map instead
  // of one BPF_MAP_GET_NEXT_KEY per key (~3,400 guest instructions each). The kernel hands out
  // whole buckets; ENOSPC asks for room for a larger bucket, ENOENT ends the walk.
  if (info_.type != BPF_MAP_TYPE_HASH || info_.key_size == 0 || info_.max_entries == 0) return std::nullopt;
  std::vector<Bytes> out;
  std::uint32_t chunk = std::min<std::uint32_t>(info_.max_entries, 4096);
  Bytes keys, values;
  std::uint64_t token = 0;
  bool first = true;
  for (;;) {
    keys.resize(std::size_t{chunk} * info_.key_size);
    values.resize(std::size_t{chunk} * std::max<std::uint32_t>(info_.value_size, 1));
    __u32 count = chunk;
    LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = 0, .flags = 0);
    std::uint64_t next = 0;
    int rc = bpf_map_lookup_batch(fd_.get(), first ? nullptr : &token, &next, keys.data(), values.data(), &count, &opts);
    int err = rc == 0 ? 0 : errno;
    if (rc != 0 && err == ENOSPC && count == 0 && chunk < info_.max_entries) {
      chunk = std::min<std::uint64_t>(std::uint64_t{chunk} * 2, info_.max_entries);
      continue;
    }
    if (rc != 0 && err != ENOENT) {
      if (first) return std::nullopt;  // no batch support: walk the keys one by one
      throw RuntimeError(describe_errno("listing the keys of map " + label_, err), err);
    }
    for (__u32 i = 0; i < count && i < chunk; ++i)
      out.emplace_back(keys.begin() + static_cast<std::ptrdiff_t>(std::size_t{i} * info_.key_size),
                       keys.begin() + static_cast<std::ptrdiff_t>(std::size_t{i + 1} * info_.key_size));
    if (rc != 0) return out;  // ENOENT: the last bucket was in this batch
    if (out.size() > info_.max_entries) return out;  // a map changing under us: a bounded snapshot
    token = next;
    first = false;
  }
}

std::vector<Bytes> MapHandle::keys() const {
  if (auto batched = keys_batched()) return std::move(*batched);
  std::vector<Bytes> out;
  Bytes key(info_.key_size), next(info_.key_size);
  const void* prev = nullptr;
  // A snapshot bounded by max_entries: a map changing under us cannot make this loop forever.
  for (std::uint64_t n = 0; n <= info_.max_entries; ++n) {
    if (bpf_map_get_next_key(fd_.get(), prev, next.data()) != 0) {
      if (errno == ENOENT) break;
      throw RuntimeError(describe_errno("listing the keys of map " + label_, errno), errno);
    }
    out.push_back(next);
    key = next;
    prev = key.data();
  }
  return out;
}

void MapHandle::update_batch(const Bytes& keys, const Bytes& values, std::size_t count) {
  if (count == 0) return;
  if (keys.size() != count * info_.key_size || values.size() != count * info_.value_size)
    throw RuntimeError("map " + label_ + " takes " + std::to_string(info_.key_size) + "-byte keys and " +
                           std::to_string(info_.value_size) + "-byte values, got " + std::to_string(keys.size()) +
                           " and " + std::to_string(values.size()) + " bytes for " + std::to_string(count) + " entries",
                       EINVAL, ErrorKind::bad_object);
  if (info_.type == BPF_MAP_TYPE_ARRAY || info_.type == BPF_MAP_TYPE_HASH) {
    __u32 n = static_cast<__u32>(count);
    LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = 0, .flags = 0);
    if (bpf_map_update_batch(fd_.get(), keys.data(), values.data(), &n, &opts) == 0 && n == count) return;
    // Kernels without batch support, or a failure part way: single updates (idempotent), which
    // name the error.
  }
  for (std::size_t i = 0; i < count; ++i)
    update(std::span(keys).subspan(i * info_.key_size, info_.key_size),
           std::span(values).subspan(i * info_.value_size, info_.value_size));
}

void MapHandle::erase_many(const std::vector<Bytes>& keys) {
  std::size_t done = 0;
  if (info_.type == BPF_MAP_TYPE_HASH && !keys.empty()) {
    // BPF_MAP_DELETE_BATCH: one system call; it stops at the first key that is absent (or any
    // error), the rest is then deleted one by one.
    Bytes k;
    k.reserve(keys.size() * info_.key_size);
    bool sizes_ok = true;
    for (const Bytes& key : keys) {
      sizes_ok = sizes_ok && key.size() == info_.key_size;
      k.insert(k.end(), key.begin(), key.end());
    }
    if (sizes_ok) {
      __u32 count = static_cast<__u32>(keys.size());
      LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = 0, .flags = 0);
      if (bpf_map_delete_batch(fd_.get(), k.data(), &count, &opts) == 0 && count == keys.size()) return;
      done = std::min<std::size_t>(count, keys.size());
    }
  }
  for (std::size_t i = done; i < keys.size(); ++i) erase(keys[i]);
}

MappedValues::~MappedValues() { munmap(base_, length_); }

void MappedValues::zero(std::uint32_t first, std::uint32_t n) const {
  if (first >= count_) return;
  n = std::min(n, count_ - first);
  std::memset(base_ + std::size_t{first} * stride_, 0, std::size_t{n} * stride_);
}

const MappedValues* MapHandle::values_mapped() {
  if (map_tried_) return mapped_.get();
  map_tried_ = true;
  if (info_.type != BPF_MAP_TYPE_ARRAY || !(info_.flags & BPF_F_MMAPABLE) || info_.max_entries == 0) return nullptr;
  // The kernel lays the values out 8-byte aligned (round_up(value_size, 8)), from offset 0.
  const std::size_t stride = (std::size_t{info_.value_size} + 7) / 8 * 8;
  const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  const std::size_t length = (stride * info_.max_entries + page - 1) / page * page;
  void* base = mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd_.get(), 0);
  if (base == MAP_FAILED) return nullptr;  // e.g. a frozen map: updates through system calls work
  mapped_ = std::make_shared<MappedValues>(base, length, stride, info_.max_entries);
  return mapped_.get();
}

void MapHandle::pin(const std::string& path) const {
  if (bpf_obj_pin(fd_.get(), path.c_str()) != 0)
    throw RuntimeError(describe_errno("pinning map " + label_ + " at " + path, errno), errno);
}

int possible_cpus() {
  static int n = [] {
    int cpus = libbpf_num_possible_cpus();
    return cpus > 0 ? cpus : 1;
  }();
  return n;
}

namespace {

// The map-in-map that wait_for_running_programs() updates, and its inner map.
struct GracePeriodMaps {
  Fd inner, outer;
};

GracePeriodMaps grace_period_maps() {
  GracePeriodMaps m;
  int in = bpf_map_create(BPF_MAP_TYPE_ARRAY, "krsie_sync_in", 4, 4, 1, nullptr);
  if (in < 0) throw RuntimeError(describe_errno("creating the grace-period map", errno), errno);
  m.inner = Fd(in);
  LIBBPF_OPTS(bpf_map_create_opts, opts, .inner_map_fd = static_cast<__u32>(m.inner.get()));
  int out = bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "krsie_sync", 4, 4, 1, &opts);
  if (out < 0) throw RuntimeError(describe_errno("creating the grace-period map", errno), errno);
  m.outer = Fd(out);
  return m;
}

}  // namespace

void wait_for_running_programs() {
  // The kernel calls synchronize_rcu() after every update of a map-in-map (so that user space
  // knows no program still uses the old inner map). Non-sleepable BPF-LSM programs run inside an
  // RCU read-side section, so when the update returns, every program run that began before it
  // has ended. The maps are created once per process (a thread-safe static: a failed creation is
  // tried again by the next call).
  static const GracePeriodMaps maps = grace_period_maps();
  __u32 zero = 0;
  __u32 value = static_cast<__u32>(maps.inner.get());
  if (bpf_map_update_elem(maps.outer.get(), &zero, &value, BPF_ANY) != 0)
    throw RuntimeError(describe_errno("waiting for running BPF programs", errno), errno);
}

BackgroundGracePeriod::BackgroundGracePeriod() {
  // A member, not a local: the thread may still notify after the wait below has seen the flag.
  thread_ = std::thread([this] {
    running_ = true;
    running_.notify_one();
    try {
      wait_for_running_programs();
    } catch (...) {
      error_ = std::current_exception();
    }
  });
  // Until the thread runs: on a busy CPU the new thread could otherwise wait for the next
  // scheduler tick to start the grace period, and the overlap would shrink by that much.
  running_.wait(false);
}

BackgroundGracePeriod::~BackgroundGracePeriod() {
  if (thread_.joinable()) thread_.join();
}

double BackgroundGracePeriod::wait() {
  auto start = std::chrono::steady_clock::now();
  if (thread_.joinable()) thread_.join();
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  if (error_) std::rethrow_exception(error_);
  return ms;
}

}  // namespace krsie::runtime

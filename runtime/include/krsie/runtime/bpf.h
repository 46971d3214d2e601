#pragma once
// RAII wrappers around the libbpf objects the runtime uses. Every handle closes/destroys what
// it owns exactly once; handles are movable, not copyable.

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

struct bpf_object;
struct bpf_link;
struct bpf_map;
struct bpf_program;
struct ring_buffer;

namespace krsie::runtime {

// A BPF map of a loaded object (borrowed: the BpfObject owns it).
class BpfMap {
 public:
  explicit BpfMap(bpf_map* map) : map_(map) {}
  std::string name() const;
  int fd() const;
  std::uint32_t type() const;
  std::uint32_t key_size() const;
  std::uint32_t value_size() const;
  std::uint32_t max_entries() const;
  // Before load: use the existing kernel map `fd` instead of creating one (a pinned map).
  void reuse_fd(int fd);
  // Inserts or replaces key -> value; sizes must match the map's definition.
  void update(std::span<const std::byte> key, std::span<const std::byte> value);
  template <typename K, typename V>
  void update(const K& key, const V& value) {
    update(std::as_bytes(std::span(&key, 1)), std::as_bytes(std::span(&value, 1)));
  }
  // Reads key's value; false when absent.
  bool lookup(std::span<const std::byte> key, std::span<std::byte> value) const;
  template <typename K, typename V>
  bool lookup(const K& key, V& value) const {
    return lookup(std::as_bytes(std::span(&key, 1)), std::as_writable_bytes(std::span(&value, 1)));
  }

 private:
  bpf_map* map_;
};

// A link keeps a program attached; destroying it detaches (unless it was pinned).
class BpfLink {
 public:
  BpfLink() = default;
  explicit BpfLink(bpf_link* link) : link_(link) {}
  bool attached() const { return link_ != nullptr; }
  void detach() { link_.reset(); }
  int fd() const;
  // Pins the link at `path` in bpffs: the program stays attached after this process exits,
  // until the pin is removed.
  void pin(const std::string& path) const;

 private:
  struct Destroy {
    void operator()(bpf_link* link) const;
  };
  std::unique_ptr<bpf_link, Destroy> link_;
};

// A BPF ELF object, opened from memory and then loaded into the kernel.
class BpfObject {
 public:
  // Parses the ELF (no kernel involved). `name` labels the object in errors and bpftool.
  static BpfObject open_memory(std::string_view name, std::span<const unsigned char> elf);

  // Before load: only `programs` will load (others are skipped: never verified, never attached),
  // and maps get the given max_entries. Throws when a named program or map does not exist.
  void prepare(const std::vector<std::string>& programs, const std::map<std::string, std::uint32_t>& map_sizes);

  // Before load: writes a 32-bit value at `offset` of the read-only data section `section` (e.g.
  // ".rodata.krsie"), as a skeleton sets a `const volatile` global. Throws when absent.
  void set_rodata_u32(std::string_view section, std::uint32_t offset, std::uint32_t value);

  // Loads every program and creates every map; on failure the verifier log is in the error.
  void load();

  std::string name() const;
  BpfMap map(std::string_view name) const;                // throws when absent
  bool has_map(std::string_view name) const;
  bool has_program(std::string_view name) const;
  std::vector<std::string> program_names() const;
  std::vector<std::string> map_names() const;
  // A digest of every program's name, section and instructions as opened (before relocation):
  // equal digests mean the same template code.
  std::string code_digest() const;

  // Attaches every loaded program with the attach type its section names (lsm/..., etc.).
  std::vector<BpfLink> attach_all();
  // Attaches one loaded program; throws (with libbpf's words) when it cannot.
  BpfLink attach(std::string_view program);

 private:
  struct Close {
    void operator()(bpf_object* obj) const;
  };
  explicit BpfObject(bpf_object* obj) : obj_(obj) {}
  std::unique_ptr<bpf_object, Close> obj_;
};

// Reads records from a BPF ring buffer map; the callback sees each record's bytes.
class RingBufferReader {
 public:
  using Callback = std::function<void(std::span<const std::byte>)>;
  RingBufferReader(const BpfMap& map, Callback callback);
  // Waits up to timeout_ms for records and handles them; returns how many were handled.
  int poll(int timeout_ms);
  // Handles every record available now without waiting.
  int drain();

 private:
  struct Free {
    void operator()(ring_buffer* rb) const;
  };
  static int on_record(void* ctx, void* data, std::size_t size);
  std::unique_ptr<Callback> callback_;  // stable address for libbpf's ctx pointer
  std::unique_ptr<ring_buffer, Free> rb_;
};

}  // namespace krsie::runtime

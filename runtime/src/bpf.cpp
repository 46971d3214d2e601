#include "krsie/runtime/bpf.h"

#include <cstring>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstdarg>
#include <algorithm>
#include <cstdio>
#include <mutex>

#include "krsie/runtime/error.h"

namespace krsie::runtime {

namespace {

// libbpf reports verifier logs and warnings through one process-wide print callback. We collect
// warnings and errors per thread so a failed load can put the verifier's words into the error.
thread_local std::string t_libbpf_log;

int collect_libbpf_output(enum libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  // Verifier logs arrive as one message of any size: format into a buffer that fits.
  va_list copy;
  va_copy(copy, args);
  int n = std::vsnprintf(nullptr, 0, format, copy);
  va_end(copy);
  if (n > 0) {
    std::string buffer(static_cast<std::size_t>(n) + 1, '\0');
    std::vsnprintf(buffer.data(), buffer.size(), format, args);
    buffer.resize(static_cast<std::size_t>(n));
    t_libbpf_log += buffer;
  }
  if (t_libbpf_log.size() > (1u << 20)) t_libbpf_log.erase(0, t_libbpf_log.size() - (1u << 20));
  return n;
}

void install_libbpf_logger() {
  static std::once_flag once;
  std::call_once(once, [] { libbpf_set_print(collect_libbpf_output); });
}

// The last lines of what libbpf said, for error messages.
std::string libbpf_log_tail(std::size_t max_lines = 40) {
  std::string& log = t_libbpf_log;
  std::size_t pos = log.size();
  for (std::size_t lines = 0; pos > 0 && lines <= max_lines; --pos)
    if (log[pos - 1] == '\n') ++lines;
  return log.substr(pos);
}

}  // namespace

std::string BpfMap::name() const { return bpf_map__name(map_); }
int BpfMap::fd() const { return bpf_map__fd(map_); }
std::uint32_t BpfMap::type() const { return bpf_map__type(map_); }
std::uint32_t BpfMap::key_size() const { return bpf_map__key_size(map_); }
std::uint32_t BpfMap::value_size() const { return bpf_map__value_size(map_); }
std::uint32_t BpfMap::max_entries() const { return bpf_map__max_entries(map_); }

void BpfMap::reuse_fd(int fd) {
  if (int err = bpf_map__reuse_fd(map_, fd)) throw RuntimeError(describe_errno("reusing map " + name(), err), -err);
}

void BpfMap::update(std::span<const std::byte> key, std::span<const std::byte> value) {
  int err = bpf_map__update_elem(map_, key.data(), key.size(), value.data(), value.size(), BPF_ANY);
  if (err) throw RuntimeError(describe_errno("updating map " + name(), err), -err);
}

bool BpfMap::lookup(std::span<const std::byte> key, std::span<std::byte> value) const {
  return bpf_map__lookup_elem(map_, key.data(), key.size(), value.data(), value.size(), 0) == 0;
}

void BpfLink::Destroy::operator()(bpf_link* link) const { bpf_link__destroy(link); }

int BpfLink::fd() const { return link_ ? bpf_link__fd(link_.get()) : -1; }

void BpfLink::pin(const std::string& path) const {
  if (!link_) throw RuntimeError("pinning a detached link at " + path, EINVAL);
  if (bpf_obj_pin(bpf_link__fd(link_.get()), path.c_str()) != 0)
    throw RuntimeError(describe_errno("pinning link at " + path, errno), errno);
}
void BpfObject::Close::operator()(bpf_object* obj) const { bpf_object__close(obj); }

BpfObject BpfObject::open_memory(std::string_view name, std::span<const unsigned char> elf) {
  install_libbpf_logger();
  t_libbpf_log.clear();
  std::string object_name(name);
  LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = object_name.c_str());
  bpf_object* obj = bpf_object__open_mem(elf.data(), elf.size(), &opts);
  if (!obj) {
    int err = errno;
    throw RuntimeError(describe_errno("cannot parse BPF object " + object_name, err) + "\n" +
                           libbpf_log_tail(),
                       err);
  }
  return BpfObject(obj);
}

void BpfObject::prepare(const std::vector<std::string>& programs,
                        const std::map<std::string, std::uint32_t>& map_sizes) {
  for (const std::string& p : programs)
    if (!bpf_object__find_program_by_name(obj_.get(), p.c_str()))
      throw RuntimeError("BPF object " + name() + " has no program " + p + " (policy and loader versions differ?)", ENOENT);
  bpf_program* prog;
  bpf_object__for_each_program(prog, obj_.get()) {
    bool wanted = std::find(programs.begin(), programs.end(), bpf_program__name(prog)) != programs.end();
    bpf_program__set_autoload(prog, wanted);
  }
  for (const auto& [map_name, size] : map_sizes) {
    bpf_map* m = bpf_object__find_map_by_name(obj_.get(), map_name.c_str());
    if (!m) throw RuntimeError("BPF object " + name() + " has no map " + map_name, ENOENT);
    if (int err = bpf_map__set_max_entries(m, size))
      throw RuntimeError(describe_errno("sizing map " + map_name, err), -err);
  }
}

void BpfObject::load() {
  t_libbpf_log.clear();
  int err = bpf_object__load(obj_.get());
  if (err)
    throw RuntimeError(describe_errno("loading BPF object " + name() + " failed", err) + "\n" +
                           libbpf_log_tail(),
                       -err);
}

std::string BpfObject::name() const { return bpf_object__name(obj_.get()); }

BpfMap BpfObject::map(std::string_view map_name) const {
  std::string n(map_name);
  bpf_map* m = bpf_object__find_map_by_name(obj_.get(), n.c_str());
  if (!m) throw RuntimeError("BPF object " + name() + " has no map named " + n, ENOENT);
  return BpfMap(m);
}

bool BpfObject::has_map(std::string_view map_name) const {
  std::string n(map_name);
  return bpf_object__find_map_by_name(obj_.get(), n.c_str()) != nullptr;
}

void BpfObject::set_rodata_u32(std::string_view section, std::uint32_t offset, std::uint32_t value) {
  std::string sec(section);
  bpf_map* map = bpf_object__find_map_by_name(obj_.get(), sec.c_str());
  std::size_t size = 0;
  const void* data = map ? bpf_map__initial_value(map, &size) : nullptr;
  if (!data || size < offset + sizeof value)
    throw RuntimeError(ErrorKind::bad_object, "object " + name() + " has no data section " + sec + " of " +
                                                  std::to_string(offset + sizeof value) + " bytes (rebuild it with this krsiec)",
                       ENOENT);
  std::vector<unsigned char> bytes(static_cast<const unsigned char*>(data), static_cast<const unsigned char*>(data) + size);
  std::memcpy(bytes.data() + offset, &value, sizeof value);
  if (int err = bpf_map__set_initial_value(map, bytes.data(), bytes.size()); err != 0)
    throw RuntimeError(describe_errno("setting " + sec + " of object " + name(), -err), -err);
}

bool BpfObject::has_program(std::string_view program) const {
  std::string n(program);
  return bpf_object__find_program_by_name(obj_.get(), n.c_str()) != nullptr;
}

std::string BpfObject::code_digest() const {
  // FNV-1a, 64 bits: identifies template code, not a security measure.
  std::uint64_t h = 0xcbf29ce484222325ull;
  auto mix = [&](const void* data, std::size_t n) {
    auto* p = static_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  };
  bpf_program* prog;
  bpf_object__for_each_program(prog, obj_.get()) {
    std::string id = std::string(bpf_program__name(prog)) + "\n" + bpf_program__section_name(prog) + "\n";
    mix(id.data(), id.size());
    mix(bpf_program__insns(prog), bpf_program__insn_cnt(prog) * sizeof(bpf_insn));
  }
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(h));
  return text;
}

BpfLink BpfObject::attach(std::string_view program) {
  std::string n(program);
  bpf_program* prog = bpf_object__find_program_by_name(obj_.get(), n.c_str());
  if (!prog) throw RuntimeError("BPF object " + name() + " has no program " + n, ENOENT);
  t_libbpf_log.clear();
  bpf_link* link = bpf_program__attach(prog);
  if (!link) {
    int err = errno;
    throw RuntimeError(describe_errno("attaching " + n + " (" + bpf_program__section_name(prog) + ")", err) + "\n" +
                           libbpf_log_tail(),
                       err);
  }
  return BpfLink(link);
}

std::vector<std::string> BpfObject::program_names() const {
  std::vector<std::string> names;
  bpf_program* prog;
  bpf_object__for_each_program(prog, obj_.get()) names.emplace_back(bpf_program__name(prog));
  return names;
}

std::vector<std::string> BpfObject::map_names() const {
  std::vector<std::string> names;
  bpf_map* m;
  bpf_object__for_each_map(m, obj_.get()) names.emplace_back(bpf_map__name(m));
  return names;
}

std::vector<BpfLink> BpfObject::attach_all() {
  std::vector<BpfLink> links;
  bpf_program* prog;
  bpf_object__for_each_program(prog, obj_.get()) {
    if (!bpf_program__autoload(prog)) continue;
    t_libbpf_log.clear();
    bpf_link* link = bpf_program__attach(prog);
    if (!link) {
      int err = errno;
      // Links already made are destroyed with `links`: nothing stays half-attached.
      throw RuntimeError(describe_errno(std::string("attaching ") + bpf_program__name(prog) +
                                            " (" + bpf_program__section_name(prog) + ")",
                                        err) +
                             "\n" + libbpf_log_tail(),
                         err);
    }
    links.emplace_back(link);
  }
  return links;
}

void RingBufferReader::Free::operator()(ring_buffer* rb) const { ring_buffer__free(rb); }

RingBufferReader::RingBufferReader(const BpfMap& map, Callback callback)
    : callback_(std::make_unique<Callback>(std::move(callback))) {
  rb_.reset(ring_buffer__new(map.fd(), &RingBufferReader::on_record, callback_.get(), nullptr));
  if (!rb_) throw RuntimeError(describe_errno("reading ring buffer " + map.name(), errno), errno);
}

int RingBufferReader::on_record(void* ctx, void* data, std::size_t size) {
  (*static_cast<Callback*>(ctx))(std::span(static_cast<const std::byte*>(data), size));
  return 0;
}

int RingBufferReader::poll(int timeout_ms) {
  int n = ring_buffer__poll(rb_.get(), timeout_ms);
  if (n < 0 && n != -EINTR) throw RuntimeError(describe_errno("polling ring buffer", -n), -n);
  return n < 0 ? 0 : n;
}

int RingBufferReader::drain() {
  int n = ring_buffer__consume(rb_.get());
  if (n < 0) throw RuntimeError(describe_errno("consuming ring buffer", -n), -n);
  return n;
}

}  // namespace krsie::runtime

#include "krsie/runtime/policy.h"

#include <bpf/libbpf.h>
#include <gelf.h>
#include <libelf.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sys/stat.h>
#include <tuple>

#include <nlohmann/json.hpp>

#include "krsie/runtime/error.h"
#include "krsie/runtime/inode.h"
#include "krsie_abi.h"

namespace krsie::runtime {

namespace {

std::map<std::string, std::vector<std::uint8_t>> read_sections(const std::vector<std::uint8_t>& bytes,
                                                                const std::vector<std::string>& wanted) {
  if (bytes.size() < 64 || std::memcmp(bytes.data(), "\x7f" "ELF", 4) != 0)
    throw RuntimeError("not a policy object: not an ELF file", EINVAL);
  elf_version(EV_CURRENT);
  Elf* elf = elf_memory(reinterpret_cast<char*>(const_cast<std::uint8_t*>(bytes.data())), bytes.size());
  if (!elf) throw RuntimeError(std::string("not a policy object: ") + elf_errmsg(-1), EINVAL);
  std::map<std::string, std::vector<std::uint8_t>> out;
  std::size_t shstrndx = 0;
  if (elf_getshdrstrndx(elf, &shstrndx) != 0) {
    elf_end(elf);
    throw RuntimeError("not a policy object: corrupt ELF section table", EINVAL);
  }
  for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn; scn = elf_nextscn(elf, scn)) {
    GElf_Shdr shdr;
    if (!gelf_getshdr(scn, &shdr)) continue;
    const char* name = elf_strptr(elf, shstrndx, shdr.sh_name);
    if (!name || std::find(wanted.begin(), wanted.end(), name) == wanted.end()) continue;
    if (shdr.sh_offset + shdr.sh_size > bytes.size() || shdr.sh_offset + shdr.sh_size < shdr.sh_offset) {
      elf_end(elf);
      throw RuntimeError(std::string("policy object is truncated (section ") + name + " runs past the end)", EINVAL);
    }
    out[name].assign(bytes.begin() + static_cast<std::ptrdiff_t>(shdr.sh_offset),
                     bytes.begin() + static_cast<std::ptrdiff_t>(shdr.sh_offset + shdr.sh_size));
  }
  elf_end(elf);
  return out;
}

PolicyMetadata parse_metadata(const std::vector<std::uint8_t>& text) {
  PolicyMetadata m;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text.begin(), text.end());
    if (j.value("format", "") != "krsie-policy") throw RuntimeError("policy object metadata has an unknown format", EINVAL);
    m.abi = j.at("abi").get<int>();
    if (m.abi != KRSIE_ABI_VERSION)
      throw RuntimeError("policy object has ABI " + std::to_string(m.abi) + ", this krsie-load speaks ABI " +
                             std::to_string(KRSIE_ABI_VERSION) + ": recompile the policy with a matching krsiec",
                         EINVAL);
    m.name = j.at("name").get<std::string>();
    m.mode = j.at("mode").get<std::string>();
    m.backend = j.value("backend", "");
    m.compiler = j.value("compiler", "");
    for (const auto& t : j.at("targets")) {
      if (t.contains("cgroup")) m.cgroup_targets.push_back(t.at("cgroup").get<std::string>());
      else ++m.pod_targets;
    }
    m.programs = j.at("programs").get<std::vector<std::string>>();
    m.map_sizes = j.at("map_sizes").get<std::map<std::string, std::uint32_t>>();
    if (j.contains("inode_paths"))
      for (const auto& ip : j.at("inode_paths"))
        m.inode_paths.push_back({ip.at("table").get<std::uint32_t>(), ip.at("bit").get<std::uint32_t>(),
                                 ip.at("path").get<std::string>()});
    for (const auto& r : j.at("rules")) {
      RuleMetadata rm;
      rm.id = r.at("id").get<std::uint32_t>();
      rm.hook = r.value("hook", "");
      rm.locations = r.at("locations").get<std::vector<std::string>>();
      rm.source = r.value("source", "");
      rm.message = r.value("message", "");
      rm.tag = r.value("tag", "");
      m.rules.push_back(std::move(rm));
    }
  } catch (const nlohmann::json::exception& e) {
    throw RuntimeError(std::string("policy object metadata is corrupt: ") + e.what(), EINVAL);
  }
  if (m.mode != "enforce" && m.mode != "audit") throw RuntimeError("policy object metadata has an invalid mode", EINVAL);
  return m;
}

std::vector<MapRecord> parse_records(const std::vector<std::uint8_t>& b) {
  std::size_t pos = 0;
  auto need = [&](std::size_t n) {
    if (b.size() - pos < n) throw RuntimeError("policy object map section is truncated", EINVAL);
  };
  auto get32 = [&] {
    need(4);
    std::uint32_t v = b[pos] | (b[pos + 1] << 8) | (b[pos + 2] << 16) | (std::uint32_t(b[pos + 3]) << 24);
    pos += 4;
    return v;
  };
  auto bytes = [&](std::uint32_t n) {
    need(n);
    std::vector<std::uint8_t> out(b.begin() + static_cast<std::ptrdiff_t>(pos), b.begin() + static_cast<std::ptrdiff_t>(pos + n));
    pos += n;
    return out;
  };
  need(8);
  if (std::memcmp(b.data(), "KRSMAPS1", 8) != 0) throw RuntimeError("policy object map section has a bad magic", EINVAL);
  pos = 8;
  std::uint32_t count = get32();
  std::vector<MapRecord> out;
  out.reserve(std::min<std::size_t>(count, b.size() / 12));
  for (std::uint32_t i = 0; i < count; ++i) {
    MapRecord r;
    auto name = bytes(get32());
    r.map.assign(name.begin(), name.end());
    r.key = bytes(get32());
    r.value = bytes(get32());
    out.push_back(std::move(r));
  }
  if (pos != b.size()) throw RuntimeError("policy object map section has trailing bytes", EINVAL);
  return out;
}

}  // namespace

const RuleMetadata* PolicyMetadata::rule(std::uint32_t id) const {
  for (const RuleMetadata& r : rules)
    if (r.id == id) return &r;
  return nullptr;
}

PolicyObject PolicyObject::parse(std::vector<std::uint8_t> bytes) {
  PolicyObject p;
  auto sections = read_sections(bytes, {".krsie.meta", ".krsie.maps"});
  if (!sections.count(".krsie.meta"))
    throw RuntimeError("not a policy object: no .krsie.meta section (was it written by krsiec?)", EINVAL);
  if (!sections.count(".krsie.maps")) throw RuntimeError("policy object has no .krsie.maps section", EINVAL);
  p.meta = parse_metadata(sections[".krsie.meta"]);
  p.records = parse_records(sections[".krsie.maps"]);
  p.elf = std::move(bytes);
  return p;
}

PolicyObject PolicyObject::read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw RuntimeError(describe_errno("cannot open " + path, errno), errno);
  std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  try {
    return parse(std::move(bytes));
  } catch (const RuntimeError& e) {
    throw RuntimeError(path + ": " + e.what(), e.error_number());
  }
}

LoadedPolicy LoadedPolicy::load(const PolicyObject& policy) {
  auto object = std::make_unique<BpfObject>(BpfObject::open_memory(policy.meta.name, policy.elf));
  object->prepare(policy.meta.programs, policy.meta.map_sizes);
  object->load();
  std::map<std::string, BpfMap> maps;
  for (const MapRecord& r : policy.records) {
    auto it = maps.find(r.map);
    if (it == maps.end()) it = maps.emplace(r.map, object->map(r.map)).first;
    it->second.update(std::as_bytes(std::span(r.key)), std::as_bytes(std::span(r.value)));
  }
  // Inodes of exact rule paths, as they exist now (missing files are matched by path alone).
  std::map<std::tuple<std::uint64_t, std::uint64_t, std::uint32_t>, std::uint64_t> inode_masks;
  for (const auto& ip : policy.meta.inode_paths) {
    struct stat st{};
    if (stat(ip.path.c_str(), &st) != 0 || ip.bit >= 64) continue;
    inode_masks[{kernel_dev(st.st_dev), st.st_ino, ip.table}] |= 1ull << ip.bit;
  }
  if (!inode_masks.empty()) {
    BpfMap inodes = object->map("krsie_inodes");
    for (const auto& [k, mask] : inode_masks) {
      krsie_inode_set_key key{std::get<0>(k), std::get<1>(k), std::get<2>(k), 0};
      inodes.update(key, mask);
    }
  }
  LoadedPolicy loaded(std::move(object), policy.meta);
  loaded.set_enforce(policy.meta.mode == "enforce");
  return loaded;
}

void LoadedPolicy::add_target(std::uint64_t cgroup_id) {
  krsie_target t{0, 0};
  object_->map("krsie_targets").update(cgroup_id, t);
}

void LoadedPolicy::set_enforce(bool enforce) {
  std::uint32_t zero = 0;
  krsie_config cfg{};
  object_->map("krsie_config").lookup(zero, cfg);
  cfg.enforce = enforce ? 1 : 0;
  object_->map("krsie_config").update(zero, cfg);
}

void LoadedPolicy::attach() { links_ = object_->attach_all(); }

}  // namespace krsie::runtime

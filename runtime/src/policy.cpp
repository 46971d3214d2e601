#include "krsie/runtime/policy.h"

#include <bpf/libbpf.h>
#include <gelf.h>
#include <libelf.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>
#include <string_view>
#include <sys/stat.h>
#include <tuple>

#include "krsie/runtime/error.h"
#include "krsie/runtime/generation.h"
#include "krsie/runtime/inode.h"
#include "krsie/runtime/metadata.h"
#include "krsie/runtime/state.h"
#include "krsie_abi.h"

namespace krsie::runtime {

namespace {

RuntimeError bad_object(const std::string& message) { return RuntimeError(ErrorKind::bad_object, message, EINVAL); }

// The wanted sections as views into `bytes`.
std::map<std::string, std::span<const std::uint8_t>> read_sections(std::span<const std::uint8_t> bytes,
                                                                const std::vector<std::string>& wanted) {
  if (bytes.empty()) throw bad_object("not a policy object: the file is empty");
  if (bytes.size() < 4 || std::memcmp(bytes.data(), "\x7f" "ELF", 4) != 0)
    throw bad_object("not a policy object: not an ELF file");
  if (bytes.size() < sizeof(Elf64_Ehdr))
    throw bad_object("policy object is truncated: " + std::to_string(bytes.size()) + " bytes, shorter than an ELF header");
  Elf64_Ehdr eh;
  std::memcpy(&eh, bytes.data(), sizeof eh);
  if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB)
    throw bad_object("not a policy object: not a 64-bit little-endian ELF file");
  if (eh.e_machine != EM_BPF)
    throw bad_object("not a policy object: an ELF file for machine " + std::to_string(eh.e_machine) + ", not BPF");
  std::uint64_t table_end = eh.e_shoff + std::uint64_t(eh.e_shnum) * eh.e_shentsize;
  if (eh.e_shoff == 0 || eh.e_shnum == 0 || eh.e_shentsize != sizeof(Elf64_Shdr))
    throw bad_object("not a policy object: the ELF file has no section table");
  if (table_end > bytes.size())
    throw bad_object("policy object is truncated: its section table ends at byte " + std::to_string(table_end) +
                     ", the file has " + std::to_string(bytes.size()) + " bytes");
  elf_version(EV_CURRENT);
  Elf* elf = elf_memory(reinterpret_cast<char*>(const_cast<std::uint8_t*>(bytes.data())), bytes.size());
  if (!elf) throw bad_object(std::string("not a policy object: ") + elf_errmsg(-1));
  std::map<std::string, std::span<const std::uint8_t>> out;
  std::size_t shstrndx = 0;
  if (elf_getshdrstrndx(elf, &shstrndx) != 0) {
    elf_end(elf);
    throw bad_object("not a policy object: corrupt ELF section table");
  }
  for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn; scn = elf_nextscn(elf, scn)) {
    GElf_Shdr shdr;
    if (!gelf_getshdr(scn, &shdr)) continue;
    const char* name = elf_strptr(elf, shstrndx, shdr.sh_name);
    if (!name || std::find(wanted.begin(), wanted.end(), name) == wanted.end()) continue;
    if (shdr.sh_offset + shdr.sh_size > bytes.size() || shdr.sh_offset + shdr.sh_size < shdr.sh_offset) {
      elf_end(elf);
      throw bad_object(std::string("policy object is truncated (section ") + name + " runs past the end)");
    }
    if (out.count(name)) {
      elf_end(elf);
      throw bad_object(std::string("not a policy object: two ") + name + " sections");
    }
    out[name] = bytes.subspan(shdr.sh_offset, shdr.sh_size);
  }
  elf_end(elf);
  return out;
}

// The sections libbpf reads: every section but the .krsie.* ones, with their headers and
// contents, in order. nullopt when `bytes` is not an ELF file with a readable section table.
struct TemplateSection {
  std::string_view name;
  GElf_Shdr header;
  std::span<const std::uint8_t> contents;
};

std::optional<std::vector<TemplateSection>> template_sections(std::span<const std::uint8_t> bytes) {
  if (bytes.size() < sizeof(Elf64_Ehdr) || std::memcmp(bytes.data(), "\x7f" "ELF", 4) != 0) return std::nullopt;
  elf_version(EV_CURRENT);
  Elf* elf = elf_memory(reinterpret_cast<char*>(const_cast<std::uint8_t*>(bytes.data())), bytes.size());
  if (!elf) return std::nullopt;
  std::vector<TemplateSection> out;
  std::size_t shstrndx = 0;
  bool ok = elf_getshdrstrndx(elf, &shstrndx) == 0;
  for (Elf_Scn* scn = ok ? elf_nextscn(elf, nullptr) : nullptr; ok && scn; scn = elf_nextscn(elf, scn)) {
    TemplateSection t{};
    const char* name = gelf_getshdr(scn, &t.header) ? elf_strptr(elf, shstrndx, t.header.sh_name) : nullptr;
    if (!name) {
      ok = false;
      break;
    }
    t.name = name;  // points into `bytes`, which outlives the result
    if (t.name.rfind(".krsie.", 0) == 0) continue;
    if (t.header.sh_type != SHT_NOBITS) {
      if (t.header.sh_offset + t.header.sh_size > bytes.size() || t.header.sh_offset + t.header.sh_size < t.header.sh_offset) {
        ok = false;
        break;
      }
      t.contents = bytes.subspan(t.header.sh_offset, t.header.sh_size);
    }
    out.push_back(t);
  }
  elf_end(elf);
  if (!ok) return std::nullopt;
  return out;
}

}  // namespace

bool PolicyObject::same_template(std::span<const std::uint8_t> other) const {
  auto a = template_sections(elf), b = template_sections(other);
  if (!a || !b || a->size() != b->size()) return false;
  for (std::size_t i = 0; i < a->size(); ++i) {
    const TemplateSection &x = (*a)[i], &y = (*b)[i];
    const GElf_Shdr &h = x.header, &k = y.header;
    if (x.name != y.name || h.sh_type != k.sh_type || h.sh_flags != k.sh_flags || h.sh_link != k.sh_link ||
        h.sh_info != k.sh_info || h.sh_addralign != k.sh_addralign || h.sh_entsize != k.sh_entsize ||
        h.sh_size != k.sh_size || x.contents.size() != y.contents.size() ||
        (!x.contents.empty() && std::memcmp(x.contents.data(), y.contents.data(), x.contents.size()) != 0))
      return false;
  }
  return true;
}

const RuleMetadata* PolicyMetadata::rule(std::uint32_t id) const {
  for (const RuleMetadata& r : rules)
    if (r.id == id) return &r;
  return nullptr;
}

PolicyObject PolicyObject::parse(std::vector<std::uint8_t> bytes, RuleText rule_text) {
  auto owned = std::make_shared<const std::vector<std::uint8_t>>(std::move(bytes));
  std::span<const std::uint8_t> view(*owned);
  return parse(std::move(owned), view, rule_text);
}

PolicyObject PolicyObject::parse(std::shared_ptr<const void> storage, std::span<const std::uint8_t> bytes,
                                 RuleText rule_text) {
  PolicyObject p;
  auto sections = read_sections(bytes, {".krsie.meta", ".krsie.load", ".krsie.maps"});
  if (!sections.count(".krsie.meta"))
    throw bad_object("not a policy object: no .krsie.meta section (was it written by krsiec?)");
  if (!sections.count(".krsie.maps")) throw bad_object("policy object has no .krsie.maps section");
  const auto& json = sections[".krsie.meta"];
  auto json_text = [&] { return std::string_view(reinterpret_cast<const char*>(json.data()), json.size()); };
  if (auto table = sections.find(".krsie.load"); table != sections.end()) {
    // Format 2: the loader's fields come from the table; the JSON is read only for the rule texts.
    p.meta = parse_loader_table(table->second, storage);  // exact paths: views into the object
    if (rule_text == RuleText::keep) {
      PolicyMetadata described = parse_metadata(json_text(), RuleText::keep);
      p.meta.rules = std::move(described.rules);
      p.meta.map_sizes = std::move(described.map_sizes);
    }
  } else {
    p.meta = parse_metadata(json_text(), rule_text);
    if (p.meta.format != 1)
      throw bad_object("policy object has no .krsie.load section, which its metadata format " +
                       std::string(k_metadata_format_2) + " requires (truncated or edited?)");
  }
  p.records = parse_records(sections[".krsie.maps"]);
  validate_records(p.records);
  p.elf = bytes;
  p.storage = std::move(storage);
  return p;
}

void PolicyObject::check_template() const {
  std::optional<BpfObject> obj;
  try {
    obj.emplace(BpfObject::open_memory(meta.name, elf));
  } catch (const RuntimeError& e) {
    throw bad_object(std::string("policy object's BPF code does not parse: ") + e.what());
  }
  if (meta.programs.empty()) throw bad_object("policy object names no programs to load");
  for (const std::string& p : meta.programs)
    if (!obj->has_program(p)) throw bad_object("policy object names program " + p + ", which its BPF code lacks");
  // Programs that remember path walks are sound only with the program that makes the memo forget
  // (docs/generic-backend.md, "Path memo").
  auto lists = [&](const char* p) { return std::find(meta.programs.begin(), meta.programs.end(), p) != meta.programs.end(); };
  for (const char* user : KRSIE_MEMO_PROGRAMS)
    if (lists(user) && !lists(KRSIE_FORGET_PROGRAM))
      throw bad_object(std::string("policy object loads ") + user + " without " + KRSIE_FORGET_PROGRAM +
                       ", which its path memo needs (edited, or written by another krsiec?)");
  for (const MapAbi& m : generic_maps()) {
    if (!obj->has_map(m.name))
      throw bad_object("policy object's BPF code lacks map " + std::string(m.name) + " (not the generic template?)");
    BpfMap map = obj->map(m.name);
    if (m.key_size && (map.key_size() != m.key_size || (m.value_size && map.value_size() != m.value_size)))
      throw bad_object("policy object's map " + std::string(m.name) + " has " + std::to_string(map.key_size()) + "/" +
                       std::to_string(map.value_size()) + "-byte keys/values, this krsie-load expects " +
                       std::to_string(m.key_size) + "/" + std::to_string(m.value_size));
  }
  if (obj->map("krsie_hooks").max_entries() != KRSIE_GENERATIONS * KRSIE_HOOK_MAX)
    throw bad_object("policy object's template has no room for two rule generations (krsie_hooks)");
}

std::string PolicyObject::template_digest() const { return BpfObject::open_memory(meta.name, elf).code_digest(); }

krsie_config PolicyObject::compiled_config() const {
  krsie_config c{meta.mode == "enforce" ? 1u : 0u, 10000u, 0u};
  for (const RecordView& r : records)
    if (r.abi->kind == MapKind::config && r.value.size() == sizeof c) std::memcpy(&c, r.value.data(), sizeof c);
  return c;
}

PolicyObject PolicyObject::read_file(const std::string& path, RuleText rule_text) {
  std::vector<std::uint8_t> bytes;
  try {
    bytes = read_whole_file(path, "cannot open");
  } catch (const RuntimeError& e) {
    throw RuntimeError(ErrorKind::bad_object, e.what(), e.error_number());
  }
  try {
    return parse(std::move(bytes), rule_text);
  } catch (const RuntimeError& e) {
    throw RuntimeError(e.kind(), path + ": " + e.what(), e.error_number());
  }
}

LoadedPolicy LoadedPolicy::load(const PolicyObject& policy) {
  auto object = std::make_unique<BpfObject>(BpfObject::open_memory(policy.meta.name, policy.elf));
  // One generation, sized exactly: an in-process load is never replaced.
  object->prepare(policy.meta.programs, plan_map_sizes(entry_counts(policy), 0));
  object->load();
  LoadedPolicy loaded(std::move(object), policy.meta);
  // One generation: the whole arrays.
  loaded.maps_ = PolicyMaps(DfaHalves{loaded.object_->map("krsie_dfa_states").max_entries(),
                                      loaded.object_->map("krsie_dfa_trans").max_entries()});
  for (const std::string& name : loaded.object_->map_names())
    if (map_abi(name)) loaded.maps_.add(name, MapHandle::from_fd(loaded.object_->map(name).fd(), name));
  loaded.maps_.write_generation(policy, 0);
  krsie_config config = policy.compiled_config();
  config.generation = 0;
  config.enforce = policy.meta.mode == "enforce" ? 3u : 0u;
  loaded.maps_.write_config(config);
  return loaded;
}

void LoadedPolicy::add_target(std::uint64_t cgroup_id) { maps_.add_targets({cgroup_id}, 0); }

void LoadedPolicy::set_enforce(bool enforce) {
  krsie_config cfg = maps_.config();
  cfg.enforce = enforce ? 3u : 0u;
  maps_.write_config(cfg);
}

void LoadedPolicy::attach() { links_ = object_->attach_all(); }

}  // namespace krsie::runtime

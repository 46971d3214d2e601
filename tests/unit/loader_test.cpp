// krsie-load's logic that needs no BPF-LSM kernel: policy objects that are corrupt or truncated
// (rejected precisely, nothing left behind), rule generations (key rewriting, map sizing, fit),
// argument validation, the state file, event decoding. Policy objects are built here from the
// embedded generic template with hand-written metadata and map records (the compiler's object
// writer puts them into the ELF), so every byte the loader sees is known.
#include <elf.h>
#include <gtest/gtest.h>
#include <bpf/bpf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <optional>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "backend/generic.h"
#include "krsie/runtime/cgroup.h"
#include "krsie/runtime/error.h"
#include "krsie/runtime/events.h"
#include "krsie/runtime/generation.h"
#include "krsie/runtime/inode.h"
#include "krsie/runtime/loader.h"
#include "krsie/runtime/metadata.h"
#include "krsie/runtime/policy.h"
#include "krsie/runtime/policy_maps.h"
#include "krsie/runtime/state.h"
#include "krsie_abi.h"

namespace krsie::runtime {
namespace {

namespace fs = std::filesystem;

template <typename T>
std::vector<std::uint8_t> bytes_of(const T& v) {
  std::vector<std::uint8_t> b(sizeof v);
  std::memcpy(b.data(), &v, sizeof v);
  return b;
}

template <typename T>
T as(const std::vector<std::uint8_t>& b) {
  T v;
  std::memcpy(&v, b.data(), sizeof v);
  return v;
}

// A temporary directory, removed with everything in it.
struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/krsie-loader-test-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

// Records of a small policy: file_open denies reading paths in automaton set 0.
std::vector<MapRecord> small_records() {
  std::vector<MapRecord> r;
  krsie_hook_conf conf{};
  conf.nrules = 1;
  conf.used = 1;
  conf.dfa[0] = 0;
  conf.dfa[1] = conf.dfa[2] = KRSIE_DFA_DEAD;
  conf.exe_dfa = KRSIE_DFA_DEAD;
  r.push_back({"krsie_hooks", bytes_of(std::uint32_t{KRSIE_HOOK_FILE_OPEN}), bytes_of(conf)});
  krsie_rule_entry e{};
  e.rule_id = 0;
  e.decision = KRSIE_DECISION_DENY;
  e.err = 1;
  e.nconstraints = 1;
  e.c[0].kind = KRSIE_C_BIT;
  r.push_back({"krsie_rules", bytes_of(krsie_rule_key{KRSIE_HOOK_FILE_OPEN, 0, 0}), bytes_of(e)});
  r.push_back({"krsie_dfa_states", bytes_of(std::uint32_t{0}), bytes_of(krsie_dfa_state{KRSIE_DFA_DEAD, 2, 0})});
  r.push_back({"krsie_dfa_states", bytes_of(std::uint32_t{1}), bytes_of(krsie_dfa_state{KRSIE_DFA_DEAD, 0, 1})});
  // State 0's row starts at slot 2: its edge on 't' sits at slot 2 + 't'.
  r.push_back({"krsie_dfa_trans", bytes_of(std::uint32_t{2 + 't'}), bytes_of(krsie_dfa_trans{1, 1})});
  krsie_lpm4_key lpm{64, (KRSIE_HOOK_SOCKET_CONNECT << 8) | 1, {10, 0, 0, 1}};
  r.push_back({"krsie_lpm4", bytes_of(lpm), bytes_of(std::uint64_t{1})});
  krsie_string_key sk{};
  sk.table = (KRSIE_HOOK_FILE_OPEN << 8) | 22;
  std::strcpy(sk.s, "cat");
  r.push_back({"krsie_strings", bytes_of(sk), bytes_of(std::uint64_t{2})});
  r.push_back({"krsie_config", bytes_of(std::uint32_t{0}), bytes_of(krsie_config{1, 10000, 0})});
  return r;
}

// Views of owned records, as PolicyObject::parse makes them of an object's bytes (valid while
// `records` lives).
std::vector<RecordView> views(const std::vector<MapRecord>& records) {
  std::vector<RecordView> out;
  for (const MapRecord& r : records) out.push_back({map_abi(r.map), r.key, r.value});
  return out;
}

std::string metadata(const std::string& name = "unit", const std::string& targets = R"([{"cgroup": "/sys/fs/cgroup/unit"}])",
                     int abi = KRSIE_ABI_VERSION) {
  return R"({"format": "krsie-policy", "abi": )" + std::to_string(abi) + R"(, "backend": "generic", "compiler": "test",
 "name": ")" + name + R"(", "mode": "enforce", "targets": )" + targets + R"(,
 "programs": ["krsie_d_instantiate", "krsie_file_open"], "map_sizes": {"krsie_rules": 1},
 "inode_paths": [{"table": 256, "bit": 0, "path": "/nonexistent/krsie-unit"}],
 "rules": [{"id": 0, "hook": "file_open", "locations": ["unit.krs:4:3"], "source": "deny file read \"/x\";",
            "message": "protected", "tag": "secrets"}]})";
}

std::vector<std::uint8_t> serialize(const std::vector<MapRecord>& records) {
  backend::GenericPolicy g;
  for (const MapRecord& r : records) g.entries.push_back({r.map, r.key, r.value});
  return backend::serialize_entries(g);
}

// A policy.o: the embedded generic template with the given sections.
std::vector<std::uint8_t> make_object(const TempDir& dir, const std::string& meta, const std::vector<std::uint8_t>& maps) {
  std::string path = dir / "made.o";
  std::string err = backend::write_policy_object(path, backend::PolicySections{meta, {}, maps});
  EXPECT_EQ(err, "");
  std::ifstream in(path, std::ios::binary);
  return std::vector<std::uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// The bad_object error `f` throws.
std::string parse_error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const RuntimeError& e) {
    EXPECT_EQ(e.kind(), ErrorKind::bad_object) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "expected a bad_object error";
  return "";
}

// The error of parsing `bytes` and checking the template, which must be a bad_object error.
std::string parse_error(std::vector<std::uint8_t> bytes) {
  return parse_error_of([&] { PolicyObject::parse(std::move(bytes)).check_template(); });
}

bool empty_or_missing(const std::string& dir) { return !fs::exists(dir) || fs::is_empty(dir); }

// ---- policy objects ------------------------------------------------------------------------

TEST(PolicyObjectCheck, AValidObjectParsesAndItsTemplateChecks) {
  TempDir dir;
  auto bytes = make_object(dir, metadata(), serialize(small_records()));
  PolicyObject p = PolicyObject::parse(bytes);
  EXPECT_NO_THROW(p.check_template());
  EXPECT_EQ(p.meta.name, "unit");
  EXPECT_EQ(p.meta.cgroup_targets, std::vector<std::string>{"/sys/fs/cgroup/unit"});
  EXPECT_EQ(p.records.size(), small_records().size());
  EXPECT_EQ(p.compiled_config().events_per_sec, 10000u);
  EXPECT_EQ(p.template_digest().size(), 16u);
}

TEST(PolicyObjectCheck, EveryTruncationIsRejectedPrecisely) {
  TempDir dir;
  auto bytes = make_object(dir, metadata(), serialize(small_records()));
  EXPECT_NE(parse_error({}).find("the file is empty"), std::string::npos);
  for (std::size_t len : {std::size_t{1}, std::size_t{3}, std::size_t{20}, std::size_t{63}, std::size_t{64},
                          std::size_t{4096}, bytes.size() / 2, bytes.size() - 1}) {
    std::vector<std::uint8_t> cut(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(len));
    std::string err = parse_error(cut);
    EXPECT_TRUE(err.find("truncated") != std::string::npos || err.find("not an ELF") != std::string::npos)
        << len << ": " << err;
  }
  std::vector<std::uint8_t> cut(bytes.begin(), bytes.begin() + 4096);
  EXPECT_NE(parse_error(cut).find("its section table ends at byte"), std::string::npos);
}

TEST(PolicyObjectCheck, CorruptSectionsAreNamed) {
  TempDir dir;
  std::string meta = metadata();
  EXPECT_NE(parse_error(make_object(dir, "{ not json", serialize(small_records()))).find("metadata is corrupt"),
            std::string::npos);
  EXPECT_NE(parse_error(make_object(dir, "[]", serialize(small_records()))).find("unknown format"), std::string::npos);
  EXPECT_NE(parse_error(make_object(dir, metadata("unit", "[]", 2), serialize(small_records()))).find("ABI 2"),
            std::string::npos);
  auto maps = serialize(small_records());
  maps[0] = 'X';
  EXPECT_NE(parse_error(make_object(dir, meta, maps)).find("bad magic"), std::string::npos);
  maps = serialize(small_records());
  maps.pop_back();
  EXPECT_NE(parse_error(make_object(dir, meta, maps)).find("map section is truncated"), std::string::npos);
  maps = serialize(small_records());
  maps.push_back(0);
  EXPECT_NE(parse_error(make_object(dir, meta, maps)).find("trailing bytes"), std::string::npos);
}

TEST(PolicyObjectCheck, RecordsMustFitTheAbi) {
  TempDir dir;
  auto records = small_records();
  records[1].key.pop_back();  // a rule key one byte short
  EXPECT_NE(parse_error(make_object(dir, metadata(), serialize(records))).find("the ABI says 12/496"),
            std::string::npos);
  records = small_records();
  records.push_back({"krsie_targets", bytes_of(std::uint64_t{1}), bytes_of(krsie_target{0, 1})});
  EXPECT_NE(parse_error(make_object(dir, metadata(), serialize(records))).find("does not fill a map named 'krsie_targets'"),
            std::string::npos);
  records = small_records();
  records.push_back({"krsie_mystery", {1}, {2}});
  EXPECT_NE(parse_error(make_object(dir, metadata(), serialize(records))).find("krsie_mystery"), std::string::npos);
  records = small_records();
  records[1].key = bytes_of(krsie_rule_key{KRSIE_HOOK_FILE_OPEN, 0, 1});  // generation 1 from a compiler
  EXPECT_NE(parse_error(make_object(dir, metadata(), serialize(records))).find("bad rule key"), std::string::npos);
  records = small_records();
  records.push_back({"krsie_dfa_states", bytes_of(std::uint32_t{7}), bytes_of(krsie_dfa_state{KRSIE_DFA_DEAD, 0, 0})});
  EXPECT_NE(parse_error(make_object(dir, metadata(), serialize(records))).find("not numbered"), std::string::npos);
}

TEST(PolicyObjectCheck, TheTemplateMustHaveTheNamedPrograms) {
  TempDir dir;
  std::string meta = metadata();
  meta.replace(meta.find("krsie_file_open"), 15, "krsie_nonesuch");
  EXPECT_NE(parse_error(make_object(dir, meta, serialize(small_records()))).find("names program krsie_nonesuch"),
            std::string::npos);
}

// file_open remembers path walks: an object that would load it without the program that makes
// the memo forget is refused (the memo would not be sound).
TEST(PolicyObjectCheck, APathMemoUserNeedsTheForgettingProgram) {
  TempDir dir;
  std::string meta = metadata();
  meta.replace(meta.find("\"krsie_d_instantiate\", "), 23, "");
  PolicyObject p = PolicyObject::parse(make_object(dir, meta, serialize(small_records())), RuleText::skip);
  try {
    p.check_template();
    ADD_FAILURE() << "accepted";
  } catch (const RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find("loads krsie_file_open without krsie_d_instantiate"), std::string::npos) << e.what();
  }
}

// The file offset of section `name` of an ELF object (0: none).
std::size_t section_offset(const std::vector<std::uint8_t>& bytes, const std::string& name) {
  Elf64_Ehdr eh;
  std::memcpy(&eh, bytes.data(), sizeof eh);
  std::vector<Elf64_Shdr> sh(eh.e_shnum);
  std::memcpy(sh.data(), bytes.data() + eh.e_shoff, sh.size() * sizeof(Elf64_Shdr));
  const char* names = reinterpret_cast<const char*>(bytes.data() + sh[eh.e_shstrndx].sh_offset);
  for (const Elf64_Shdr& h : sh)
    if (name == names + h.sh_name) return h.sh_offset;
  return 0;
}

// `replace` skips libbpf's template check when the new template is byte for byte one it kept:
// the comparison must see any change of what libbpf reads, and nothing else.
TEST(PolicyObjectCheck, SameTemplateSeesEveryTemplateByteAndNoPolicyByte) {
  TempDir dir;
  auto a = make_object(dir, metadata(), serialize(small_records()));
  std::vector<MapRecord> fewer = small_records();
  fewer.pop_back();
  auto b = make_object(dir, metadata("other", R"([{"cgroup": "/sys/fs/cgroup/other"}])"), serialize(fewer));
  ASSERT_NE(a, b);
  PolicyObject p = PolicyObject::parse(a);
  EXPECT_TRUE(p.same_template(a));
  EXPECT_TRUE(p.same_template(b));  // another policy's sections, the same template
  EXPECT_TRUE(PolicyObject::parse(b).same_template(a));
  for (const char* section : {"lsm/file_open", ".BTF", ".BTF.ext", ".maps"}) {
    std::size_t at = section_offset(b, section);
    ASSERT_NE(at, 0u) << section;
    std::vector<std::uint8_t> changed = b;
    changed[at + 1] ^= 0x40;
    EXPECT_FALSE(p.same_template(changed)) << section;
  }
  EXPECT_FALSE(p.same_template({}));
  EXPECT_FALSE(p.same_template(std::vector<std::uint8_t>(a.begin(), a.begin() + static_cast<std::ptrdiff_t>(a.size() / 2))));
  std::vector<std::uint8_t> not_elf = a;
  not_elf[0] = 0;
  EXPECT_FALSE(p.same_template(not_elf));
}

// A corrupt object makes `load` fail before it touches anything: no pins, no state.
// ---- the loader table (objects of format 2) -------------------------------------------------

// The loader table krsiec writes for a small policy: one cgroup target and one pod selector, one
// program, one rule, two exact paths.
std::vector<std::uint8_t> loader_table_bytes() {
  pir::Policy policy;
  policy.name = "unit";
  policy.mode = pir::Mode::enforce;
  pir::Target cgroup;
  cgroup.cgroup_path = "/sys/fs/cgroup/unit";
  pir::Target pod;
  pod.kind = pir::Target::Kind::pod;
  policy.targets = {cgroup, pod};
  policy.rule_table.resize(1);
  backend::GenericPolicy g;
  g.programs = {"krsie_d_instantiate", "krsie_file_open"};
  g.inode_paths = {{256, 0, "/nonexistent/krsie-unit"}, {256, 1, "/etc/a b"}};
  return backend::loader_table(policy, g, "krsiec test");
}

// Format-2 JSON: no inode_paths (they are in the table).
std::string metadata_v2() {
  std::string meta = metadata();
  meta.replace(meta.find("\"krsie-policy\""), 14, "\"krsie-policy-2\"");
  std::size_t from = meta.find(" \"inode_paths\"");
  meta.erase(from, meta.find('\n', from) + 1 - from);
  return meta;
}

std::vector<std::uint8_t> make_object_v2(const TempDir& dir, const std::string& meta, const std::vector<std::uint8_t>& table) {
  std::string path = dir / "made2.o";
  EXPECT_EQ(backend::write_policy_object(path, backend::PolicySections{meta, table, serialize(small_records())}), "");
  std::ifstream in(path, std::ios::binary);
  return std::vector<std::uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The error of reading a loader table, which must be a bad_object error about the table.
std::string table_error(std::span<const std::uint8_t> table) {
  try {
    parse_loader_table(table);
  } catch (const RuntimeError& e) {
    EXPECT_EQ(e.kind(), ErrorKind::bad_object) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "expected a bad_object error";
  return "";
}

TEST(LoaderTable, LoadAndReplaceReadTheTableNotTheJson) {
  TempDir dir;
  // The JSON is not even looked at when the texts are skipped: a broken one does not matter.
  PolicyObject p = PolicyObject::parse(make_object_v2(dir, "{ not json", loader_table_bytes()), RuleText::skip);
  EXPECT_EQ(p.meta.format, 2);
  EXPECT_EQ(p.meta.abi, KRSIE_ABI_VERSION);
  EXPECT_EQ(p.meta.name, "unit");
  EXPECT_EQ(p.meta.mode, "enforce");
  EXPECT_EQ(p.meta.backend, "generic");
  EXPECT_EQ(p.meta.compiler, "krsiec test");
  EXPECT_EQ(p.meta.cgroup_targets, std::vector<std::string>{"/sys/fs/cgroup/unit"});
  EXPECT_EQ(p.meta.pod_targets, 1u);
  EXPECT_EQ(p.meta.programs, (std::vector<std::string>{"krsie_d_instantiate", "krsie_file_open"}));
  EXPECT_EQ(p.meta.rule_count, 1u);
  EXPECT_TRUE(p.meta.rules.empty());
  ASSERT_EQ(p.meta.inode_paths.size(), 2u);  // sorted by path in the table
  EXPECT_EQ(p.meta.inode_paths[0].table, 256u);
  EXPECT_EQ(p.meta.inode_paths[0].bit, 1u);
  EXPECT_EQ(p.meta.inode_paths[0].path, "/etc/a b");
  EXPECT_EQ(p.meta.inode_paths[1].path, "/nonexistent/krsie-unit");
  // The texts are views into the object's bytes, which copies of the metadata keep alive.
  PolicyMetadata copy = p.meta;
  p = PolicyObject{};
  EXPECT_EQ(copy.inode_paths[0].path, "/etc/a b");
  EXPECT_EQ(copy.inode_paths[1].path, "/nonexistent/krsie-unit");
  p = PolicyObject::parse(make_object_v2(dir, "{ not json", loader_table_bytes()), RuleText::skip);
  EXPECT_EQ(p.records.size(), small_records().size());
  EXPECT_NO_THROW(p.check_template());
  EXPECT_EQ(entry_counts(p).at("krsie_inodes"), 2u);
  // The texts (events, show) come from the JSON, which must then be readable.
  EXPECT_NE(parse_error(make_object_v2(dir, "{ not json", loader_table_bytes())).find("metadata is corrupt"),
            std::string::npos);
  PolicyObject full = PolicyObject::parse(make_object_v2(dir, metadata_v2(), loader_table_bytes()), RuleText::keep);
  ASSERT_EQ(full.meta.rules.size(), 1u);
  EXPECT_EQ(full.meta.rules[0].message, "protected");
  EXPECT_EQ(full.meta.rule_count, 1u);
  EXPECT_EQ(full.meta.inode_paths.size(), 2u);  // from the table: the JSON has none
  EXPECT_EQ(full.meta.map_sizes.at("krsie_rules"), 1u);
}

TEST(LoaderTable, FormatTwoNeedsItsTableFormatOneStillLoads) {
  TempDir dir;
  EXPECT_NE(parse_error(make_object(dir, metadata_v2(), serialize(small_records()))).find("no .krsie.load section"),
            std::string::npos);
  PolicyObject old = PolicyObject::parse(make_object(dir, metadata(), serialize(small_records())), RuleText::skip);
  EXPECT_EQ(old.meta.format, 1);
  EXPECT_EQ(old.meta.rule_count, 1u);
  ASSERT_EQ(old.meta.inode_paths.size(), 1u);
  EXPECT_EQ(old.meta.inode_paths[0].path, "/nonexistent/krsie-unit");
}

TEST(LoaderTable, EveryTruncationAndCorruptionIsRefused) {
  const std::vector<std::uint8_t> table = loader_table_bytes();
  ASSERT_NO_THROW(parse_loader_table(table));
  for (std::size_t len = 0; len < table.size(); ++len) {
    std::string err = table_error(std::span(table).first(len));
    EXPECT_NE(err.find("loader table (.krsie.load)"), std::string::npos) << len << ": " << err;
    EXPECT_NE(err.find(len < 8 ? "bad magic" : "is truncated"), std::string::npos) << len << ": " << err;
  }
  auto changed = [&](std::size_t at, std::uint8_t byte) {
    std::vector<std::uint8_t> t = table;
    t[at] = byte;
    return table_error(t);
  };
  std::vector<std::uint8_t> longer = table;
  longer.push_back(0);
  EXPECT_NE(table_error(longer).find("has trailing bytes"), std::string::npos);
  EXPECT_NE(changed(7, '2').find("bad magic"), std::string::npos);
  EXPECT_NE(changed(8, 2).find("ABI 2"), std::string::npos);              // the ABI word
  EXPECT_NE(changed(17, 0).find("NUL byte in name"), std::string::npos);  // "unit" at 16..19
  EXPECT_NE(changed(24, 'x').find("invalid mode 'xnforce'"), std::string::npos);  // "enforce" at 24..30
  pir::Policy nameless;
  EXPECT_NE(table_error(backend::loader_table(nameless, {}, "krsiec test")).find("empty policy name"), std::string::npos);
  // A count beyond what the bytes can hold is refused before anything is allocated for it.
  std::size_t targets_at = 8 + 4 + (4 + 4) + (4 + 7) + (4 + 7) + (4 + 11);
  std::vector<std::uint8_t> t = table;
  ASSERT_EQ(t[targets_at], 1u);
  t[targets_at] = t[targets_at + 1] = t[targets_at + 2] = t[targets_at + 3] = 0xff;
  EXPECT_NE(table_error(t).find("is truncated (cgroup targets)"), std::string::npos);
}

// ---- generations in real maps ----------------------------------------------------------------

// The maps of a generic policy, created for real (maps need no BPF-LSM kernel, only CAP_BPF; no
// program is loaded or attached). `mmapable`: the automaton arrays as this krsie-load creates
// them (written as memory), or as an older one pinned them (written through batch updates).
std::optional<PolicyMaps> real_maps(bool mmapable, std::string& why_not) {
  constexpr std::uint32_t states = 8, slots = 512;  // per generation
  PolicyMaps maps;
  for (const MapAbi& m : generic_maps()) {
    if (!m.per_generation && m.kind != MapKind::config) continue;
    bpf_map_type type = BPF_MAP_TYPE_HASH;
    std::uint32_t max_entries = 64, flags = 0;
    switch (m.kind) {
      case MapKind::hooks: type = BPF_MAP_TYPE_ARRAY, max_entries = 2 * KRSIE_HOOK_MAX; break;
      case MapKind::dfa_states: type = BPF_MAP_TYPE_ARRAY, max_entries = 2 * states; break;
      case MapKind::dfa_trans: type = BPF_MAP_TYPE_ARRAY, max_entries = 2 * slots; break;
      case MapKind::config: type = BPF_MAP_TYPE_ARRAY, max_entries = 1; break;
      case MapKind::lpm4:
      case MapKind::lpm6: type = BPF_MAP_TYPE_LPM_TRIE, flags = BPF_F_NO_PREALLOC; break;
      default: break;
    }
    if (mmapable && (m.kind == MapKind::dfa_states || m.kind == MapKind::dfa_trans)) flags |= BPF_F_MMAPABLE;
    LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = flags);
    int fd = bpf_map_create(type, std::string(m.name).c_str(), m.key_size, m.value_size, max_entries, &opts);
    if (fd < 0) {
      why_not = "cannot create BPF maps here (" + std::string(std::strerror(errno)) +
                "): needs CAP_BPF; CI runs as root";
      return std::nullopt;
    }
    maps.add(std::string(m.name), MapHandle::from_fd(fd, std::string(m.name)));
  }
  return maps;
}

// Every element of an array map, concatenated.
std::vector<std::uint8_t> array_contents(const MapHandle& map) {
  std::vector<std::uint8_t> all, value(map.info().value_size);
  for (std::uint32_t i = 0; i < map.info().max_entries; ++i) {
    EXPECT_EQ(bpf_map_lookup_elem(map.fd(), &i, value.data()), 0) << map.info().max_entries;
    all.insert(all.end(), value.begin(), value.end());
  }
  return all;
}

// Maps pinned by an older krsie-load have automaton arrays without BPF_F_MMAPABLE: a replacement
// writes and purges them through system calls, with the same result as through memory.
// `replace` prepares `next` while program runs of the previous policy may still read it: preparing
// must not touch a map entry; writing the prepared generation then does all of it.
TEST(GenerationMaps, PreparingAGenerationTouchesNoMapEntry) {
  std::string why_not;
  std::optional<PolicyMaps> maps = real_maps(true, why_not);
  if (!maps) GTEST_SKIP() << why_not;
  TempDir dir;
  PolicyObject p = PolicyObject::parse(make_object(dir, metadata(), serialize(small_records())), RuleText::skip);
  maps->write_generation(p, 0);
  auto snapshot = [&] {
    std::vector<std::vector<std::uint8_t>> out;
    for (const char* name : {"krsie_dfa_trans", "krsie_dfa_states", "krsie_hooks"}) out.push_back(array_contents(maps->at(name)));
    return out;
  };
  auto before = snapshot();
  auto counts_before = maps->list_generation_keys().counts(1);
  PolicyMaps::PreparedGeneration prepared = maps->prepare_generation(p, 1);
  EXPECT_EQ(snapshot(), before);
  EXPECT_EQ(maps->list_generation_keys().counts(1), counts_before);
  maps->write_generation(prepared);
  auto after = snapshot();
  for (std::size_t i = 0; i < after.size(); ++i) EXPECT_NE(after[i], before[i]) << i;
  EXPECT_EQ(maps->list_generation_keys().counts(1).at("krsie_rules"), 1u);
  EXPECT_EQ(maps->list_generation_keys().counts(0), maps->list_generation_keys().counts(1));
  EXPECT_THROW(maps->write_generation(PolicyMaps::PreparedGeneration{}), RuntimeError);
}

// The target filter carries each slot's generation bits (krsie_config.target_gens): the programs
// tell a confined caller's generations from them, without the hash lookup. So every change of a
// target's generations reaches them, not only ids that enter or leave the map.
TEST(TargetFilter, SlotsCarryTheGenerationsOfTheirTargets) {
  std::string why_not;
  std::optional<PolicyMaps> maps = real_maps(false, why_not);
  if (!maps) GTEST_SKIP() << why_not;
  LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_NO_PREALLOC);
  int fd = bpf_map_create(BPF_MAP_TYPE_HASH, "krsie_targets", 8, sizeof(krsie_target), 16, &opts);
  ASSERT_GE(fd, 0) << std::strerror(errno);
  maps->add("krsie_targets", MapHandle::from_fd(fd, "krsie_targets"));
  auto gens_of = [&](std::uint64_t id) {
    krsie_config c = maps->config();
    EXPECT_TRUE(c.target_filter & KRSIE_FILTER_KNOWN);
    for (int i = 0; i < KRSIE_FILTER_IDS; ++i)
      if (c.target_ids[i] == id) return int(c.target_gens[i]);
    return -1;  // in no slot
  };
  maps->add_targets({11, 12}, 0);
  EXPECT_EQ(gens_of(11), 1);
  EXPECT_EQ(gens_of(12), 1);
  maps->add_targets({12, 13}, 1);  // 12 is a key already: only its generations change
  EXPECT_EQ(gens_of(11), 1);
  EXPECT_EQ(gens_of(12), 3);
  EXPECT_EQ(gens_of(13), 2);
  maps->drop_target_generation(0);  // 11 leaves; 12 keeps generation 1
  EXPECT_EQ(gens_of(11), -1);
  EXPECT_EQ(gens_of(12), 2);
  EXPECT_EQ(gens_of(13), 2);
  maps->add_targets({12}, 0);
  EXPECT_EQ(gens_of(12), 3);
  maps->drop_target_generation(1);  // no key leaves but 13: 12 keeps generation 0
  EXPECT_EQ(gens_of(12), 1);
  EXPECT_EQ(gens_of(13), -1);
  // More targets than slots: the filter is unknown (programs look every id up).
  maps->add_targets({21, 22, 23, 24, 25}, 0);
  EXPECT_FALSE(maps->config().target_filter & KRSIE_FILTER_KNOWN);
}

// The wait `replace` begins with the lock: it ends (no program runs here), reports how long it
// blocked, and a wait never asked for is joined by the destructor.
TEST(GracePeriod, ABackgroundWaitEndsAndCanBeLeft) {
  std::string why_not;
  if (!real_maps(false, why_not)) GTEST_SKIP() << why_not;
  {
    BackgroundGracePeriod g;
    EXPECT_GE(g.wait(), 0.0);
    EXPECT_GE(g.wait(), 0.0);  // joined once; a second wait returns at once
  }
  { BackgroundGracePeriod left; }
}

TEST(GenerationMaps, MappedAndBatchWritesOfTheAutomatonArraysAgree) {
  std::string why_not;
  std::optional<PolicyMaps> mapped = real_maps(true, why_not), batched = real_maps(false, why_not);
  if (!mapped || !batched) GTEST_SKIP() << why_not;
  EXPECT_NE(mapped->at("krsie_dfa_trans").values_mapped(), nullptr);
  EXPECT_EQ(batched->at("krsie_dfa_trans").values_mapped(), nullptr);
  TempDir dir;
  PolicyObject p = PolicyObject::parse(make_object(dir, metadata(), serialize(small_records())), RuleText::skip);
  for (unsigned gen : {1u, 0u}) {
    mapped->write_generation(p, gen);
    batched->write_generation(p, gen);
  }
  for (const char* name : {"krsie_dfa_trans", "krsie_dfa_states", "krsie_hooks"}) {
    std::vector<std::uint8_t> m = array_contents(mapped->at(name)), b = array_contents(batched->at(name));
    EXPECT_EQ(m, b) << name;
  }
  // State 0's edge on 't' (slot 2 + 't'), in generation 1's half (512 slots in): owner state 0 of
  // that half (8 states in) + 1, next state 1 of it.
  std::vector<std::uint8_t> trans = array_contents(mapped->at("krsie_dfa_trans"));
  krsie_dfa_trans t0, t1;
  std::memcpy(&t0, trans.data() + (2 + 't') * sizeof t0, sizeof t0);
  std::memcpy(&t1, trans.data() + (512 + 2 + 't') * sizeof t1, sizeof t1);
  EXPECT_EQ(t0.check, 1u);
  EXPECT_EQ(t0.next, 1u);
  EXPECT_EQ(t1.check, 8u + 1);
  EXPECT_EQ(t1.next, 8u + 1);
  // Purging generation 1 zeroes its transition half (stale slots would read as edges) either way
  // and leaves generation 0's.
  mapped->purge_generation(1);
  batched->purge_generation(1);
  trans = array_contents(mapped->at("krsie_dfa_trans"));
  EXPECT_EQ(trans, array_contents(batched->at("krsie_dfa_trans")));
  std::memcpy(&t0, trans.data() + (2 + 't') * sizeof t0, sizeof t0);
  std::memcpy(&t1, trans.data() + (512 + 2 + 't') * sizeof t1, sizeof t1);
  EXPECT_EQ(t0.check, 1u);
  EXPECT_EQ(t1.check, 0u);
  EXPECT_EQ(t1.next, 0u);
}

TEST(LoaderValidation, CorruptObjectsLeaveNothingBehind) {
  TempDir dir;
  LoaderPaths paths{dir / "bpf", dir / "state"};
  auto bytes = make_object(dir, metadata(), serialize(small_records()));
  std::vector<std::vector<std::uint8_t>> bad = {
      {}, std::vector<std::uint8_t>(bytes.begin(), bytes.begin() + 100),
      std::vector<std::uint8_t>(bytes.begin(), bytes.end() - 10), make_object(dir, "{", serialize(small_records()))};
  for (std::size_t i = 0; i < bad.size(); ++i) {
    std::string obj = dir / ("bad" + std::to_string(i) + ".o");
    write(obj, bad[i]);
    LoadRequest req;
    req.object_path = obj;
    req.targets.node_wide = true;
    try {
      load_policy(paths, req);
      ADD_FAILURE() << "loaded a corrupt object";
    } catch (const RuntimeError& e) {
      EXPECT_EQ(e.kind(), ErrorKind::bad_object) << e.what();
      EXPECT_NE(std::string(e.what()).find(obj), std::string::npos) << "the error names the file: " << e.what();
    }
    EXPECT_TRUE(empty_or_missing(paths.bpffs_root));
    EXPECT_TRUE(empty_or_missing(paths.state_root));
  }
}

// ---- generations ---------------------------------------------------------------------------

MapRecord find(const std::vector<MapRecord>& records, const std::string& map) {
  for (const MapRecord& r : records)
    if (r.map == map) return r;
  ADD_FAILURE() << "no record of " << map;
  return {};
}

TEST(Generations, GenerationZeroIsTheCompiledForm) {
  for (const MapRecord& r : small_records()) {
    if (r.map == "krsie_config") continue;
    MapRecord g = record_for_generation(r, 0, {100, 200});
    EXPECT_EQ(g.key, r.key) << r.map;
    EXPECT_EQ(g.value, r.value) << r.map;
    EXPECT_EQ(key_generation(r.map, g.key, {100, 200}), 0u) << r.map;
  }
}

TEST(Generations, GenerationOneRewritesEveryKeyAndStateLink) {
  const std::uint32_t half = 100, slots = 300;
  const DfaHalves halves{half, slots};
  auto records = small_records();
  auto rule = record_for_generation(find(records, "krsie_rules"), 1, halves);
  EXPECT_EQ(as<krsie_rule_key>(rule.key).generation, 1u);
  EXPECT_EQ(as<krsie_rule_key>(rule.key).hook, std::uint32_t{KRSIE_HOOK_FILE_OPEN});
  EXPECT_EQ(rule.value, find(records, "krsie_rules").value);

  auto hook = record_for_generation(find(records, "krsie_hooks"), 1, halves);
  EXPECT_EQ(as<std::uint32_t>(hook.key), std::uint32_t{KRSIE_HOOK_MAX + KRSIE_HOOK_FILE_OPEN});
  auto conf = as<krsie_hook_conf>(hook.value);
  EXPECT_EQ(conf.dfa[0], half);              // start state moved into generation 1's half
  EXPECT_EQ(conf.dfa[1], KRSIE_DFA_DEAD);    // "none" stays "none"
  EXPECT_EQ(conf.exe_dfa, KRSIE_DFA_DEAD);
  EXPECT_EQ(conf.nrules, 1u);

  auto state = record_for_generation(find(records, "krsie_dfa_states"), 1, halves);
  EXPECT_EQ(as<std::uint32_t>(state.key), half);
  EXPECT_EQ(as<krsie_dfa_state>(state.value).other, KRSIE_DFA_DEAD);
  EXPECT_EQ(as<krsie_dfa_state>(state.value).base, slots + 2);  // its row moved into generation 1's slots
  auto edge = record_for_generation(find(records, "krsie_dfa_trans"), 1, halves);
  EXPECT_EQ(as<std::uint32_t>(edge.key), slots + 2 + 't');
  EXPECT_EQ(as<krsie_dfa_trans>(edge.value).check, half + 1);  // owner: state `half`, stored + 1
  EXPECT_EQ(as<krsie_dfa_trans>(edge.value).next, half + 1);

  auto lpm = record_for_generation(find(records, "krsie_lpm4"), 1, halves);
  EXPECT_EQ(as<krsie_lpm4_key>(lpm.key).table, ((KRSIE_HOOK_SOCKET_CONNECT << 8) | 1) | KRSIE_TABLE_GEN_BIT);
  EXPECT_EQ(as<krsie_lpm4_key>(lpm.key).prefixlen, 64u);  // the generation bit is inside the prefix
  auto str = record_for_generation(find(records, "krsie_strings"), 1, halves);
  EXPECT_EQ(as<krsie_string_key>(str.key).table & KRSIE_TABLE_GEN_BIT, KRSIE_TABLE_GEN_BIT);
  EXPECT_STREQ(as<krsie_string_key>(str.key).s, "cat");
  krsie_inode_set_key ik{8, 42, (KRSIE_HOOK_FILE_OPEN << 8), 0};
  auto inode = record_for_generation({"krsie_inodes", bytes_of(ik), bytes_of(std::uint64_t{1})}, 1, halves);
  EXPECT_EQ(as<krsie_inode_set_key>(inode.key).table, (KRSIE_HOOK_FILE_OPEN << 8) | KRSIE_TABLE_GEN_BIT);
  EXPECT_EQ(as<krsie_inode_set_key>(inode.key).ino, 42u);

  for (const MapRecord& r : {rule, hook, state, edge, lpm, str, inode})
    EXPECT_EQ(key_generation(r.map, r.key, halves), 1u) << r.map;
}

TEST(Generations, StatesBeyondAGenerationAreRefused) {
  MapRecord state{"krsie_dfa_states", bytes_of(std::uint32_t{100}), bytes_of(krsie_dfa_state{KRSIE_DFA_DEAD, 0, 0})};
  EXPECT_THROW(record_for_generation(state, 0, {100, 10}), RuntimeError);
  EXPECT_NO_THROW(record_for_generation(state, 0, {101, 10}));
  EXPECT_THROW(record_for_generation({"krsie_config", bytes_of(std::uint32_t{0}), bytes_of(krsie_config{})}, 1, {100, 10}),
               RuntimeError);
  EXPECT_FALSE(key_generation("krsie_targets", bytes_of(std::uint64_t{5}), {100, 10}));
  // Transition slots: beyond a generation's half, a free slot, or an owner beyond the states.
  MapRecord slot{"krsie_dfa_trans", bytes_of(std::uint32_t{10}), bytes_of(krsie_dfa_trans{1, KRSIE_DFA_DEAD})};
  EXPECT_THROW(record_for_generation(slot, 0, {100, 10}), RuntimeError);
  EXPECT_NO_THROW(record_for_generation(slot, 0, {100, 11}));
  MapRecord free_slot{"krsie_dfa_trans", bytes_of(std::uint32_t{1}), bytes_of(krsie_dfa_trans{0, 0})};
  EXPECT_THROW(record_for_generation(free_slot, 0, {100, 10}), RuntimeError);
  MapRecord stranger{"krsie_dfa_trans", bytes_of(std::uint32_t{1}), bytes_of(krsie_dfa_trans{101, 0})};
  EXPECT_THROW(record_for_generation(stranger, 0, {100, 10}), RuntimeError);
  MapRecord state0{"krsie_dfa_states", bytes_of(std::uint32_t{0}), bytes_of(krsie_dfa_state{KRSIE_DFA_DEAD, 0, 0})};
  MapRecord own{"krsie_dfa_trans", bytes_of(std::uint32_t{1}), bytes_of(krsie_dfa_trans{1, 0})};
  EXPECT_NO_THROW(validate_records(views({state0, own})));
  EXPECT_THROW(validate_records(views({state0, stranger})), RuntimeError);
  EXPECT_THROW(validate_records(views({state0, free_slot})), RuntimeError);
}

TEST(Generations, MapsAreSizedForTwoGenerations) {
  std::map<std::string, std::uint32_t> counts = {{"krsie_rules", 1000}, {"krsie_dfa_states", 5000},
                                                 {"krsie_dfa_trans", 10}};
  auto sizes = plan_map_sizes(counts, 3);
  EXPECT_EQ(sizes["krsie_rules"], 3000u);
  EXPECT_EQ(sizes["krsie_dfa_trans"], 4096u);       // the minimum, two halves
  EXPECT_EQ(sizes["krsie_dfa_states"], 2 * 7500u);  // two halves of 3 * 5000 / 2
  EXPECT_EQ(sizes["krsie_lpm4"], 1024u);
  EXPECT_EQ(sizes.count("krsie_hooks"), 0u);  // fixed by the template
  auto exact = plan_map_sizes(counts, 0);
  EXPECT_EQ(exact["krsie_rules"], 1000u);
  EXPECT_EQ(exact["krsie_lpm4"], 1u);
  // headroom 1: a generation still holds the policy's own states.
  EXPECT_GE(plan_map_sizes(counts, 1)["krsie_dfa_states"] / 2, 5000u);
}

TEST(Generations, AReplacementMustFitBesideThePolicyInForce) {
  std::map<std::string, std::uint32_t> cap = {{"krsie_rules", 512}, {"krsie_dfa_states", 4096}};
  EXPECT_TRUE(check_fit({{"krsie_rules", 200}}, {{"krsie_rules", 300}, {"krsie_dfa_states", 2048}}, cap).empty());
  auto p = check_fit({{"krsie_rules", 300}}, {{"krsie_rules", 300}, {"krsie_dfa_states", 2049}}, cap);
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0], "krsie_dfa_states: the new policy has 2049 automaton states, a generation holds 2048");
  EXPECT_EQ(p[1], "krsie_rules: the new policy needs 300 entries beside the 300 in force, the map holds 512");
}

TEST(Generations, EnforceBitsChangeOneGenerationOrBoth) {
  EXPECT_EQ(enforce_bits(0, 1, true, false), 2u);
  EXPECT_EQ(enforce_bits(3, 0, false, false), 2u);
  EXPECT_EQ(enforce_bits(1, 0, true, true), 3u);
  EXPECT_EQ(enforce_bits(3, 1, false, true), 0u);
}

TEST(Generations, EntryCountsIncludeStatesAndInodes) {
  TempDir dir;
  PolicyObject p = PolicyObject::parse(make_object(dir, metadata(), serialize(small_records())));
  auto counts = entry_counts(p);
  EXPECT_EQ(counts["krsie_rules"], 1u);
  EXPECT_EQ(counts["krsie_dfa_states"], 2u);
  EXPECT_EQ(counts["krsie_dfa_trans"], 2u + 't' + 1);  // slots up to the highest one used
  EXPECT_EQ(counts["krsie_inodes"], 1u);
  EXPECT_EQ(counts.count("krsie_config"), 0u);
}

// krsie_config.table_epoch, which the path memo compares, advances as a Gray code: one bit, so
// one byte, changes per replacement (a program reading the word while the update copies it byte
// by byte sees the old or the new value, never an older one), and it does not repeat soon.
TEST(TableEpoch, OneBitChangesPerReplacement) {
  std::set<std::uint32_t> seen{0};
  std::uint32_t e = 0;
  for (int i = 0; i < 100000; ++i) {
    std::uint32_t next = next_table_epoch(e);
    EXPECT_EQ(__builtin_popcount(e ^ next), 1) << e;
    EXPECT_TRUE(seen.insert(next).second) << next;
    e = next;
  }
  EXPECT_EQ(next_table_epoch(0x80000000u), 0u);  // wraps around after 2^32 steps
}

// ---- target filter (krsie_config.target_ids) --------------------------------------------------

TEST(TargetFilter, IdsThatStayTargetsKeepTheirSlot) {
  FilterSlots none{};
  EXPECT_EQ(*next_filter_slots(none, {7}), (FilterSlots{7, 0, 0, 0}));
  // A replacement adds the new generation's target beside the old one, then drops the old one.
  FilterSlots both = *next_filter_slots({7, 0, 0, 0}, {7, 9});
  EXPECT_EQ(both, (FilterSlots{7, 9, 0, 0}));
  EXPECT_EQ(*next_filter_slots(both, {9}), (FilterSlots{0, 9, 0, 0}));
  // A freed slot is reused; the others do not move.
  EXPECT_EQ(*next_filter_slots({0, 9, 0, 0}, {9, 11, 12}), (FilterSlots{11, 9, 12, 0}));
  EXPECT_EQ(*next_filter_slots({11, 9, 12, 0}, {12, 11, 9}), (FilterSlots{11, 9, 12, 0}));
  // No target: every slot empty (the filter rejects every caller).
  EXPECT_EQ(*next_filter_slots({11, 9, 12, 0}, {}), FilterSlots{});
}

TEST(TargetFilter, MoreTargetsThanSlotsLeaveTheFilterUnknown) {
  EXPECT_FALSE(next_filter_slots({}, {1, 2, 3, 4, 5}));
  EXPECT_EQ(*next_filter_slots({}, {1, 2, 3, 4}), (FilterSlots{1, 2, 3, 4}));
  EXPECT_EQ(*next_filter_slots({}, {5, 5, 0}), (FilterSlots{5, 0, 0, 0}));  // duplicates and 0 ignored
  // Slots kept from before the filter was unknown stay where they are.
  EXPECT_EQ(*next_filter_slots({4, 3, 2, 1}, {1, 3, 8}), (FilterSlots{8, 3, 0, 1}));
}

// ---- arguments and targets -----------------------------------------------------------------

TEST(LoaderValidation, APolicyWithoutTargetsNeedsTheOperatorToSayWhat) {
  PolicyMetadata meta;
  meta.name = "pods";
  meta.pod_targets = 1;
  try {
    resolve_targets(meta, {});
    FAIL() << "expected an error";
  } catch (const RuntimeError& e) {
    EXPECT_EQ(e.kind(), ErrorKind::usage);
    std::string what = e.what();
    EXPECT_NE(what.find("policy 'pods' has no cgroup targets"), std::string::npos);
    EXPECT_NE(what.find("--node-wide"), std::string::npos);
    EXPECT_NE(what.find("pod selector"), std::string::npos);
  }
}

TEST(LoaderValidation, TargetsMustBeCgroupV2Directories) {
  PolicyMetadata meta;
  meta.name = "p";
  try {
    resolve_targets(meta, {{"/tmp"}, false});
    FAIL() << "expected an error";
  } catch (const RuntimeError& e) {
    EXPECT_EQ(e.kind(), ErrorKind::usage);
    EXPECT_NE(std::string(e.what()).find("/tmp is not on a cgroup v2 filesystem"), std::string::npos);
  }
  EXPECT_THROW(resolve_targets(meta, {{"/nonexistent/krsie"}, false}), RuntimeError);
  EXPECT_THROW(resolve_targets(meta, {{""}, false}), RuntimeError);
  auto root = cgroup2_mount_point();
  if (!root) GTEST_SKIP() << "cgroup2 is not mounted";
  auto t = resolve_targets(meta, {{}, true});
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].path, *root);
  EXPECT_EQ(t[0].origin, "node-wide");
  EXPECT_EQ(t[0].id, cgroup_id(*root));
  // The same cgroup twice (node-wide and by path) is one target.
  EXPECT_EQ(resolve_targets(meta, {{*root}, true}).size(), 1u);
}

TEST(LoaderValidation, BadRequestsAreRefusedBeforeTheKernelIsAsked) {
  TempDir dir;
  LoaderPaths paths{dir / "bpf", dir / "state"};
  std::string obj = dir / "p.o";
  write(obj, make_object(dir, metadata("unit", R"([{"pod": {"namespace": "x"}}])"), serialize(small_records())));
  LoadRequest req;
  req.object_path = obj;
  try {
    load_policy(paths, req);
    FAIL() << "expected a usage error";
  } catch (const RuntimeError& e) {
    EXPECT_EQ(e.kind(), ErrorKind::usage) << e.what();
  }
  req.headroom = 0;
  EXPECT_THROW(load_policy(paths, req), RuntimeError);
  ReplaceRequest rep{"other", obj, std::nullopt, std::nullopt};
  try {
    replace_policy(paths, rep);
    FAIL() << "expected a usage error";
  } catch (const RuntimeError& e) {
    EXPECT_EQ(e.kind(), ErrorKind::usage);
    EXPECT_NE(std::string(e.what()).find("holds policy 'unit', not 'other'"), std::string::npos);
  }
  try {
    unload_policy(paths, "unit");
    FAIL() << "expected not_loaded";
  } catch (const RuntimeError& e) {
    EXPECT_EQ(e.kind(), ErrorKind::not_loaded);
  }
  EXPECT_THROW(unload_policy(paths, "../etc"), RuntimeError);
  EXPECT_THROW(set_policy_mode(paths, "unit", true), RuntimeError);
  EXPECT_FALSE(fs::exists(paths.bpffs_root));
  EXPECT_FALSE(fs::exists(paths.state_root));
}

TEST(LoaderValidation, PolicyNamesAreSafeDirectoryNames) {
  EXPECT_TRUE(valid_policy_name("web-frontend_2"));
  EXPECT_FALSE(valid_policy_name(""));
  EXPECT_FALSE(valid_policy_name("a.b"));  // bpffs refuses dots
  EXPECT_FALSE(valid_policy_name("../x"));
  EXPECT_FALSE(valid_policy_name("+loading-12-x"));
  EXPECT_FALSE(valid_policy_name(std::string(65, 'a')));
}

TEST(LoaderValidation, NothingLoadedListsNothing) {
  TempDir dir;
  LoaderPaths paths{dir / "bpf", dir / "state"};
  EXPECT_TRUE(list_policies(paths).empty());
  EXPECT_EQ(status_table({}), "no policies loaded\n");
  EXPECT_EQ(status_json({}, true), "[]\n");
  EXPECT_TRUE(unload_all(paths).empty());
  // A leftover staging directory is reported, not mistaken for a policy.
  fs::create_directories(paths.state_root + "/+loading-1-x");
  auto listed = list_policies(paths);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_NE(listed[0].problems.at(0).find("interrupted"), std::string::npos);
}

// ---- state ---------------------------------------------------------------------------------

TEST(LoaderState, RoundTripsThroughJson) {
  PolicyState s;
  s.name = "web";
  s.created = "2025-01-01T00:00:00.000Z";
  s.headroom = 3;
  s.option_cgroups = {"/sys/fs/cgroup/a"};
  s.node_wide = true;
  s.targets = {{"/sys/fs/cgroup/a", 42, "option"}};
  s.objects[1] = "policy.g1.o";
  s.sources[1] = "/x/web.o";
  s.replacements = 2;
  s.template_digest = "0123456789abcdef";
  s.backend = "llvm";
  PolicyState t = PolicyState::from_json(s.to_json(), "state.json");
  EXPECT_EQ(t.name, "web");
  EXPECT_EQ(t.targets.at(0).id, 42u);
  EXPECT_EQ(t.targets.at(0).origin, "option");
  EXPECT_EQ(t.objects[0], "");
  EXPECT_EQ(t.objects[1], "policy.g1.o");
  EXPECT_EQ(t.sources[1], "/x/web.o");
  EXPECT_TRUE(t.node_wide);
  EXPECT_EQ(t.replacements, 2u);
  EXPECT_EQ(t.backend, "llvm");
  EXPECT_THROW(PolicyState::from_json("{}", "x"), RuntimeError);
  EXPECT_THROW(PolicyState::from_json("{\"format\": \"krsie-loader-state\", \"version\": 9}", "x"), RuntimeError);
  EXPECT_THROW(PolicyState::from_json("garbage", "x"), RuntimeError);
}

TEST(LoaderState, FilesAreWrittenAtomically) {
  TempDir dir;
  write_file_atomic(dir / "f", std::vector<std::uint8_t>{1, 2, 3});
  EXPECT_EQ(read_whole_file(dir / "f"), (std::vector<std::uint8_t>{1, 2, 3}));
  EXPECT_EQ(list_dir(dir.path.string(), false), std::vector<std::string>{"f"});  // no temporary left
  EXPECT_EQ(remove_tree(dir / "f"), "");
  EXPECT_EQ(remove_tree(dir / "missing"), "");
}

// `replace` reads the new object from its copy in the state directory: the copy is what was read,
// whatever happens to the source afterwards, and a failed replacement leaves no staging file.
TEST(LoaderState, AStagedCopyIsWhatWasReadAndStays) {
  TempDir dir;
  std::vector<std::uint8_t> content(200000);
  for (std::size_t i = 0; i < content.size(); ++i) content[i] = static_cast<std::uint8_t>(i * 7);
  write(dir / "source.o", content);
  {
    StagedCopy copy(dir / "source.o", dir / "staging.o");
    EXPECT_EQ(std::vector<std::uint8_t>(copy.bytes().begin(), copy.bytes().end()), content);
    write(dir / "source.o", {9, 9, 9});  // rewritten in place: the copy does not change
    EXPECT_EQ(copy.bytes().size(), content.size());
    EXPECT_EQ(copy.bytes()[1], 7);
    copy.commit(dir / "kept.o");
    EXPECT_EQ(copy.bytes()[2], 14);  // still mapped after the rename
  }
  EXPECT_EQ(read_whole_file(dir / "kept.o"), content);  // committed: stays
  EXPECT_FALSE(fs::exists(dir / "staging.o"));
  {
    StagedCopy copy(dir / "source.o", dir / "staging.o");
    EXPECT_EQ(copy.bytes().size(), 3u);
    EXPECT_TRUE(fs::exists(dir / "staging.o"));
  }
  EXPECT_FALSE(fs::exists(dir / "staging.o"));  // not committed: removed
  write(dir / "empty.o", {});
  {
    StagedCopy copy(dir / "empty.o", dir / "staging.o");
    EXPECT_TRUE(copy.bytes().empty());
    // An empty object is refused like any other bad object.
    EXPECT_NE(parse_error_of([&] { PolicyObject::parse(copy.mapping(), copy.bytes()); }).find("the file is empty"),
              std::string::npos);
  }
  try {
    StagedCopy missing(dir / "missing.o", dir / "staging.o");
    ADD_FAILURE() << "a missing source was copied";
  } catch (const RuntimeError& e) {
    EXPECT_EQ(e.kind(), ErrorKind::bad_object);
    EXPECT_NE(std::string(e.what()).find("cannot open " + (dir / "missing.o")), std::string::npos);
  }
  EXPECT_THROW(StagedCopy(dir / "source.o", dir / "no-such-dir/staging.o"), RuntimeError);
  EXPECT_FALSE(fs::exists(dir / "staging.o"));
  // A policy object read from its staged copy is the same as one read into memory.
  std::vector<std::uint8_t> object = make_object_v2(dir, metadata_v2(), loader_table_bytes());
  write(dir / "policy.o", object);
  StagedCopy copy(dir / "policy.o", dir / "staging.o");
  PolicyObject mapped = PolicyObject::parse(copy.mapping(), copy.bytes(), RuleText::skip);
  PolicyObject read = PolicyObject::parse(object, RuleText::skip);
  EXPECT_EQ(mapped.meta.inode_paths.size(), read.meta.inode_paths.size());
  ASSERT_EQ(mapped.records.size(), read.records.size());
  for (std::size_t i = 0; i < read.records.size(); ++i) {
    EXPECT_EQ(mapped.records[i].abi, read.records[i].abi);
    EXPECT_TRUE(std::equal(mapped.records[i].value.begin(), mapped.records[i].value.end(), read.records[i].value.begin()));
  }
  EXPECT_NO_THROW(mapped.check_template());
}

// `show` and `events` read kept objects without the lock: what they get is a whole file.
TEST(LoaderState, AKeptObjectIsReadWhole) {
  TempDir dir;
  std::vector<std::uint8_t> content(200000);
  for (std::size_t i = 0; i < content.size(); ++i) content[i] = static_cast<std::uint8_t>(i * 7 + 5);
  write(dir / "g0.o", content);
  EXPECT_EQ(read_kept_object(dir / "g0.o"), content);
  write(dir / "empty.o", {});
  EXPECT_TRUE(read_kept_object(dir / "empty.o").empty());
  try {
    read_kept_object(dir / "missing.o");
    ADD_FAILURE() << "a missing file was read";
  } catch (const RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot read " + (dir / "missing.o")), std::string::npos) << e.what();
  }
}

// `replace` stages into one file under the lock: a commit exchanges it with the object it
// replaces, which stays as the spare the next copy overwrites in place (cut to the new size).
TEST(LoaderState, AStagedCopyOverwritesTheSpareAndCommitKeepsTheReplacedOne) {
  TempDir dir;
  std::vector<std::uint8_t> big(300000), small(5000), mid(100000);
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<std::uint8_t>(i * 3 + 1);
  for (std::size_t i = 0; i < small.size(); ++i) small[i] = static_cast<std::uint8_t>(i * 5 + 2);
  for (std::size_t i = 0; i < mid.size(); ++i) mid[i] = static_cast<std::uint8_t>(i * 11 + 3);
  write(dir / "big.o", big);
  write(dir / "small.o", small);
  write(dir / "mid.o", mid);
  {
    StagedCopy copy(dir / "big.o", dir / "spare.o");
    copy.commit(dir / "g0.o");  // nothing there: renamed
  }
  EXPECT_EQ(read_whole_file(dir / "g0.o"), big);
  EXPECT_FALSE(fs::exists(dir / "spare.o"));
  write(dir / "spare.o", big);  // a spare larger than the next object
  struct stat before{};
  ASSERT_EQ(stat((dir / "spare.o").c_str(), &before), 0);
  {
    StagedCopy copy(dir / "small.o", dir / "spare.o");
    EXPECT_EQ(std::vector<std::uint8_t>(copy.bytes().begin(), copy.bytes().end()), small);
    struct stat during{};
    ASSERT_EQ(stat((dir / "spare.o").c_str(), &during), 0);
    EXPECT_EQ(during.st_ino, before.st_ino);  // the same file, overwritten
    EXPECT_EQ(during.st_size, static_cast<off_t>(small.size()));
    copy.commit(dir / "g0.o");  // exchanged: g0.o's object becomes the spare
    EXPECT_EQ(copy.bytes()[1], small[1]);
  }
  EXPECT_EQ(read_whole_file(dir / "g0.o"), small);
  EXPECT_EQ(read_whole_file(dir / "spare.o"), big);
  {
    StagedCopy copy(dir / "mid.o", dir / "spare.o");
    EXPECT_EQ(std::vector<std::uint8_t>(copy.bytes().begin(), copy.bytes().end()), mid);
  }  // not committed: the spare, now half the new object's bytes, is removed
  EXPECT_FALSE(fs::exists(dir / "spare.o"));
  EXPECT_EQ(read_whole_file(dir / "g0.o"), small);
  fs::create_directory(dir / "spare.o");  // not a file: refused, and left alone
  EXPECT_THROW(StagedCopy(dir / "mid.o", dir / "spare.o"), RuntimeError);
  EXPECT_TRUE(fs::is_directory(dir / "spare.o"));
}

// The copy falls back from copy_file_range to sendfile (another file system) and to read/write
// (a source neither takes, such as a FIFO), with the same bytes each way.
TEST(LoaderState, AStagedCopyFallsBackToOtherWaysOfCopying) {
  TempDir dir;
  std::vector<std::uint8_t> content(300000);
  for (std::size_t i = 0; i < content.size(); ++i) content[i] = static_cast<std::uint8_t>(i * 13 + 1);
  if (fs::is_directory("/dev/shm")) {  // tmpfs, while the test's directory is on /tmp's file system
    char tmpl[] = "/dev/shm/krsie-staged-XXXXXX";
    int fd = mkstemp(tmpl);
    ASSERT_GE(fd, 0);
    close(fd);
    write(tmpl, content);
    {
      StagedCopy copy(tmpl, dir / "staging.o");
      EXPECT_TRUE(std::equal(content.begin(), content.end(), copy.bytes().begin(), copy.bytes().end()));
    }
    unlink(tmpl);
  }
  std::string fifo = dir / "fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  std::thread writer([&] { write(fifo, content); });
  {
    StagedCopy copy(fifo, dir / "staging.o");
    writer.join();
    EXPECT_TRUE(std::equal(content.begin(), content.end(), copy.bytes().begin(), copy.bytes().end()));
  }
  EXPECT_FALSE(fs::exists(dir / "staging.o"));
}

// ---- events --------------------------------------------------------------------------------

TEST(Events, DecodeWithTheRuleSource) {
  PolicyMetadata meta;
  meta.rules.push_back({3, "file_open", {"/src/web.krs:12:3"}, "deny ...", "secrets", "pii"});
  krsie_event ev{};
  ev.time_ns = 5'000'000'000;
  ev.cgroup_id = 0xfffffffffff;  // no such cgroup: reported by id
  ev.pid = 11;
  ev.tgid = 10;
  ev.hook = KRSIE_HOOK_FILE_OPEN;
  ev.rule_id = 3;
  ev.decision = KRSIE_DECISION_DENY;
  ev.enforced = 1;
  std::strcpy(ev.comm, "cat");
  std::strcpy(ev.name, "shadow");
  CgroupNames names;
  EventRecord e = decode_event(bytes_of(ev), "web", &meta, names, 1'000'000'000);
  EXPECT_EQ(e.time, "1970-01-01T00:00:06.000000Z");
  EXPECT_EQ(e.rule, 3u);
  EXPECT_EQ(e.source, "/src/web.krs:12");
  EXPECT_EQ(e.message, "secrets");
  EXPECT_EQ(e.tag, "pii");
  EXPECT_EQ(e.hook, "file_open");
  EXPECT_EQ(e.pid, 10u);
  EXPECT_EQ(e.tid, 11u);
  EXPECT_EQ(e.cgroup, std::to_string(0xfffffffffffull));
  EXPECT_EQ(e.object, "shadow");
  std::string json = event_json(e);
  for (const char* field : {"\"time\":", "\"policy\":\"web\"", "\"rule\":3", "\"source\":\"/src/web.krs:12\"",
                            "\"message\":\"secrets\"", "\"tag\":\"pii\"", "\"decision\":\"deny\"", "\"enforced\":true",
                            "\"hook\":\"file_open\"", "\"pid\":10", "\"comm\":\"cat\"", "\"cgroup\":", "\"object\":\"shadow\""})
    EXPECT_NE(json.find(field), std::string::npos) << field << " in " << json;
  EXPECT_NE(event_text(e).find("DENY file_open shadow by cat[10]"), std::string::npos) << event_text(e);
  EXPECT_NE(event_text(e).find("rule 3 at /src/web.krs:12 \"secrets\" [pii]"), std::string::npos);
}

TEST(Events, NetworkObjectsPostureAndAuditOnly) {
  krsie_event ev{};
  ev.hook = KRSIE_HOOK_SOCKET_CONNECT;
  ev.rule_id = 0xffffffff;
  ev.decision = KRSIE_DECISION_DENY;
  ev.enforced = 0;
  ev.family = 2;
  ev.port = 9050;
  ev.addr[0] = 127;
  ev.addr[3] = 1;
  CgroupNames names;
  EventRecord e = decode_event(bytes_of(ev), "tor", nullptr, names, 0);
  EXPECT_EQ(e.object, "127.0.0.1:9050");
  EXPECT_EQ(e.address, "127.0.0.1");
  EXPECT_EQ(e.port, 9050);
  EXPECT_FALSE(e.rule);
  EXPECT_EQ(e.reason, "posture");
  EXPECT_NE(event_json(e).find("\"rule\":null"), std::string::npos);
  EXPECT_NE(event_text(e).find("DENY (audit only) socket_connect 127.0.0.1:9050"), std::string::npos);
  ev.family = 10;
  std::memset(ev.addr, 0, 16);
  ev.addr[15] = 1;
  EXPECT_EQ(decode_event(bytes_of(ev), "tor", nullptr, names, 0).object, "[::1]:9050");
  ev.family = 0;
  ev.hook = KRSIE_HOOK_CAPABLE;
  ev.fields[0] = 13;
  EXPECT_EQ(decode_event(bytes_of(ev), "b", nullptr, names, 0).object, "cap=13");
  EXPECT_THROW(decode_event(std::vector<std::uint8_t>(10), "b", nullptr, names, 0), RuntimeError);
}

// Exact rule paths are resolved per directory; the answers must be stat()'s.
TEST(Inodes, PathStatterAnswersAsStatDoes) {
  TempDir dir;
  fs::create_directories(dir / "a/b");
  fs::create_directories(dir / "c");
  fs::create_directories(dir / "nodirx");  // a name that starts like the missing "nodir"
  std::ofstream(dir / "nodirx/f4") << "4";
  std::ofstream(dir / "a/f1") << "1";
  std::ofstream(dir / "a/b/f2") << "2";
  std::ofstream(dir / "c/f3") << "3";
  fs::create_symlink(dir / "a", dir / "link");         // a directory symlink
  fs::create_symlink(dir / "a/f1", dir / "c/f1link");  // a file symlink
  fs::create_symlink(dir / "loop", dir / "loop");      // a loop
  std::vector<std::string> paths = {
      dir / "a/f1",      dir / "a/missing", dir / "a/b/f2", dir / "a/b",     dir / "a/b/..",     dir / "a/b/.",
      dir / "link/f1",   dir / "link/b/f2", dir / "c/f1link", dir / "c/f3",  dir / "a/f1/x",     dir / "nodir/x",
      dir / "nodir/y",   dir / "loop/x",    dir / "a/",     dir / "c/f3",    dir / "a/f1",       "/",
      "relative/path",   "",                dir / "a//f1",  dir / "c/../a/f1",
      // Below directories that cannot be resolved (answered from the first one found missing),
      // and next to them.
      dir / "nodir/deeper/x", dir / "nodir/deeper/y", dir / "nodir/other/z", dir / "nodirx/f4", dir / "nodir",
      dir / "nodir/x",        dir / "a/f1/sub/x",     dir / "a/f1/sub2/y",
      dir / "link/nodir/z", dir / "a/nodir/w", dir / "a/f1", dir / "a/nodir/../f1", dir / "nodir/../a/f1",
      dir / "loop/sub/x", dir / "c/f1link/x/y", dir / "a/b/f2", dir / "link/b/f2"};
  PathStatter statter;
  for (const std::string& p : paths) {
    SCOPED_TRACE(p);
    struct stat want{};
    bool exists = stat(p.c_str(), &want) == 0;
    std::optional<struct stat> got = statter.stat_path(p);
    ASSERT_EQ(got.has_value(), exists);
    if (exists) {
      EXPECT_EQ(got->st_dev, want.st_dev);
      EXPECT_EQ(got->st_ino, want.st_ino);
    }
  }
}

}  // namespace
}  // namespace krsie::runtime

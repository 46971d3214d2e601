#include "backend/generic.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <optional>
#include <set>
#include <sstream>
#include <string_view>
#include <tuple>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "backend/dfa_pack.h"
#include "backend/path_dfa.h"
#include "krsie_abi.h"
#include "pir/matchers.h"
#include "pir/print.h"
#include "sema/hook_catalog.h"

static_assert(std::string_view(krsie::backend::k_forget_program) == KRSIE_FORGET_PROGRAM);

namespace krsie::backend {

namespace {

const std::map<std::string, std::uint32_t>& hook_ids() {
  static const std::map<std::string, std::uint32_t> ids = {
      {"file_open", KRSIE_HOOK_FILE_OPEN},
      {"bprm_check_security", KRSIE_HOOK_BPRM_CHECK_SECURITY},
      {"path_mknod", KRSIE_HOOK_PATH_MKNOD},
      {"path_unlink", KRSIE_HOOK_PATH_UNLINK},
      {"path_rmdir", KRSIE_HOOK_PATH_RMDIR},
      {"path_mkdir", KRSIE_HOOK_PATH_MKDIR},
      {"path_rename", KRSIE_HOOK_PATH_RENAME},
      {"path_link", KRSIE_HOOK_PATH_LINK},
      {"path_symlink", KRSIE_HOOK_PATH_SYMLINK},
      {"path_chmod", KRSIE_HOOK_PATH_CHMOD},
      {"path_chown", KRSIE_HOOK_PATH_CHOWN},
      {"path_truncate", KRSIE_HOOK_PATH_TRUNCATE},
      {"socket_connect", KRSIE_HOOK_SOCKET_CONNECT},
      {"socket_bind", KRSIE_HOOK_SOCKET_BIND},
      {"socket_listen", KRSIE_HOOK_SOCKET_LISTEN},
      {"socket_accept", KRSIE_HOOK_SOCKET_ACCEPT},
      {"socket_create", KRSIE_HOOK_SOCKET_CREATE},
      {"socket_sendmsg", KRSIE_HOOK_SOCKET_SENDMSG},
      {"capable", KRSIE_HOOK_CAPABLE},
      {"task_fix_setuid", KRSIE_HOOK_TASK_FIX_SETUID},
      {"task_fix_setgid", KRSIE_HOOK_TASK_FIX_SETGID},
      {"ptrace_access_check", KRSIE_HOOK_PTRACE_ACCESS_CHECK},
      {"ptrace_traceme", KRSIE_HOOK_PTRACE_TRACEME},
      {"sb_mount", KRSIE_HOOK_SB_MOUNT},
      {"move_mount", KRSIE_HOOK_MOVE_MOUNT},
      {"kernel_read_file", KRSIE_HOOK_KERNEL_READ_FILE},
      {"kernel_load_data", KRSIE_HOOK_KERNEL_LOAD_DATA},
      {"kernel_module_request", KRSIE_HOOK_KERNEL_MODULE_REQUEST},
      {"bpf", KRSIE_HOOK_BPF},
      {"task_kill", KRSIE_HOOK_TASK_KILL},
      // No generic program: the LLVM backend compiles these (krsie_eval.bpf.h field extraction).
      {"bprm_creds_for_exec", KRSIE_HOOK_BPRM_CREDS_FOR_EXEC},
      {"file_mprotect", KRSIE_HOOK_FILE_MPROTECT},
      {"mmap_file", KRSIE_HOOK_MMAP_FILE},
      {"vm_enough_memory", KRSIE_HOOK_VM_ENOUGH_MEMORY},
      {"file_permission", KRSIE_HOOK_FILE_PERMISSION},
      {"file_ioctl", KRSIE_HOOK_FILE_IOCTL},
      {"inode_create", KRSIE_HOOK_INODE_CREATE},
      {"inode_link", KRSIE_HOOK_INODE_LINK},
      {"inode_mkdir", KRSIE_HOOK_INODE_MKDIR},
      {"inode_rename", KRSIE_HOOK_INODE_RENAME},
      {"inode_rmdir", KRSIE_HOOK_INODE_RMDIR},
      {"inode_symlink", KRSIE_HOOK_INODE_SYMLINK},
      {"inode_unlink", KRSIE_HOOK_INODE_UNLINK},
      {"locked_down", KRSIE_HOOK_LOCKED_DOWN},
      {"sb_umount", KRSIE_HOOK_SB_UMOUNT},
      {"socket_post_create", KRSIE_HOOK_SOCKET_POST_CREATE},
      {"socket_recvmsg", KRSIE_HOOK_SOCKET_RECVMSG},
      {"task_alloc", KRSIE_HOOK_TASK_ALLOC},
      {"task_free", KRSIE_HOOK_TASK_FREE},
  };
  return ids;
}

template <typename T>
std::vector<std::uint8_t> bytes_of(const T& v) {
  std::vector<std::uint8_t> out(sizeof(T));
  std::memcpy(out.data(), &v, sizeof(T));
  return out;
}

std::string hex(const std::vector<std::uint8_t>& b) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (std::uint8_t c : b) s += {digits[c >> 4], digits[c & 15]};
  return s;
}


// Distinct value sets of one (hook, field): each gets a bit.
template <typename Set>
struct SetTable {
  std::vector<Set> sets;
  std::vector<std::vector<std::uint32_t>> rules;  // per set: the rules that test it (diagnostics)
  std::optional<std::uint32_t> bit(const Set& s, std::optional<std::uint32_t> rule_id = std::nullopt) {
    auto it = std::find(sets.begin(), sets.end(), s);
    std::uint32_t b = static_cast<std::uint32_t>(it - sets.begin());
    if (it == sets.end()) {
      if (sets.size() >= 64) return std::nullopt;
      sets.push_back(s);
      rules.emplace_back();
    }
    if (rule_id && (rules[b].empty() || rules[b].back() != *rule_id)) rules[b].push_back(*rule_id);
    return b;
  }
};

class Lowering {
 public:
  Lowering(const pir::Policy& p, DiagnosticEngine& diags, const LowerOptions& options)
      : policy_(p), diags_(diags), options_(options) {}

  std::optional<GenericPolicy> run() {
    out_.name = policy_.name;
    out_.enforce = policy_.mode == pir::Mode::enforce;
    for (const pir::Hook& h : policy_.hooks) hook(h);
    if (failed_) return std::nullopt;
    emit_dfas();
    if (failed_) return std::nullopt;
    krsie_config cfg{out_.enforce ? 1u : 0u, 10000u};
    add("krsie_config", bytes_of(std::uint32_t{0}), bytes_of(cfg), std::string("config enforce=") + (out_.enforce ? "1" : "0") + " events_per_sec=10000");
    // Programs that remember path walks (krsie_eval.bpf.h, file_mask_memo): the memo is sound only
    // with its forgetting program attached beside them (krsie-load refuses an object without it,
    // and attaches it first).
    for (const char* user : KRSIE_MEMO_PROGRAMS)
      if (std::find(out_.programs.begin(), out_.programs.end(), user) != out_.programs.end()) {
        out_.programs.push_back(k_forget_program);
        break;
      }
    std::sort(out_.programs.begin(), out_.programs.end());
    // Sizes: at least 1 entry, the kernel refuses max_entries 0.
    auto size = [&](const char* m) { return std::max<std::uint32_t>(1, counts_[m]); };
    out_.map_sizes = {{"krsie_rules", size("krsie_rules")},           {"krsie_dfa_trans", std::max<std::uint32_t>(1, packer_.length())},
                      {"krsie_dfa_states", size("krsie_dfa_states")}, {"krsie_lpm4", size("krsie_lpm4")},
                      {"krsie_lpm6", size("krsie_lpm6")},             {"krsie_strings", size("krsie_strings")},
                      {"krsie_inodes", std::max<std::uint32_t>(1, static_cast<std::uint32_t>(out_.inode_paths.size()))}};
    return std::move(out_);
  }

 private:
  SourceRange origin_of(std::uint32_t rule_id) const {
    for (const pir::RuleInfo& info : policy_.rule_table)
      if (info.id == rule_id && !info.origins.empty()) return info.origins.front();
    return policy_.origin;
  }

  // The origin of rule `rule_id` whose source names `pattern` (merged rules have several
  // origins): the first that has it as a string literal, else the rule's first origin.
  SourceRange origin_naming(std::uint32_t rule_id, const std::string& pattern) const {
    const std::string quoted = "\"" + pattern + "\"";
    for (const pir::RuleInfo& info : policy_.rule_table)
      if (info.id == rule_id)
        for (const SourceRange& o : info.origins)
          if (o.file && o.end <= o.file->text().size() &&
              std::string_view(o.file->text()).substr(o.begin, o.end - o.begin).find(quoted) != std::string_view::npos)
            return o;
    return origin_of(rule_id);
  }

  void error(std::uint32_t rule_id, const std::string& message) {
    failed_ = true;
    diags_.error(origin_of(rule_id), message);
  }

  void add(const std::string& map, std::vector<std::uint8_t> key, std::vector<std::uint8_t> value, std::string text) {
    counts_[map]++;
    out_.dump.push_back(map + " " + text);
    out_.entries.push_back({map, std::move(key), std::move(value)});
  }

  struct HookState {
    std::uint32_t id = 0;
    const hooks::Hook* hook = nullptr;
    std::map<std::uint32_t, SetTable<std::vector<pir::PathPattern>>> paths;  // by field index
    std::map<std::uint32_t, std::uint32_t> path_slot;                           // field -> dfa[] slot
    SetTable<std::vector<pir::PathPattern>> exe;
    std::map<std::uint32_t, SetTable<std::vector<pir::Cidr>>> addrs;
    std::map<std::uint32_t, SetTable<std::vector<std::string>>> strings;
    krsie_hook_conf conf{};
  };

  bool constraint(HookState& hs, std::uint32_t rule_id, const pir::Constraint& c, krsie_constraint& out,
                  std::vector<std::vector<pir::IntRange>>& splits) {
    if (c.field.find('.') != std::string::npos) {
      error(rule_id, "condition on `" + c.field + "` reads a kernel structure field (a typed hook argument): only the "
                     "LLVM backend compiles it; use --backend=llvm");
      return false;
    }
    auto idx = field_index(*hs.hook, c.field);
    if (!idx) {
      error(rule_id, "generic backend: hook " + std::string(hs.hook->name) + " has no field " + c.field);
      return false;
    }
    out = {};
    out.field = static_cast<std::uint8_t>(*idx);
    out.negated = c.negated;
    switch (c.matcher.kind) {
      case pir::Matcher::Kind::int_set: {
        out.kind = KRSIE_C_RANGES;
        std::vector<pir::IntRange> ints = vector_ranges(c.type, *idx, c.matcher.ints);
        if (ints.size() > KRSIE_MAX_RANGES) {
          if (c.negated) {
            error(rule_id, "generic backend: `not in` with more than " + std::to_string(KRSIE_MAX_RANGES) +
                               " ranges on field " + c.field + " is not supported");
            return false;
          }
          splits.push_back(ints);  // expanded into several rule entries by the caller
        }
        out.nranges = static_cast<std::uint8_t>(std::min<std::size_t>(ints.size(), KRSIE_MAX_RANGES));
        for (std::size_t i = 0; i < out.nranges; ++i) out.ranges[i] = {ints[i].lo, ints[i].hi};
        return true;
      }
      case pir::Matcher::Kind::flags_all: out.kind = KRSIE_C_FLAGS_ALL; out.mask = c.matcher.mask; return true;
      case pir::Matcher::Kind::flags_any: out.kind = KRSIE_C_FLAGS_ANY; out.mask = c.matcher.mask; return true;
      case pir::Matcher::Kind::boolean: out.kind = KRSIE_C_BOOL; out.mask = c.matcher.value; return true;
      case pir::Matcher::Kind::path_set: {
        std::optional<std::uint32_t> bit;
        if (c.field == "exe") {
          bit = hs.exe.bit(c.matcher.paths, rule_id);
          hs.conf.needs_exe = 1;
        } else {
          if (!hs.path_slot.count(*idx)) {
            // The templates walk a hook's path fields with the automaton of their rank among the
            // hook's path fields in catalogue order (path_field's `which`, krsie_eval.bpf.h), not
            // in the order the rules first test them.
            std::uint32_t slot = 0;
            for (std::uint32_t j = 0; j < *idx && j < hs.hook->fields.size(); ++j)
              if (hs.hook->fields[j].type.kind == TypeKind::path) ++slot;
            if (slot >= 3) {
              error(rule_id, "generic backend: more than 3 path fields in hook " + std::string(hs.hook->name));
              return false;
            }
            hs.path_slot[*idx] = slot;
          }
          bit = hs.paths[*idx].bit(c.matcher.paths, rule_id);
        }
        if (!bit) {
          error(rule_id, "generic backend: more than 64 distinct path sets on " + std::string(hs.hook->name) + "." + c.field);
          return false;
        }
        out.kind = KRSIE_C_BIT;
        out.arg = *bit;
        return true;
      }
      case pir::Matcher::Kind::addr_set: {
        auto bit = hs.addrs[*idx].bit(c.matcher.cidrs);
        if (!bit) {
          error(rule_id, "generic backend: more than 64 distinct address sets on " + std::string(hs.hook->name) + "." + c.field);
          return false;
        }
        out.kind = KRSIE_C_BIT;
        out.arg = *bit;
        return true;
      }
      case pir::Matcher::Kind::string_set: {
        for (const std::string& s : c.matcher.strings)
          if (s.size() >= KRSIE_MAX_STRING) {
            error(rule_id, "generic backend: string '" + s + "' is longer than " + std::to_string(KRSIE_MAX_STRING - 1) + " bytes");
            return false;
          }
        auto bit = hs.strings[*idx].bit(c.matcher.strings);
        if (!bit) {
          error(rule_id, "generic backend: more than 64 distinct string sets on " + std::string(hs.hook->name) + "." + c.field);
          return false;
        }
        out.kind = KRSIE_C_BIT;
        out.arg = *bit;
        return true;
      }
    }
    return false;
  }

  void hook(const pir::Hook& h) {
    auto id = hook_ids().find(h.name);
    const hooks::Hook* catalogue = hooks::find(h.name);
    if (id == hook_ids().end() || !catalogue) {
      failed_ = true;
      SourceRange at = h.rules.empty() ? policy_.origin : origin_of(h.rules.front().id);
      diags_.error(at, "hook '" + h.name + "' is not compiled by either backend yet");
      return;
    }
    if (id->second >= KRSIE_HOOK_GENERIC_END && !options_.llvm_only_hooks) {
      failed_ = true;
      SourceRange at = h.rules.empty() ? policy_.origin : origin_of(h.rules.front().id);
      diags_.error(at, "hook '" + h.name + "' has no generic template: this rule needs the LLVM backend (--backend=llvm)");
      return;
    }
    HookState hs;
    hs.id = id->second;
    hs.hook = catalogue;
    std::uint32_t index = 0;
    std::vector<krsie_rule_entry> entries;  // as emitted, for the prefilter and the common fields
    for (const pir::Rule& r : h.rules) {
      if (r.constraints.size() > KRSIE_MAX_CONSTRAINTS) {
        error(r.id, "generic backend: a rule may test at most " + std::to_string(KRSIE_MAX_CONSTRAINTS) + " fields");
        continue;
      }
      krsie_rule_entry e{};
      e.rule_id = r.id;
      e.decision = decision_code(r.decision);
      e.err = r.err;
      e.nconstraints = static_cast<std::uint8_t>(r.constraints.size());
      if (r.subject) {
        auto bit = hs.exe.bit(r.subject->paths, r.id);
        if (!bit) {
          error(r.id, "generic backend: more than 64 distinct `from` subjects in hook " + h.name);
          continue;
        }
        e.has_subject = 1;
        e.subject_bit = static_cast<std::uint8_t>(*bit);
        hs.conf.needs_exe = 1;
      }
      std::vector<std::vector<pir::IntRange>> splits;
      std::vector<std::size_t> split_at;
      bool ok = true;
      for (std::size_t i = 0; i < r.constraints.size() && ok; ++i) {
        std::size_t before = splits.size();
        ok = constraint(hs, r.id, r.constraints[i], e.c[i], splits);
        if (splits.size() != before) split_at.push_back(i);
      }
      if (!ok) continue;
      // Constraints with more ranges than an entry holds: one entry per chunk combination
      // (same rule id and decision, consecutive: first match semantics are unchanged).
      std::vector<krsie_rule_entry> expanded = {e};
      for (std::size_t s = 0; s < splits.size(); ++s) {
        std::vector<krsie_rule_entry> next;
        for (const krsie_rule_entry& base : expanded)
          for (std::size_t chunk = 0; chunk < splits[s].size(); chunk += KRSIE_MAX_RANGES) {
            krsie_rule_entry copy = base;
            krsie_constraint& c = copy.c[split_at[s]];
            c.nranges = static_cast<std::uint8_t>(std::min<std::size_t>(KRSIE_MAX_RANGES, splits[s].size() - chunk));
            for (std::size_t k = 0; k < c.nranges; ++k) c.ranges[k] = {splits[s][chunk + k].lo, splits[s][chunk + k].hi};
            next.push_back(copy);
          }
        expanded = std::move(next);
      }
      for (const krsie_rule_entry& entry : expanded) {
        if (index >= KRSIE_MAX_RULES_PER_HOOK) {
          error(r.id, "generic backend: more than " + std::to_string(KRSIE_MAX_RULES_PER_HOOK) + " rules in hook " + h.name);
          return;
        }
        krsie_rule_key key{hs.id, index};
        std::ostringstream text;
        text << h.name << "[" << index << "] rule=" << r.id << " " << pir::decision_name(r.decision);
        if (r.subject) text << " subject=exe#" << int(entry.subject_bit);
        for (std::size_t i = 0; i < entry.nconstraints; ++i) {
          const krsie_constraint& c = entry.c[i];
          text << " | f" << int(c.field) << (c.negated ? " not" : "");
          switch (c.kind) {
            case KRSIE_C_RANGES:
              text << " ranges";
              for (std::size_t k = 0; k < c.nranges; ++k) text << " " << c.ranges[k].lo << "-" << c.ranges[k].hi;
              break;
            case KRSIE_C_FLAGS_ALL: text << " all 0x" << std::hex << c.mask << std::dec; break;
            case KRSIE_C_FLAGS_ANY: text << " any 0x" << std::hex << c.mask << std::dec; break;
            case KRSIE_C_BOOL: text << " bool " << c.mask; break;
            case KRSIE_C_BIT: text << " set#" << c.arg; break;
          }
        }
        add("krsie_rules", bytes_of(key), bytes_of(entry), text.str());
        entries.push_back(entry);
        ++index;
      }
    }
    hs.conf.nrules = index;
    hs.conf.posture = decision_code(h.posture);
    hs.conf.used = 1;
    if (options_.llvm_only_hooks) {
      // The LLVM backend's tables hold only set constraints (its rules are code): every common
      // field its rules may read, no prefilter (it runs no rule loop).
      hs.conf.common = 0xff;
    } else {
      hs.conf.common = common_fields_tested(entries);
      prefilter(entries, hs.conf);
    }
    out_.programs.push_back("krsie_" + h.name);
    hooks_.push_back(std::move(hs));
  }

  // Bit i: some entry tests common field KRSIE_F_COMMON + i (a subject reads exe, bit 7).
  static std::uint8_t common_fields_tested(const std::vector<krsie_rule_entry>& entries) {
    std::uint8_t mask = 0;
    for (const krsie_rule_entry& e : entries) {
      if (e.has_subject) mask |= 1u << 7;
      for (std::size_t i = 0; i < e.nconstraints && i < KRSIE_MAX_CONSTRAINTS; ++i)
        if (e.c[i].field >= KRSIE_F_COMMON && e.c[i].field < KRSIE_F_COMMON + 8) mask |= 1u << (e.c[i].field - KRSIE_F_COMMON);
    }
    return mask;
  }

  // The hook's prefilter: the first field f such that every entry needs a set bit of f (a
  // non-negated BIT constraint on f, or its subject when f is exe: guard_lo = the union of those
  // bits), else the first f such that every entry needs f in its ranges (a non-negated RANGES
  // constraint: [guard_lo, guard_hi] spans them all). A value outside matches no entry: the
  // program decides the posture without the rule loop (rules_may_match, krsie_eval.bpf.h).
  static void prefilter(const std::vector<krsie_rule_entry>& entries, krsie_hook_conf& conf) {
    conf.guard_kind = KRSIE_GUARD_NONE;
    conf.guard_field = 0;
    conf.guard_lo = conf.guard_hi = 0;
    if (entries.empty()) return;
    auto all_bits = [&](std::uint32_t f) -> std::optional<std::uint64_t> {
      std::uint64_t mask = 0;
      for (const krsie_rule_entry& e : entries) {
        std::optional<std::uint32_t> bit;
        if (e.has_subject && f == KRSIE_F_COMMON + 7) bit = e.subject_bit;
        for (std::size_t i = 0; i < e.nconstraints && i < KRSIE_MAX_CONSTRAINTS && !bit; ++i)
          if (e.c[i].kind == KRSIE_C_BIT && !e.c[i].negated && e.c[i].field == f) bit = e.c[i].arg;
        if (!bit || *bit >= 64) return std::nullopt;
        mask |= 1ull << *bit;
      }
      return mask;
    };
    auto all_ranges = [&](std::uint32_t f) -> std::optional<std::pair<std::uint64_t, std::uint64_t>> {
      std::uint64_t lo = ~0ull, hi = 0;
      for (const krsie_rule_entry& e : entries) {
        const krsie_constraint* range = nullptr;
        for (std::size_t i = 0; i < e.nconstraints && i < KRSIE_MAX_CONSTRAINTS && !range; ++i)
          if (e.c[i].kind == KRSIE_C_RANGES && !e.c[i].negated && e.c[i].field == f && e.c[i].nranges > 0 &&
              e.c[i].nranges <= KRSIE_MAX_RANGES)
            range = &e.c[i];
        if (!range) return std::nullopt;
        for (std::size_t k = 0; k < range->nranges; ++k) {
          lo = std::min<std::uint64_t>(lo, range->ranges[k].lo);
          hi = std::max<std::uint64_t>(hi, range->ranges[k].hi);
        }
      }
      return std::make_pair(lo, hi);
    };
    for (std::uint32_t f = 0; f < KRSIE_MAX_FIELDS; ++f)
      if (auto mask = all_bits(f); mask && *mask) {
        conf.guard_kind = KRSIE_GUARD_BITS;
        conf.guard_field = static_cast<std::uint8_t>(f);
        conf.guard_lo = *mask;
        return;
      }
    for (std::uint32_t f = 0; f < KRSIE_MAX_FIELDS; ++f)
      if (auto span = all_ranges(f); span && span->first <= span->second) {
        conf.guard_kind = KRSIE_GUARD_RANGE;
        conf.guard_field = static_cast<std::uint8_t>(f);
        conf.guard_lo = span->first;
        conf.guard_hi = span->second;
        return;
      }
  }

  // Address and string sets -> LPM / hash entries with set masks.
  void emit_sets(HookState& hs) {
    for (auto& [field, table] : hs.addrs) {
      std::uint32_t table_id = (hs.id << 8) | field;
      std::set<pir::Cidr> all;
      for (const auto& set : table.sets) all.insert(set.begin(), set.end());
      for (const pir::Cidr& c : all) {
        // The longest match must carry every set that contains it (LPM returns one entry).
        std::uint64_t mask = 0;
        for (std::size_t i = 0; i < table.sets.size(); ++i)
          for (const pir::Cidr& s : table.sets[i]) {
            pir::Matcher outer{.kind = pir::Matcher::Kind::addr_set, .cidrs = {s}};
            pir::Matcher inner{.kind = pir::Matcher::Kind::addr_set, .cidrs = {c}};
            if (pir::covers(outer, inner)) mask |= 1ull << i;
          }
        if (c.v6) {
          krsie_lpm6_key k{32u + c.prefix, table_id, {}};
          std::memcpy(k.addr, c.addr.data(), 16);
          add("krsie_lpm6", bytes_of(k), bytes_of(mask), std::string(hs.hook->name) + ".f" + std::to_string(field) + " " + c.text() + " sets=0x" + hex(bytes_of(mask)));
        } else {
          krsie_lpm4_key k{32u + c.prefix, table_id, {}};
          std::memcpy(k.addr, c.addr.data(), 4);
          add("krsie_lpm4", bytes_of(k), bytes_of(mask), std::string(hs.hook->name) + ".f" + std::to_string(field) + " " + c.text() + " sets=0x" + hex(bytes_of(mask)));
        }
      }
    }
    for (auto& [field, table] : hs.strings) {
      std::map<std::string, std::uint64_t> masks;
      for (std::size_t i = 0; i < table.sets.size(); ++i)
        for (const std::string& s : table.sets[i]) masks[s] |= 1ull << i;
      for (auto& [s, mask] : masks) {
        krsie_string_key k{};
        k.table = (hs.id << 8) | field;
        std::memcpy(k.s, s.data(), s.size());
        std::uint64_t m = mask;
        add("krsie_strings", bytes_of(k), bytes_of(m), std::string(hs.hook->name) + ".f" + std::to_string(field) + " \"" + s + "\" sets=" + std::to_string(m));
      }
    }
  }

  // An automaton that does not compile (too large), reported at the rules to blame: the globs
  // with the most wildcard components are compiled alone (exact paths and subtrees arrive
  // minimal, and are not suspects); a glob that fails alone is reported at every rule that names
  // it, once even when companion hooks share it. When none fails alone, the globs fail together:
  // reported at the first rule, with the others as notes.
  void report_dfa_failure(const std::string& what, const SetTable<std::vector<pir::PathPattern>>& table,
                          const std::string& err) {
    failed_ = true;
    const std::string hint =
        "name the directories instead of '*' components, or use a subtree (\"/dir/**\") where it means the same";
    std::vector<std::pair<std::uint32_t, const pir::PathPattern*>> globs;  // (rule, pattern), each once
    bool blamed = false;
    for (std::size_t i = 0; i < table.sets.size(); ++i)
      for (const pir::PathPattern& p : table.sets[i]) {
        if (p.kind != pir::PathPattern::Kind::glob) continue;
        for (std::uint32_t rule : table.rules[i])
          if (std::none_of(globs.begin(), globs.end(), [&](const auto& g) { return g.first == rule && g.second->text == p.text; }))
            globs.push_back({rule, &p});
      }
    // Compiling a glob alone can take seconds when it is the culprit: only the k_suspects globs
    // with the most wildcard components are tried (deterministic, unlike a time budget).
    constexpr std::size_t k_suspects = 3;
    auto wildcards = [](const std::string& text) {
      std::vector<std::string_view> parts = pir::components(text);
      return std::count_if(parts.begin(), parts.end(),
                           [](std::string_view c) { return c.find_first_of("*?[") != std::string_view::npos; });
    };
    std::vector<std::string> suspects;
    for (const auto& g : globs)
      if (std::find(suspects.begin(), suspects.end(), g.second->text) == suspects.end()) suspects.push_back(g.second->text);
    std::stable_sort(suspects.begin(), suspects.end(),
                     [&](const std::string& a, const std::string& b) { return wildcards(a) > wildcards(b); });
    const std::size_t unchecked = suspects.size() > k_suspects ? suspects.size() - k_suspects : 0;
    if (unchecked) suspects.resize(k_suspects);
    auto& alone = dfa_alone_;  // glob -> its own error ("" when it compiles alone)
    for (const auto& [rule, p] : globs) {
      if (std::find(suspects.begin(), suspects.end(), p->text) == suspects.end()) continue;
      if (!alone.count(p->text)) {
        std::string e;
        alone[p->text] = compile_reverse_dfa({PathSet{{*p}}}, &e) ? std::string() : e;
      }
      if (alone[p->text].empty()) continue;
      blamed = true;
      SourceRange at = origin_naming(rule, p->text);
      // Once per source rule and glob: companion hooks (file_open, path_link, ...) share them.
      if (reported_dfa_.insert({at.file, at.begin, p->text}).second) {
        auto builder = diags_.error(at, "path pattern \"" + p->text + "\" does not compile: " + alone[p->text]);
        if (unchecked)
          builder.note(policy_.origin, std::to_string(unchecked) + " other globs of " + what +
                                           " were not compiled alone (only the " + std::to_string(k_suspects) +
                                           " with the most wildcard components are)");
        builder.hint(hint);
      }
    }
    if (blamed) return;
    // Together: once per source rule of the first glob and error.
    SourceRange first = globs.empty() ? policy_.origin : origin_naming(globs.front().first, globs.front().second->text);
    if (!reported_dfa_.insert({first.file, first.begin, "together: " + err}).second) return;
    auto builder = diags_.error(first, "the path patterns of " + what + " do not compile together: " + err);
    std::size_t shown = 0;
    for (std::size_t g = 1; g < globs.size(); ++g) {
      if (++shown > 8) {
        builder.note(policy_.origin, std::to_string(globs.size() - g) + " more globs in the same automaton");
        break;
      }
      builder.note(origin_naming(globs[g].first, globs[g].second->text),
                   "glob \"" + globs[g].second->text + "\" is part of the same automaton");
    }
    builder.hint(hint);
  }

  // Compiles one automaton and appends its states at `next_state_`; returns its start state.
  std::uint32_t emit_dfa(const std::string& what, const std::string& label,
                         const SetTable<std::vector<pir::PathPattern>>& table) {
    const auto& sets = table.sets;
    std::vector<PathSet> input;
    for (const auto& s : sets) input.push_back(PathSet{s});
    std::string err;
    auto dfa = compile_reverse_dfa(input, &err);
    if (!dfa) {
      report_dfa_failure(what, table, err);
      return KRSIE_DFA_DEAD;
    }
    std::uint32_t base = next_state_;
    auto global = [&](std::uint32_t s) { return s == Dfa::k_dead ? KRSIE_DFA_DEAD : s + base; };
    for (std::uint32_t s = 0; s < dfa->states.size(); ++s) {
      const Dfa::State& st = dfa->states[s];
      std::vector<std::uint8_t> bytes;
      for (auto [byte, next] : st.edges) bytes.push_back(byte);
      std::uint32_t row = packer_.place(bytes);
      krsie_dfa_state value{global(st.other), row, st.accept};
      std::uint32_t key = base + s;
      add("krsie_dfa_states", bytes_of(key), bytes_of(value),
          label + " state " + std::to_string(key) + " other=" + (st.other == Dfa::k_dead ? "dead" : std::to_string(global(st.other))) +
              " accept=0x" + [&] { std::ostringstream o; o << std::hex << st.accept; return o.str(); }() +
              (bytes.empty() ? std::string() : " row=" + std::to_string(row)));
      for (auto [byte, next] : st.edges) {
        std::uint32_t slot = row + byte;
        krsie_dfa_trans t{key + 1, global(next)};
        char esc[8];
        std::snprintf(esc, sizeof esc, "\\x%02x", byte);
        std::string shown = byte >= 0x21 && byte < 0x7f ? std::string(1, static_cast<char>(byte)) : std::string(esc);
        add("krsie_dfa_trans", bytes_of(slot), bytes_of(t),
            label + " " + std::to_string(key) + " '" + shown + "' -> " + (next == Dfa::k_dead ? "dead" : std::to_string(t.next)) +
                " slot=" + std::to_string(slot));
      }
    }
    next_state_ += static_cast<std::uint32_t>(dfa->states.size());
    return dfa->states.empty() ? KRSIE_DFA_DEAD : base;
  }

  void emit_dfas() {
    for (HookState& hs : hooks_) {
      for (auto& d : hs.conf.dfa) d = KRSIE_DFA_DEAD;
      hs.conf.exe_dfa = KRSIE_DFA_DEAD;
      for (auto& [field, slot] : hs.path_slot) {
        hs.conf.dfa[slot] = emit_dfa("the " + std::string(hs.hook->fields.at(field).name) + " field of hook " + std::string(hs.hook->name),
                                     std::string(hs.hook->name) + ".f" + std::to_string(field), hs.paths[field]);
        const auto& sets = hs.paths[field].sets;
        for (std::uint32_t bit = 0; bit < sets.size(); ++bit)
          for (const pir::PathPattern& p : sets[bit])
            if (p.kind == pir::PathPattern::Kind::exact) {
              out_.inode_paths.push_back({(hs.id << 8) | field, bit, p.text});
              out_.dump.push_back("inode " + std::string(hs.hook->name) + ".f" + std::to_string(field) + " set#" +
                                  std::to_string(bit) + " \"" + p.text + "\"");
            }
      }
      if (!hs.exe.sets.empty())
        hs.conf.exe_dfa = emit_dfa("the executables (`from`) of hook " + std::string(hs.hook->name),
                                   std::string(hs.hook->name) + ".exe", hs.exe);
      emit_sets(hs);
      // Fields with string or address sets: the programs look only these up (set_tested).
      hs.conf.sets = 0;
      for (const auto& [field, table] : hs.strings)
        if (field < 32) hs.conf.sets |= 1u << field;
      for (const auto& [field, table] : hs.addrs)
        if (field < 32) hs.conf.sets |= 1u << field;
      std::uint32_t key = hs.id;
      std::ostringstream text;
      text << std::string(hs.hook->name) << " nrules=" << hs.conf.nrules << " posture=" << int(hs.conf.posture)
           << " needs_exe=" << int(hs.conf.needs_exe);
      for (int i = 0; i < 3; ++i)
        if (hs.conf.dfa[i] != KRSIE_DFA_DEAD) text << " dfa" << i << "=" << hs.conf.dfa[i];
      if (hs.conf.exe_dfa != KRSIE_DFA_DEAD) text << " exe_dfa=" << hs.conf.exe_dfa;
      text << " common=0x" << std::hex << int(hs.conf.common) << std::dec;
      if (hs.conf.sets) text << " sets=0x" << std::hex << hs.conf.sets << std::dec;
      if (hs.conf.guard_kind == KRSIE_GUARD_BITS)
        text << " guard=f" << int(hs.conf.guard_field) << ":bits:0x" << std::hex << hs.conf.guard_lo << std::dec;
      else if (hs.conf.guard_kind == KRSIE_GUARD_RANGE)
        text << " guard=f" << int(hs.conf.guard_field) << ":range:" << hs.conf.guard_lo << "-" << hs.conf.guard_hi;
      add("krsie_hooks", bytes_of(key), bytes_of(hs.conf), text.str());
    }
  }

  const pir::Policy& policy_;
  DiagnosticEngine& diags_;
  const LowerOptions& options_;
  GenericPolicy out_;
  std::vector<HookState> hooks_;
  std::map<std::string, std::uint32_t> counts_;
  std::uint32_t next_state_ = 0;
  CombPacker packer_;  // transition slots of every automaton of the policy
  bool failed_ = false;
  std::set<std::tuple<const SourceFile*, std::uint32_t, std::string>> reported_dfa_;  // automaton errors given
  std::map<std::string, std::string> dfa_alone_;  // glob -> its error when compiled alone ("" none)
};

}  // namespace

std::optional<std::uint32_t> hook_abi_id(const std::string& hook) {
  auto it = hook_ids().find(hook);
  if (it == hook_ids().end()) return std::nullopt;
  return it->second;
}

// Index of a field in the template's field vector (see krsie_abi.h).
std::optional<std::uint32_t> field_index(const hooks::Hook& hook, const std::string& field) {
  if (field == "is_owner") return KRSIE_F_IS_OWNER;
  if (field == "target_confined") return KRSIE_F_TARGET_CONFINED;
  for (std::size_t i = 0; i < hook.fields.size(); ++i)
    if (hook.fields[i].name == field) return static_cast<std::uint32_t>(i);
  auto common = hooks::common_fields();
  for (std::size_t i = 0; i < common.size(); ++i)
    if (common[i].name == field) return KRSIE_F_COMMON + static_cast<std::uint32_t>(i);
  return std::nullopt;
}


std::vector<pir::IntRange> vector_ranges(const Type& type, std::uint32_t slot, const std::vector<pir::IntRange>& ranges) {
  // Common fields (slots KRSIE_F_COMMON..+7) are zero-extended by the programs; hook fields and
  // typed hook argument chains (LLVM slots from 64) are sign-extended when signed.
  if (type.kind != TypeKind::integer || !type.is_signed || type.bits >= 64 || type.bits == 0 ||
      (slot >= KRSIE_F_COMMON && slot < KRSIE_F_COMMON + 8))
    return ranges;
  const std::uint64_t sign = 1ull << (type.bits - 1);
  const std::uint64_t extension = ~((1ull << type.bits) - 1);
  std::vector<pir::IntRange> low, high;
  for (const pir::IntRange& r : ranges) {
    if (r.lo < sign) low.push_back({r.lo, std::min(r.hi, sign - 1)});
    if (r.hi >= sign) high.push_back({std::max(r.lo, sign) | extension, r.hi | extension});
  }
  low.insert(low.end(), high.begin(), high.end());
  return low;
}

std::uint8_t decision_code(pir::Decision d) {
  switch (d) {
    case pir::Decision::allow: return KRSIE_DECISION_ALLOW;
    case pir::Decision::audit: return KRSIE_DECISION_AUDIT;
    case pir::Decision::deny: return KRSIE_DECISION_DENY;
    case pir::Decision::kill: return KRSIE_DECISION_KILL;
  }
  return KRSIE_DECISION_DENY;
}

std::optional<GenericPolicy> lower_generic(const pir::Policy& policy, DiagnosticEngine& diags,
                                          const LowerOptions& options) {
  return Lowering(policy, diags, options).run();
}

void print_maps(const GenericPolicy& g, std::ostream& out) {
  out << "policy " << g.name << " enforce=" << (g.enforce ? 1 : 0) << "\n";
  out << "programs";
  for (const std::string& p : g.programs) out << " " << p;
  out << "\n";
  for (auto& [map, size] : g.map_sizes) out << "size " << map << " " << size << "\n";
  for (const std::string& line : g.dump) out << line << "\n";
}

namespace {

// Writes JSON text exactly as nlohmann::json::dump(1) would for the same values (the metadata's
// bytes are part of the output contract), without building a tree first.
class JsonWriter {
 public:
  void begin_object() { open('{'); }
  void end_object() { close('}'); }
  void begin_array() { open('['); }
  void end_array() { close(']'); }
  void key(std::string_view k) {
    element();
    quoted(k);
    out_ += ": ";
    after_key_ = true;
  }
  void string(std::string_view s) {
    value();
    quoted(s);
  }
  void number(std::uint64_t n) {
    value();
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n);
    out_.append(buf, end);
  }
  void member(std::string_view k, std::string_view s) {
    key(k);
    string(s);
  }
  void member(std::string_view k, std::uint64_t n) {
    key(k);
    number(n);
  }
  std::string take() { return std::move(out_); }

 private:
  void open(char c) {
    value();
    out_ += c;
    empty_.push_back(true);
  }
  void close(char c) {
    bool empty = empty_.back();
    empty_.pop_back();
    if (!empty) {
      out_ += '\n';
      out_.append(empty_.size(), ' ');
    }
    out_ += c;
  }
  // Before a value: nothing after a key, else the separator of an array element.
  void value() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (!empty_.empty()) element();
  }
  void element() {
    out_ += empty_.back() ? "\n" : ",\n";
    empty_.back() = false;
    out_.append(empty_.size(), ' ');
  }
  void quoted(std::string_view s) {
    auto plain = [](unsigned char c) { return c >= 0x20 && c < 0x80 && c != '"' && c != '\\'; };
    std::size_t run = 0;
    while (run < s.size() && plain(static_cast<unsigned char>(s[run]))) ++run;
    out_ += '"';
    out_.append(s.data(), run);
    if (run < s.size()) {
      for (unsigned char c : s.substr(run))
        if (c >= 0x80) {
          // Non-ASCII: nlohmann validates the UTF-8 (and throws on invalid input); defer to it.
          out_.resize(out_.size() - run - 1);
          out_ += nlohmann::json(std::string(s)).dump();
          return;
        }
      for (char c : s.substr(run)) {
        switch (c) {
          case '"': out_ += "\\\""; break;
          case '\\': out_ += "\\\\"; break;
          case '\b': out_ += "\\b"; break;
          case '\f': out_ += "\\f"; break;
          case '\n': out_ += "\\n"; break;
          case '\r': out_ += "\\r"; break;
          case '\t': out_ += "\\t"; break;
          default:
            if (static_cast<unsigned char>(c) < 0x20) {
              char buf[8];
              std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
              out_ += buf;
            } else {
              out_ += c;
            }
        }
      }
    }
    out_ += '"';
  }

  std::string out_;
  std::vector<bool> empty_;  // per open container: nothing written in it yet
  bool after_key_ = false;
};

}  // namespace

std::string policy_metadata(const pir::Policy& policy, const GenericPolicy& g, const std::string& compiler_version,
                            const std::string& backend) {
  JsonWriter w;
  w.begin_object();
  w.member("format", k_metadata_format);
  w.member("abi", static_cast<std::uint64_t>(KRSIE_ABI_VERSION));
  w.member("backend", backend);
  w.member("compiler", compiler_version);
  w.member("name", policy.name);
  w.member("mode", policy.mode == pir::Mode::enforce ? "enforce" : "audit");
  w.key("targets");
  w.begin_array();
  for (const pir::Target& t : policy.targets) {
    w.begin_object();
    if (t.kind == pir::Target::Kind::cgroup) {
      w.member("cgroup", t.cgroup_path);
    } else {
      w.key("pod");
      w.begin_object();
      w.member("namespace", t.pod_namespace);
      w.key("labels");
      w.begin_object();
      for (const auto& [k, v] : t.labels) w.member(k, v);
      w.end_object();
      w.member("container", t.container);
      w.end_object();
    }
    w.end_object();
  }
  w.end_array();
  w.key("programs");
  w.begin_array();
  for (const std::string& p : g.programs) w.string(p);
  w.end_array();
  w.key("map_sizes");
  w.begin_object();
  for (const auto& [map, size] : g.map_sizes) w.member(map, size);
  w.end_object();
  // The exact rule paths the loader resolves are in the loader table only (loader_table()).
  // The hook of each rule id (the last hook naming it, should two ever do).
  std::unordered_map<std::uint32_t, const std::string*> hook_of;
  for (const pir::Hook& h : policy.hooks)
    for (const pir::Rule& r : h.rules) hook_of[r.id] = &h.name;
  w.key("rules");
  w.begin_array();
  std::string location;
  for (const pir::RuleInfo& info : policy.rule_table) {
    w.begin_object();
    w.member("id", info.id);
    auto hook = hook_of.find(info.id);
    w.member("hook", hook == hook_of.end() ? std::string_view() : std::string_view(*hook->second));
    w.key("locations");
    w.begin_array();
    for (const SourceRange& o : info.origins) {
      auto lc = o.file->line_col(o.begin);
      location = o.file->name();
      location += ':';
      location += std::to_string(lc.line);
      location += ':';
      location += std::to_string(lc.column);
      w.string(location);
    }
    w.end_array();
    w.member("source", info.origins.empty() ? std::string_view()
                                            : info.origins.front().file->line_text(
                                                  info.origins.front().file->line_col(info.origins.front().begin).line));
    if (!info.message.empty()) w.member("message", info.message);
    if (!info.tag.empty()) w.member("tag", info.tag);
    w.end_object();
  }
  w.end_array();
  w.end_object();
  return w.take();
}

namespace {

// Writer of krsiec's little-endian binary sections (.krsie.maps, .krsie.load): an 8-byte magic,
// then u32 numbers and length-prefixed byte runs (runtime/src/byte_reader.h reads them).
class SectionWriter {
 public:
  explicit SectionWriter(const char (&magic)[9]) : out_(magic, magic + 8) {}
  void u32(std::uint64_t v) {
    for (int i = 0; i < 4; ++i) out_.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  // u32 length, then the bytes.
  template <typename Bytes>
  void sized(const Bytes& b) {
    u32(b.size());
    out_.insert(out_.end(), b.begin(), b.end());
  }
  std::vector<std::uint8_t> take() { return std::move(out_); }

 private:
  std::vector<std::uint8_t> out_;
};

}  // namespace

std::vector<std::uint8_t> serialize_entries(const GenericPolicy& g) {
  // Records: u32 name length, name, u32 key length, key, u32 value length, value (little endian).
  SectionWriter out("KRSMAPS1");
  out.u32(g.entries.size());
  for (const MapEntry& e : g.entries) {
    out.sized(e.map);
    out.sized(e.key);
    out.sized(e.value);
  }
  return out.take();
}

std::vector<std::uint8_t> loader_table(const pir::Policy& policy, const GenericPolicy& g,
                                       const std::string& compiler_version, const std::string& backend) {
  // "KRSLOAD1", then little-endian u32 numbers and strings (u32 length, bytes), in this order:
  // abi, name, mode, backend, compiler, cgroup targets (count, paths), pod selectors (count),
  // programs (count, names), rules (count), exact paths (count, then table, bit, path each).
  SectionWriter out("KRSLOAD1");
  out.u32(KRSIE_ABI_VERSION);
  out.sized(policy.name);
  out.sized(std::string_view(policy.mode == pir::Mode::enforce ? "enforce" : "audit"));
  out.sized(backend);
  out.sized(compiler_version);
  std::vector<const std::string*> cgroups;
  std::size_t pods = 0;
  for (const pir::Target& t : policy.targets) {
    if (t.kind == pir::Target::Kind::cgroup) cgroups.push_back(&t.cgroup_path);
    else ++pods;
  }
  out.u32(cgroups.size());
  for (const std::string* c : cgroups) out.sized(*c);
  out.u32(pods);
  out.u32(g.programs.size());
  for (const std::string& p : g.programs) out.sized(p);
  out.u32(policy.rule_table.size());
  // By path: the loader resolves each directory once and each path once, whatever its tables.
  std::vector<const GenericPolicy::InodePath*> paths;
  for (const auto& ip : g.inode_paths) paths.push_back(&ip);
  std::sort(paths.begin(), paths.end(), [](const auto* a, const auto* b) {
    return std::tie(a->path, a->table, a->bit) < std::tie(b->path, b->table, b->bit);
  });
  out.u32(paths.size());
  for (const auto* p : paths) {
    const auto& ip = *p;
    out.u32(ip.table);
    out.u32(ip.bit);
    out.sized(ip.path);
  }
  return out.take();
}

PolicySections policy_sections(const pir::Policy& policy, const GenericPolicy& g, const std::string& compiler_version,
                               const std::string& backend) {
  return {policy_metadata(policy, g, compiler_version, backend), loader_table(policy, g, compiler_version, backend),
          serialize_entries(g)};
}

}  // namespace krsie::backend

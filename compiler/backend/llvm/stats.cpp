// Static statistics of an LLVM-backend BPF object (stats.h): decodes the instructions of every
// function symbol in an executable section, follows relocations for maps and subprograms (calls
// and bpf_loop callbacks), reads the CO-RE relocations of .BTF.ext and attributes instructions to
// .krs lines through its BTF line info.
#include <llvm/IR/DebugInfoMetadata.h>
#include <llvm/IR/Instructions.h>
#include <llvm/IR/IntrinsicInst.h>
#include <llvm/Object/ELFObjectFile.h>
#include <llvm/Object/ObjectFile.h>
#include <llvm/Support/Error.h>
#include <llvm/Support/MemoryBuffer.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <tuple>

#include "backend/llvm/stats.h"
#include "backend/llvm/stats_ir.h"

namespace krsie::backend {

namespace {

// Helper ids of include/uapi/linux/bpf.h (__BPF_FUNC_MAPPER order) the runtime library uses, and
// a few more common ones. Others print by id only.
const char* helper_name(std::int32_t id) {
  switch (id) {
    case 1: return "map_lookup_elem";
    case 2: return "map_update_elem";
    case 3: return "map_delete_elem";
    case 4: return "probe_read";
    case 5: return "ktime_get_ns";
    case 6: return "trace_printk";
    case 7: return "get_prandom_u32";
    case 8: return "get_smp_processor_id";
    case 12: return "tail_call";
    case 14: return "get_current_pid_tgid";
    case 15: return "get_current_uid_gid";
    case 16: return "get_current_comm";
    case 35: return "get_current_task";
    case 37: return "current_task_under_cgroup";
    case 45: return "probe_read_str";
    case 80: return "get_current_cgroup_id";
    case 109: return "send_signal";
    case 112: return "probe_read_user";
    case 113: return "probe_read_kernel";
    case 114: return "probe_read_user_str";
    case 115: return "probe_read_kernel_str";
    case 117: return "send_signal_thread";
    case 123: return "get_current_ancestor_cgroup_id";
    case 125: return "ktime_get_boot_ns";
    case 130: return "ringbuf_output";
    case 131: return "ringbuf_reserve";
    case 132: return "ringbuf_submit";
    case 133: return "ringbuf_discard";
    case 145: return "inode_storage_get";
    case 147: return "d_path";
    case 153: return "per_cpu_ptr";
    case 154: return "this_cpu_ptr";
    case 156: return "task_storage_get";
    case 158: return "get_current_task_btf";
    case 181: return "loop";
    case 182: return "strncmp";
    default: return "";
  }
}

// BPF instruction encoding (include/uapi/linux/bpf.h, little endian).
struct Insn {
  std::uint8_t code = 0;
  std::uint8_t dst = 0;
  std::uint8_t src = 0;
  std::int16_t off = 0;
  std::int32_t imm = 0;
};

Insn decode(const std::uint8_t* p) {
  Insn i;
  i.code = p[0];
  i.dst = p[1] & 0x0f;
  i.src = p[1] >> 4;
  std::uint16_t off;
  std::memcpy(&off, p + 2, 2);
  i.off = static_cast<std::int16_t>(off);
  std::uint32_t imm;
  std::memcpy(&imm, p + 4, 4);
  i.imm = static_cast<std::int32_t>(imm);
  return i;
}

constexpr std::uint8_t k_class_ld = 0x00, k_class_ldx = 0x01, k_class_st = 0x02, k_class_stx = 0x03,
                       k_class_jmp = 0x05, k_class_jmp32 = 0x06, k_class_alu64 = 0x07;
constexpr std::uint8_t k_mode_mem = 0x60;
constexpr std::uint8_t k_op_ja = 0x00, k_op_call = 0x80, k_op_exit = 0x90;
constexpr std::uint8_t k_ld_imm64 = 0x18;
constexpr std::uint8_t k_pseudo_call = 1;
constexpr std::uint8_t k_fp = 10;

std::uint32_t read_u32(llvm::StringRef data, std::size_t at) {
  std::uint32_t v = 0;
  if (at + 4 <= data.size()) std::memcpy(&v, data.data() + at, 4);
  return v;
}

std::uint32_t round_up_32(std::uint32_t v) { return (std::max<std::uint32_t>(v, 1) + 31) / 32 * 32; }

struct FunctionRef {
  std::size_t section = 0;  // ELF section index
  std::uint64_t begin = 0;  // byte offsets within the section
  std::uint64_t end = 0;
};

class Analyzer {
 public:
  Analyzer(const llvm::object::ELFObjectFileBase& obj, const std::vector<ProgramRules>& rules) : obj_(obj), rules_(rules) {}

  ObjectStats run() {
    collect_functions();
    for (std::size_t i = 0; i < out_.functions.size(); ++i) decode_function(i);
    collect_relocations();
    read_btf_sections();
    read_core_relocs();
    read_lines();
    combine_stack();
    finish();
    return std::move(out_);
  }

 private:
  std::string section_name(const llvm::object::SectionRef& s) {
    auto name = s.getName();
    if (!name) {
      llvm::consumeError(name.takeError());
      return "";
    }
    return name->str();
  }

  void collect_functions() {
    for (const llvm::object::ELFSymbolRef sym : obj_.symbols()) {
      if (sym.getELFType() != llvm::ELF::STT_FUNC) continue;
      auto sec = sym.getSection();
      auto name = sym.getName();
      auto value = sym.getValue();
      if (!sec || !name || !value) {
        if (!sec) llvm::consumeError(sec.takeError());
        if (!name) llvm::consumeError(name.takeError());
        if (!value) llvm::consumeError(value.takeError());
        continue;
      }
      if (*sec == obj_.section_end() || !(*sec)->isText()) continue;
      FunctionStats f;
      f.name = name->str();
      f.section = section_name(**sec);
      f.program = f.section.rfind("lsm/", 0) == 0;
      out_.functions.push_back(std::move(f));
      refs_.push_back({(*sec)->getIndex(), *value, *value + sym.getSize()});
    }
  }

  // The function of a byte offset in a section (npos if none).
  std::size_t function_at(std::size_t section, std::uint64_t offset) const {
    for (std::size_t i = 0; i < refs_.size(); ++i)
      if (refs_[i].section == section && offset >= refs_[i].begin && offset < refs_[i].end) return i;
    return npos;
  }

  llvm::StringRef section_contents(std::size_t index) {
    for (const llvm::object::SectionRef& s : obj_.sections())
      if (s.getIndex() == index) {
        auto c = s.getContents();
        if (c) return *c;
        llvm::consumeError(c.takeError());
      }
    return {};
  }

  void add_callee(std::size_t caller, std::size_t callee) {
    if (callee == npos) return;
    auto& c = callees_[caller];
    if (std::find(c.begin(), c.end(), callee) == c.end()) c.push_back(callee);
  }

  void decode_function(std::size_t fi) {
    FunctionStats& f = out_.functions[fi];
    const FunctionRef& r = refs_[fi];
    llvm::StringRef data = section_contents(r.section);
    if (r.end > data.size()) return;
    const auto* bytes = reinterpret_cast<const std::uint8_t*>(data.data());
    f.insns = (r.end - r.begin) / 8;
    std::map<std::int32_t, std::uint64_t> helpers;
    std::int64_t fp_offset[11];
    bool fp_derived[11] = {};
    std::int64_t deepest = 0;  // most negative r10-relative offset
    auto note = [&](std::int64_t off) { deepest = std::min(deepest, off); };
    // Control flow graph over instruction slots (function-relative), for the loops.
    std::uint64_t slots = f.insns;
    std::vector<std::vector<std::uint64_t>> succ(slots);
    for (std::uint64_t at = r.begin; at + 8 <= r.end; at += 8) {
      Insn i = decode(bytes + at);
      std::uint8_t cls = i.code & 0x07;
      std::uint64_t slot = (at - r.begin) / 8;
      if (i.code == k_ld_imm64) {
        if (i.dst <= 10) fp_derived[i.dst] = false;
        if (slot + 2 < slots) succ[slot].push_back(slot + 2);
        at += 8;  // second slot
        continue;
      }
      if (cls == k_class_jmp || cls == k_class_jmp32) {
        std::uint8_t op = i.code & 0xf0;
        if (cls == k_class_jmp && op == k_op_call) {
          if (i.src == 0) ++helpers[i.imm];
          if (i.src == k_pseudo_call) pseudo_calls_.push_back({fi, at, i.imm});
          for (int reg = 0; reg <= 5; ++reg) fp_derived[reg] = false;
          if (slot + 1 < slots) succ[slot].push_back(slot + 1);
          continue;
        }
        if (op == k_op_exit) continue;
        std::int64_t target = static_cast<std::int64_t>(slot) + 1 + i.off;
        if (op == k_op_ja && cls == k_class_jmp32) target = static_cast<std::int64_t>(slot) + 1 + i.imm;  // gotol
        if (target >= 0 && static_cast<std::uint64_t>(target) < slots)
          succ[slot].push_back(static_cast<std::uint64_t>(target));
        if (op != k_op_ja && slot + 1 < slots) succ[slot].push_back(slot + 1);
        continue;
      }
      if (slot + 1 < slots) succ[slot].push_back(slot + 1);
      if ((cls == k_class_ldx) && (i.code & 0xe0) == k_mode_mem) {
        if (i.src == k_fp) note(i.off);
        else if (i.src <= 10 && fp_derived[i.src]) note(fp_offset[i.src] + i.off);
        if (i.dst <= 10) fp_derived[i.dst] = false;
        continue;
      }
      if ((cls == k_class_st || cls == k_class_stx) && (i.code & 0xe0) == k_mode_mem) {
        if (i.dst == k_fp) note(i.off);
        else if (i.dst <= 10 && fp_derived[i.dst]) note(fp_offset[i.dst] + i.off);
        continue;
      }
      if (cls == k_class_alu64 && i.dst < 10) {
        std::uint8_t op = i.code & 0xf0;
        bool reg_src = (i.code & 0x08) != 0;
        if (op == 0xb0 && reg_src && i.src == k_fp) {  // rX = r10
          fp_derived[i.dst] = true;
          fp_offset[i.dst] = 0;
          continue;
        }
        if (op == 0xb0 && reg_src && i.src < 10 && fp_derived[i.src]) {  // rX = rY (fp-derived)
          fp_derived[i.dst] = true;
          fp_offset[i.dst] = fp_offset[i.src];
          continue;
        }
        if (fp_derived[i.dst] && !reg_src && (op == 0x00 || op == 0x10)) {  // rX += / -= k
          fp_offset[i.dst] += op == 0x00 ? i.imm : -static_cast<std::int64_t>(i.imm);
          note(fp_offset[i.dst]);
          continue;
        }
      }
      if (cls != k_class_st && cls != k_class_stx && cls != k_class_ld && i.dst < 10) fp_derived[i.dst] = false;
    }
    f.stack = static_cast<std::uint32_t>(-deepest);
    for (auto& [id, n] : helpers) f.helpers.push_back({id, helper_name(id), n});
    // Loops: edges to an instruction on the depth-first search stack (a backward jump is not
    // necessarily one: the code layout also jumps back to shared exits).
    std::vector<std::uint8_t> color(slots, 0);  // 0 new, 1 on the stack, 2 done
    std::vector<std::pair<std::uint64_t, std::size_t>> stack;
    if (slots) {
      stack.push_back({0, 0});
      color[0] = 1;
    }
    while (!stack.empty()) {
      auto& [node, next] = stack.back();
      if (next == succ[node].size()) {
        color[node] = 2;
        stack.pop_back();
        continue;
      }
      std::uint64_t to = succ[node][next++];
      if (color[to] == 1) {
        loops_[fi].push_back({node, to});
      } else if (color[to] == 0) {
        color[to] = 1;
        stack.push_back({to, 0});
      }
    }
    f.back_edges = loops_[fi].size();
  }

  void collect_relocations() {
    std::map<std::size_t, std::set<std::string>> maps;
    std::set<std::pair<std::size_t, std::uint64_t>> relocated;  // (section, insn offset)
    for (const llvm::object::SectionRef& rs : obj_.sections()) {
      auto target = rs.getRelocatedSection();
      if (!target) {
        llvm::consumeError(target.takeError());
        continue;
      }
      if (*target == obj_.section_end() || !(*target)->isText()) continue;
      std::size_t sec = (*target)->getIndex();
      llvm::StringRef data = section_contents(sec);
      for (const llvm::object::RelocationRef& rel : rs.relocations()) {
        std::uint64_t off = rel.getOffset();
        std::size_t fi = function_at(sec, off);
        if (fi == npos) continue;
        llvm::object::symbol_iterator sym = rel.getSymbol();
        if (sym == obj_.symbol_end()) continue;
        auto sym_sec = sym->getSection();
        auto value = sym->getValue();
        if (!sym_sec || !value) {
          if (!sym_sec) llvm::consumeError(sym_sec.takeError());
          if (!value) llvm::consumeError(value.takeError());
          continue;
        }
        if (*sym_sec == obj_.section_end()) continue;
        if ((*sym_sec)->isText()) {
          // A subprogram: a call (target = symbol + (imm + 1) * 8) or a callback address
          // (ld_imm64, target = symbol + imm), as libbpf resolves them.
          if (off + 8 > data.size()) continue;
          Insn i = decode(reinterpret_cast<const std::uint8_t*>(data.data()) + off);
          std::uint64_t t = i.code == k_ld_imm64 ? *value + static_cast<std::int64_t>(i.imm)
                                                   : *value + (static_cast<std::int64_t>(i.imm) + 1) * 8;
          add_callee(fi, function_at((*sym_sec)->getIndex(), t));
          relocated.insert({sec, off});
          continue;
        }
        std::string sname = section_name(**sym_sec);
        if (sname == ".maps") {
          auto name = sym->getName();
          if (name) maps[fi].insert(name->str());
          else llvm::consumeError(name.takeError());
        } else if (!sname.empty() && sname[0] == '.' && !(*sym_sec)->isText()) {
          maps[fi].insert(sname);  // .rodata, .data, .bss: maps to the loader too
        }
      }
    }
    // Calls inside one section need no relocation: target = next insn + imm.
    for (const PseudoCall& c : pseudo_calls_) {
      if (relocated.count({refs_[c.function].section, c.at})) continue;
      std::uint64_t t = c.at + 8 + static_cast<std::int64_t>(c.imm) * 8;
      add_callee(c.function, function_at(refs_[c.function].section, t));
    }
    for (auto& [fi, names] : maps) out_.functions[fi].maps.assign(names.begin(), names.end());
  }

  // .BTF and .BTF.ext as the object carries them (empty when absent), and every section's index
  // by name (.BTF.ext names sections).
  void read_btf_sections() {
    for (const llvm::object::SectionRef& s : obj_.sections()) {
      std::string n = section_name(s);
      section_index_[n] = s.getIndex();
      if (n != ".BTF" && n != ".BTF.ext") continue;
      auto c = s.getContents();
      if (!c) {
        llvm::consumeError(c.takeError());
        continue;
      }
      (n == ".BTF" ? btf_ : ext_) = *c;
    }
  }

  // One .BTF.ext subsection (func_info, line_info or core_relo: the header's offset/length pair at
  // header_at): its record size, then per ELF section {name offset, count, records}. Calls
  // record(section index, record offset in ext_) for each record of a section the object has.
  // False when the object has no such subsection.
  bool for_each_ext_record(std::size_t header_at, const std::function<void(std::size_t, std::size_t)>& record) {
    if (btf_.size() < 24 || ext_.size() < 8) return false;
    std::uint32_t hdr_len = read_u32(ext_, 4);
    if (hdr_len < header_at + 8 || ext_.size() < header_at + 8) return false;
    std::size_t begin = hdr_len + read_u32(ext_, header_at);
    std::size_t end = begin + read_u32(ext_, header_at + 4);
    if (end > ext_.size() || end < begin || end - begin < 4) return false;
    std::uint32_t size = read_u32(ext_, begin);
    if (size < 4) return false;
    for (std::size_t at = begin + 4; at + 8 <= end;) {
      std::string sec = btf_string(read_u32(ext_, at));
      std::uint32_t n = read_u32(ext_, at + 4);
      at += 8;
      auto it = section_index_.find(sec);
      for (std::uint32_t k = 0; k < n && at + size <= end; ++k, at += size)
        if (it != section_index_.end()) record(it->second, at);
    }
    return true;
  }

  std::string btf_string(std::uint32_t off) const {
    if (btf_.size() < 24) return "";
    std::size_t strings = read_u32(btf_, 4) + read_u32(btf_, 16);
    std::uint32_t str_len = read_u32(btf_, 20);
    if (off >= str_len || strings + off >= btf_.size()) return "";
    return std::string(btf_.data() + strings + off, strnlen(btf_.data() + strings + off, btf_.size() - strings - off));
  }

  // .BTF.ext CO-RE relocations (struct bpf_core_relo, 16 bytes), per section, by insn offset.
  void read_core_relocs() {
    out_.core_relocs_known = for_each_ext_record(24, [&](std::size_t section, std::size_t at) {
      std::size_t fi = function_at(section, read_u32(ext_, at));
      if (fi != npos) ++out_.functions[fi].core_relocs;
    });
  }

  // Instructions per .krs line, from the BTF line info the kernel sees (struct bpf_line_info:
  // byte offset, file name, line text, line << 10 | column): the innermost line of each
  // instruction (inlined runtime code has the runtime library's C lines, the rules their .krs
  // lines). BTF names a file by directory/name; rules by name.
  void read_lines() {
    struct Row {
      std::uint64_t address;
      std::string file;
      std::uint32_t line;
    };
    std::map<std::size_t, std::vector<Row>> by_section;
    out_.lines_known = for_each_ext_record(16, [&](std::size_t section, std::size_t at) {
      std::string file = btf_string(read_u32(ext_, at + 4));
      if (auto slash = file.rfind('/'); slash != std::string::npos) file.erase(0, slash + 1);
      by_section[section].push_back({read_u32(ext_, at), std::move(file), read_u32(ext_, at + 12) >> 10});
    });
    std::map<std::string, const ProgramRules*> by_program;
    for (const ProgramRules& p : rules_) by_program[p.program] = &p;
    for (std::size_t fi = 0; fi < out_.functions.size(); ++fi) {
      FunctionStats& f = out_.functions[fi];
      const FunctionRef& r = refs_[fi];
      std::map<std::pair<std::string, std::uint32_t>, std::size_t> lines;  // -> index in f.rules
      if (auto it = by_program.find(f.name); it != by_program.end())
        for (const RuleLine& rl : it->second->rules) {
          auto [pos, fresh] = lines.try_emplace({rl.file, rl.line}, f.rules.size());
          if (fresh) f.rules.push_back({rl.file, rl.line, {}, 0});
          auto& ids = f.rules[pos->second].rule_ids;
          if (std::find(ids.begin(), ids.end(), rl.rule_id) == ids.end()) ids.push_back(rl.rule_id);
        }
      // Rows covering the function.
      std::vector<std::tuple<std::uint64_t, std::optional<std::size_t>, bool>> rows;  // address -> rule line, .krs
      if (auto sec = by_section.find(r.section); sec != by_section.end())
        for (const Row& row : sec->second) {
          if (row.address < r.begin || row.address >= r.end) continue;
          auto it = lines.find({row.file, row.line});
          bool krs = llvm::StringRef(row.file).ends_with(".krs");
          rows.emplace_back(row.address, it == lines.end() ? std::nullopt : std::optional<std::size_t>(it->second),
                            krs);
        }
      std::stable_sort(rows.begin(), rows.end(),
                       [](const auto& a, const auto& b) { return std::get<0>(a) < std::get<0>(b); });
      std::size_t next = 0;
      std::optional<std::size_t> current;
      bool krs = false;
      std::vector<bool> at_krs;  // per slot
      for (std::uint64_t at = r.begin; at < r.end; at += 8) {
        while (next < rows.size() && std::get<0>(rows[next]) <= at) {
          current = std::get<1>(rows[next]);
          krs = std::get<2>(rows[next]);
          ++next;
        }
        at_krs.push_back(krs);
        if (current) {
          ++f.rules[*current].insns;
          ++f.rule_insns;
        } else {
          ++f.other_insns;
        }
      }
      // A loop whose jump or head is at a .krs line is generated code, not the runtime library's.
      if (!rows.empty())
        for (auto [from, to] : loops_[fi])
          if (at_krs[from] || at_krs[to]) ++f.generated_back_edges;
    }
  }

  std::uint32_t combined(std::size_t fi, std::set<std::size_t>& active, std::string& chain) {
    std::uint32_t best = 0;
    std::string best_chain;
    active.insert(fi);
    for (std::size_t c : callees_[fi]) {
      if (active.count(c)) continue;  // recursion: the verifier refuses it anyway
      std::string sub;
      std::uint32_t v = combined(c, active, sub);
      if (v > best) {
        best = v;
        best_chain = out_.functions[c].name + (sub.empty() ? "" : " -> " + sub);
      }
    }
    active.erase(fi);
    chain = best_chain;
    return round_up_32(out_.functions[fi].stack) + best;
  }

  void combine_stack() {
    for (std::size_t fi = 0; fi < out_.functions.size(); ++fi) {
      std::set<std::size_t> active;
      FunctionStats& f = out_.functions[fi];
      f.combined_stack = combined(fi, active, f.deepest_callee);
      // libbpf appends every subprogram the program reaches (once each) to its instructions.
      std::set<std::size_t> reached{fi};
      std::vector<std::size_t> todo{fi};
      while (!todo.empty()) {
        std::size_t at = todo.back();
        todo.pop_back();
        for (std::size_t c : callees_[at])
          if (reached.insert(c).second) todo.push_back(c);
      }
      for (std::size_t r : reached) f.loaded_insns += out_.functions[r].insns;
      for (std::size_t c : callees_[fi]) f.callees.push_back(out_.functions[c].name);
      std::sort(f.callees.begin(), f.callees.end());
    }
  }

  void finish() {
    for (FunctionStats& f : out_.functions)
      std::sort(f.rules.begin(), f.rules.end(), [](const RuleLineStats& a, const RuleLineStats& b) {
        return std::tie(a.file, a.line) < std::tie(b.file, b.line);
      });
    std::stable_sort(out_.functions.begin(), out_.functions.end(), [](const FunctionStats& a, const FunctionStats& b) {
      return std::make_tuple(!a.program, a.name) < std::make_tuple(!b.program, b.name);
    });
  }

  struct PseudoCall {
    std::size_t function;
    std::uint64_t at;
    std::int32_t imm;
  };
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);

  const llvm::object::ELFObjectFileBase& obj_;
  const std::vector<ProgramRules>& rules_;
  llvm::StringRef btf_, ext_;  // .BTF, .BTF.ext
  std::map<std::string, std::size_t> section_index_;
  ObjectStats out_;
  std::vector<FunctionRef> refs_;  // parallel to out_.functions until finish()
  std::map<std::size_t, std::vector<std::size_t>> callees_;
  std::map<std::size_t, std::vector<std::pair<std::uint64_t, std::uint64_t>>> loops_;  // back edges (slots)
  std::vector<PseudoCall> pseudo_calls_;
};

std::string helper_label(const HelperCount& h) {
  return (h.name.empty() ? "helper#" + std::to_string(h.id) : "bpf_" + h.name + "#" + std::to_string(h.id)) + " x" +
         std::to_string(h.count);
}

}  // namespace

namespace llvmbe {

std::vector<IrProgramSize> ir_program_sizes(const llvm::Module& module, const std::vector<ProgramRules>& rules) {
  std::vector<IrProgramSize> out;
  for (const ProgramRules& p : rules) {
    const llvm::Function* fn = module.getFunction(p.program);
    if (!fn) continue;
    IrProgramSize size{p.program, 0, {}};
    std::map<std::pair<std::string, std::uint32_t>, std::size_t> lines;
    for (const RuleLine& rl : p.rules) {
      auto [pos, fresh] = lines.try_emplace({rl.file, rl.line}, size.rules.size());
      if (fresh) size.rules.push_back({rl.file, rl.line, {}, 0});
      auto& ids = size.rules[pos->second].rule_ids;
      if (std::find(ids.begin(), ids.end(), rl.rule_id) == ids.end()) ids.push_back(rl.rule_id);
    }
    for (const llvm::BasicBlock& bb : *fn)
      for (const llvm::Instruction& i : bb) {
        if (llvm::isa<llvm::DbgInfoIntrinsic>(i)) continue;
        ++size.insns;
        const llvm::DILocation* loc = i.getDebugLoc().get();
        if (!loc) continue;
        auto it = lines.find({loc->getFilename().str(), loc->getLine()});
        if (it != lines.end()) ++size.rules[it->second].insns;
      }
    out.push_back(std::move(size));
  }
  return out;
}

}  // namespace llvmbe

ObjectStats analyze_bpf_object(const std::vector<std::uint8_t>& elf, const std::vector<ProgramRules>& rules) {
  ObjectStats out;
  llvm::MemoryBufferRef buffer(llvm::StringRef(reinterpret_cast<const char*>(elf.data()), elf.size()), "policy.o");
  auto obj = llvm::object::ObjectFile::createObjectFile(buffer);
  if (!obj) {
    out.error = "cannot read the object: " + llvm::toString(obj.takeError());
    return out;
  }
  const auto* elf_obj = llvm::dyn_cast<llvm::object::ELFObjectFileBase>(obj->get());
  if (!elf_obj) {
    out.error = "not an ELF object";
    return out;
  }
  return Analyzer(*elf_obj, rules).run();
}

void print_stats_text(const ObjectStats& stats, std::uint64_t max_insns, std::ostream& out) {
  if (!stats.error.empty()) {
    out << "stats unavailable: " << stats.error << "\n";
    return;
  }
  out << "limits: " << max_insns << " instructions per program (--max-insns), " << k_bpf_max_stack
      << " bytes of stack per call chain\n";
  for (const FunctionStats& f : stats.functions) {
    out << (f.program ? "program " : "subprogram ") << f.name << " (" << f.section << ")\n";
    out << "  instructions:     " << f.insns;
    if (stats.lines_known) out << " (rules " << f.rule_insns << ", runtime library and glue " << f.other_insns << ")";
    out << "\n";
    if (f.loaded_insns != f.insns) out << "  with subprograms: " << f.loaded_insns << " instructions\n";
    out << "  stack:            " << f.stack << " bytes\n";
    out << "  combined stack:   " << f.combined_stack << " of " << k_bpf_max_stack << " bytes";
    if (!f.deepest_callee.empty()) out << " (with " << f.deepest_callee << ")";
    out << "\n";
    if (!f.callees.empty()) {
      out << "  subprograms:     ";
      for (const auto& c : f.callees) out << " " << c;
      out << "\n";
    }
    out << "  helper calls:    ";
    if (f.helpers.empty()) out << " none";
    for (const HelperCount& h : f.helpers) out << " " << helper_label(h);
    out << "\n";
    out << "  maps:            ";
    if (f.maps.empty()) out << " none";
    for (const auto& m : f.maps) out << " " << m;
    out << "\n";
    if (stats.core_relocs_known) out << "  CO-RE relocations: " << f.core_relocs << "\n";
    out << "  loops:            " << f.back_edges << " back edges";
    if (stats.lines_known) out << " (" << f.generated_back_edges << " at .krs lines)";
    out << "\n";
    for (const RuleLineStats& r : f.rules) {
      out << "  rule " << r.file << ":" << r.line << ": " << r.insns << " instructions (rule";
      if (r.rule_ids.size() > 1) out << "s";
      for (std::size_t i = 0; i < r.rule_ids.size(); ++i) out << (i ? ", " : " ") << r.rule_ids[i];
      out << ")\n";
    }
  }
}

void print_stats_json(const ObjectStats& stats, std::uint64_t max_insns, std::ostream& out) {
  nlohmann::ordered_json j;
  j["format"] = "krsie-stats";
  j["version"] = 1;
  j["limits"] = {{"max_insns", max_insns}, {"max_stack", k_bpf_max_stack}};
  if (!stats.error.empty()) j["error"] = stats.error;
  j["core_relocs_known"] = stats.core_relocs_known;
  j["lines_known"] = stats.lines_known;
  nlohmann::ordered_json programs = nlohmann::ordered_json::array();
  nlohmann::ordered_json subprograms = nlohmann::ordered_json::array();
  for (const FunctionStats& f : stats.functions) {
    nlohmann::ordered_json o;
    o["name"] = f.name;
    o["section"] = f.section;
    o["insns"] = f.insns;
    o["loaded_insns"] = f.loaded_insns;
    o["rule_insns"] = f.rule_insns;
    o["other_insns"] = f.other_insns;
    o["stack"] = f.stack;
    o["combined_stack"] = f.combined_stack;
    o["deepest_callee"] = f.deepest_callee;
    o["subprograms"] = f.callees;
    nlohmann::ordered_json helpers = nlohmann::ordered_json::array();
    for (const HelperCount& h : f.helpers) helpers.push_back({{"id", h.id}, {"name", h.name}, {"count", h.count}});
    o["helpers"] = helpers;
    o["maps"] = f.maps;
    if (stats.core_relocs_known) o["core_relocs"] = f.core_relocs;
    o["back_edges"] = f.back_edges;
    o["generated_back_edges"] = f.generated_back_edges;
    nlohmann::ordered_json rules = nlohmann::ordered_json::array();
    for (const RuleLineStats& r : f.rules)
      rules.push_back({{"file", r.file}, {"line", r.line}, {"rule_ids", r.rule_ids}, {"insns", r.insns}});
    o["rules"] = rules;
    (f.program ? programs : subprograms).push_back(std::move(o));
  }
  j["programs"] = programs;
  j["subprograms"] = subprograms;
  out << j.dump(2) << "\n";
}

}  // namespace krsie::backend

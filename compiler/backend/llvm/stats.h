#pragma once
// Static statistics of a BPF object produced by the LLVM backend (`krsiec --backend=llvm
// --stats`), and the numbers the verifier-limit predictions check: instructions, stack, calls,
// helpers, maps, CO-RE relocations, back edges, instructions per .krs rule line. Plain C++ (no
// LLVM type); computed by stats.cpp from the object bytes before DWARF is stripped
// (docs/llvm-backend.md, "--stats").

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace krsie::backend {

// The kernel's limits the predictions compare against.
inline constexpr std::uint32_t k_bpf_max_stack = 512;                // MAX_BPF_STACK, whole call chain
inline constexpr std::uint64_t k_bpf_complexity_limit = 1'000'000;   // BPF_COMPLEXITY_LIMIT_INSNS
// BPF jumps (cpu v3, kernel 6.1: no gotol) reach +-32,767 instructions; the BPF target stops the
// process ("Branch target out of insn range") on a rule chain longer than that. Programs whose
// optimized IR is above this estimate are refused before code generation.
inline constexpr std::uint64_t k_bpf_jump_range = 32'767;
inline constexpr std::uint64_t k_ir_guard = 27'000;  // ~ k_bpf_jump_range / 1.2 BPF insns per IR insn
// Default --max-insns budget per program (docs/llvm-backend.md explains the choice).
inline constexpr std::uint64_t k_default_max_insns = 30'000;

// A .krs source line of a program's rules, as the caller knows it (the analysis matches it
// against the line table of the object).
struct RuleLine {
  std::string file;  // file name without directory, as in the DWARF file table
  std::uint32_t line = 0;
  std::uint32_t rule_id = 0;
};

struct ProgramRules {
  std::string program;  // function name, e.g. krsie_socket_connect
  std::vector<RuleLine> rules;
};

struct HelperCount {
  std::int32_t id = 0;
  std::string name;  // "" when not in the table of common helpers
  std::uint64_t count = 0;
};

// Instructions attributed to one .krs line (every rule of the program at that line).
struct RuleLineStats {
  std::string file;
  std::uint32_t line = 0;
  std::vector<std::uint32_t> rule_ids;
  std::uint64_t insns = 0;
};

struct FunctionStats {
  std::string name;
  std::string section;
  bool program = false;             // in an lsm/* section; else a subprogram (.text)
  std::uint64_t insns = 0;          // 8-byte slots (ld_imm64 counts 2)
  std::uint64_t loaded_insns = 0;   // insns + every subprogram reached (what the kernel receives)
  std::uint32_t stack = 0;          // deepest r10-relative byte used by this frame
  std::uint32_t combined_stack = 0; // the verifier's sum over the deepest call chain (frames rounded up to 32)
  std::string deepest_callee;       // the subprogram chain of combined_stack, "" if none
  std::vector<std::string> callees; // subprograms called or passed as callbacks (bpf_loop)
  std::vector<HelperCount> helpers; // by id
  std::vector<std::string> maps;    // referenced through relocations, sorted
  std::uint64_t core_relocs = 0;    // .BTF.ext field relocations in this function
  std::uint64_t back_edges = 0;     // loops: CFG back edges (depth-first), runtime library included
  std::uint64_t generated_back_edges = 0;  // back edges whose jump or head is at a .krs line
  std::uint64_t rule_insns = 0;     // at a .krs rule line
  std::uint64_t other_insns = 0;    // runtime library (inlined), glue, no line
  std::vector<RuleLineStats> rules; // by file and line
};

struct ObjectStats {
  std::vector<FunctionStats> functions;  // programs by name, then subprograms by name
  bool core_relocs_known = false;        // .BTF.ext has a CO-RE relocation section
  bool lines_known = false;              // the object had BTF line info
  std::string error;                     // the object could not be analyzed ("" otherwise)
};

// Analyzes a relocatable BPF ELF object (with DWARF). `rules`: the .krs lines of each program's
// rules. Never throws; failures are in ObjectStats::error.
ObjectStats analyze_bpf_object(const std::vector<std::uint8_t>& elf, const std::vector<ProgramRules>& rules);

// Human-readable (`--stats`) and JSON (`--stats=json`, stable keys) renderings; deterministic.
void print_stats_text(const ObjectStats& stats, std::uint64_t max_insns, std::ostream& out);
void print_stats_json(const ObjectStats& stats, std::uint64_t max_insns, std::ostream& out);

}  // namespace krsie::backend

#pragma once
// The specialized ("llvm") backend: compiles each hook of one PIR policy into its own BPF-LSM
// program through the LLVM C++ API. Rules become straight-line code (constants folded, rules in
// order, first match wins), address sets stay in the same LPM maps as the generic backend, and
// the object carries the maps the runtime loader touches, so krsie-load treats it like a generic
// object (docs/llvm-backend.md). No LLVM header leaks out of compiler/backend/llvm/.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "backend/generic.h"
#include "backend/llvm/stats.h"
#include "pir/pir.h"
#include "support/diagnostics.h"

namespace krsie::backend {

enum class LlvmEmit { object, ir, assembly };

struct LlvmCompiled {
  GenericPolicy maps;               // programs, map contents (.krsie.maps) and sizes for the metadata
  std::vector<std::uint8_t> elf;    // LlvmEmit::object
  std::string text;                 // LlvmEmit::ir / assembly
  double build_ms = 0;              // building the IR module
  double codegen_ms = 0;            // optimization pipeline + BPF code generation
  double stats_ms = 0;              // object analysis and limit checks
  ObjectStats stats;                // of the object (computed for every emit kind)
};

// Hooks the LLVM backend compiles in this slice.
bool llvm_backend_supports_hook(const std::string& hook);

// Compiles `policy`. Rules or hooks the backend does not support yet are reported at the rule
// ("not supported by the LLVM backend yet"), and so are programs the verifier would refuse
// (stats.h: stack above 512 bytes per call chain, more instructions than `max_insns` or the
// kernel's 1,000,000, a loop outside bpf_loop). nullopt after an error. Call at most once per
// process (LLVM 19's BPF CO-RE pass keeps process-wide state).
struct LlvmOptions {
  // Kernel BTF that typed hook argument chains are resolved against (krsiec --btf).
  std::string btf_path = "/sys/kernel/btf/vmlinux";
  // Refuse a program (with its subprograms) of more BPF instructions (krsiec --max-insns).
  std::uint64_t max_insns = k_default_max_insns;
};

std::optional<LlvmCompiled> compile_llvm(const pir::Policy& policy, LlvmEmit emit, DiagnosticEngine& diags,
                                         const LlvmOptions& options = {});

}  // namespace krsie::backend

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
};

// Hooks the LLVM backend compiles in this slice.
bool llvm_backend_supports_hook(const std::string& hook);

// Compiles `policy`. Rules or hooks the backend does not support yet are reported at the rule
// ("not supported by the LLVM backend yet"). nullopt after an error. Call at most once per
// process (LLVM 19's BPF CO-RE pass keeps process-wide state).
struct LlvmOptions {
  // Kernel BTF that typed hook argument chains are resolved against (krsiec --btf).
  std::string btf_path = "/sys/kernel/btf/vmlinux";
};

std::optional<LlvmCompiled> compile_llvm(const pir::Policy& policy, LlvmEmit emit, DiagnosticEngine& diags,
                                         const LlvmOptions& options = {});

}  // namespace krsie::backend

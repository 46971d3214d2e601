#pragma once
// Internal to the LLVM backend: code generation of the hooks lowering.h prepared.

#include <cstdint>
#include <string>
#include <vector>

#include "backend/llvm/bpf_builder.h"

namespace krsie::backend::llvmbe {

// Reports hooks the backend cannot compile; true when all are supported.
bool check_supported(const pir::Policy& policy, krsie::DiagnosticEngine& diags);
// The program of one hook.
void generate_program(BpfModule& m, CoreTypes& core, const HookCode& hook);

}  // namespace krsie::backend::llvmbe

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
// The krsie_d_instantiate program (not a policy hook): a new dentry of an inode makes the path
// memo of the runtime library forget what it remembered for the inode (krsie_eval.bpf.h).
void generate_forget_program(BpfModule& m, const SourceRange& at);

}  // namespace krsie::backend::llvmbe

#pragma once
// Internal to the LLVM backend: the policy's hooks with their rules resolved to field vector slots
// and set bits (RuleCode), ready for code generation (codegen.cpp) or for the host-compiled twin
// of the differential tests. No LLVM header here.

#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "backend/generic.h"
#include "backend/llvm/codegen_types.h"
#include "krsie_abi.h"
#include "pir/pir.h"
#include "support/diagnostics.h"

namespace krsie::backend::llvmbe {

// The generic lowering of the policy's set constraints and subjects only (rules without either
// dropped): the set tables the programs look values up in (path automata, inodes, LPM tries,
// string sets, hook configuration), and each rule's set bits, read back from its rule entries
// (same assignment as the generic backend by construction).
struct SetTables {
  GenericPolicy maps;  // what the object carries (no rule table)
  std::map<std::pair<std::uint32_t, std::uint32_t>, krsie_rule_entry> entries;  // (hook id, rule id)
};

std::optional<SetTables> set_tables(const pir::Policy& policy, DiagnosticEngine& diags);

// The hooks of `policy` as code to generate: rules in evaluation order with slots and set bits;
// typed hook argument chains resolved against `kernel` (errors at the rule). nullopt after an error.
std::optional<std::vector<HookCode>> hook_code(const pir::Policy& policy, const SetTables& tables,
                                               btf::LazyKernelTypes& kernel, DiagnosticEngine& diags);

}  // namespace krsie::backend::llvmbe

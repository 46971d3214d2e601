#pragma once
// Internal to the LLVM backend: a policy's hooks with their rules resolved to field vector slots
// (struct krsie_eval v[], krsie_abi.h) and set bits, as code generation consumes them. No LLVM
// header here (lowering.h and the differential tests use it too).

#include <cstdint>
#include <string>
#include <vector>

#include "btf/kernel_types.h"
#include "pir/pir.h"
#include "support/source.h"

namespace krsie::backend::llvmbe {

// One constraint of a rule as code: a test on field vector slot `field`.
struct ConstraintCode {
  std::uint32_t field = 0;
  bool negated = false;
  pir::Matcher::Kind kind = pir::Matcher::Kind::int_set;
  std::vector<pir::IntRange> ints;  // int_set
  std::uint64_t mask = 0;           // flags_all / flags_any
  bool value = false;               // boolean
  std::uint32_t bit = 0;            // set kinds: the set's bit in the field's mask
};

// One rule of a hook, in evaluation order, with its sets resolved to bits.
struct RuleCode {
  std::uint32_t id = 0;
  std::uint8_t decision = 0;  // enum krsie_decision
  std::int32_t err = 1;
  int subject_bit = -1;       // >= 0: only when the running binary is in that exe set
  std::vector<ConstraintCode> constraints;
  SourceRange origin;
};

// Field vector slots from k_kernel_slot on are typed hook argument chains read by the program
// itself (CO-RE), not by the runtime library's extraction.
constexpr std::uint32_t k_kernel_slot = 64;

struct KernelRead {
  std::uint32_t slot = 0;
  btf::KernelField field;
};

struct HookCode {
  std::string name;
  std::uint32_t abi_id = 0;
  std::uint8_t posture = 0;   // enum krsie_decision
  bool needs_common = false;  // a rule tests a common field or has a `from` subject
  std::vector<RuleCode> rules;
  std::vector<KernelRead> kernel_reads;  // typed hook argument chains the rules test
  SourceRange origin;         // the first rule (the program's debug location)
};

// The first source location of a rule id (the policy's origin when it has none).
SourceRange rule_origin(const pir::Policy& policy, std::uint32_t rule_id);

}  // namespace krsie::backend::llvmbe

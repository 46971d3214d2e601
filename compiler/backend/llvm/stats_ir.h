#pragma once
// Internal to the LLVM backend: the size of each program in the optimized IR, before code
// generation (stats.cpp). A model of the BPF instruction count (about 1.2 BPF instructions per IR
// instruction on rule chains), used to refuse a program before the BPF target aborts on jumps it
// cannot encode.

#include <llvm/IR/Module.h>

#include <string>
#include <vector>

#include "backend/llvm/stats.h"

namespace krsie::backend::llvmbe {

struct IrProgramSize {
  std::string program;
  std::uint64_t insns = 0;           // non-debug IR instructions
  std::vector<RuleLineStats> rules;  // IR instructions at each rule line
};

std::vector<IrProgramSize> ir_program_sizes(const llvm::Module& module, const std::vector<ProgramRules>& rules);

}  // namespace krsie::backend::llvmbe

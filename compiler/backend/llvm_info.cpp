#include "backend/llvm_info.h"

#include <llvm/Config/llvm-config.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/TargetParser/Triple.h>

#include <mutex>

namespace krsie::backend {

void initialize_bpf_target() {
  static std::once_flag once;
  std::call_once(once, [] {
    LLVMInitializeBPFTargetInfo();
    LLVMInitializeBPFTarget();
    LLVMInitializeBPFTargetMC();
    LLVMInitializeBPFAsmPrinter();
    LLVMInitializeBPFAsmParser();  // inline asm of the LLVM backend's runtime library
  });
}

bool bpf_target_available() {
  initialize_bpf_target();
  std::string error;
  return llvm::TargetRegistry::lookupTarget("bpfel", error) != nullptr;
}

std::string llvm_description() {
  return std::string("LLVM ") + LLVM_VERSION_STRING + ", BPF target: bpfel (" +
         (bpf_target_available() ? "available" : "MISSING") + ")";
}

}  // namespace krsie::backend

// Links the LLVM backend's runtime library (bpf-templates/llvm_runtime.bpf.c, embedded as
// bitcode) into a policy module: only what the module declares (the runtime functions its
// programs call, the maps of the runtime ABI) comes in; the library's functions become internal
// and always-inline, so the optimization pipeline folds them into the generated programs. The
// library is read lazily: only the functions the link reaches are materialized.
#include <llvm/Bitcode/BitcodeReader.h>
#include <llvm/IR/IntrinsicInst.h>
#include <llvm/IR/Module.h>
#include <llvm/Linker/Linker.h>
#include <llvm/Support/Error.h>
#include <llvm/Support/MemoryBuffer.h>

#include <set>

#include "backend/llvm/bpf_builder.h"
#include "krsie/templates.h"

namespace krsie::backend::llvmbe {

namespace {

// The library is compiled with -g for its types (BTF of maps, CO-RE access) and lines. Where its
// variables live is of no use in a BPF object (BTF has no local variables) and costs the optimizer
// and code generation a tenth of their time; the generated code is the same without it.
void drop_variable_locations(llvm::Function& f) {
  for (llvm::BasicBlock& block : f)
    for (llvm::Instruction& inst : llvm::make_early_inc_range(block)) {
      inst.dropDbgRecords();
      if (llvm::isa<llvm::DbgVariableIntrinsic>(inst)) inst.eraseFromParent();
    }
}

}  // namespace

std::string link_runtime(llvm::Module& module) {
  const templates::Template* rt = templates::find("llvm_runtime");
  if (!rt || !rt->bitcode) return "the LLVM backend's runtime library is not embedded in this krsiec";
  llvm::MemoryBufferRef buffer(
      llvm::StringRef(reinterpret_cast<const char*>(rt->elf.data()), rt->elf.size()), "llvm_runtime.bc");
  // Lazily: the linker materializes only the functions the policy's programs reach.
  auto parsed = llvm::getLazyBitcodeModule(buffer, module.getContext());
  if (!parsed) return "cannot read the runtime library: " + llvm::toString(parsed.takeError());
  std::unique_ptr<llvm::Module> library = std::move(*parsed);
  library->setTargetTriple(module.getTargetTriple());
  library->setDataLayout(module.getDataLayout());
  // Everything the library defines (functions): internal once linked.
  std::set<std::string> library_functions;
  for (const llvm::Function& f : *library)
    if (!f.isDeclaration()) library_functions.insert(f.getName().str());
  if (llvm::Linker::linkModules(module, std::move(library), llvm::Linker::Flags::LinkOnlyNeeded))
    return "cannot link the runtime library into the policy module";
  for (llvm::Function& f : module) {
    if (f.isDeclaration() || !library_functions.count(f.getName().str())) continue;
    drop_variable_locations(f);
    f.setLinkage(llvm::GlobalValue::InternalLinkage);
    f.removeFnAttr(llvm::Attribute::NoInline);
    f.removeFnAttr(llvm::Attribute::OptimizeNone);
    // bpf_loop callbacks stay functions (the helper takes their address); the rest inlines.
    if (!f.hasAddressTaken()) f.addFnAttr(llvm::Attribute::AlwaysInline);
  }
  return "";
}

}  // namespace krsie::backend::llvmbe

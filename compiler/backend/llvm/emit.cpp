// compile_llvm: PIR policy -> hooks with rules resolved to field slots and set bits -> BPF module
// (codegen.cpp) + runtime library (runtime_link.cpp) -> optimization pipeline (PassBuilder: the
// BPF target's CO-RE passes run there) -> BPF object or assembly. The set tables (path automata,
// address tries, string sets, exact-path inodes) are those of the generic lowering, so an LLVM
// object carries the same map contents as a generic one, minus the rule table.
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Verifier.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/Target/TargetOptions.h>

#include <chrono>

#include "backend/llvm/codegen.h"
#include "backend/llvm/lowering.h"
#include "backend/llvm/llvm_backend.h"
#include "backend/llvm_info.h"
#include "krsie_abi.h"

namespace krsie::backend {

namespace {

double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

bool llvm_backend_supports_hook(const std::string& hook) { return hook_abi_id(hook).has_value(); }

std::optional<LlvmCompiled> compile_llvm(const pir::Policy& policy, LlvmEmit emit, DiagnosticEngine& diags,
                                         const LlvmOptions& options) {
  if (!llvmbe::check_supported(policy, diags)) return std::nullopt;
  for (const pir::Hook& h : policy.hooks)
    for (const pir::Rule& r : h.rules)
      for (const pir::Constraint& c : r.constraints)
        if (!btf::is_kernel_field(c.field) && !field_index(*hooks::find(h.name), c.field)) {
          diags.error(llvmbe::rule_origin(policy, r.id), "LLVM backend: hook " + h.name + " has no field " + c.field);
          return std::nullopt;
        }
  auto tables = llvmbe::set_tables(policy, diags);
  if (!tables) return std::nullopt;
  btf::LazyKernelTypes kernel(options.btf_path);
  auto hooks = llvmbe::hook_code(policy, *tables, kernel, diags);
  if (!hooks) return std::nullopt;
  LlvmCompiled out;
  out.maps = tables->maps;

  initialize_bpf_target();
  std::string error;
  const llvm::Target* target = llvm::TargetRegistry::lookupTarget("bpfel", error);
  if (!target) {
    diags.error(policy.origin, "LLVM backend: no BPF target in this LLVM: " + error);
    return std::nullopt;
  }
  // CO-RE relocations need at least CodeGenOptLevel::Less (None leaves bogus loads).
  std::unique_ptr<llvm::TargetMachine> tm(target->createTargetMachine(
      "bpfel", "v3", "", llvm::TargetOptions(), llvm::Reloc::PIC_, std::nullopt, llvm::CodeGenOptLevel::Default));

  auto t0 = std::chrono::steady_clock::now();
  llvm::LLVMContext context;
  llvmbe::BpfModule m(context, policy.name, policy.origin.file);
  m.module().setDataLayout(tm->createDataLayout());
  m.declare_runtime_maps();
  llvmbe::CoreTypes core(m);
  for (const llvmbe::HookCode& hc : *hooks)
    for (const llvmbe::KernelRead& k : hc.kernel_reads) core.add(k.field);
  for (const llvmbe::HookCode& hc : *hooks) llvmbe::generate_program(m, core, hc);
  m.finalize();
  std::unique_ptr<llvm::Module> module = m.take();
  if (std::string err = llvmbe::link_runtime(*module); !err.empty()) {
    diags.error(policy.origin, "LLVM backend: " + err);
    return std::nullopt;
  }
  std::string verify;
  llvm::raw_string_ostream vs(verify);
  if (llvm::verifyModule(*module, &vs)) {
    diags.error(policy.origin, "LLVM backend: internal error, invalid IR: " + verify);
    return std::nullopt;
  }
  out.build_ms = ms_since(t0);

  auto t1 = std::chrono::steady_clock::now();
  {
    llvm::LoopAnalysisManager lam;
    llvm::FunctionAnalysisManager fam;
    llvm::CGSCCAnalysisManager cgam;
    llvm::ModuleAnalysisManager mam;
    llvm::PassBuilder pb(tm.get());  // registers the BPF target's passes (CO-RE)
    pb.registerModuleAnalyses(mam);
    pb.registerCGSCCAnalyses(cgam);
    pb.registerFunctionAnalyses(fam);
    pb.registerLoopAnalyses(lam);
    pb.crossRegisterProxies(lam, fam, cgam, mam);
    llvm::ModulePassManager mpm = pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O2);
    mpm.run(*module, mam);
  }
  if (emit == LlvmEmit::ir) {
    llvm::raw_string_ostream os(out.text);
    module->print(os, nullptr);
    out.codegen_ms = ms_since(t1);
    return out;
  }
  llvm::SmallVector<char, 0> buffer;
  llvm::raw_svector_ostream os(buffer);
  llvm::legacy::PassManager pm;
  auto type = emit == LlvmEmit::assembly ? llvm::CodeGenFileType::AssemblyFile : llvm::CodeGenFileType::ObjectFile;
  if (tm->addPassesToEmitFile(pm, os, nullptr, type)) {
    diags.error(policy.origin, "LLVM backend: the BPF target cannot emit this file type");
    return std::nullopt;
  }
  pm.run(*module);
  out.codegen_ms = ms_since(t1);
  if (emit == LlvmEmit::assembly)
    out.text.assign(buffer.begin(), buffer.end());
  else
    out.elf.assign(buffer.begin(), buffer.end());
  return out;
}

}  // namespace krsie::backend

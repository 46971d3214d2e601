// compile_llvm: PIR policy -> BPF module (codegen*.cpp) -> optimization pipeline (PassBuilder: the
// BPF target's CO-RE passes run there) -> BPF object or assembly, plus the map contents the
// object shares with the generic backend (LPM entries of address sets, configuration).
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Verifier.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/Target/TargetOptions.h>

#include <chrono>
#include <mutex>

#include "backend/llvm_info.h"
#include "backend/llvm/bpf_builder.h"
#include "backend/llvm/llvm_backend.h"

namespace krsie::backend {

namespace {

double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

// The map contents an LLVM object needs: those of the generic lowering of the policy's address
// constraints only (same set-bit assignment as the codegen), without rule tables.
std::optional<GenericPolicy> shared_maps(const pir::Policy& policy, DiagnosticEngine& diags) {
  pir::Policy sets = policy;
  for (pir::Hook& h : sets.hooks)
    for (pir::Rule& r : h.rules) {
      r.subject.reset();
      std::vector<pir::Constraint> kept;
      for (const pir::Constraint& c : r.constraints)
        if (c.matcher.kind == pir::Matcher::Kind::addr_set) kept.push_back(c);
      r.constraints = std::move(kept);
    }
  auto g = lower_generic(sets, diags);
  if (!g) return std::nullopt;
  GenericPolicy out;
  out.name = g->name;
  out.enforce = g->enforce;
  out.programs = g->programs;
  out.map_sizes = g->map_sizes;
  out.map_sizes["krsie_rules"] = 1;
  for (const MapEntry& e : g->entries)
    if (e.map == "krsie_lpm4" || e.map == "krsie_lpm6" || e.map == "krsie_config") out.entries.push_back(e);
  for (const std::string& line : g->dump)
    if (line.rfind("krsie_lpm4 ", 0) == 0 || line.rfind("krsie_lpm6 ", 0) == 0 || line.rfind("krsie_config ", 0) == 0)
      out.dump.push_back(line);
  return out;
}

}  // namespace

bool llvm_backend_supports_hook(const std::string& hook) {
  return llvmbe::network_hook(hook) || llvmbe::identity_hook(hook);
}

std::optional<LlvmCompiled> compile_llvm(const pir::Policy& policy, LlvmEmit emit, DiagnosticEngine& diags) {
  if (!llvmbe::check_supported(policy, diags)) return std::nullopt;
  auto maps = shared_maps(policy, diags);
  if (!maps) return std::nullopt;
  LlvmCompiled out;
  out.maps = std::move(*maps);

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
  const SourceFile* main_file = policy.origin.file;
  llvmbe::BpfModule m(context, policy.name, main_file);
  m.module().setDataLayout(tm->createDataLayout());
  m.declare_runtime_maps();
  for (const pir::Hook& h : policy.hooks) llvmbe::generate_program(m, policy, h);
  m.finalize();
  std::unique_ptr<llvm::Module> module = m.take();
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

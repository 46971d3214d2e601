// compile_llvm: PIR policy -> hooks with rules resolved to field slots and set bits -> BPF module
// (codegen.cpp) + runtime library (runtime_link.cpp) -> optimization pipeline (PassBuilder: the
// BPF target's CO-RE passes run there) -> BPF object or assembly. The set tables (path automata,
// address tries, string sets, exact-path inodes) are those of the generic lowering, so an LLVM
// object carries the same map contents as a generic one, minus the rule table. Every compile
// then analyzes the object (stats.cpp) and refuses what the verifier would: a call chain above
// 512 bytes of stack, a program above the instruction budget, a loop outside bpf_loop.
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Verifier.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/Target/TargetOptions.h>
#include <llvm/Transforms/Utils/Cloning.h>

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "backend/llvm/codegen.h"
#include "backend/llvm/lowering.h"
#include "backend/llvm/stats.h"
#include "backend/llvm/stats_ir.h"
#include "backend/llvm/llvm_backend.h"
#include "backend/llvm_info.h"
#include "krsie_abi.h"

namespace krsie::backend {

namespace {

// Code generation writes DWARF only when the module asks for it: the AsmPrinter adds its DWARF
// writer unless the module carries the CodeView flag without a DWARF version (on a non-Windows
// target that selects no CodeView writer either). The BPF AsmPrinter's BTF writer only needs debug
// metadata, so .BTF and .BTF.ext (types, CO-RE relocations, line info) come out byte-identical,
// without the DWARF that the object writer would strip anyway. Should LLVM change this, DWARF is
// generated and stripped again: slower, same object.
void without_dwarf(llvm::Module& module) {
  llvm::NamedMDNode* flags = module.getModuleFlagsMetadata();
  if (!flags) return;
  std::vector<llvm::MDNode*> keep;
  for (llvm::MDNode* flag : flags->operands()) {
    auto* key = flag->getNumOperands() >= 2 ? llvm::dyn_cast<llvm::MDString>(flag->getOperand(1)) : nullptr;
    if (!key || key->getString() != "Dwarf Version") keep.push_back(flag);
  }
  flags->clearOperands();
  for (llvm::MDNode* flag : keep) flags->addOperand(flag);
  module.addModuleFlag(llvm::Module::Warning, "CodeView", 1);
}

double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

// The .krs lines of each program's rules, as the object's line table names them (module.cpp:
// DIFile = the file name without directory).
std::vector<ProgramRules> program_rules(const std::vector<llvmbe::HookCode>& hooks) {
  std::vector<ProgramRules> out;
  for (const llvmbe::HookCode& h : hooks) {
    ProgramRules p{"krsie_" + h.name, {}};
    for (const llvmbe::RuleCode& r : h.rules)
      if (r.origin.file)
        p.rules.push_back({std::filesystem::path(r.origin.file->name()).filename().string(),
                           r.origin.file->line_col(r.origin.begin).line, r.id});
    out.push_back(std::move(p));
  }
  return out;
}

// The verifier-limit predictions (docs/llvm-backend.md, "--stats"): diagnostics at the rules.
bool check_limits(const ObjectStats& stats, const std::vector<llvmbe::HookCode>& hooks, std::uint64_t max_insns,
                  const pir::Policy& policy, DiagnosticEngine& diags) {
  if (!stats.error.empty()) {
    diags.error(policy.origin, "LLVM backend: internal error, cannot analyze the generated object: " + stats.error);
    return false;
  }
  bool ok = true;
  std::uint64_t budget = std::min(max_insns, k_bpf_complexity_limit);
  for (const FunctionStats& f : stats.functions) {
    if (!f.program) continue;
    auto hook = std::find_if(hooks.begin(), hooks.end(), [&](const auto& h) { return "krsie_" + h.name == f.name; });
    SourceRange at = hook != hooks.end() ? hook->origin : policy.origin;
    if (f.combined_stack > k_bpf_max_stack) {
      diags.error(at, "program " + f.name + ": " + std::to_string(f.combined_stack) + " bytes of stack in its call chain (" +
                          std::to_string(f.stack) + " in the program" +
                          (f.deepest_callee.empty() ? std::string() : ", with " + f.deepest_callee) +
                          "), above the kernel's limit of " + std::to_string(k_bpf_max_stack) + " bytes")
          .hint("the verifier would refuse this program; this is a limit of the runtime library, not of the policy");
      ok = false;
    }
    // Loops: every one comes from the runtime library (bpf_loop callbacks, constant trip counts);
    // the rule chain is emitted without back edges. f.generated_back_edges (loops whose jump or
    // head carries a .krs line) is reported by --stats, not refused: after inlining, the optimizer
    // may give a runtime loop's merged instructions the line of the rule that calls it.
    if (f.loaded_insns > budget) {
      // The rule line contributing most (ties: the first in source order).
      const RuleLineStats* top = nullptr;
      for (const RuleLineStats& r : f.rules)
        if (!top || r.insns > top->insns) top = &r;
      SourceRange rule_at = at;
      if (top && hook != hooks.end())
        for (const llvmbe::RuleCode& r : hook->rules)
          if (!top->rule_ids.empty() && r.id == top->rule_ids.front()) rule_at = r.origin;
      std::string limit = budget == k_bpf_complexity_limit && max_insns >= k_bpf_complexity_limit
                              ? "the kernel's limit of " + std::to_string(budget) + " (BPF_COMPLEXITY_LIMIT_INSNS)"
                              : "the budget of " + std::to_string(budget) + " (--max-insns)";
      std::string msg = "program " + f.name + ": " + std::to_string(f.loaded_insns) + " instructions, above " + limit;
      if (top) msg += "; the rule at this line contributes " + std::to_string(top->insns);
      diags.error(rule_at, msg)
          .note({}, "the rules of this hook take " + std::to_string(f.rule_insns) + " instructions, the runtime library and glue " +
                        std::to_string(f.loaded_insns - f.rule_insns) + "; nothing is written (the verifier walks branches, so it processes more " +
                        "instructions than the program has)")
          .hint("split the policy into several policies (one object each), or merge rules with the same decision into "
                "one rule over a set (`port in [...]`, a path or address set)");
      ok = false;
    }
  }
  return ok;
}

// Before code generation: a program whose optimized IR already exceeds the budget, or the reach
// of BPF jumps, is refused at its largest rule (the BPF target would abort the process on jumps
// it cannot encode, after minutes of code generation for such a policy).
bool check_ir_sizes(const llvm::Module& module, const std::vector<llvmbe::HookCode>& hooks,
                    const std::vector<ProgramRules>& rules, std::uint64_t max_insns, const pir::Policy& policy,
                    DiagnosticEngine& diags) {
  bool ok = true;
  std::uint64_t budget = std::min({max_insns, k_bpf_complexity_limit, k_ir_guard});
  for (const llvmbe::IrProgramSize& p : llvmbe::ir_program_sizes(module, rules)) {
    if (p.insns <= budget) continue;
    auto hook = std::find_if(hooks.begin(), hooks.end(), [&](const auto& h) { return "krsie_" + h.name == p.program; });
    SourceRange at = hook != hooks.end() ? hook->origin : policy.origin;
    const RuleLineStats* top = nullptr;
    for (const RuleLineStats& r : p.rules)
      if (!top || r.insns > top->insns) top = &r;
    if (top && hook != hooks.end())
      for (const llvmbe::RuleCode& r : hook->rules)
        if (!top->rule_ids.empty() && r.id == top->rule_ids.front()) at = r.origin;
    std::string limit = budget == k_ir_guard && max_insns > k_ir_guard
                            ? "above what BPF jumps reach (" + std::to_string(k_bpf_jump_range) + " instructions)"
                            : "above the budget of " + std::to_string(budget) + " (--max-insns)";
    std::string msg = "program " + p.program + ": about " + std::to_string(p.insns) +
                      " instructions (optimized IR, before code generation), " + limit;
    if (top) msg += "; the rule at this line contributes " + std::to_string(top->insns);
    diags.error(at, msg)
        .note({}, "estimated before code generation (about 1.2 BPF instructions per IR instruction); nothing is written")
        .hint("split the policy into several policies (one object each), or merge rules with the same decision into "
              "one rule over a set (`port in [...]`, a path or address set)");
    ok = false;
  }
  return ok;
}

}  // namespace

bool llvm_backend_supports_hook(const std::string& hook) { return hook_abi_id(hook).has_value(); }

std::optional<LlvmCompiled> compile_llvm(const pir::Policy& policy, LlvmEmit emit, DiagnosticEngine& diags,
                                         const LlvmOptions& options) {
  const std::uint64_t max_insns = options.max_insns;
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
  if (std::find(out.maps.programs.begin(), out.maps.programs.end(), k_forget_program) != out.maps.programs.end())
    llvmbe::generate_forget_program(m, policy.origin);
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
  const std::vector<ProgramRules> rule_lines = program_rules(*hooks);
  if (!check_ir_sizes(*module, *hooks, rule_lines, max_insns, policy, diags)) return std::nullopt;
  auto emit_file = [&](llvm::Module& mod, llvm::CodeGenFileType type, llvm::SmallVector<char, 0>& buffer) {
    llvm::raw_svector_ostream os(buffer);
    llvm::legacy::PassManager pm;
    // The module was verified after linking; the optimizer keeps it valid.
    if (tm->addPassesToEmitFile(pm, os, nullptr, type, /*DisableVerify=*/true)) return false;
    pm.run(mod);
    return true;
  };
  // The object is needed for the limit checks whatever is emitted: the IR is printed before code
  // generation; assembly is generated from the module, the object from a copy of it.
  if (emit == LlvmEmit::ir) {
    llvm::raw_string_ostream os(out.text);
    module->print(os, nullptr);
  }
  std::unique_ptr<llvm::Module> asm_module;
  if (emit == LlvmEmit::assembly) asm_module = llvm::CloneModule(*module);
  // The object keeps BTF only (DWARF would be stripped when it is written): no DWARF is generated.
  // The listing keeps it, for its .loc lines.
  without_dwarf(*module);
  llvm::SmallVector<char, 0> object;
  if (!emit_file(*module, llvm::CodeGenFileType::ObjectFile, object)) {
    diags.error(policy.origin, "LLVM backend: the BPF target cannot emit this file type");
    return std::nullopt;
  }
  out.elf.assign(object.begin(), object.end());
  if (asm_module) {
    llvm::SmallVector<char, 0> text;
    if (!emit_file(*asm_module, llvm::CodeGenFileType::AssemblyFile, text)) {
      diags.error(policy.origin, "LLVM backend: the BPF target cannot emit this file type");
      return std::nullopt;
    }
    out.text.assign(text.begin(), text.end());
  }
  out.codegen_ms = ms_since(t1);

  auto t2 = std::chrono::steady_clock::now();
  out.stats = analyze_bpf_object(out.elf, rule_lines);
  out.stats_ms = ms_since(t2);
  if (!check_limits(out.stats, *hooks, max_insns, policy, diags)) return std::nullopt;
  if (emit != LlvmEmit::object) out.elf.clear();
  return out;
}

}  // namespace krsie::backend

// One BPF-LSM program per hook. What the generic templates do with a rule table in maps, the
// generated program does with the policy compiled in: the prologue and the hook's fields come
// from the runtime library shared with the generic backend (identical field values, automaton
// walks and events by construction), then the hook's rules run as straight-line code in
// evaluation order (first match wins; each constraint one comparison against folded constants;
// set membership one bit test), then the decision tail (events, counters, errno, SIGKILL).
#include <llvm/IR/Constants.h>
#include <llvm/IR/DebugInfoMetadata.h>

#include "backend/generic.h"
#include "backend/llvm/bpf_builder.h"
#include "backend/llvm/codegen.h"
#include "krsie_abi.h"

namespace krsie::backend::llvmbe {

namespace {

constexpr std::uint32_t k_posture_rule = 0xffffffff;

// Tests of one constraint on a field value v (i64).
llvm::Value* constraint_holds(llvm::IRBuilder<>& b, llvm::Value* v, const ConstraintCode& c) {
  auto* i64 = b.getInt64Ty();
  auto k = [&](std::uint64_t x) { return llvm::ConstantInt::get(i64, x); };
  switch (c.kind) {
    case pir::Matcher::Kind::int_set: {
      llvm::Value* any = nullptr;
      for (const pir::IntRange& r : c.ints) {
        // lo <= v <= hi as one unsigned compare: v - lo <= hi - lo.
        llvm::Value* in = r.lo == r.hi ? b.CreateICmpEQ(v, k(r.lo)) : b.CreateICmpULE(b.CreateSub(v, k(r.lo)), k(r.hi - r.lo));
        any = any ? b.CreateOr(any, in) : in;
      }
      return any ? any : b.getFalse();
    }
    case pir::Matcher::Kind::flags_all: return b.CreateICmpEQ(b.CreateAnd(v, k(c.mask)), k(c.mask));
    case pir::Matcher::Kind::flags_any: return b.CreateICmpNE(b.CreateAnd(v, k(c.mask)), k(0));
    case pir::Matcher::Kind::boolean: return c.value ? b.CreateICmpNE(v, k(0)) : b.CreateICmpEQ(v, k(0));
    case pir::Matcher::Kind::addr_set:
    case pir::Matcher::Kind::path_set:
    case pir::Matcher::Kind::string_set: return b.CreateICmpNE(b.CreateAnd(v, k(1ull << (c.bit & 63))), k(0));
  }
  return b.getFalse();
}

}  // namespace

ChainResult emit_rule_chain(llvm::IRBuilder<>& b, llvm::Function* fn, const std::vector<RuleCode>& rules,
                            std::uint8_t posture, const FieldReader& field, const RuleHook& at_rule) {
  llvm::LLVMContext& ctx = fn->getContext();
  auto* i32 = b.getInt32Ty();
  ChainResult out;
  out.done = llvm::BasicBlock::Create(ctx, "decided", fn);
  std::vector<std::tuple<llvm::BasicBlock*, std::uint32_t, std::uint8_t, std::int32_t>> exits;
  for (const RuleCode& r : rules) {
    if (at_rule) at_rule(b, &r);
    std::string tag = "rule" + std::to_string(r.id);
    llvm::BasicBlock* miss = llvm::BasicBlock::Create(ctx, tag + ".miss", fn);
    auto test = [&](llvm::Value* holds) {
      llvm::BasicBlock* next = llvm::BasicBlock::Create(ctx, tag + ".c", fn);
      b.CreateCondBr(holds, next, miss);
      b.SetInsertPoint(next);
    };
    if (r.subject_bit >= 0) {
      auto [v, present] = field(b, KRSIE_F_COMMON + 7);
      ConstraintCode exe;
      exe.kind = pir::Matcher::Kind::path_set;
      exe.bit = static_cast<std::uint32_t>(r.subject_bit);
      test(b.CreateAnd(present, constraint_holds(b, v, exe)));
    }
    for (const ConstraintCode& c : r.constraints) {
      auto [v, present] = field(b, c.field);
      llvm::Value* holds = constraint_holds(b, v, c);
      if (c.negated) holds = b.CreateNot(holds);
      // A constraint on an absent field is false, negated or not.
      test(b.CreateAnd(present, holds));
    }
    exits.emplace_back(b.GetInsertBlock(), r.id, r.decision, r.err > 0 ? r.err : 1);
    b.CreateBr(out.done);
    b.SetInsertPoint(miss);
  }
  if (at_rule) at_rule(b, nullptr);
  exits.emplace_back(b.GetInsertBlock(), k_posture_rule, posture, 1);
  b.CreateBr(out.done);
  b.SetInsertPoint(out.done);
  out.rule_id = b.CreatePHI(i32, exits.size(), "rule_id");
  out.decision = b.CreatePHI(i32, exits.size(), "decision");
  out.err = b.CreatePHI(i32, exits.size(), "err");
  for (auto& [bb, id, d, e] : exits) {
    out.rule_id->addIncoming(b.getInt32(id), bb);
    out.decision->addIncoming(b.getInt32(d), bb);
    out.err->addIncoming(b.getInt32(static_cast<std::uint32_t>(e)), bb);
  }
  return out;
}

bool check_supported(const pir::Policy& policy, DiagnosticEngine& diags) {
  bool ok = true;
  for (const pir::Hook& h : policy.hooks) {
    if (h.name == "vm_enough_memory") {
      // On the kernel's list of hooks BPF-LSM programs may not attach to (Debian's 6.1 and
      // mainline since 6.4): a program would be refused at load, so refuse the rule here.
      SourceRange at = h.rules.empty() ? policy.origin : rule_origin(policy, h.rules.front().id);
      diags.error(at, "hook vm_enough_memory cannot be enforced: kernels refuse BPF-LSM programs on it (it is on "
                      "the BPF LSM disabled-hook list)");
      ok = false;
      continue;
    }
    if (hook_abi_id(h.name)) continue;
    SourceRange at = h.rules.empty() ? policy.origin : rule_origin(policy, h.rules.front().id);
    diags.error(at, "hook " + h.name + " is not supported by the LLVM backend yet (it compiles the hooks the generic templates cover)");
    ok = false;
  }
  return ok;
}

SourceRange rule_origin(const pir::Policy& policy, std::uint32_t rule_id) {
  for (const pir::RuleInfo& info : policy.rule_table)
    if (info.id == rule_id && !info.origins.empty()) return info.origins.front();
  return policy.origin;
}

void generate_forget_program(BpfModule& m, const SourceRange& at) {
  llvm::Function* fn = m.program(k_forget_program, "lsm/d_instantiate", at);
  llvm::IRBuilder<> b(m.ctx());
  b.SetInsertPoint(llvm::BasicBlock::Create(m.ctx(), "entry", fn));
  b.SetCurrentDebugLocation(m.location(fn->getSubprogram(), at));
  b.CreateCall(m.runtime_function("krsie_rt_forget", b.getVoidTy(), {b.getPtrTy()}), {fn->getArg(0)});
  b.CreateRet(b.getInt32(0));
}

void generate_program(BpfModule& m, CoreTypes& core, const HookCode& hook) {
  llvm::LLVMContext& ctx = m.ctx();
  llvm::Function* fn = m.program("krsie_" + hook.name, "lsm/" + hook.name, hook.origin);
  llvm::DISubprogram* sp = fn->getSubprogram();
  llvm::IRBuilder<> b(ctx);
  auto* entry = llvm::BasicBlock::Create(ctx, "entry", fn);
  b.SetInsertPoint(entry);
  b.SetCurrentDebugLocation(m.location(sp, hook.origin));
  auto* i32 = b.getInt32Ty();
  auto* i64 = b.getInt64Ty();
  auto* ptr = b.getPtrTy();
  auto* void_t = b.getVoidTy();
  llvm::Value* ctx_arg = fn->getArg(0);
  const std::string& n = hook.name;

  // 1. An earlier LSM's denial stands.
  llvm::Value* ret = b.CreateCall(m.runtime_function("krsie_rt_ret_" + n, i32, {ptr}), {ctx_arg}, "ret");
  llvm::BasicBlock* pass = llvm::BasicBlock::Create(ctx, "pass", fn);
  llvm::BasicBlock* enter = llvm::BasicBlock::Create(ctx, "enter", fn);
  b.CreateCondBr(b.CreateICmpNE(ret, b.getInt32(0)), pass, enter);
  b.SetInsertPoint(pass);
  b.CreateRet(ret);

  // 2. The generation in force, read once: this code decides only in the generation it was loaded
  // for (krsie_code_generation, set by krsie-load; during a replacement the other generation's
  // programs are attached too, and one word switches from these to those).
  b.SetInsertPoint(enter);
  llvm::Value* gen = b.CreateCall(m.runtime_function("krsie_rt_generation", i32, {}), {}, "generation");
  auto* mine = b.CreateLoad(i32, m.code_generation(), "code_generation");
  mine->setVolatile(true);
  llvm::BasicBlock* outside = llvm::BasicBlock::Create(ctx, "not_confined", fn);
  llvm::BasicBlock* current = llvm::BasicBlock::Create(ctx, "current_code", fn);
  b.CreateCondBr(b.CreateICmpEQ(gen, mine), current, outside);
  b.SetInsertPoint(outside);
  b.CreateRet(b.getInt32(0));

  // 3. Target cgroups, scratch vector (NULL: not confined).
  b.SetInsertPoint(current);
  llvm::Value* e = b.CreateCall(m.runtime_function("krsie_rt_enter_" + n, ptr, {i32}), {gen}, "eval");
  llvm::BasicBlock* confined = llvm::BasicBlock::Create(ctx, "confined", fn);
  b.CreateCondBr(b.CreateIsNull(e), outside, confined);

  // 4. Fields: the common ones only when a rule tests one (or a `from` subject), then the hook's.
  b.SetInsertPoint(confined);
  if (hook.needs_common) b.CreateCall(m.runtime_function("krsie_rt_common", void_t, {ptr}), {e});
  b.CreateCall(m.runtime_function("krsie_rt_fields_" + n, void_t, {ptr, ptr}), {e, ctx_arg});
  llvm::Value* present = b.CreateLoad(i32, b.CreateConstInBoundsGEP1_64(b.getInt8Ty(), e, offsetof(krsie_eval, present)), "present");
  // Typed hook argument chains the rules test: CO-RE reads straight from the arguments.
  std::map<std::uint32_t, llvm::Value*> kernel;
  for (const KernelRead& k : hook.kernel_reads) kernel[k.slot] = core.read(b, ctx_arg, k.field);
  FieldReader field = [&](llvm::IRBuilder<>& fb, std::uint32_t f) -> std::pair<llvm::Value*, llvm::Value*> {
    if (f >= k_kernel_slot) return {kernel.at(f), fb.getTrue()};
    llvm::Value* v = fb.CreateLoad(i64, fb.CreateConstInBoundsGEP1_64(fb.getInt8Ty(), e, offsetof(krsie_eval, v) + 8ull * f),
                                   "f" + std::to_string(f));
    llvm::Value* has = fb.CreateTrunc(fb.CreateLShr(present, f), fb.getInt1Ty(), "f" + std::to_string(f) + ".present");
    return {v, has};
  };
  RuleHook at_rule = [&](llvm::IRBuilder<>& rb, const RuleCode* r) {
    rb.SetCurrentDebugLocation(m.location(sp, r ? r->origin : hook.origin));
  };

  // 5. The rules.
  ChainResult chain = emit_rule_chain(b, fn, hook.rules, hook.posture, field, at_rule);

  // 6. Decision tail: events, counters, kill, errno.
  llvm::Value* result = b.CreateCall(m.runtime_function("krsie_rt_finish", i32, {ptr, i32, i32, i32}),
                                     {e, chain.rule_id, chain.decision, chain.err}, "result");
  b.CreateRet(result);
}

}  // namespace krsie::backend::llvmbe

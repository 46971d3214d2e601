// Host twin of the generated rule chains (host_rules.h).
#include "backend/llvm/host_rules.h"

#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/ExecutionEngine/Orc/ThreadSafeModule.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Support/Error.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>

#include <mutex>

#include "backend/llvm/bpf_builder.h"

namespace krsie::backend {

struct HostRules::Impl {
  std::unique_ptr<llvm::orc::LLJIT> jit;
};

HostRules::HostRules() : impl_(std::make_unique<Impl>()) {}
HostRules::~HostRules() = default;

namespace {

std::string take(llvm::Error e) { return llvm::toString(std::move(e)); }

void build_hook(llvm::Module& m, const llvmbe::HookCode& hook) {
  llvm::LLVMContext& ctx = m.getContext();
  llvm::IRBuilder<> b(ctx);
  auto* fn_type = llvm::FunctionType::get(b.getInt64Ty(), {b.getPtrTy(), b.getInt32Ty()}, false);
  auto* fn = llvm::Function::Create(fn_type, llvm::Function::ExternalLinkage, "decide_" + hook.name, m);
  llvm::Value* v = fn->getArg(0);
  llvm::Value* present = fn->getArg(1);
  b.SetInsertPoint(llvm::BasicBlock::Create(ctx, "entry", fn));
  llvmbe::FieldReader field = [&](llvm::IRBuilder<>& fb, std::uint32_t f) -> std::pair<llvm::Value*, llvm::Value*> {
    llvm::Value* value = fb.CreateLoad(fb.getInt64Ty(), fb.CreateConstInBoundsGEP1_64(fb.getInt64Ty(), v, f));
    llvm::Value* has = fb.CreateTrunc(fb.CreateLShr(present, f), fb.getInt1Ty());
    return {value, has};
  };
  llvmbe::ChainResult chain = llvmbe::emit_rule_chain(b, fn, hook.rules, hook.posture, field, nullptr);
  llvm::Value* id = b.CreateZExt(chain.rule_id, b.getInt64Ty());
  llvm::Value* decision = b.CreateZExt(chain.decision, b.getInt64Ty());
  b.CreateRet(b.CreateOr(b.CreateShl(id, 8), decision));
}

}  // namespace

std::unique_ptr<HostRules> HostRules::compile(const std::vector<llvmbe::HookCode>& hooks, std::string* error) {
  static std::once_flag native_once;
  std::call_once(native_once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
  });
  auto ctx = std::make_unique<llvm::LLVMContext>();
  auto module = std::make_unique<llvm::Module>("krsie_host_rules", *ctx);
  for (const llvmbe::HookCode& h : hooks) build_hook(*module, h);
  std::string verify;
  llvm::raw_string_ostream os(verify);
  if (llvm::verifyModule(*module, &os)) {
    *error = "host rule module does not verify: " + verify;
    return nullptr;
  }
  auto jit = llvm::orc::LLJITBuilder().create();
  if (!jit) {
    *error = take(jit.takeError());
    return nullptr;
  }
  std::unique_ptr<HostRules> out(new HostRules());
  out->impl_->jit = std::move(*jit);
  if (auto e = out->impl_->jit->addIRModule(llvm::orc::ThreadSafeModule(std::move(module), std::move(ctx)))) {
    *error = take(std::move(e));
    return nullptr;
  }
  for (const llvmbe::HookCode& h : hooks) {
    auto sym = out->impl_->jit->lookup("decide_" + h.name);
    if (!sym) {
      *error = take(sym.takeError());
      return nullptr;
    }
    out->fns_[h.name] = sym->toPtr<Fn>();
  }
  return out;
}

std::optional<std::uint64_t> HostRules::decide(const std::string& hook, const std::uint64_t* v, std::uint32_t present) const {
  auto it = fns_.find(hook);
  if (it == fns_.end()) return std::nullopt;
  return it->second(v, present);
}

}  // namespace krsie::backend

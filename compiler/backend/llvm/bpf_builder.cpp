// BpfBuilder: IRBuilder plus the BPF idioms of the LLVM backend (helper calls through
// inttoptr(id), map lookups with stack keys, CO-RE reads through preserve_struct_access_index).
#include <llvm/IR/Constants.h>
#include <llvm/IR/Function.h>

#include "backend/llvm/bpf_builder.h"

namespace krsie::backend::llvmbe {

BpfBuilder::BpfBuilder(BpfModule& m, llvm::Function* fn)
    : llvm::IRBuilder<>(m.ctx()), m_(m), fn_(fn), entry_(m.ctx()) {
  auto* entry = llvm::BasicBlock::Create(m.ctx(), "entry", fn);
  SetInsertPoint(entry);
  entry_.SetInsertPoint(entry);
}

llvm::BasicBlock* BpfBuilder::block(const std::string& name) { return llvm::BasicBlock::Create(m_.ctx(), name, fn_); }

llvm::AllocaInst* BpfBuilder::stack(llvm::Type* type, const std::string& name) {
  llvm::BasicBlock& entry = fn_->getEntryBlock();
  entry_.SetInsertPoint(&entry, entry.getFirstInsertionPt());
  auto* a = entry_.CreateAlloca(type, nullptr, name);
  a->setAlignment(llvm::Align(8));
  return a;
}

llvm::Value* BpfBuilder::helper(Helper id, llvm::Type* ret, llvm::ArrayRef<llvm::Value*> args) {
  std::vector<llvm::Type*> types;
  for (llvm::Value* a : args) types.push_back(a->getType());
  auto* fty = llvm::FunctionType::get(ret, types, false);
  auto* callee = llvm::ConstantExpr::getIntToPtr(getInt64(id), llvm::PointerType::getUnqual(m_.ctx()));
  return CreateCall(fty, callee, args);
}

llvm::Value* BpfBuilder::map_lookup(const std::string& map, llvm::Value* key_ptr) {
  return helper(map_lookup_elem, getPtrTy(), {m_.map(map), key_ptr});
}

llvm::Value* BpfBuilder::map_lookup_scalar(const std::string& map, llvm::Value* key, const std::string& name) {
  auto* slot = stack(key->getType(), name);
  CreateStore(key, slot);
  return map_lookup(map, slot);
}

llvm::Value* BpfBuilder::ptr_at(llvm::Value* base, std::uint64_t offset) {
  return offset ? CreateConstInBoundsGEP1_64(getInt8Ty(), base, offset) : base;
}

llvm::Value* BpfBuilder::load_at(llvm::Type* type, llvm::Value* base, std::uint64_t offset, const std::string& name) {
  return CreateLoad(type, ptr_at(base, offset), name);
}

void BpfBuilder::store_at(llvm::Value* value, llvm::Value* base, std::uint64_t offset) {
  CreateStore(value, ptr_at(base, offset));
}

llvm::Value* BpfBuilder::core_read(const std::string& type, llvm::Value* base, const std::vector<std::string>& path) {
  std::string current = type;
  llvm::Value* ptr = base;
  for (std::size_t step = 0; step < path.size(); ++step) {
    const BpfModule::CoreType& ct = m_.core_type(current);
    unsigned index = 0;
    while (index < ct.members.size() && ct.members[index].name != path[step]) ++index;
    if (index == ct.members.size()) return nullptr;
    const CoreMember& member = ct.members[index];
    ptr = CreatePreserveStructAccessIndex(ct.ir, ptr, index, index, ct.di);
    llvm::Type* member_ir = ct.ir->getElementType(index);
    bool last = step + 1 == path.size();
    if (member.kind == CoreMember::sub) {
      if (last) return nullptr;  // reads end at a scalar or a pointer
      current = member.target;
      continue;
    }
    llvm::Value* v = CreateLoad(member_ir, ptr, path[step]);
    if (member.kind == CoreMember::ptr) {
      if (last) return v;
      current = member.target;
      ptr = v;
      continue;
    }
    if (!last) return nullptr;
    bool is_signed = member.kind == CoreMember::s16 || member.kind == CoreMember::s32;
    return is_signed ? CreateSExt(v, getInt64Ty()) : CreateZExt(v, getInt64Ty());
  }
  return nullptr;
}

llvm::Value* BpfBuilder::arg(unsigned i) {
  return CreateLoad(getInt64Ty(), ptr_at(ctx_arg(), 8ull * i), "arg" + std::to_string(i));
}

llvm::Value* BpfBuilder::arg_ptr(unsigned i) { return CreateIntToPtr(arg(i), getPtrTy()); }

}  // namespace krsie::backend::llvmbe

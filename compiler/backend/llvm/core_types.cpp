// CO-RE reads of typed hook argument chains (`file.f_inode.i_size`): local struct types with the
// members used (named as in the kernel), preserve_{struct,union}_access_index intrinsics that the
// BPF backend turns into field relocations, direct loads through the BTF pointer arguments.
#include <llvm/BinaryFormat/Dwarf.h>
#include <llvm/IR/DebugInfoMetadata.h>

#include "backend/llvm/bpf_builder.h"

namespace krsie::backend::llvmbe {

namespace {

const char* int_name(unsigned bits, bool is_signed) {
  switch (bits) {
    case 8: return is_signed ? "signed char" : "unsigned char";
    case 16: return is_signed ? "short" : "unsigned short";
    case 32: return is_signed ? "int" : "unsigned int";
    default: return is_signed ? "long long" : "unsigned long long";
  }
}

}  // namespace

void CoreTypes::add(const btf::KernelField& f) {
  layouts_[f.param_struct];
  for (const btf::KernelField::Step& s : f.steps) {
    Layout& l = layouts_[s.in_struct];
    l.is_union = s.in_union;
    bool known = false;
    for (const Member& m : l.members) known = known || m.name == s.member;
    if (!known) {
      Member m{s.member, s.kind, s.target, s.target_is_union, 64, false};
      if (s.kind == btf::KernelField::Step::Kind::integer) {
        m.bits = f.bits;
        m.is_signed = f.is_signed;
      }
      l.members.push_back(m);
    }
    if (!s.target.empty()) layouts_[s.target].is_union = s.target_is_union;
  }
}

const CoreTypes::Built& CoreTypes::built(const std::string& name) {
  if (auto it = built_.find(name); it != built_.end()) return it->second;
  const Layout& l = layouts_[name];
  llvm::LLVMContext& ctx = m_.ctx();
  llvm::DIBuilder& di = m_.di();
  llvm::DIFile* file = m_.main_file();
  Built b;
  b.is_union = l.is_union;
  std::vector<llvm::Metadata*> di_members;
  std::uint64_t offset = 0, size = 0;
  for (const Member& mem : l.members) {
    llvm::Type* ir = nullptr;
    llvm::DIType* dt = nullptr;
    std::uint64_t bits = 64, align = 64;
    switch (mem.kind) {
      case btf::KernelField::Step::Kind::pointer: {
        auto tag = mem.target_union ? llvm::dwarf::DW_TAG_union_type : llvm::dwarf::DW_TAG_structure_type;
        ir = llvm::PointerType::getUnqual(ctx);
        dt = di.createPointerType(di.createForwardDecl(tag, mem.target, m_.cu(), file, 0), 64);
        break;
      }
      case btf::KernelField::Step::Kind::embedded: {
        const Built& sub = built(mem.target);
        ir = sub.ir;
        dt = sub.di;
        bits = std::max<std::uint64_t>(8, sub.di->getSizeInBits());
        align = std::min<std::uint64_t>(64, std::max<std::uint64_t>(8, bits));
        break;
      }
      case btf::KernelField::Step::Kind::integer:
        bits = mem.bits;
        align = mem.bits;
        ir = llvm::IntegerType::get(ctx, mem.bits);
        dt = m_.basic(int_name(mem.bits, mem.is_signed), mem.bits, mem.is_signed);
        break;
    }
    std::uint64_t at = 0;
    if (!l.is_union) {
      offset = (offset + align - 1) / align * align;
      at = offset;
      offset += bits;
      size = offset;
    } else {
      size = std::max(size, bits);
    }
    di_members.push_back(di.createMemberType(m_.cu(), mem.name, file, 0, bits, static_cast<std::uint32_t>(align), at,
                                             llvm::DINode::FlagZero, dt));
    b.members.push_back(mem.name);
    b.member_ir.push_back(ir);
  }
  size = std::max<std::uint64_t>(64, (size + 63) / 64 * 64);
  if (l.is_union) {
    b.ir = llvm::ArrayType::get(llvm::Type::getInt8Ty(ctx), size / 8);
    b.di = di.createUnionType(m_.cu(), name, file, 0, size, 64, llvm::DINode::FlagZero, di.getOrCreateArray(di_members));
  } else {
    b.ir = llvm::StructType::create(ctx, b.member_ir, "struct." + name);
    b.di = di.createStructType(m_.cu(), name, file, 0, size, 64, llvm::DINode::FlagZero, nullptr,
                               di.getOrCreateArray(di_members));
  }
  return built_[name] = b;
}

llvm::Value* CoreTypes::read(llvm::IRBuilder<>& b, llvm::Value* ctx, const btf::KernelField& f) {
  auto* i64 = b.getInt64Ty();
  llvm::Value* arg = b.CreateLoad(i64, b.CreateConstInBoundsGEP1_64(b.getInt8Ty(), ctx, 8ull * f.param), "arg" + std::to_string(f.param));
  llvm::Value* p = b.CreateIntToPtr(arg, b.getPtrTy());
  for (const btf::KernelField::Step& s : f.steps) {
    const Built& t = built(s.in_struct);
    unsigned index = 0;
    while (index < t.members.size() && t.members[index] != s.member) ++index;
    llvm::Value* at = t.is_union ? b.CreatePreserveUnionAccessIndex(p, index, t.di)
                                 : b.CreatePreserveStructAccessIndex(t.ir, p, index, index, t.di);
    switch (s.kind) {
      case btf::KernelField::Step::Kind::pointer: p = b.CreateLoad(b.getPtrTy(), at, s.member); break;
      case btf::KernelField::Step::Kind::embedded: p = at; break;
      case btf::KernelField::Step::Kind::integer: {
        llvm::Value* v = b.CreateLoad(llvm::IntegerType::get(b.getContext(), f.bits), at, s.member);
        return f.is_signed ? b.CreateSExt(v, i64) : b.CreateZExt(v, i64);
      }
    }
  }
  return b.getInt64(0);  // unreachable: a resolved chain ends at an integer
}

}  // namespace krsie::backend::llvmbe

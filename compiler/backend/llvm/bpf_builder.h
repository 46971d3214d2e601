#pragma once
// Internal to the LLVM backend (compiler/backend/llvm/*.cpp only): the BPF module under
// construction (maps, BTF/debug info, programs) and an IRBuilder wrapper for BPF idioms.

#include <llvm/IR/DIBuilder.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "backend/llvm/codegen_types.h"
#include "pir/pir.h"
#include "support/diagnostics.h"
#include "support/source.h"

namespace krsie::backend::llvmbe {

class BpfModule {
 public:
  BpfModule(llvm::LLVMContext& ctx, const std::string& name, const SourceFile* main_file);
  ~BpfModule();

  llvm::LLVMContext& ctx() { return ctx_; }
  llvm::Module& module() { return *module_; }
  std::unique_ptr<llvm::Module> take() { return std::move(module_); }
  llvm::DIBuilder& di() { return *di_; }

  // Declares every map the runtime loader expects in a policy object. The definitions (with
  // their BTF) come from the runtime library (bpf-templates/llvm_runtime.bpf.c) at link time.
  void declare_runtime_maps();

  // `const volatile u32 krsie_code_generation` in section .rodata.krsie: the rule generation this
  // object's code belongs to, 0 as compiled; krsie-load sets it before loading a replacement.
  llvm::GlobalVariable* code_generation();

  // A function of the runtime library (declaration; linked by link_runtime).
  llvm::Function* runtime_function(const std::string& name, llvm::Type* ret, llvm::ArrayRef<llvm::Type*> params);

  // A program: `i32 name(ptr ctx)` in section `section`, with a DISubprogram at `at`.
  llvm::Function* program(const std::string& name, const std::string& section, const SourceRange& at);
  // Debug location of `at` inside `sp` (a lexical block file when `at` is in another file).
  llvm::DILocation* location(llvm::DISubprogram* sp, const SourceRange& at);

  void finalize();

  llvm::DICompileUnit* cu() { return cu_; }
  llvm::DIFile* main_file() { return file(main_file_); }
  llvm::DIType* basic(const std::string& name, unsigned bits, bool is_signed);

 private:
  llvm::DIFile* file(const SourceFile* f);

  llvm::LLVMContext& ctx_;
  std::unique_ptr<llvm::Module> module_;
  std::unique_ptr<llvm::DIBuilder> di_;
  llvm::DICompileUnit* cu_ = nullptr;
  const SourceFile* main_file_ = nullptr;
  std::map<const SourceFile*, llvm::DIFile*> files_;
  std::map<std::string, llvm::DIType*> basics_;
  std::vector<llvm::Constant*> used_;
  llvm::GlobalVariable* code_generation_ = nullptr;
};

// The local (CO-RE) view of the kernel structs that typed hook argument chains read: for each
// struct or union, only the members used, named as in the kernel, so the BPF backend emits
// field relocations that libbpf resolves against the running kernel's BTF.
class CoreTypes {
 public:
  explicit CoreTypes(BpfModule& m) : m_(m) {}
  // Registers the members a chain reads; call for every chain before the first read().
  void add(const btf::KernelField& f);
  // Reads the chain from the program's context (direct loads through the BTF pointer argument):
  // the integer widened to i64 (sign-extended when signed).
  llvm::Value* read(llvm::IRBuilder<>& b, llvm::Value* ctx, const btf::KernelField& f);

 private:
  struct Member {
    std::string name;
    btf::KernelField::Step::Kind kind;
    std::string target;
    bool target_union = false;
    unsigned bits = 64;
    bool is_signed = false;
  };
  struct Layout {
    bool is_union = false;
    std::vector<Member> members;
  };
  struct Built {
    llvm::Type* ir = nullptr;
    llvm::DICompositeType* di = nullptr;
    bool is_union = false;
    std::vector<std::string> members;
    std::vector<llvm::Type*> member_ir;
  };
  const Built& built(const std::string& name);

  BpfModule& m_;
  std::map<std::string, Layout> layouts_;
  std::map<std::string, Built> built_;
};

// Links the runtime library's functions the module calls, and the maps it declares, into
// `module`, and marks the library functions internal and always-inline. "" or an error.
std::string link_runtime(llvm::Module& module);

// Where the rule chain ends: the decision of the first matching rule (or the posture).
struct ChainResult {
  llvm::BasicBlock* done = nullptr;  // insertion point after the chain
  llvm::PHINode* rule_id = nullptr;  // i32
  llvm::PHINode* decision = nullptr; // i32
  llvm::PHINode* err = nullptr;      // i32
};

// The value of field vector slot f (i64) and whether it is present (i1), loaded at the current
// insertion point.
using FieldReader = std::function<std::pair<llvm::Value*, llvm::Value*>(llvm::IRBuilder<>&, std::uint32_t)>;
// Called before the code of each rule (e.g. to set its debug location).
using RuleHook = std::function<void(llvm::IRBuilder<>&, const RuleCode*)>;

// Emits `rules` as straight-line code in order, first match wins, else `posture` (rule id
// 0xffffffff, errno 1): every constraint is one comparison against folded constants. Shared by
// the BPF programs and the host-compiled twin of the differential tests.
ChainResult emit_rule_chain(llvm::IRBuilder<>& b, llvm::Function* fn, const std::vector<RuleCode>& rules,
                            std::uint8_t posture, const FieldReader& field, const RuleHook& at_rule);

}  // namespace krsie::backend::llvmbe

#pragma once
// Internal to the LLVM backend (compiler/backend/llvm/*.cpp only): the BPF module under
// construction (maps, BTF/debug info, CO-RE types) and an IRBuilder wrapper for BPF idioms.

#include <llvm/IR/DIBuilder.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "pir/pir.h"
#include "sema/hook_catalog.h"
#include "support/diagnostics.h"
#include "support/source.h"

namespace krsie::backend::llvmbe {

// BPF helper ids (include/uapi/linux/bpf.h).
enum Helper : unsigned {
  map_lookup_elem = 1,
  ktime_get_ns = 5,
  get_current_pid_tgid = 14,
  get_current_uid_gid = 15,
  get_current_comm = 16,
  get_current_cgroup_id = 80,
  send_signal = 109,
  probe_read_kernel = 113,
  get_current_ancestor_cgroup_id = 123,
  ringbuf_reserve = 131,
  ringbuf_submit = 132,
  get_current_task_btf = 158,
};

// A kernel struct as far as KRSIE reads it (CO-RE: only the members used, matched by name).
struct CoreMember {
  std::string name;
  enum Kind { u8, u16, s16, u32, s32, u64, ptr, sub } kind;
  std::string target;  // pointee struct of `ptr` ("" = void), struct of `sub`
};

class BpfModule {
 public:
  BpfModule(llvm::LLVMContext& ctx, const std::string& name, const SourceFile* main_file);
  ~BpfModule();

  llvm::LLVMContext& ctx() { return ctx_; }
  llvm::Module& module() { return *module_; }
  std::unique_ptr<llvm::Module> take() { return std::move(module_); }
  llvm::DIBuilder& di() { return *di_; }

  // A BTF-defined map of the runtime ABI (created on first use).
  llvm::GlobalVariable* map(const std::string& name);
  // Declares every map the runtime loader expects in a policy object.
  void declare_runtime_maps();

  // A program: `i32 name(ptr ctx)` in section `section`, with a DISubprogram at `line`.
  llvm::Function* program(const std::string& name, const std::string& section, const SourceRange& at);
  // Debug location of `at` inside `sp` (a lexical block file when `at` is in another file).
  llvm::DILocation* location(llvm::DISubprogram* sp, const SourceRange& at);

  struct CoreType {
    llvm::StructType* ir = nullptr;
    llvm::DICompositeType* di = nullptr;
    std::vector<CoreMember> members;
  };
  const CoreType& core_type(const std::string& kernel_name);

  void finalize();

 private:
  llvm::DIFile* file(const SourceFile* f);
  llvm::DIType* basic(const std::string& name, unsigned bits, bool is_signed);
  llvm::DIType* raw_struct(const std::string& name, unsigned bytes);

  llvm::LLVMContext& ctx_;
  std::unique_ptr<llvm::Module> module_;
  std::unique_ptr<llvm::DIBuilder> di_;
  llvm::DICompileUnit* cu_ = nullptr;
  const SourceFile* main_file_ = nullptr;
  std::map<const SourceFile*, llvm::DIFile*> files_;
  std::map<std::string, llvm::DIType*> basics_;
  std::map<std::string, llvm::GlobalVariable*> maps_;
  std::map<std::string, CoreType> core_;
  std::vector<llvm::Constant*> used_;
};

// IRBuilder with the BPF idioms the codegen needs. Allocas go to the entry block.
class BpfBuilder : public llvm::IRBuilder<> {
 public:
  BpfBuilder(BpfModule& m, llvm::Function* fn);

  BpfModule& mod() { return m_; }
  llvm::Function* function() { return fn_; }
  llvm::BasicBlock* block(const std::string& name);

  llvm::AllocaInst* stack(llvm::Type* type, const std::string& name);
  llvm::Value* helper(Helper id, llvm::Type* ret, llvm::ArrayRef<llvm::Value*> args);
  // bpf_map_lookup_elem(&map, key): a pointer to the value or null.
  llvm::Value* map_lookup(const std::string& map, llvm::Value* key_ptr);
  // Lookup with a stack-allocated scalar key.
  llvm::Value* map_lookup_scalar(const std::string& map, llvm::Value* key, const std::string& name);
  // Load an integer at a byte offset of a pointer (map value, ring buffer record, stack buffer).
  llvm::Value* load_at(llvm::Type* type, llvm::Value* base, std::uint64_t offset, const std::string& name = "");
  void store_at(llvm::Value* value, llvm::Value* base, std::uint64_t offset);
  llvm::Value* ptr_at(llvm::Value* base, std::uint64_t offset);
  // CO-RE read of `base->a.b...` (a chain of member names starting in struct `type`), direct
  // loads through BTF pointers (BPF-LSM arguments are trusted BTF pointers). Returns the last
  // member's value (integers widened to i64: sign-extended when signed) or a pointer.
  llvm::Value* core_read(const std::string& type, llvm::Value* base, const std::vector<std::string>& path);
  // Program argument i (BPF-LSM ctx is an array of u64).
  llvm::Value* arg(unsigned i);
  llvm::Value* arg_ptr(unsigned i);
  // `ctx` (the program's only parameter)
  llvm::Value* ctx_arg() { return fn_->getArg(0); }
  llvm::Value* i64c(std::uint64_t v) { return getInt64(v); }
  llvm::Value* i32c(std::uint32_t v) { return getInt32(v); }

 private:
  BpfModule& m_;
  llvm::Function* fn_;
  llvm::IRBuilder<> entry_;
};

// A field's value for the rules: i64 (as the generic templates store it: signed kinds
// sign-extended) and whether it is present (nullptr: always).
struct FieldValue {
  llvm::Value* value = nullptr;
  llvm::Value* present = nullptr;
};

// What one hook program computes before its rules; shared by the family codegens.
struct ProgramState {
  BpfBuilder& b;
  const hooks::Hook& hook;
  std::uint32_t hook_id;
  llvm::Value* table_gen = nullptr;   // i32: KRSIE_TABLE_GEN_BIT when generation 1 is in force
  std::set<std::string> used;         // fields the rules test
  std::map<std::string, FieldValue> fields;
  // Object address for events (socket hooks).
  llvm::AllocaInst* ev_addr = nullptr;  // [16 x i8], zeroed at entry
  llvm::Value* ev_family = nullptr;     // i16
  llvm::Value* ev_port = nullptr;       // i16
};

// Family codegens: compute the hook's fields into `st.fields`. Return false for a hook the
// family does not handle.
bool network_fields(ProgramState& st);
bool identity_fields(ProgramState& st);
// Common task fields (uid, gid, euid, egid, pid, tgid) the rules use.
void common_fields(ProgramState& st);
// Whether a family codegen handles `hook` / which common fields are supported.
bool network_hook(const std::string& hook);
bool identity_hook(const std::string& hook);
bool common_field_supported(const std::string& field);

// codegen.cpp: reports what the slice does not support (at the rules); true when all is.
bool check_supported(const pir::Policy& policy, krsie::DiagnosticEngine& diags);
// codegen.cpp: the program of one hook.
void generate_program(BpfModule& m, const pir::Policy& policy, const pir::Hook& hook);

}  // namespace krsie::backend::llvmbe

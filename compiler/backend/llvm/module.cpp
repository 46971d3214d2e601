// The BPF module of a policy: triple, license, map declarations (defined, with their BTF, by the
// runtime library linked in later), programs with DISubprograms and line info at .krs lines.
#include <llvm/BinaryFormat/Dwarf.h>
#include <llvm/IR/Constants.h>
#include <llvm/IR/DebugInfoMetadata.h>
#include <llvm/IR/GlobalVariable.h>

#include <filesystem>

#include "backend/llvm/bpf_builder.h"

namespace krsie::backend::llvmbe {

namespace {

// Every map of the runtime ABI (runtime/src/generation.cpp generic_maps()): the loader checks
// their presence and key/value sizes, sizes the loader-sized ones and fills what .krsie.maps holds.
const char* const k_runtime_maps[] = {
    "krsie_targets",    "krsie_config", "krsie_events", "krsie_stats",   "krsie_rules",  "krsie_hooks",   "krsie_dfa_trans",
    "krsie_dfa_states", "krsie_lpm4",   "krsie_lpm6",   "krsie_strings", "krsie_inodes", "krsie_scratch",
    "krsie_path_memo",  "krsie_memo_door",
};

}  // namespace

BpfModule::BpfModule(llvm::LLVMContext& ctx, const std::string& name, const SourceFile* main_file)
    : ctx_(ctx), module_(std::make_unique<llvm::Module>(name, ctx)), main_file_(main_file) {
  module_->setTargetTriple("bpfel");
  // Same behaviours as clang's flags, so the runtime library's bitcode links without conflict.
  module_->addModuleFlag(llvm::Module::Max, "Dwarf Version", 5);
  module_->addModuleFlag(llvm::Module::Warning, "Debug Info Version", llvm::DEBUG_METADATA_VERSION);
  di_ = std::make_unique<llvm::DIBuilder>(*module_);
  cu_ = di_->createCompileUnit(llvm::dwarf::DW_LANG_C11, file(main_file), "krsiec (LLVM backend)", /*isOptimized=*/true, "", 0);
  auto* lic = llvm::ConstantDataArray::getString(ctx_, "GPL");
  auto* gv = new llvm::GlobalVariable(*module_, lic->getType(), true, llvm::GlobalValue::ExternalLinkage, lic, "LICENSE");
  gv->setSection("license");
  gv->setAlignment(llvm::Align(1));
  used_.push_back(gv);
}

BpfModule::~BpfModule() = default;

llvm::DIFile* BpfModule::file(const SourceFile* f) {
  auto it = files_.find(f);
  if (it != files_.end()) return it->second;
  std::string path = f ? f->name() : "policy.krs";
  std::filesystem::path p(path);
  std::string dir = p.has_parent_path() ? p.parent_path().string() : ".";
  // The source is embedded: BTF line info (verifier logs) shows .krs lines without the file.
  std::optional<llvm::StringRef> source = llvm::StringRef(f ? f->text() : std::string_view(""));
  llvm::DIFile* d = di_->createFile(p.filename().string(), dir, std::nullopt, source);
  files_[f] = d;
  return d;
}

llvm::DIType* BpfModule::basic(const std::string& name, unsigned bits, bool is_signed) {
  auto& t = basics_[name];
  if (!t)
    t = di_->createBasicType(name, bits, is_signed ? llvm::dwarf::DW_ATE_signed : llvm::dwarf::DW_ATE_unsigned);
  return t;
}

void BpfModule::declare_runtime_maps() {
  for (const char* name : k_runtime_maps) {
    auto* gv = new llvm::GlobalVariable(*module_, llvm::Type::getInt8Ty(ctx_), false, llvm::GlobalValue::ExternalLinkage,
                                        nullptr, name);
    used_.push_back(gv);
  }
}

llvm::GlobalVariable* BpfModule::code_generation() {
  if (code_generation_) return code_generation_;
  auto* i32 = llvm::Type::getInt32Ty(ctx_);
  // A constant read with volatile loads (as clang does for `const volatile`): LLVM keeps the load,
  // libbpf puts the section in a frozen read-only map, the verifier sees the loaded value.
  code_generation_ = new llvm::GlobalVariable(*module_, i32, /*isConstant=*/true, llvm::GlobalValue::ExternalLinkage,
                                              llvm::ConstantInt::get(i32, 0), "krsie_code_generation");
  code_generation_->setSection(".rodata.krsie");
  code_generation_->setAlignment(llvm::Align(4));
  auto* type = di_->createQualifiedType(llvm::dwarf::DW_TAG_volatile_type,
                                        di_->createQualifiedType(llvm::dwarf::DW_TAG_const_type, basic("unsigned int", 32, false)));
  code_generation_->addDebugInfo(
      di_->createGlobalVariableExpression(cu_, "krsie_code_generation", "", file(main_file_), 0, type, /*isLocalToUnit=*/false));
  used_.push_back(code_generation_);
  return code_generation_;
}

llvm::Function* BpfModule::runtime_function(const std::string& name, llvm::Type* ret, llvm::ArrayRef<llvm::Type*> params) {
  if (llvm::Function* f = module_->getFunction(name)) return f;
  auto* fty = llvm::FunctionType::get(ret, params, false);
  return llvm::Function::Create(fty, llvm::GlobalValue::ExternalLinkage, name, *module_);
}

llvm::Function* BpfModule::program(const std::string& name, const std::string& section, const SourceRange& at) {
  auto* fty = llvm::FunctionType::get(llvm::Type::getInt32Ty(ctx_), {llvm::PointerType::getUnqual(ctx_)}, false);
  auto* fn = llvm::Function::Create(fty, llvm::GlobalValue::ExternalLinkage, name, *module_);
  fn->setSection(section);
  fn->getArg(0)->setName("ctx");
  fn->addFnAttr(llvm::Attribute::NoUnwind);
  llvm::DIFile* f = file(at.file ? at.file : main_file_);
  unsigned line = at.file ? at.file->line_col(at.begin).line : 1;
  auto* u64 = basic("unsigned long long", 64, false);
  auto* ctx_type = di_->createPointerType(u64, 64);
  auto* sty = di_->createSubroutineType(di_->getOrCreateTypeArray({basic("int", 32, true), ctx_type}));
  auto* sp = di_->createFunction(f, name, "", f, line, sty, line, llvm::DINode::FlagPrototyped,
                                 llvm::DISubprogram::SPFlagDefinition | llvm::DISubprogram::SPFlagOptimized);
  fn->setSubprogram(sp);
  // Named parameter (BTF func protos with unnamed parameters are rejected by the kernel).
  di_->createParameterVariable(sp, "ctx", 1, f, line, ctx_type, /*AlwaysPreserve=*/true);
  return fn;
}

llvm::DILocation* BpfModule::location(llvm::DISubprogram* sp, const SourceRange& at) {
  if (!at.file) return llvm::DILocation::get(ctx_, sp->getLine(), 0, sp);
  auto lc = at.file->line_col(at.begin);
  llvm::DIScope* scope = sp;
  llvm::DIFile* f = file(at.file);
  if (f != sp->getFile()) scope = di_->createLexicalBlockFile(sp, f);
  return llvm::DILocation::get(ctx_, lc.line, lc.column, scope);
}

void BpfModule::finalize() {
  if (!used_.empty()) {
    auto* ptr = llvm::PointerType::getUnqual(ctx_);
    auto* arr_ty = llvm::ArrayType::get(ptr, used_.size());
    auto* gv = new llvm::GlobalVariable(*module_, arr_ty, false, llvm::GlobalValue::AppendingLinkage,
                                        llvm::ConstantArray::get(arr_ty, used_), "llvm.compiler.used");
    gv->setSection("llvm.metadata");
  }
  di_->finalize();
}

}  // namespace krsie::backend::llvmbe

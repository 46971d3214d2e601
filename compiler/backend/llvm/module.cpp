// The BPF module of a policy: triple, license, BTF-defined maps with their debug info (BTF is
// generated from it), programs with DISubprograms, and the CO-RE view of kernel structs.
#include <llvm/BinaryFormat/Dwarf.h>
#include <llvm/IR/Constants.h>
#include <llvm/IR/DebugInfoMetadata.h>
#include <llvm/IR/GlobalVariable.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Support/MD5.h>

#include <filesystem>

#include "backend/llvm/bpf_builder.h"
#include "krsie_abi.h"

namespace krsie::backend::llvmbe {

namespace {

// BPF map types (include/uapi/linux/bpf.h).
constexpr unsigned k_hash = 1, k_array = 2, k_percpu_array = 6, k_lpm_trie = 11, k_ringbuf = 27;
constexpr unsigned k_no_prealloc = 1;

struct MapSpec {
  const char* name;
  unsigned type;
  unsigned max_entries;
  unsigned flags;
  unsigned key_size;    // 0: no key/value (ring buffer)
  unsigned value_size;
  const char* key_type;
  const char* value_type;
};

// Every map of the runtime ABI (runtime/src/generation.cpp generic_maps()): the loader checks
// their presence and key/value sizes, sizes the loader-sized ones and fills what .krsie.maps holds.
const std::vector<MapSpec>& runtime_maps() {
  static const std::vector<MapSpec> maps = {
      {"krsie_targets", k_hash, KRSIE_MAX_TARGETS, 0, 8, sizeof(krsie_target), "krsie_cgroup_id", "krsie_target"},
      {"krsie_config", k_array, 1, 0, 4, sizeof(krsie_config), "krsie_u32_key", "krsie_config"},
      {"krsie_events", k_ringbuf, 256 * 1024, 0, 0, 0, nullptr, nullptr},
      {"krsie_stats", k_percpu_array, 1, 0, 4, sizeof(krsie_stats), "krsie_u32_key", "krsie_stats"},
      {"krsie_rules", k_hash, 1, 0, sizeof(krsie_rule_key), sizeof(krsie_rule_entry), "krsie_rule_key", "krsie_rule_entry"},
      {"krsie_hooks", k_array, KRSIE_GENERATIONS * KRSIE_HOOK_MAX, 0, 4, sizeof(krsie_hook_conf), "krsie_u32_key", "krsie_hook_conf"},
      {"krsie_dfa_edges", k_hash, 1, 0, sizeof(krsie_dfa_key), 4, "krsie_dfa_key", "krsie_u32_value"},
      {"krsie_dfa_states", k_array, 1, 0, 4, sizeof(krsie_dfa_state), "krsie_u32_key", "krsie_dfa_state"},
      {"krsie_lpm4", k_lpm_trie, 1, k_no_prealloc, sizeof(krsie_lpm4_key), 8, "krsie_lpm4_key", "krsie_set_mask"},
      {"krsie_lpm6", k_lpm_trie, 1, k_no_prealloc, sizeof(krsie_lpm6_key), 8, "krsie_lpm6_key", "krsie_set_mask"},
      {"krsie_strings", k_hash, 1, 0, sizeof(krsie_string_key), 8, "krsie_string_key", "krsie_set_mask"},
      {"krsie_inodes", k_hash, 1, 0, sizeof(krsie_inode_set_key), 8, "krsie_inode_set_key", "krsie_set_mask"},
      {"krsie_scratch", k_percpu_array, 1, 0, 4, 8, "krsie_u32_key", "krsie_scratch_value"},
  };
  return maps;
}

// The kernel structs the slice reads (member names as in the kernel; CO-RE finds members of
// anonymous structs/unions by name, so skc_num may be listed as a direct member).
const std::map<std::string, std::vector<CoreMember>>& core_layouts() {
  static const std::map<std::string, std::vector<CoreMember>> layouts = {
      {"socket", {{"type", CoreMember::s16, ""}, {"sk", CoreMember::ptr, "sock"}}},
      {"sock", {{"__sk_common", CoreMember::sub, "sock_common"}, {"sk_protocol", CoreMember::u16, ""}}},
      {"sock_common", {{"skc_family", CoreMember::u16, ""}, {"skc_num", CoreMember::u16, ""}}},
      {"msghdr", {{"msg_name", CoreMember::ptr, ""}}},
      {"krsie_kid", {{"val", CoreMember::u32, ""}}},
      {"cred",
       {{"uid", CoreMember::sub, "krsie_kid"},
        {"gid", CoreMember::sub, "krsie_kid"},
        {"suid", CoreMember::sub, "krsie_kid"},
        {"sgid", CoreMember::sub, "krsie_kid"},
        {"euid", CoreMember::sub, "krsie_kid"},
        {"egid", CoreMember::sub, "krsie_kid"}}},
      {"task_struct", {{"real_cred", CoreMember::ptr, "cred"}}},
  };
  return layouts;
}

unsigned member_bits(CoreMember::Kind k) {
  switch (k) {
    case CoreMember::u8: return 8;
    case CoreMember::u16:
    case CoreMember::s16: return 16;
    case CoreMember::u32:
    case CoreMember::s32: return 32;
    default: return 64;
  }
}

}  // namespace

BpfModule::BpfModule(llvm::LLVMContext& ctx, const std::string& name, const SourceFile* main_file)
    : ctx_(ctx), module_(std::make_unique<llvm::Module>(name, ctx)), main_file_(main_file) {
  module_->setTargetTriple("bpfel");
  module_->addModuleFlag(llvm::Module::Warning, "Dwarf Version", 5);
  module_->addModuleFlag(llvm::Module::Warning, "Debug Info Version", llvm::DEBUG_METADATA_VERSION);
  di_ = std::make_unique<llvm::DIBuilder>(*module_);
  cu_ = di_->createCompileUnit(llvm::dwarf::DW_LANG_C11, file(main_file), "krsiec (LLVM backend)", /*isOptimized=*/true, "", 0);
  // license
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

// A struct of `bytes` raw bytes: key/value types of maps (sizes are what the kernel and the
// loader check; LPM tries need a struct key).
llvm::DIType* BpfModule::raw_struct(const std::string& name, unsigned bytes) {
  auto& t = basics_["struct " + name];
  if (t) return t;
  llvm::DIFile* f = file(main_file_);
  auto* u8 = basic("unsigned char", 8, false);
  auto* arr = di_->createArrayType(bytes * 8, 8, u8, di_->getOrCreateArray({di_->getOrCreateSubrange(0, bytes)}));
  auto* member = di_->createMemberType(cu_, "raw", f, 0, bytes * 8, 8, 0, llvm::DINode::FlagZero, arr);
  t = di_->createStructType(cu_, name, f, 0, bytes * 8, 8, llvm::DINode::FlagZero, nullptr,
                            di_->getOrCreateArray({member}));
  return t;
}

llvm::GlobalVariable* BpfModule::map(const std::string& name) {
  auto it = maps_.find(name);
  if (it != maps_.end()) return it->second;
  const MapSpec* spec = nullptr;
  for (const MapSpec& s : runtime_maps())
    if (name == s.name) spec = &s;
  if (!spec) return nullptr;
  llvm::DIFile* f = file(main_file_);
  auto* int_t = basic("int", 32, true);
  // __uint(name, N): a pointer to int[N]; __type(name, T): a pointer to T.
  auto uint_member = [&](const char* member, unsigned value, unsigned offset) {
    auto* arr = di_->createArrayType(std::uint64_t(value) * 32, 32, int_t, di_->getOrCreateArray({di_->getOrCreateSubrange(0, value)}));
    auto* ptr = di_->createPointerType(arr, 64);
    return di_->createMemberType(cu_, member, f, 0, 64, 64, offset, llvm::DINode::FlagZero, ptr);
  };
  auto type_member = [&](const char* member, llvm::DIType* type, unsigned offset) {
    return di_->createMemberType(cu_, member, f, 0, 64, 64, offset, llvm::DINode::FlagZero, di_->createPointerType(type, 64));
  };
  std::vector<llvm::Metadata*> members;
  members.push_back(uint_member("type", spec->type, 0));
  members.push_back(uint_member("max_entries", spec->max_entries, 64));
  if (spec->key_size) {
    members.push_back(type_member("key", raw_struct(spec->key_type, spec->key_size), 128));
    members.push_back(type_member("value", raw_struct(spec->value_type, spec->value_size), 192));
  }
  if (spec->flags) members.push_back(uint_member("map_flags", spec->flags, static_cast<unsigned>(members.size() * 64)));
  auto* st = di_->createStructType(cu_, "", f, 0, members.size() * 64, 64, llvm::DINode::FlagZero, nullptr,
                                   di_->getOrCreateArray(members));
  std::vector<llvm::Type*> ptrs(members.size(), llvm::PointerType::getUnqual(ctx_));
  auto* ir = llvm::StructType::get(ctx_, ptrs);
  auto* gv = new llvm::GlobalVariable(*module_, ir, false, llvm::GlobalValue::ExternalLinkage,
                                      llvm::ConstantAggregateZero::get(ir), name);
  gv->setSection(".maps");
  gv->setAlignment(llvm::Align(8));
  gv->addDebugInfo(di_->createGlobalVariableExpression(cu_, name, "", f, 0, st, /*isLocalToUnit=*/false));
  used_.push_back(gv);
  maps_[name] = gv;
  return gv;
}

void BpfModule::declare_runtime_maps() {
  for (const MapSpec& s : runtime_maps()) map(s.name);
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

const BpfModule::CoreType& BpfModule::core_type(const std::string& kernel_name) {
  auto it = core_.find(kernel_name);
  if (it != core_.end()) return it->second;
  const auto& layout = core_layouts().at(kernel_name);
  CoreType ct;
  ct.members = layout;
  llvm::DIFile* f = file(main_file_);
  std::vector<llvm::Type*> ir_members;
  std::vector<llvm::Metadata*> di_members;
  std::uint64_t offset = 0;
  for (const CoreMember& m : layout) {
    llvm::Type* ir = nullptr;
    llvm::DIType* dt = nullptr;
    std::uint64_t bits = 0;
    if (m.kind == CoreMember::sub) {
      const CoreType& sub = core_type(m.target);
      ir = sub.ir;
      dt = sub.di;
      bits = sub.di->getSizeInBits();
    } else if (m.kind == CoreMember::ptr) {
      ir = llvm::PointerType::getUnqual(ctx_);
      llvm::DIType* pointee = nullptr;
      if (!m.target.empty()) {
        // Forward declaration is enough for a pointer member.
        pointee = di_->createForwardDecl(llvm::dwarf::DW_TAG_structure_type, m.target, cu_, f, 0);
      }
      dt = di_->createPointerType(pointee, 64);
      bits = 64;
    } else {
      bits = member_bits(m.kind);
      ir = llvm::IntegerType::get(ctx_, static_cast<unsigned>(bits));
      bool is_signed = m.kind == CoreMember::s16 || m.kind == CoreMember::s32;
      const char* names[] = {"unsigned char", "short unsigned int", "long long unsigned int"};
      std::string n = bits == 8 ? names[0] : bits == 16 ? (is_signed ? "short int" : names[1])
                    : bits == 32 ? (is_signed ? "int" : "unsigned int") : names[2];
      dt = basic(n, static_cast<unsigned>(bits), is_signed);
    }
    std::uint64_t align = std::min<std::uint64_t>(bits, 64);
    offset = (offset + align - 1) / align * align;
    di_members.push_back(di_->createMemberType(cu_, m.name, f, 0, bits, static_cast<std::uint32_t>(align), offset,
                                               llvm::DINode::FlagZero, dt));
    ir_members.push_back(ir);
    offset += bits;
  }
  offset = (offset + 63) / 64 * 64;
  ct.ir = llvm::StructType::create(ctx_, ir_members, "struct." + kernel_name);
  ct.di = di_->createStructType(cu_, kernel_name, f, 0, offset, 64, llvm::DINode::FlagZero, nullptr,
                                di_->getOrCreateArray(di_members));
  return core_[kernel_name] = ct;
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

// Capability and identity hooks (capable, task_fix_setuid, task_fix_setgid) and the common task
// fields. Same field semantics as the generic templates.
#include "backend/llvm/bpf_builder.h"

namespace krsie::backend::llvmbe {

namespace {

llvm::Value* int_arg(BpfBuilder& b, unsigned i, bool is_signed) {
  llvm::Value* v = b.CreateTrunc(b.arg(i), b.getInt32Ty());
  return is_signed ? b.CreateSExt(v, b.getInt64Ty()) : b.CreateZExt(v, b.getInt64Ty());
}

void cred_fields(ProgramState& st, const char* id /* "uid" or "gid" */) {
  BpfBuilder& b = st.b;
  llvm::Value* new_cred = b.arg_ptr(0);
  llvm::Value* old_cred = b.arg_ptr(1);
  std::string s(id);
  std::string e = "e" + s, sv = std::string("s") + s;
  // Only the fields the rules test are read (the event carries the first four).
  auto read = [&](const std::string& field, llvm::Value* cred, const std::string& member) {
    st.fields[field] = {b.core_read("cred", cred, {member, "val"})};
  };
  read("new_" + s, new_cred, s);
  read("new_" + e, new_cred, e);
  read("new_" + sv, new_cred, sv);
  read("old_" + s, old_cred, s);
  read("old_" + e, old_cred, e);
  st.fields["flags"] = {int_arg(b, 2, true)};
  read("old_" + sv, old_cred, sv);
}

}  // namespace

bool identity_hook(const std::string& hook) {
  return hook == "capable" || hook == "task_fix_setuid" || hook == "task_fix_setgid";
}

bool identity_fields(ProgramState& st) {
  BpfBuilder& b = st.b;
  std::string name(st.hook.name);
  if (name == "capable") {
    st.fields["cap"] = {int_arg(b, 2, true)};
    st.fields["opts"] = {int_arg(b, 3, false)};
    return true;
  }
  if (name == "task_fix_setuid") {
    cred_fields(st, "uid");
    return true;
  }
  if (name == "task_fix_setgid") {
    cred_fields(st, "gid");
    return true;
  }
  return false;
}

bool common_field_supported(const std::string& field) {
  return field == "uid" || field == "gid" || field == "euid" || field == "egid" || field == "pid" || field == "tgid";
}

void common_fields(ProgramState& st) {
  BpfBuilder& b = st.b;
  auto* i64 = b.getInt64Ty();
  if (st.used.count("uid") || st.used.count("gid")) {
    llvm::Value* ugid = b.helper(get_current_uid_gid, i64, {});
    st.fields["uid"] = {b.CreateAnd(ugid, b.i64c(0xffffffff))};
    st.fields["gid"] = {b.CreateLShr(ugid, 32)};
  }
  if (st.used.count("pid") || st.used.count("tgid")) {
    llvm::Value* pid_tgid = b.helper(get_current_pid_tgid, i64, {});
    st.fields["pid"] = {b.CreateAnd(pid_tgid, b.i64c(0xffffffff))};
    st.fields["tgid"] = {b.CreateLShr(pid_tgid, 32)};
  }
  if (st.used.count("euid") || st.used.count("egid")) {
    llvm::Value* task = b.helper(get_current_task_btf, b.getPtrTy(), {});
    llvm::Value* cred = b.core_read("task_struct", task, {"real_cred"});
    if (st.used.count("euid")) st.fields["euid"] = {b.core_read("cred", cred, {"euid", "val"})};
    if (st.used.count("egid")) st.fields["egid"] = {b.core_read("cred", cred, {"egid", "val"})};
  }
}

}  // namespace krsie::backend::llvmbe

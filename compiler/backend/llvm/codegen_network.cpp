// Network hooks: socket_connect, socket_bind, socket_listen, socket_create, socket_sendmsg.
// Same field semantics as the generic templates (bpf-templates/generic.bpf.c): integers as u64
// (signed kinds sign-extended), the address as the mask of the address sets it belongs to (one
// LPM lookup, only when a rule tests it), address and port absent outside AF_INET/AF_INET6.
#include <llvm/IR/Intrinsics.h>

#include "backend/llvm/bpf_builder.h"
#include "krsie_abi.h"

namespace krsie::backend::llvmbe {

namespace {

constexpr std::uint64_t k_af_inet = 2, k_af_inet6 = 10;

std::uint32_t field_index(const hooks::Hook& hook, const std::string& name) {
  for (std::size_t i = 0; i < hook.fields.size(); ++i)
    if (hook.fields[i].name == name) return static_cast<std::uint32_t>(i);
  return 0;
}

// An int argument of the hook, as the generic templates widen it.
llvm::Value* int_arg(BpfBuilder& b, unsigned i, bool is_signed) {
  llvm::Value* v = b.CreateTrunc(b.arg(i), b.getInt32Ty());
  return is_signed ? b.CreateSExt(v, b.getInt64Ty()) : b.CreateZExt(v, b.getInt64Ty());
}

// Fields of a sockaddr: family (unless family_field is empty), address set mask, port.
void sockaddr_fields(ProgramState& st, llvm::Value* sa, const std::string& family_field, const std::string& addr_field,
                     const std::string& port_field) {
  BpfBuilder& b = st.b;
  auto* i64 = b.getInt64Ty();
  auto* i16 = b.getInt16Ty();
  bool want_addr = st.used.count(addr_field) > 0;
  llvm::BasicBlock* start = b.GetInsertBlock();
  llvm::BasicBlock* read = b.block("sockaddr");
  llvm::BasicBlock* check6 = b.block("sockaddr.not_v4");
  llvm::BasicBlock* v4 = b.block("sockaddr.v4");
  llvm::BasicBlock* v6 = b.block("sockaddr.v6");
  llvm::BasicBlock* join = b.block("sockaddr.done");
  b.CreateCondBr(b.CreateIsNotNull(sa), read, join);

  b.SetInsertPoint(read);
  auto* buf = b.stack(llvm::ArrayType::get(b.getInt8Ty(), 24), "sockaddr_buf");
  b.helper(probe_read_kernel, i64, {buf, b.getInt64(2), sa});
  llvm::Value* fam16 = b.CreateLoad(i16, buf, "family");
  llvm::Value* fam = b.CreateZExt(fam16, i64);
  b.CreateCondBr(b.CreateICmpEQ(fam, b.i64c(k_af_inet)), v4, check6);
  b.SetInsertPoint(check6);
  b.CreateCondBr(b.CreateICmpEQ(fam, b.i64c(k_af_inet6)), v6, join);

  auto table = [&]() {
    return b.CreateOr(b.i32c((st.hook_id << 8) | field_index(st.hook, addr_field)), st.table_gen);
  };
  auto port_of = [&]() {
    llvm::Value* raw = b.load_at(i16, buf, 2, "port_be");
    return b.CreateZExt(b.CreateUnaryIntrinsic(llvm::Intrinsic::bswap, raw), i64, "port");
  };
  auto lookup_mask = [&](const char* map, llvm::Value* key) -> llvm::Value* {
    llvm::Value* p = b.map_lookup(map, key);
    llvm::BasicBlock* here = b.GetInsertBlock();
    llvm::BasicBlock* hit = b.block(std::string(map) + ".hit");
    llvm::BasicBlock* done = b.block(std::string(map) + ".done");
    b.CreateCondBr(b.CreateIsNotNull(p), hit, done);
    b.SetInsertPoint(hit);
    llvm::Value* m = b.CreateLoad(i64, p, "mask");
    b.CreateBr(done);
    b.SetInsertPoint(done);
    auto* phi = b.CreatePHI(i64, 2, "addr_sets");
    phi->addIncoming(b.i64c(0), here);
    phi->addIncoming(m, hit);
    return phi;
  };

  // IPv4: family, port, address (8 bytes of sockaddr_in).
  b.SetInsertPoint(v4);
  b.helper(probe_read_kernel, i64, {buf, b.getInt64(8), sa});
  llvm::Value* port4 = port_of();
  b.CreateMemCpy(st.ev_addr, llvm::Align(8), b.ptr_at(buf, 4), llvm::MaybeAlign(4), 4);
  llvm::Value* mask4 = b.i64c(0);
  if (want_addr) {
    auto* key = b.stack(llvm::ArrayType::get(b.getInt8Ty(), sizeof(krsie_lpm4_key)), "lpm4_key");
    b.store_at(b.i32c(64), key, offsetof(krsie_lpm4_key, prefixlen));
    b.store_at(table(), key, offsetof(krsie_lpm4_key, table));
    b.store_at(b.load_at(b.getInt32Ty(), buf, 4), key, offsetof(krsie_lpm4_key, addr));
    mask4 = lookup_mask("krsie_lpm4", key);
  }
  llvm::BasicBlock* v4_end = b.GetInsertBlock();
  b.CreateBr(join);

  // IPv6: family, port, flowinfo, address (24 bytes of sockaddr_in6).
  b.SetInsertPoint(v6);
  b.helper(probe_read_kernel, i64, {buf, b.getInt64(24), sa});
  llvm::Value* port6 = port_of();
  b.CreateMemCpy(st.ev_addr, llvm::Align(8), b.ptr_at(buf, 8), llvm::MaybeAlign(8), 16);
  llvm::Value* mask6 = b.i64c(0);
  if (want_addr) {
    auto* key = b.stack(llvm::ArrayType::get(b.getInt8Ty(), sizeof(krsie_lpm6_key)), "lpm6_key");
    b.store_at(b.i32c(32 + 128), key, offsetof(krsie_lpm6_key, prefixlen));
    b.store_at(table(), key, offsetof(krsie_lpm6_key, table));
    b.CreateMemCpy(b.ptr_at(key, offsetof(krsie_lpm6_key, addr)), llvm::MaybeAlign(8), b.ptr_at(buf, 8), llvm::MaybeAlign(8), 16);
    mask6 = lookup_mask("krsie_lpm6", key);
  }
  llvm::BasicBlock* v6_end = b.GetInsertBlock();
  b.CreateBr(join);

  b.SetInsertPoint(join);
  auto phi = [&](llvm::Type* t, const char* name, llvm::Value* none, llvm::Value* other, llvm::Value* a4, llvm::Value* a6) {
    auto* p = b.CreatePHI(t, 4, name);
    p->addIncoming(none, start);
    p->addIncoming(other, check6);
    p->addIncoming(a4, v4_end);
    p->addIncoming(a6, v6_end);
    return p;
  };
  auto* i1 = b.getInt1Ty();
  llvm::Value* family = phi(i64, "family", b.i64c(0), fam, fam, fam);
  llvm::Value* family_present = phi(i1, "family.present", b.getFalse(), b.getTrue(), b.getTrue(), b.getTrue());
  llvm::Value* inet = phi(i1, "inet", b.getFalse(), b.getFalse(), b.getTrue(), b.getTrue());
  llvm::Value* port = phi(i64, "port", b.i64c(0), b.i64c(0), port4, port6);
  llvm::Value* mask = phi(i64, "addr_sets", b.i64c(0), b.i64c(0), mask4, mask6);
  if (!family_field.empty()) st.fields[family_field] = {family, family_present};
  st.fields[addr_field] = {mask, inet};
  st.fields[port_field] = {port, inet};
  st.ev_family = b.CreateSelect(inet, b.CreateTrunc(family, i16), b.getInt16(0));
  st.ev_port = b.CreateSelect(inet, b.CreateTrunc(port, i16), b.getInt16(0));
}

// family, type, protocol, local_port of a socket (catalogue order of add_socket_fields).
void socket_fields(ProgramState& st, llvm::Value* sock) {
  BpfBuilder& b = st.b;
  llvm::Value* sk = b.core_read("socket", sock, {"sk"});
  st.fields["family"] = {b.core_read("sock", sk, {"__sk_common", "skc_family"})};
  st.fields["type"] = {b.core_read("socket", sock, {"type"})};
  st.fields["protocol"] = {b.core_read("sock", sk, {"sk_protocol"})};
  st.fields["local_port"] = {b.core_read("sock", sk, {"__sk_common", "skc_num"})};
}

}  // namespace

bool network_hook(const std::string& hook) {
  return hook == "socket_connect" || hook == "socket_bind" || hook == "socket_listen" || hook == "socket_create" ||
         hook == "socket_sendmsg";
}

bool network_fields(ProgramState& st) {
  BpfBuilder& b = st.b;
  std::string name(st.hook.name);
  if (name == "socket_connect" || name == "socket_bind") {
    llvm::Value* sock = b.arg_ptr(0);
    bool connect = name == "socket_connect";
    sockaddr_fields(st, b.arg_ptr(1), "family", connect ? "remote_addr" : "local_addr", connect ? "remote_port" : "local_port");
    st.fields["type"] = {b.core_read("socket", sock, {"type"})};
    st.fields["protocol"] = {b.core_read("sock", b.core_read("socket", sock, {"sk"}), {"sk_protocol"})};
    st.fields["addrlen"] = {int_arg(b, 2, true)};
    return true;
  }
  if (name == "socket_listen") {
    socket_fields(st, b.arg_ptr(0));
    st.fields["backlog"] = {int_arg(b, 1, true)};
    return true;
  }
  if (name == "socket_create") {
    st.fields["family"] = {int_arg(b, 0, true)};
    st.fields["type"] = {int_arg(b, 1, true)};
    st.fields["protocol"] = {int_arg(b, 2, true)};
    st.fields["kern"] = {b.CreateZExt(b.CreateICmpNE(b.CreateTrunc(b.arg(3), b.getInt32Ty()), b.getInt32(0)), b.getInt64Ty())};
    return true;
  }
  if (name == "socket_sendmsg") {
    socket_fields(st, b.arg_ptr(0));
    st.fields["size"] = {int_arg(b, 2, true)};
    llvm::Value* msg = b.arg_ptr(1);
    // msg_name is a plain pointer (not a BTF one): read through bpf_probe_read_kernel.
    sockaddr_fields(st, b.core_read("msghdr", msg, {"msg_name"}), "", "remote_addr", "remote_port");
    return true;
  }
  return false;
}

}  // namespace krsie::backend::llvmbe

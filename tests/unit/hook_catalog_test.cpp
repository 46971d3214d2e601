// The LSM hook catalogue (compiler/sema/hook_catalog.cpp) against reality:
//  - every hook's parameter prefix matches bpf_lsm_<hook> in the BTF of the host kernel (6.18)
//    and of the guest kernel (Debian 6.1), and every field's access chain resolves there to a
//    value of the field's type and width;
//  - the table is internally consistent;
//  - constants agree with the UAPI headers and with the kernels' enums;
//  - docs/hooks.md documents every hook, field and constant.

#include <bpf/btf.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <linux/bpf.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include "sema/hook_catalog.h"
#include "sema/types.h"

#ifndef KRSIE_BUILD_DIR
#error "KRSIE_BUILD_DIR must be defined (tests/unit/CMakeLists.txt)"
#endif
#ifndef KRSIE_SOURCE_DIR
#error "KRSIE_SOURCE_DIR must be defined (tests/unit/CMakeLists.txt)"
#endif

namespace {

using namespace krsie;
using namespace krsie::hooks;

// ---------------------------------------------------------------------------------------------
// BTF helpers

struct BtfDeleter {
  void operator()(struct btf* b) const { btf__free(b); }
};
using BtfPtr = std::unique_ptr<struct btf, BtfDeleter>;

BtfPtr parse_btf(const std::string& path, std::string& error) {
  struct btf* b = btf__parse(path.c_str(), nullptr);
  if (!b) {
    error = "btf__parse(" + path + ") failed: " + std::to_string(errno);
    return nullptr;
  }
  return BtfPtr(b);
}

std::string btf_name(const struct btf* b, __u32 name_off) {
  const char* s = btf__name_by_offset(b, name_off);
  return s ? s : "";
}

// C spelling of BTF integer names.
std::string c_int_name(const std::string& n) {
  static const std::map<std::string, std::string> m = {
      {"long unsigned int", "unsigned long"},   {"long int", "long"},
      {"long long int", "long long"},           {"long long unsigned int", "unsigned long long"},
      {"short int", "short"},                   {"short unsigned int", "unsigned short"},
      {"_Bool", "bool"},
  };
  auto it = m.find(n);
  return it == m.end() ? n : it->second;
}

// Spell a BTF type the way Param::c_type does: "const struct path *", "umode_t", "unsigned long".
std::string render(const struct btf* b, __u32 id) {
  if (id == 0) return "void";
  const struct btf_type* t = btf__type_by_id(b, id);
  if (!t) return "<bad type " + std::to_string(id) + ">";
  std::string name = btf_name(b, t->name_off);
  switch (btf_kind(t)) {
    case BTF_KIND_INT: return c_int_name(name);
    case BTF_KIND_TYPEDEF: return name;
    case BTF_KIND_STRUCT: return "struct " + name;
    case BTF_KIND_UNION: return "union " + name;
    case BTF_KIND_ENUM:
    case BTF_KIND_ENUM64: return "enum " + name;
    case BTF_KIND_FWD: return (btf_kflag(t) ? "union " : "struct ") + name;
    case BTF_KIND_CONST: {
      const struct btf_type* inner = btf__type_by_id(b, t->type);
      std::string s = render(b, t->type);
      return inner && btf_is_ptr(inner) ? s + " const" : "const " + s;
    }
    case BTF_KIND_VOLATILE: return "volatile " + render(b, t->type);
    case BTF_KIND_RESTRICT: return render(b, t->type);  // not part of the prototype's meaning
    case BTF_KIND_TYPE_TAG: return render(b, t->type);
    case BTF_KIND_PTR: {
      std::string s = render(b, t->type);
      return s.ends_with('*') ? s + "*" : s + " *";
    }
    case BTF_KIND_FUNC_PROTO: return "<function pointer>";
    case BTF_KIND_ARRAY: return render(b, btf_array(t)->type) + "[]";
    default: return "<kind " + std::to_string(btf_kind(t)) + ">";
  }
}

// Follow const/volatile/restrict/type tags (and typedefs if asked).
__u32 strip(const struct btf* b, __u32 id, bool typedefs) {
  for (;;) {
    const struct btf_type* t = btf__type_by_id(b, id);
    if (!t) return id;
    if (btf_is_const(t) || btf_is_volatile(t) || btf_is_restrict(t) || btf_is_type_tag(t) ||
        (typedefs && btf_is_typedef(t))) {
      id = t->type;
      continue;
    }
    return id;
  }
}

// Member `name` of struct/union `id`, looking into anonymous struct/union members.
std::optional<__u32> find_member(const struct btf* b, __u32 id, const std::string& name) {
  const struct btf_type* t = btf__type_by_id(b, strip(b, id, true));
  if (!t || !btf_is_composite(t)) return std::nullopt;
  const struct btf_member* m = btf_members(t);
  for (unsigned i = 0; i < btf_vlen(t); ++i, ++m) {
    std::string mn = btf_name(b, m->name_off);
    if (mn == name) return m->type;
    if (mn.empty()) {
      if (auto r = find_member(b, m->type, name)) return r;
    }
  }
  return std::nullopt;
}

struct Proto {
  std::vector<std::pair<std::string, __u32>> params;  // name, type id
};

std::optional<Proto> lsm_proto(const struct btf* b, std::string_view hook) {
  std::string fn = "bpf_lsm_" + std::string(hook);
  int id = btf__find_by_name_kind(b, fn.c_str(), BTF_KIND_FUNC);
  if (id <= 0) return std::nullopt;
  const struct btf_type* f = btf__type_by_id(b, id);
  const struct btf_type* p = btf__type_by_id(b, f->type);
  if (!p || !btf_is_func_proto(p)) return std::nullopt;
  Proto out;
  const struct btf_param* prm = btf_params(p);
  for (unsigned i = 0; i < btf_vlen(p); ++i, ++prm) out.params.emplace_back(btf_name(b, prm->name_off), prm->type);
  return out;
}

std::string render_proto(const struct btf* b, std::string_view hook, const Proto& p) {
  std::string s = "bpf_lsm_" + std::string(hook) + "(";
  for (size_t i = 0; i < p.params.size(); ++i) {
    if (i) s += ", ";
    std::string ty = render(b, p.params[i].second);
    s += ty + (ty.ends_with('*') ? "" : " ") + p.params[i].first;
  }
  return s + ")";
}

// Splits "a->b.c" into the root and the steps (deref?, member).
struct Chain {
  std::string root;
  std::vector<std::pair<bool, std::string>> steps;
};

std::optional<Chain> parse_chain(std::string_view s) {
  Chain c;
  size_t i = 0;
  auto ident = [&]() -> std::string {
    size_t st = i;
    while (i < s.size() && (std::isalnum(static_cast<unsigned char>(s[i])) || s[i] == '_')) ++i;
    return std::string(s.substr(st, i - st));
  };
  c.root = ident();
  if (c.root.empty()) return std::nullopt;
  while (i < s.size()) {
    bool deref;
    if (s.substr(i, 2) == "->") {
      deref = true;
      i += 2;
    } else if (s[i] == '.') {
      deref = false;
      i += 1;
    } else {
      return std::nullopt;
    }
    std::string m = ident();
    if (m.empty()) return std::nullopt;
    c.steps.emplace_back(deref, m);
  }
  return c;
}

// Resolves the chain's steps from type `id`; returns the final type id or an error.
std::optional<__u32> walk(const struct btf* b, __u32 id, const Chain& c, std::string& err) {
  for (const auto& [deref, member] : c.steps) {
    __u32 cur = strip(b, id, true);
    if (deref) {
      const struct btf_type* t = btf__type_by_id(b, cur);
      if (!t || !btf_is_ptr(t)) {
        err = "'->" + member + "' applied to non-pointer " + render(b, id);
        return std::nullopt;
      }
      cur = t->type;
    }
    auto m = find_member(b, cur, member);
    if (!m) {
      err = "no member '" + member + "' in " + render(b, cur);
      return std::nullopt;
    }
    id = *m;
  }
  return id;
}

// The struct a pointer type points to ("file" for struct file *), or "".
std::string pointee_struct(const struct btf* b, __u32 id) {
  const struct btf_type* t = btf__type_by_id(b, strip(b, id, true));
  if (!t || !btf_is_ptr(t)) return "";
  const struct btf_type* s = btf__type_by_id(b, strip(b, t->type, true));
  if (!s || !(btf_is_struct(s) || btf_is_fwd(s))) return "";
  return btf_name(b, s->name_off);
}

bool is_char(const struct btf* b, __u32 id) {
  const struct btf_type* t = btf__type_by_id(b, strip(b, id, true));
  return t && btf_is_int(t) && t->size == 1;
}

// Checks that the value at type `id` can be read as `ty`; "" when fine.
std::string check_value(const struct btf* b, __u32 id, const Type& ty) {
  const struct btf_type* t = btf__type_by_id(b, strip(b, id, true));
  if (!t) return "bad type id";
  switch (ty.kind) {
    case TypeKind::integer: {
      if (btf_is_int(t)) {
        bool sgn = btf_int_encoding(t) & BTF_INT_SIGNED;
        if (t->size * 8u != ty.bits || sgn != ty.is_signed)
          return render(b, id) + " is " + (sgn ? "s" : "u") + std::to_string(t->size * 8) + ", field says " +
                 type_name(ty);
        return "";
      }
      if (btf_is_enum(t) || btf_is_enum64(t)) {
        if (t->size * 8u != ty.bits) return render(b, id) + " has " + std::to_string(t->size * 8) + " bits";
        return "";
      }
      return render(b, id) + " is not an integer";
    }
    case TypeKind::boolean:
      return btf_is_int(t) ? "" : render(b, id) + " is not an integer or bool";
    case TypeKind::string:
      if (btf_is_ptr(t) && is_char(b, t->type)) return "";
      if (btf_is_array(t) && is_char(b, btf_array(t)->type)) return "";
      return render(b, id) + " is not a char pointer or array";
    case TypeKind::path: {
      std::string s = pointee_struct(b, id);
      if (s == "file" || s == "path" || s == "dentry" || s == "vfsmount") return "";
      return render(b, id) + " is not a pointer to struct file/path/dentry/vfsmount";
    }
    case TypeKind::address: return "address fields come from sockaddr only";
  }
  return "unknown kind";
}

// Checks one field of `hook` against the prototype; "" when fine.
std::string check_field(const struct btf* b, const Proto& p, const Field& f) {
  auto param_type = [&](const std::string& name) -> std::optional<__u32> {
    for (const auto& [n, id] : p.params)
      if (n == name) return id;
    return std::nullopt;
  };
  std::string access(f.access);
  if (f.source == FieldSource::sockaddr) {
    auto colon = access.find(':');
    if (colon == std::string::npos) return "sockaddr access without ':'";
    std::string base = access.substr(0, colon);
    // "msg->msg_name": the destination a sendmsg(2) caller passed in its struct msghdr.
    bool via_msghdr = base.size() > 10 && base.compare(base.size() - 10, 10, "->msg_name") == 0;
    if (via_msghdr) base = base.substr(0, base.size() - 10);
    auto pt = param_type(base);
    if (!pt) return "no parameter " + base;
    if (via_msghdr) {
      if (pointee_struct(b, *pt) != "msghdr") return render(b, *pt) + " is not struct msghdr *";
    } else if (pointee_struct(b, *pt) != "sockaddr") {
      return render(b, *pt) + " is not struct sockaddr *";
    }
    std::string part = access.substr(colon + 1);
    if (part == "family") return f.type == Type::integer(16, false, Unit::family) ? "" : "family must be u16 family";
    if (part == "port") return f.type == Type::integer(16, false, Unit::port) ? "" : "port must be u16 port";
    if (part == "addr") return f.type.kind == TypeKind::address ? "" : "addr must be an address";
    return "unknown sockaddr part " + part;
  }
  if (f.source == FieldSource::path && access.find('/') != std::string::npos) {
    auto slash = access.find('/');
    auto dir = param_type(access.substr(0, slash));
    auto den = param_type(access.substr(slash + 1));
    if (!dir || !den) return "no parameter in " + access;
    if (pointee_struct(b, *dir) != "path") return render(b, *dir) + " is not struct path *";
    if (pointee_struct(b, *den) != "dentry") return render(b, *den) + " is not struct dentry *";
    return f.type.kind == TypeKind::path ? "" : "dir/dentry access for a non-path field";
  }
  auto chain = parse_chain(access);
  if (!chain) return "cannot parse access '" + access + "'";
  __u32 root;
  if (f.source == FieldSource::task_context) {
    if (chain->root != "current") return "task_context access must start with 'current'";
    int task = btf__find_by_name_kind(b, "task_struct", BTF_KIND_STRUCT);
    if (task <= 0) return "no struct task_struct";
    // Pretend `current` is a struct task_struct *: walk the first step from the struct itself.
    if (chain->steps.empty() || !chain->steps.front().first) return "task_context access must use current->";
    chain->steps.front().first = false;
    root = static_cast<__u32>(task);
  } else {
    auto pt = param_type(chain->root);
    if (!pt) return "no parameter '" + chain->root + "'";
    root = *pt;
    if (f.source == FieldSource::arg && !chain->steps.empty()) return "arg access must be a bare parameter";
    if (f.source == FieldSource::target_task && pointee_struct(b, root) != "task_struct")
      return "target_task access must start at a struct task_struct *";
  }
  std::string err;
  auto id = walk(b, root, *chain, err);
  if (!id) return err;
  return check_value(b, *id, f.type);
}

// Checks the whole catalogue against one kernel's BTF; returns the problems.
std::vector<std::string> check_kernel(const struct btf* b) {
  std::vector<std::string> errors;
  for (const Hook& h : all()) {
    auto p = lsm_proto(b, h.name);
    if (!p) {
      errors.push_back(std::string(h.name) + ": no FUNC bpf_lsm_" + std::string(h.name));
      continue;
    }
    std::string proto = render_proto(b, h.name, *p);
    if (h.params.size() > p->params.size()) {
      errors.push_back(std::string(h.name) + ": catalogue lists " + std::to_string(h.params.size()) +
                       " parameters, kernel has " + proto);
      continue;
    }
    for (size_t i = 0; i < h.params.size(); ++i) {
      std::string ty = render(b, p->params[i].second);
      if (ty != h.params[i].c_type || p->params[i].first != h.params[i].name)
        errors.push_back(std::string(h.name) + ": parameter " + std::to_string(i) + " is '" + ty + " " +
                         p->params[i].first + "', catalogue says '" + std::string(h.params[i].c_type) + " " +
                         std::string(h.params[i].name) + "' (kernel: " + proto + ")");
    }
    // Fields may only use the parameters the catalogue relies on.
    Proto relied;
    relied.params.assign(p->params.begin(), p->params.begin() + static_cast<long>(h.params.size()));
    for (const Field& f : h.fields) {
      std::string e = check_field(b, relied, f);
      if (!e.empty()) errors.push_back(std::string(h.name) + "." + std::string(f.name) + " (" + std::string(f.access) + "): " + e);
    }
  }
  Proto none;
  for (const Field& f : common_fields()) {
    std::string e = check_field(b, none, f);
    if (!e.empty()) errors.push_back("common field " + std::string(f.name) + ": " + e);
  }
  // Enum-valued constants must match this kernel's enums.
  auto check_enum = [&](const char* enum_name, Unit unit) {
    int id = btf__find_by_name_kind(b, enum_name, BTF_KIND_ENUM);
    if (id <= 0) {
      errors.push_back(std::string("no enum ") + enum_name);
      return;
    }
    const struct btf_type* t = btf__type_by_id(b, id);
    std::map<std::string, long long> values;
    const struct btf_enum* e = btf_enum(t);
    for (unsigned i = 0; i < btf_vlen(t); ++i, ++e) values[btf_name(b, e->name_off)] = e->val;
    for (const Constant& c : constants()) {
      if (c.unit != unit) continue;
      auto it = values.find(std::string(c.name));
      if (it == values.end())
        errors.push_back(std::string(c.name) + " is not in enum " + enum_name);
      else if (it->second != c.value)
        errors.push_back(std::string(c.name) + " is " + std::to_string(it->second) + " in enum " + enum_name +
                         ", catalogue says " + std::to_string(c.value));
    }
  };
  check_enum("lockdown_reason", Unit::lockdown_reason);
  check_enum("bpf_cmd", Unit::bpf_cmd);
  return errors;
}

void expect_kernel_matches(const std::string& path) {
  std::string err;
  BtfPtr b = parse_btf(path, err);
  ASSERT_TRUE(b) << err;
  std::vector<std::string> errors = check_kernel(b.get());
  for (const std::string& e : errors) ADD_FAILURE() << path << ": " << e;
  EXPECT_TRUE(errors.empty()) << errors.size() << " mismatches against " << path;
}

std::optional<std::string> guest_vmlinux() {
  if (const char* env = std::getenv("KRSIE_GUEST_VMLINUX"); env && *env) return std::string(env);
  std::filesystem::path dir = std::filesystem::path(KRSIE_BUILD_DIR) / "e2e" / "kernel-cache";
  std::error_code ec;
  std::vector<std::string> found;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec))
    if (e.path().extension() == ".vmlinux") found.push_back(e.path().string());
  if (found.empty()) return std::nullopt;
  std::sort(found.begin(), found.end());
  return found.back();
}

// ---------------------------------------------------------------------------------------------
// (a) host kernel, (b) guest kernel

TEST(HookCatalog, MatchesHostKernelBtf) {
  const std::string path = "/sys/kernel/btf/vmlinux";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " does not exist: this kernel has no BTF";
  expect_kernel_matches(path);
}

TEST(HookCatalog, MatchesGuestKernelBtf) {
  auto path = guest_vmlinux();
  if (!path)
    GTEST_SKIP() << "no guest kernel: set KRSIE_GUEST_VMLINUX to an ELF vmlinux with .BTF, or run the e2e "
                    "tests once to fill " KRSIE_BUILD_DIR "/e2e/kernel-cache/*.vmlinux";
  ASSERT_TRUE(std::filesystem::exists(*path)) << *path << " (KRSIE_GUEST_VMLINUX) does not exist";
  expect_kernel_matches(*path);
}

// The renderer itself, on types whose spelling matters.
TEST(HookCatalog, RendersBtfTypesLikeTheCatalogue) {
  const std::string path = "/sys/kernel/btf/vmlinux";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " does not exist: this kernel has no BTF";
  std::string err;
  BtfPtr b = parse_btf(path, err);
  ASSERT_TRUE(b) << err;
  auto p = lsm_proto(b.get(), "sb_mount");
  ASSERT_TRUE(p);
  ASSERT_GE(p->params.size(), 5u);
  EXPECT_EQ(render(b.get(), p->params[0].second), "const char *");
  EXPECT_EQ(render(b.get(), p->params[1].second), "const struct path *");
  EXPECT_EQ(render(b.get(), p->params[3].second), "unsigned long");
  EXPECT_EQ(render(b.get(), p->params[4].second), "void *");
  auto c = lsm_proto(b.get(), "path_chmod");
  ASSERT_TRUE(c);
  EXPECT_EQ(render(b.get(), c->params[1].second), "umode_t");
}

// The checker is not vacuous: wrong fields are reported.
TEST(HookCatalog, BtfCheckerRejectsWrongFields) {
  const std::string path = "/sys/kernel/btf/vmlinux";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " does not exist: this kernel has no BTF";
  std::string err;
  BtfPtr b = parse_btf(path, err);
  ASSERT_TRUE(b) << err;
  auto p = lsm_proto(b.get(), "socket_connect");
  ASSERT_TRUE(p);
  auto check = [&](Field f) { return check_field(b.get(), *p, f); };
  const Type port = Type::integer(16, false, Unit::port);
  EXPECT_EQ(check({"x", port, FieldSource::core_read, "sock->sk->__sk_common.skc_num", "d"}), "");
  EXPECT_NE(check({"x", Type::integer(32, false, Unit::port), FieldSource::core_read, "sock->sk->__sk_common.skc_num", "d"}), "");
  EXPECT_NE(check({"x", port, FieldSource::core_read, "sock->sk->no_such_member", "d"}), "");
  EXPECT_NE(check({"x", port, FieldSource::core_read, "sock.sk", "d"}), "");
  EXPECT_NE(check({"x", port, FieldSource::core_read, "nosuchparam->sk", "d"}), "");
  EXPECT_NE(check({"x", port, FieldSource::sockaddr, "sock:port", "d"}), "");
  EXPECT_NE(check({"x", Type::integer(32, true), FieldSource::arg, "address", "d"}), "");
  EXPECT_EQ(check({"x", Type::integer(32, true), FieldSource::arg, "addrlen", "d"}), "");
  EXPECT_NE(check({"x", Type::integer(32, false), FieldSource::arg, "addrlen", "d"}), "");
  EXPECT_NE(check({"x", Type::path(), FieldSource::path, "sock", "d"}), "");
  EXPECT_NE(check({"x", Type::string(), FieldSource::core_read, "sock->type", "d"}), "");
}

// ---------------------------------------------------------------------------------------------
// (c) internal consistency

bool is_snake_case(std::string_view s) {
  if (s.empty() || !std::islower(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(), [](char ch) {
    return std::islower(static_cast<unsigned char>(ch)) || std::isdigit(static_cast<unsigned char>(ch)) || ch == '_';
  });
}

// The identifiers of an access string that must be parameters of the hook.
std::vector<std::string> access_params(const Field& f) {
  std::string a(f.access);
  std::vector<std::string> out;
  if (f.source == FieldSource::path && a.find('/') != std::string::npos) {
    out.push_back(a.substr(0, a.find('/')));
    out.push_back(a.substr(a.find('/') + 1));
    return out;
  }
  size_t end = a.find_first_of(":-.");
  out.push_back(a.substr(0, end));
  return out;
}

TEST(HookCatalog, NamesAreUniqueAndSorted) {
  auto hooks = all();
  ASSERT_FALSE(hooks.empty());
  for (size_t i = 1; i < hooks.size(); ++i)
    EXPECT_LT(hooks[i - 1].name, hooks[i].name) << "not sorted or duplicate at " << hooks[i].name;
  for (const Hook& h : hooks) {
    EXPECT_TRUE(is_snake_case(h.name)) << h.name;
    EXPECT_FALSE(h.doc.empty()) << h.name;
    EXPECT_FALSE(h.params.empty()) << h.name;
    EXPECT_FALSE(h.sleepable) << h.name << ": the catalogue has no sleepable hooks yet";
  }
}

TEST(HookCatalog, FieldsAreWellFormed) {
  std::set<std::string_view> common;
  for (const Field& f : common_fields()) {
    EXPECT_TRUE(common.insert(f.name).second) << "duplicate common field " << f.name;
    EXPECT_EQ(f.source, FieldSource::task_context) << f.name;
    EXPECT_FALSE(f.doc.empty()) << f.name;
  }
  EXPECT_EQ(common, (std::set<std::string_view>{"uid", "gid", "euid", "egid", "pid", "tgid", "comm", "exe"}));
  for (const Hook& h : all()) {
    std::set<std::string_view> params, seen;
    for (const Param& p : h.params) {
      EXPECT_TRUE(params.insert(p.name).second) << h.name << ": duplicate parameter " << p.name;
      EXPECT_FALSE(p.c_type.empty()) << h.name << "." << p.name;
    }
    for (const Field& f : h.fields) {
      EXPECT_TRUE(is_snake_case(f.name)) << h.name << "." << f.name;
      EXPECT_TRUE(seen.insert(f.name).second) << h.name << ": duplicate field " << f.name;
      EXPECT_FALSE(common.contains(f.name)) << h.name << "." << f.name << " hides a common field";
      EXPECT_FALSE(f.doc.empty()) << h.name << "." << f.name;
      EXPECT_EQ(f.doc.find('|'), std::string_view::npos) << h.name << "." << f.name << ": '|' breaks the docs table";
      EXPECT_NE(f.source, FieldSource::task_context) << h.name << "." << f.name << ": task fields are common";
      for (const std::string& p : access_params(f))
        EXPECT_TRUE(params.contains(p)) << h.name << "." << f.name << ": access '" << f.access
                                        << "' names no parameter of the catalogue's prefix";
      if (f.source == FieldSource::sockaddr) {
        EXPECT_NE(f.access.find(':'), std::string_view::npos) << h.name << "." << f.name;
      }
      if (f.type.kind == TypeKind::address) {
        EXPECT_EQ(f.source, FieldSource::sockaddr) << h.name << "." << f.name;
      }
      if (f.source == FieldSource::path) {
        EXPECT_EQ(f.type.kind, TypeKind::path) << h.name << "." << f.name;
      }
      const Field* found = find_field(h, f.name);
      EXPECT_EQ(found, &f) << h.name << "." << f.name;
    }
    for (const Field& f : common_fields()) EXPECT_EQ(find_field(h, f.name), &f) << h.name << "." << f.name;
    EXPECT_EQ(find_field(h, "no_such_field"), nullptr);
  }
}

TEST(HookCatalog, FindWorks) {
  for (const Hook& h : all()) EXPECT_EQ(find(h.name), &h) << h.name;
  EXPECT_EQ(find(""), nullptr);
  EXPECT_EQ(find("socket_connectx"), nullptr);
  EXPECT_EQ(find("aaa"), nullptr);
  EXPECT_EQ(find("zzz"), nullptr);
  const Hook* h = find("socket_connect");
  ASSERT_NE(h, nullptr);
  const Field* port = find_field(*h, "remote_port");
  ASSERT_NE(port, nullptr);
  EXPECT_EQ(type_name(port->type), "u16 port");
  EXPECT_EQ(port->source, FieldSource::sockaddr);
}

TEST(HookCatalog, OriginalHooksArePresent) {
  for (const char* name :
       {"bprm_check_security", "bprm_creds_for_exec", "file_mprotect", "inode_mkdir", "path_mkdir", "path_chmod",
        "locked_down", "ptrace_access_check", "ptrace_traceme", "socket_accept", "socket_bind", "socket_connect",
        "socket_create", "socket_listen", "socket_post_create", "socket_recvmsg", "task_alloc", "task_free",
        "task_kill", "task_fix_setuid", "task_fix_setgid", "vm_enough_memory"})
    EXPECT_NE(find(name), nullptr) << name;
  for (const char* name :
       {"file_open", "file_permission", "inode_create", "inode_unlink", "inode_rename", "inode_link", "inode_symlink",
        "inode_rmdir", "path_unlink", "path_rename", "path_link", "path_chown", "path_truncate", "path_mknod",
        "path_rmdir", "capable", "sb_mount", "move_mount", "sb_umount", "kernel_read_file", "kernel_load_data",
        "kernel_module_request", "bpf", "socket_sendmsg"})
    EXPECT_NE(find(name), nullptr) << name;
}

TEST(HookCatalog, TypeNames) {
  EXPECT_EQ(type_name(Type::integer(16, false, Unit::port)), "u16 port");
  EXPECT_EQ(type_name(Type::integer(32, true)), "s32");
  EXPECT_EQ(type_name(Type::integer(32, false, Unit::gid)), "u32 gid");
  EXPECT_EQ(type_name(Type::address()), "address");
  EXPECT_EQ(type_name(Type::path()), "path");
  EXPECT_EQ(type_name(Type::string()), "string");
  EXPECT_EQ(type_name(Type::boolean()), "bool");
  EXPECT_EQ(unit_name(Unit::none), "none");
  EXPECT_EQ(unit_name(Unit::errno_value), "errno");
}

// ---------------------------------------------------------------------------------------------
// (d) constants

TEST(HookCatalog, ConstantsAreUniqueAndFindable) {
  std::set<std::string_view> names;
  for (const Constant& c : constants()) {
    EXPECT_TRUE(names.insert(c.name).second) << "duplicate constant " << c.name;
    EXPECT_EQ(find_constant(c.name), &c) << c.name;
    EXPECT_NE(c.unit, Unit::none) << c.name;
  }
  EXPECT_EQ(find_constant("AF_NOPE"), nullptr);
  EXPECT_EQ(find_constant(""), nullptr);
  // Every capability 0..CAP_LAST_CAP and every classic signal has a name.
  std::set<long long> caps, sigs;
  for (const Constant& c : constants()) {
    if (c.unit == Unit::capability) caps.insert(c.value);
    if (c.unit == Unit::signal) sigs.insert(c.value);
  }
  for (long long i = 0; i <= CAP_LAST_CAP; ++i) EXPECT_TRUE(caps.contains(i)) << "capability " << i;
  for (long long i = 1; i <= 31; ++i) EXPECT_TRUE(sigs.contains(i)) << "signal " << i;
}

TEST(HookCatalog, ConstantSpotChecks) {
  auto value = [](std::string_view n) -> long long {
    const Constant* c = find_constant(n);
    return c ? c->value : -1;
  };
  EXPECT_EQ(value("AF_INET6"), 10);
  EXPECT_EQ(value("CAP_SYS_ADMIN"), 21);
  EXPECT_EQ(value("CAP_BPF"), 39);
  EXPECT_EQ(value("SIGKILL"), 9);
  EXPECT_EQ(value("IPPROTO_UDP"), 17);
  EXPECT_EQ(find_constant("SIGKILL")->unit, Unit::signal);
  EXPECT_EQ(find_constant("AF_INET")->unit, Unit::family);
}

// Every constant that the UAPI/libc headers define must have the headers' value.
#define KRSIE_C(n) {#n, static_cast<long long>(n)}
const std::map<std::string, long long>& header_values() {
  static const std::map<std::string, long long> m = {
      KRSIE_C(AF_UNSPEC), KRSIE_C(AF_UNIX), KRSIE_C(AF_LOCAL), KRSIE_C(AF_INET), KRSIE_C(AF_INET6),
      KRSIE_C(AF_NETLINK), KRSIE_C(AF_PACKET), KRSIE_C(AF_CAN), KRSIE_C(AF_BLUETOOTH), KRSIE_C(AF_ALG),
      KRSIE_C(AF_VSOCK), KRSIE_C(AF_XDP),
      KRSIE_C(SOCK_STREAM), KRSIE_C(SOCK_DGRAM), KRSIE_C(SOCK_RAW), KRSIE_C(SOCK_RDM), KRSIE_C(SOCK_SEQPACKET),
      KRSIE_C(IPPROTO_IP), KRSIE_C(IPPROTO_ICMP), KRSIE_C(IPPROTO_TCP), KRSIE_C(IPPROTO_UDP),
      KRSIE_C(IPPROTO_ICMPV6), KRSIE_C(IPPROTO_SCTP), KRSIE_C(IPPROTO_UDPLITE), KRSIE_C(IPPROTO_RAW),
      KRSIE_C(CAP_CHOWN), KRSIE_C(CAP_DAC_OVERRIDE), KRSIE_C(CAP_DAC_READ_SEARCH), KRSIE_C(CAP_FOWNER),
      KRSIE_C(CAP_FSETID), KRSIE_C(CAP_KILL), KRSIE_C(CAP_SETGID), KRSIE_C(CAP_SETUID), KRSIE_C(CAP_SETPCAP),
      KRSIE_C(CAP_LINUX_IMMUTABLE), KRSIE_C(CAP_NET_BIND_SERVICE), KRSIE_C(CAP_NET_BROADCAST),
      KRSIE_C(CAP_NET_ADMIN), KRSIE_C(CAP_NET_RAW), KRSIE_C(CAP_IPC_LOCK), KRSIE_C(CAP_IPC_OWNER),
      KRSIE_C(CAP_SYS_MODULE), KRSIE_C(CAP_SYS_RAWIO), KRSIE_C(CAP_SYS_CHROOT), KRSIE_C(CAP_SYS_PTRACE),
      KRSIE_C(CAP_SYS_PACCT), KRSIE_C(CAP_SYS_ADMIN), KRSIE_C(CAP_SYS_BOOT), KRSIE_C(CAP_SYS_NICE),
      KRSIE_C(CAP_SYS_RESOURCE), KRSIE_C(CAP_SYS_TIME), KRSIE_C(CAP_SYS_TTY_CONFIG), KRSIE_C(CAP_MKNOD),
      KRSIE_C(CAP_LEASE), KRSIE_C(CAP_AUDIT_WRITE), KRSIE_C(CAP_AUDIT_CONTROL), KRSIE_C(CAP_SETFCAP),
      KRSIE_C(CAP_MAC_OVERRIDE), KRSIE_C(CAP_MAC_ADMIN), KRSIE_C(CAP_SYSLOG), KRSIE_C(CAP_WAKE_ALARM),
      KRSIE_C(CAP_BLOCK_SUSPEND), KRSIE_C(CAP_AUDIT_READ), KRSIE_C(CAP_PERFMON), KRSIE_C(CAP_BPF),
      KRSIE_C(CAP_CHECKPOINT_RESTORE),
      KRSIE_C(SIGHUP), KRSIE_C(SIGINT), KRSIE_C(SIGQUIT), KRSIE_C(SIGILL), KRSIE_C(SIGTRAP), KRSIE_C(SIGABRT),
      KRSIE_C(SIGBUS), KRSIE_C(SIGFPE), KRSIE_C(SIGKILL), KRSIE_C(SIGUSR1), KRSIE_C(SIGSEGV), KRSIE_C(SIGUSR2),
      KRSIE_C(SIGPIPE), KRSIE_C(SIGALRM), KRSIE_C(SIGTERM), KRSIE_C(SIGSTKFLT), KRSIE_C(SIGCHLD),
      KRSIE_C(SIGCONT), KRSIE_C(SIGSTOP), KRSIE_C(SIGTSTP), KRSIE_C(SIGTTIN), KRSIE_C(SIGTTOU), KRSIE_C(SIGURG),
      KRSIE_C(SIGXCPU), KRSIE_C(SIGXFSZ), KRSIE_C(SIGVTALRM), KRSIE_C(SIGPROF), KRSIE_C(SIGWINCH),
      KRSIE_C(SIGIO), KRSIE_C(SIGPWR), KRSIE_C(SIGSYS),
      KRSIE_C(PROT_NONE), KRSIE_C(PROT_READ), KRSIE_C(PROT_WRITE), KRSIE_C(PROT_EXEC),
      KRSIE_C(BPF_MAP_CREATE), KRSIE_C(BPF_MAP_LOOKUP_ELEM), KRSIE_C(BPF_MAP_UPDATE_ELEM),
      KRSIE_C(BPF_MAP_DELETE_ELEM), KRSIE_C(BPF_MAP_GET_NEXT_KEY), KRSIE_C(BPF_PROG_LOAD), KRSIE_C(BPF_OBJ_PIN),
      KRSIE_C(BPF_OBJ_GET), KRSIE_C(BPF_PROG_ATTACH), KRSIE_C(BPF_PROG_DETACH), KRSIE_C(BPF_PROG_TEST_RUN),
      KRSIE_C(BPF_PROG_RUN), KRSIE_C(BPF_PROG_GET_NEXT_ID), KRSIE_C(BPF_MAP_GET_NEXT_ID),
      KRSIE_C(BPF_PROG_GET_FD_BY_ID), KRSIE_C(BPF_MAP_GET_FD_BY_ID), KRSIE_C(BPF_OBJ_GET_INFO_BY_FD),
      KRSIE_C(BPF_PROG_QUERY), KRSIE_C(BPF_RAW_TRACEPOINT_OPEN), KRSIE_C(BPF_BTF_LOAD),
      KRSIE_C(BPF_BTF_GET_FD_BY_ID), KRSIE_C(BPF_TASK_FD_QUERY), KRSIE_C(BPF_MAP_LOOKUP_AND_DELETE_ELEM),
      KRSIE_C(BPF_MAP_FREEZE), KRSIE_C(BPF_BTF_GET_NEXT_ID), KRSIE_C(BPF_MAP_LOOKUP_BATCH),
      KRSIE_C(BPF_MAP_LOOKUP_AND_DELETE_BATCH), KRSIE_C(BPF_MAP_UPDATE_BATCH), KRSIE_C(BPF_MAP_DELETE_BATCH),
      KRSIE_C(BPF_LINK_CREATE), KRSIE_C(BPF_LINK_UPDATE), KRSIE_C(BPF_LINK_GET_FD_BY_ID),
      KRSIE_C(BPF_LINK_GET_NEXT_ID), KRSIE_C(BPF_ENABLE_STATS), KRSIE_C(BPF_ITER_CREATE),
      KRSIE_C(BPF_LINK_DETACH), KRSIE_C(BPF_PROG_BIND_MAP),
      KRSIE_C(EPERM), KRSIE_C(ENOENT), KRSIE_C(ESRCH), KRSIE_C(EINTR), KRSIE_C(EIO), KRSIE_C(ENXIO),
      KRSIE_C(E2BIG), KRSIE_C(ENOEXEC), KRSIE_C(EBADF), KRSIE_C(EAGAIN), KRSIE_C(ENOMEM), KRSIE_C(EACCES),
      KRSIE_C(EFAULT), KRSIE_C(EBUSY), KRSIE_C(EEXIST), KRSIE_C(EXDEV), KRSIE_C(ENODEV), KRSIE_C(ENOTDIR),
      KRSIE_C(EISDIR), KRSIE_C(EINVAL), KRSIE_C(EMFILE), KRSIE_C(ENOTTY), KRSIE_C(ETXTBSY), KRSIE_C(ENOSPC),
      KRSIE_C(EROFS), KRSIE_C(ENOSYS), KRSIE_C(EPROTONOSUPPORT), KRSIE_C(EOPNOTSUPP), KRSIE_C(EAFNOSUPPORT),
      KRSIE_C(EADDRINUSE), KRSIE_C(EADDRNOTAVAIL), KRSIE_C(ENETUNREACH), KRSIE_C(ECONNRESET),
      KRSIE_C(ETIMEDOUT), KRSIE_C(ECONNREFUSED), KRSIE_C(EHOSTUNREACH),
  };
  return m;
}
#undef KRSIE_C

TEST(HookCatalog, ConstantsMatchHeaders) {
  const auto& hv = header_values();
  for (const Constant& c : constants()) {
    auto it = hv.find(std::string(c.name));
    if (it == hv.end()) {
      // Not in the userspace headers: kernel-internal values, checked against BTF enums
      // (LOCKDOWN_*) or fixed here (PTRACE_MODE_*, include/linux/ptrace.h).
      EXPECT_TRUE(c.unit == Unit::lockdown_reason || c.unit == Unit::ptrace_mode)
          << c.name << " is neither in the headers nor a kernel-internal family";
      continue;
    }
    EXPECT_EQ(c.value, it->second) << c.name;
  }
  // And everything the cross-check table names is in the catalogue.
  for (const auto& [name, v] : hv) EXPECT_NE(find_constant(name), nullptr) << name;
  const std::map<std::string, long long> ptrace = {{"PTRACE_MODE_READ", 1}, {"PTRACE_MODE_ATTACH", 2},
                                                   {"PTRACE_MODE_NOAUDIT", 4}, {"PTRACE_MODE_FSCREDS", 8},
                                                   {"PTRACE_MODE_REALCREDS", 16}};
  for (const auto& [name, v] : ptrace) {
    const Constant* c = find_constant(name);
    ASSERT_NE(c, nullptr) << name;
    EXPECT_EQ(c->value, v) << name;
  }
}

// ---------------------------------------------------------------------------------------------
// docs/hooks.md documents the catalogue

std::string read_doc() {
  std::ifstream in(std::string(KRSIE_SOURCE_DIR) + "/docs/hooks.md");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Sections of the doc by their "### `name`" heading.
std::map<std::string, std::string> doc_sections(const std::string& doc) {
  std::map<std::string, std::string> out;
  std::istringstream in(doc);
  std::string line, current;
  while (std::getline(in, line)) {
    if (line.starts_with("#")) {
      current.clear();
      if (line.starts_with("### `")) {
        auto end = line.find('`', 5);
        if (end != std::string::npos) current = line.substr(5, end - 5);
      }
      continue;
    }
    if (!current.empty()) out[current] += line + "\n";
  }
  return out;
}

TEST(HookCatalog, DocsDescribeEveryHookFieldAndConstant) {
  std::string doc = read_doc();
  ASSERT_FALSE(doc.empty()) << "cannot read " KRSIE_SOURCE_DIR "/docs/hooks.md";
  auto sections = doc_sections(doc);
  for (const Hook& h : all()) {
    auto it = sections.find(std::string(h.name));
    if (it == sections.end()) {
      ADD_FAILURE() << "docs/hooks.md has no section ### `" << h.name << "`";
      continue;
    }
    const std::string& s = it->second;
    EXPECT_NE(s.find(h.doc), std::string::npos) << h.name << ": hook doc line missing or different";
    for (const Param& p : h.params) {
      std::string decl = std::string(p.c_type) + (p.c_type.ends_with('*') ? "" : " ") + std::string(p.name);
      EXPECT_NE(s.find(decl), std::string::npos) << h.name << ": prototype does not show '" << decl << "'";
    }
    for (const Field& f : h.fields) {
      std::string row = "| `" + std::string(f.name) + "` | " + type_name(f.type) + " |";
      EXPECT_NE(s.find(row), std::string::npos) << h.name << "." << f.name << ": no row starting '" << row << "'";
      EXPECT_NE(s.find(f.doc), std::string::npos) << h.name << "." << f.name << ": doc line missing or different";
      EXPECT_NE(s.find("`" + std::string(f.access) + "`"), std::string::npos) << h.name << "." << f.name;
    }
  }
  for (const auto& [name, text] : sections)
    EXPECT_NE(find(name), nullptr) << "docs/hooks.md documents `" << name << "`, which is not in the catalogue";
  for (const Field& f : common_fields()) {
    std::string row = "| `" + std::string(f.name) + "` | " + type_name(f.type) + " |";
    EXPECT_NE(doc.find(row), std::string::npos) << "common field " << f.name;
  }
  for (const Constant& c : constants())
    EXPECT_NE(doc.find("`" + std::string(c.name) + "`"), std::string::npos) << "constant " << c.name;
}

}  // namespace

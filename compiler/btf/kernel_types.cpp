#include "btf/kernel_types.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>
#include <sstream>

namespace krsie::btf {

namespace {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

// "const struct path *" -> "path"; "" when the parameter is not a pointer to a struct.
std::string struct_of_param(std::string_view c_type) {
  std::string t(c_type);
  if (t.rfind("const ", 0) == 0) t = t.substr(6);
  if (t.rfind("struct ", 0) != 0) return "";
  t = t.substr(7);
  auto star = t.find('*');
  if (star == std::string::npos || t.find('*', star + 1) != std::string::npos) return "";
  t = t.substr(0, star);
  while (!t.empty() && t.back() == ' ') t.pop_back();
  return t;
}

}  // namespace

struct KernelTypes::Impl {
  struct btf* btf = nullptr;
  ~Impl() { btf__free(btf); }

  const btf_type* type(int id) const { return btf__type_by_id(btf, id); }
  std::string name(const btf_type* t) const { return btf__name_by_offset(btf, t->name_off); }
  // Skips typedefs and const/volatile/restrict/type tags.
  int skip_mods(int id) const {
    for (int guard = 0; guard < 64; ++guard) {
      const btf_type* t = type(id);
      if (!t) return -1;
      if (btf_is_typedef(t) || btf_is_mod(t) || btf_is_type_tag(t)) {
        id = t->type;
        continue;
      }
      return id;
    }
    return -1;
  }
  int find_composite(const std::string& n) const {
    int id = btf__find_by_name_kind(btf, n.c_str(), BTF_KIND_STRUCT);
    if (id < 0) id = btf__find_by_name_kind(btf, n.c_str(), BTF_KIND_UNION);
    return id;
  }
  // The member `name` of composite `id` (searching anonymous struct/union members too): its
  // type id, or -1.
  int member_type(int id, const std::string& member) const {
    const btf_type* t = type(id);
    if (!t || !btf_is_composite(t)) return -1;
    const btf_member* m = btf_members(t);
    for (unsigned i = 0; i < btf_vlen(t); ++i, ++m) {
      std::string n = btf__name_by_offset(btf, m->name_off);
      if (n == member) return static_cast<int>(m->type);
      if (n.empty()) {
        int inner = skip_mods(static_cast<int>(m->type));
        if (inner >= 0 && btf_is_composite(type(inner))) {
          int found = member_type(inner, member);
          if (found >= 0) return found;
        }
      }
    }
    return -1;
  }
  void member_names(int id, std::vector<std::string>& out) const {
    const btf_type* t = type(id);
    if (!t || !btf_is_composite(t)) return;
    const btf_member* m = btf_members(t);
    for (unsigned i = 0; i < btf_vlen(t); ++i, ++m) {
      std::string n = btf__name_by_offset(btf, m->name_off);
      if (!n.empty()) out.push_back(n);
      else member_names(skip_mods(static_cast<int>(m->type)), out);
    }
  }
};

KernelTypes::KernelTypes(std::unique_ptr<Impl> impl, std::string path) : impl_(std::move(impl)), path_(std::move(path)) {}
KernelTypes::~KernelTypes() = default;
KernelTypes::KernelTypes(KernelTypes&&) noexcept = default;
KernelTypes& KernelTypes::operator=(KernelTypes&&) noexcept = default;

std::unique_ptr<KernelTypes> KernelTypes::open(const std::string& path, std::string& error) {
  auto impl = std::make_unique<Impl>();
  impl->btf = btf__parse(path.c_str(), nullptr);
  if (!impl->btf) {
    int err = errno;
    error = "cannot read kernel BTF from " + path + ": " + std::strerror(err) +
            " (a kernel built with CONFIG_DEBUG_INFO_BTF, or --btf FILE)";
    return nullptr;
  }
  return std::unique_ptr<KernelTypes>(new KernelTypes(std::move(impl), path));
}

std::optional<KernelField> KernelTypes::resolve(const hooks::Hook& hook, const std::string& text,
                                                std::string& error) const {
  std::vector<std::string> parts = split(text, '.');
  for (const std::string& p : parts)
    if (p.empty()) {
      error = "'" + text + "' is not a member chain (PARAMETER.member...)";
      return std::nullopt;
    }
  KernelField f;
  f.text = text;
  bool found = false;
  for (std::size_t i = 0; i < hook.params.size(); ++i)
    if (hook.params[i].name == parts[0]) {
      f.param = static_cast<unsigned>(i);
      f.param_struct = struct_of_param(hook.params[i].c_type);
      found = true;
      if (f.param_struct.empty()) {
        error = "parameter '" + parts[0] + "' of hook " + std::string(hook.name) + " is `" +
                std::string(hook.params[i].c_type) + "`, not a pointer to a struct";
        return std::nullopt;
      }
    }
  if (!found) {
    std::string list;
    for (const hooks::Param& p : hook.params) list += (list.empty() ? "" : ", ") + std::string(p.name);
    error = "hook " + std::string(hook.name) + " has no parameter '" + parts[0] + "' (parameters: " + list + ")";
    return std::nullopt;
  }
  int cur = impl_->find_composite(f.param_struct);
  if (cur < 0) {
    error = "struct " + f.param_struct + " is not in the kernel BTF " + path_;
    return std::nullopt;
  }
  std::string cur_name = f.param_struct;
  bool cur_union = btf_is_union(impl_->type(cur));
  for (std::size_t i = 1; i < parts.size(); ++i) {
    bool last = i + 1 == parts.size();
    int mt = impl_->member_type(cur, parts[i]);
    if (mt < 0) {
      std::vector<std::string> names;
      impl_->member_names(cur, names);
      std::string list;
      for (std::size_t k = 0; k < names.size() && k < 12; ++k) list += (list.empty() ? "" : ", ") + names[k];
      if (names.size() > 12) list += ", ...";
      error = std::string(cur_union ? "union " : "struct ") + cur_name + " has no member '" + parts[i] + "' in " + path_ +
              " (members: " + list + ")";
      return std::nullopt;
    }
    int id = impl_->skip_mods(mt);
    const btf_type* t = impl_->type(id);
    KernelField::Step step{cur_name, parts[i], KernelField::Step::Kind::integer, "", false, cur_union};
    std::string where = "'" + parts[0];
    for (std::size_t k = 1; k <= i; ++k) where += "." + parts[k];
    where += "'";
    if (btf_is_int(t) || btf_is_enum(t) || (btf_is_enum64(t))) {
      if (!last) {
        error = where + " is an integer: it has no members";
        return std::nullopt;
      }
      unsigned bits = btf_is_int(t) ? btf_int_bits(t) : t->size * 8;
      if (btf_is_int(t) && btf_int_offset(t) != 0) {
        error = where + " is a bit-field: not supported";
        return std::nullopt;
      }
      if (bits != 8 && bits != 16 && bits != 32 && bits != 64) {
        error = where + " is a " + std::to_string(bits) + "-bit integer: only 8, 16, 32 and 64 bits are supported";
        return std::nullopt;
      }
      f.bits = bits;
      f.is_signed = btf_is_int(t) ? (btf_int_encoding(t) & BTF_INT_SIGNED) != 0 : btf_kflag(t);
      f.steps.push_back(step);
      return f;
    }
    if (btf_is_ptr(t)) {
      int target = impl_->skip_mods(static_cast<int>(t->type));
      const btf_type* tt = impl_->type(target);
      if (!tt || !btf_is_composite(tt) || impl_->name(tt).empty()) {
        error = where + " is a pointer to something other than a named struct: not supported";
        return std::nullopt;
      }
      if (last) {
        error = where + " is a pointer to struct " + impl_->name(tt) + ": compare one of its integer members";
        return std::nullopt;
      }
      step.kind = KernelField::Step::Kind::pointer;
      step.target = impl_->name(tt);
      step.target_is_union = btf_is_union(tt);
      f.steps.push_back(step);
      cur = impl_->find_composite(step.target);
      cur_name = step.target;
      cur_union = step.target_is_union;
      continue;
    }
    if (btf_is_composite(t)) {
      if (impl_->name(t).empty()) {
        error = where + " is an anonymous struct or union: name one of its members directly";
        return std::nullopt;
      }
      if (last) {
        error = where + " is a struct: compare one of its integer members";
        return std::nullopt;
      }
      step.kind = KernelField::Step::Kind::embedded;
      step.target = impl_->name(t);
      step.target_is_union = btf_is_union(t);
      f.steps.push_back(step);
      cur = id;
      cur_name = step.target;
      cur_union = step.target_is_union;
      continue;
    }
    error = where + " is neither an integer, a pointer to a struct nor a struct (arrays and functions are not supported)";
    return std::nullopt;
  }
  error = "'" + text + "' names the parameter itself: compare one of its integer members";
  return std::nullopt;
}

}  // namespace krsie::btf

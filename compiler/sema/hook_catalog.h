#pragma once
// The catalogue of LSM hooks KRS policies can name in hook rules (`on <hook> when ...`) and that
// domain rules lower to. For each hook: the kernel prototype prefix KRSIE relies on (checked
// against kernel BTF by tests/unit/hook_catalog_test.cpp), the typed fields a condition may use,
// and how each field is derived from the hook arguments (documentation for users and the
// contract the backends implement).

#include <span>
#include <string_view>
#include <vector>

#include "sema/types.h"

namespace krsie::hooks {

// A parameter of the kernel's bpf_lsm_<hook> prototype, spelled as C source spells the BTF type
// ("struct socket *", "int", "const struct cred *", "unsigned long", "umode_t", "enum
// lockdown_reason", "void *"): typedefs keep their name, BTF's integer names are written the C way
// ("long unsigned int" -> "unsigned long", "_Bool" -> "bool"), `*` is preceded by one space
// except after another `*`. And its name in the kernel source.
struct Param {
  std::string_view c_type;
  std::string_view name;
};

// How a field's value is obtained; the backends implement each kind. `access` always starts with
// a parameter name (except task_context); a chain is `param` followed by `->member` (through a
// pointer) and `.member` (inside a struct) steps, members of anonymous structs/unions named as if
// they were direct members (CO-RE resolves them). An integer field's Type has the width and
// signedness of what the chain ends at.
enum class FieldSource {
  arg,          // the argument itself: `access` names the parameter (an integer, or a `char *`
                // read as a kernel string; NULL reads as "")
  core_read,    // a CO-RE read chain from a parameter: `access` like "sock->sk->__sk_common.skc_family"
  sockaddr,     // derived from a `struct sockaddr *` parameter: `access` is "<param>:family" (u16),
                // "<param>:addr" (the IPv4/IPv6 address) or "<param>:port" (host byte order);
                // addr/port are only meaningful for AF_INET/AF_INET6 and an addrlen covering them
  task_context, // from the current task, valid in every hook: `access` is a chain from `current`
                // (the struct task_struct * of bpf_get_current_task_btf()), e.g. "current->tgid"
  target_task,  // from a `struct task_struct *` parameter (the other process): a chain like
                // core_read, e.g. "p->real_cred->uid.val"
  path,         // the resolved absolute path of a parameter: `access` is a chain ending at a
                // `struct file *` (its f_path; empty when the pointer is NULL), `struct path *`,
                // `struct dentry *` (walked up to its filesystem root: no mount prefix) or
                // `struct vfsmount *` (its mount point); or "<dir>/<dentry>": `dentry` placed on the
                // mount of the `struct path *` <dir> (path_* hooks naming a new or linked entry)
};

struct Field {
  std::string_view name;  // snake_case, e.g. "remote_port"
  Type type;
  FieldSource source;
  std::string_view access;  // parameter name or access chain, see FieldSource
  std::string_view doc;     // one line for docs/hooks.md (no `|`: it is a table cell)
};

// Which family of templates/codegen serves the hook (and which domain rules lower to it).
enum class Domain { file, exec, network, capability, identity, ptrace, mount, module, bpf, signal, memory, task, lockdown };

struct Hook {
  std::string_view name;         // LSM hook name without prefix, e.g. "socket_connect"
  Domain domain;
  std::vector<Param> params;     // prefix of bpf_lsm_<name>'s parameters KRSIE relies on
  std::vector<Field> fields;     // hook-specific fields (common task fields come on top)
  std::string_view doc;          // when the kernel calls it, one line
  bool sleepable = false;        // needs lsm.s/ (none of the catalogue today)
};

// Every hook, sorted by name.
std::span<const Hook> all();
// The hook called `name`, or nullptr.
const Hook* find(std::string_view name);
// Fields available in every hook: uid, gid, euid, egid, pid, tgid, comm, exe (the running
// binary's path).
std::span<const Field> common_fields();
// The field `name` of `hook` (hook-specific first, then common), or nullptr.
const Field* find_field(const Hook& hook, std::string_view name);

// A named integer constant usable in conditions (AF_INET, SOCK_STREAM, IPPROTO_TCP,
// CAP_SYS_ADMIN, SIGKILL, PROT_EXEC, LOCKDOWN_*, EPERM...).
struct Constant {
  std::string_view name;
  Unit unit;
  long long value;
};
std::span<const Constant> constants();
const Constant* find_constant(std::string_view name);

}  // namespace krsie::hooks

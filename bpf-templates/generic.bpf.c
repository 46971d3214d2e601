// SPDX-License-Identifier: GPL-2.0
/* Generic backend: one verified set of BPF-LSM programs whose decisions come from maps.
 *
 * Every program follows the same steps (see docs/generic-backend.md):
 *   1. pass an earlier LSM's denial through (`ret != 0`),
 *   2. leave processes outside the policy's target cgroups alone,
 *   3. compute the hook's fields into a vector (paths through the reverse path automaton,
 *      addresses through LPM tries, strings through hash sets, integers directly),
 *   4. evaluate the hook's rules in order, first match wins, else the hook's posture,
 *   5. apply the decision (audit mode only reports), report deny/audit/kill events.
 * The compiler (compiler/backend/generic.cpp) emits the map contents; krsie-load sets which
 * programs load (only the hooks the policy uses), sizes the maps, and writes the entries for one
 * of two rule generations: each program reads krsie_config.generation once at entry and uses it
 * for every lookup, so a replacement switches all rules at once (docs/loader.md).
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>

#include "krsie_eval.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* One program per hook: pass an earlier LSM's denial through, the prologue (generation, target
 * check, scratch), the hook's fields (krsie_fields_<hook>, krsie_eval.bpf.h), the map-driven
 * rules and the decision. */
#define KRSIE_GENERIC(name, hook_id)                                                               \
  SEC("lsm/" #name)                                                                                \
  int krsie_##name(unsigned long long *ctx)                                                        \
  {                                                                                                \
    int ret = (int)ctx[krsie_nargs_##name];                                                        \
    if (ret != 0)                                                                                  \
      return ret;                                                                                  \
    struct krsie_eval *e = krsie_enter(hook_id);                                                   \
    if (!e)                                                                                        \
      return 0;                                                                                    \
    const struct krsie_hook_conf *conf = hook_conf(e->gen, hook_id);                               \
    common_fields(e, conf, conf ? conf->common : 0xff);                                            \
    krsie_fields_##name(e, conf, ctx);                                                             \
    return decide(e, conf);                                                                        \
  }

KRSIE_GENERIC(file_open, KRSIE_HOOK_FILE_OPEN)
KRSIE_GENERIC(bprm_check_security, KRSIE_HOOK_BPRM_CHECK_SECURITY)
KRSIE_GENERIC(path_mknod, KRSIE_HOOK_PATH_MKNOD)
KRSIE_GENERIC(path_mkdir, KRSIE_HOOK_PATH_MKDIR)
KRSIE_GENERIC(path_unlink, KRSIE_HOOK_PATH_UNLINK)
KRSIE_GENERIC(path_rmdir, KRSIE_HOOK_PATH_RMDIR)
KRSIE_GENERIC(path_symlink, KRSIE_HOOK_PATH_SYMLINK)
KRSIE_GENERIC(path_rename, KRSIE_HOOK_PATH_RENAME)
KRSIE_GENERIC(path_link, KRSIE_HOOK_PATH_LINK)
KRSIE_GENERIC(path_chmod, KRSIE_HOOK_PATH_CHMOD)
KRSIE_GENERIC(path_chown, KRSIE_HOOK_PATH_CHOWN)
KRSIE_GENERIC(path_truncate, KRSIE_HOOK_PATH_TRUNCATE)
KRSIE_GENERIC(socket_connect, KRSIE_HOOK_SOCKET_CONNECT)
KRSIE_GENERIC(socket_bind, KRSIE_HOOK_SOCKET_BIND)
KRSIE_GENERIC(socket_listen, KRSIE_HOOK_SOCKET_LISTEN)
KRSIE_GENERIC(socket_accept, KRSIE_HOOK_SOCKET_ACCEPT)
KRSIE_GENERIC(socket_create, KRSIE_HOOK_SOCKET_CREATE)
KRSIE_GENERIC(socket_sendmsg, KRSIE_HOOK_SOCKET_SENDMSG)
KRSIE_GENERIC(capable, KRSIE_HOOK_CAPABLE)
KRSIE_GENERIC(task_fix_setuid, KRSIE_HOOK_TASK_FIX_SETUID)
KRSIE_GENERIC(task_fix_setgid, KRSIE_HOOK_TASK_FIX_SETGID)
KRSIE_GENERIC(ptrace_access_check, KRSIE_HOOK_PTRACE_ACCESS_CHECK)
KRSIE_GENERIC(ptrace_traceme, KRSIE_HOOK_PTRACE_TRACEME)
KRSIE_GENERIC(task_kill, KRSIE_HOOK_TASK_KILL)
KRSIE_GENERIC(sb_mount, KRSIE_HOOK_SB_MOUNT)
KRSIE_GENERIC(move_mount, KRSIE_HOOK_MOVE_MOUNT)
KRSIE_GENERIC(kernel_read_file, KRSIE_HOOK_KERNEL_READ_FILE)
KRSIE_GENERIC(kernel_load_data, KRSIE_HOOK_KERNEL_LOAD_DATA)
KRSIE_GENERIC(kernel_module_request, KRSIE_HOOK_KERNEL_MODULE_REQUEST)
KRSIE_GENERIC(bpf, KRSIE_HOOK_BPF)

/* Not a policy hook: every new dentry of an inode makes the inode's path memo forget (see
 * file_mask_memo, krsie_eval.bpf.h). Loaded with the programs that remember walks. */
SEC("lsm/d_instantiate")
int BPF_PROG(krsie_d_instantiate, struct dentry *dentry, struct inode *inode)
{
  path_memo_forget(inode);
  return 0;
}

// SPDX-License-Identifier: GPL-2.0
/* Runtime library of the specialized (LLVM) backend.
 *
 * Compiled to LLVM bitcode at build time (clang-19, no optimization passes yet) and embedded in
 * krsiec; `krsiec --backend=llvm` links the functions a policy needs into its module
 * (compiler/backend/llvm/runtime_link.cpp), where they are inlined into the generated programs
 * and optimized together with them. It is never a BPF object on its own.
 *
 * It exposes the generic backend's field extraction and decision tail (krsie_eval.bpf.h), so
 * both backends compute every field, path automaton walk, set mask and event the same way; what
 * the LLVM backend generates is the decision logic itself: the policy's rules as code.
 *
 * Per hook <name>: krsie_rt_ret_<name>(ctx) is the earlier LSMs' verdict,
 * krsie_rt_enter_<name>(gen) the scratch vector of a confined run in generation `gen` (NULL:
 * caller outside the targets, or hook unused in that generation), krsie_rt_fields_<name>(e, ctx)
 * computes the hook's fields. krsie_rt_generation() is the rule generation in force (read once
 * per run: the generated code compares it with the generation its own code belongs to, so a
 * replacement switches code and tables with one word).
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>

#include "krsie_eval.bpf.h"

/* Scratch vector and fields of hook `name`, the same for every hook. */
#define KRSIE_RT_ENTER_FIELDS(name, hook_id)                                                       \
  __attribute__((always_inline)) struct krsie_eval *krsie_rt_enter_##name(__u32 gen)              \
  {                                                                                                \
    return krsie_enter_gen(hook_id, gen);                                                          \
  }                                                                                                \
  __attribute__((always_inline)) void krsie_rt_fields_##name(struct krsie_eval *e,                 \
                                                             unsigned long long *ctx)              \
  {                                                                                                \
    krsie_fields_##name(e, hook_conf(e->gen, hook_id), ctx);                                       \
  }

#define KRSIE_RT(name, hook_id)                                                                    \
  __attribute__((always_inline)) int krsie_rt_ret_##name(unsigned long long *ctx)                  \
  {                                                                                                \
    return (int)ctx[krsie_nargs_##name];                                                           \
  }                                                                                                \
  KRSIE_RT_ENTER_FIELDS(name, hook_id)

__attribute__((always_inline)) __u32 krsie_rt_generation(void)
{
  return krsie_current_generation();
}

/* Hooks whose LSM prototype returns void (task_free) have no verdict slot: nothing to pass on. */
#define KRSIE_RT_VOID(name, hook_id)                                                               \
  __attribute__((always_inline)) int krsie_rt_ret_##name(unsigned long long *ctx)                  \
  {                                                                                                \
    return 0;                                                                                      \
  }                                                                                                \
  KRSIE_RT_ENTER_FIELDS(name, hook_id)

/* Common fields (uid, gid, euid, egid, pid, tgid, comm, exe), when a rule tests one. */
__attribute__((always_inline)) void krsie_rt_common(struct krsie_eval *e)
{
  common_fields(e, hook_conf(e->gen, e->hook), 0xff);
}

/* The generated rules' decision (rule id, decision code, errno): events, counters, kill, and the
 * return value of the program. */
__attribute__((always_inline)) int krsie_rt_finish(struct krsie_eval *e, __u32 rule_id, __u32 decision, __s32 err)
{
  e->rule_id = rule_id;
  e->err = err;
  return apply_decision(e, decision);
}

/* Body of the krsie_d_instantiate program (lsm/d_instantiate: dentry, inode): the inode's path
 * memo forgets (krsie_eval.bpf.h). */
__attribute__((always_inline)) void krsie_rt_forget(unsigned long long *ctx)
{
  path_memo_forget((struct inode *)ctx[1]);
}

KRSIE_RT(file_open, KRSIE_HOOK_FILE_OPEN)
KRSIE_RT(bprm_check_security, KRSIE_HOOK_BPRM_CHECK_SECURITY)
KRSIE_RT(path_mknod, KRSIE_HOOK_PATH_MKNOD)
KRSIE_RT(path_mkdir, KRSIE_HOOK_PATH_MKDIR)
KRSIE_RT(path_unlink, KRSIE_HOOK_PATH_UNLINK)
KRSIE_RT(path_rmdir, KRSIE_HOOK_PATH_RMDIR)
KRSIE_RT(path_symlink, KRSIE_HOOK_PATH_SYMLINK)
KRSIE_RT(path_rename, KRSIE_HOOK_PATH_RENAME)
KRSIE_RT(path_link, KRSIE_HOOK_PATH_LINK)
KRSIE_RT(path_chmod, KRSIE_HOOK_PATH_CHMOD)
KRSIE_RT(path_chown, KRSIE_HOOK_PATH_CHOWN)
KRSIE_RT(path_truncate, KRSIE_HOOK_PATH_TRUNCATE)
KRSIE_RT(socket_connect, KRSIE_HOOK_SOCKET_CONNECT)
KRSIE_RT(socket_bind, KRSIE_HOOK_SOCKET_BIND)
KRSIE_RT(socket_listen, KRSIE_HOOK_SOCKET_LISTEN)
KRSIE_RT(socket_accept, KRSIE_HOOK_SOCKET_ACCEPT)
KRSIE_RT(socket_create, KRSIE_HOOK_SOCKET_CREATE)
KRSIE_RT(socket_sendmsg, KRSIE_HOOK_SOCKET_SENDMSG)
KRSIE_RT(capable, KRSIE_HOOK_CAPABLE)
KRSIE_RT(task_fix_setuid, KRSIE_HOOK_TASK_FIX_SETUID)
KRSIE_RT(task_fix_setgid, KRSIE_HOOK_TASK_FIX_SETGID)
KRSIE_RT(ptrace_access_check, KRSIE_HOOK_PTRACE_ACCESS_CHECK)
KRSIE_RT(ptrace_traceme, KRSIE_HOOK_PTRACE_TRACEME)
KRSIE_RT(task_kill, KRSIE_HOOK_TASK_KILL)
KRSIE_RT(sb_mount, KRSIE_HOOK_SB_MOUNT)
KRSIE_RT(move_mount, KRSIE_HOOK_MOVE_MOUNT)
KRSIE_RT(kernel_read_file, KRSIE_HOOK_KERNEL_READ_FILE)
KRSIE_RT(kernel_load_data, KRSIE_HOOK_KERNEL_LOAD_DATA)
KRSIE_RT(kernel_module_request, KRSIE_HOOK_KERNEL_MODULE_REQUEST)
KRSIE_RT(bpf, KRSIE_HOOK_BPF)
/* Hooks without a generic program. */
KRSIE_RT(bprm_creds_for_exec, KRSIE_HOOK_BPRM_CREDS_FOR_EXEC)
KRSIE_RT(file_mprotect, KRSIE_HOOK_FILE_MPROTECT)
KRSIE_RT(mmap_file, KRSIE_HOOK_MMAP_FILE)
KRSIE_RT(file_permission, KRSIE_HOOK_FILE_PERMISSION)
KRSIE_RT(file_ioctl, KRSIE_HOOK_FILE_IOCTL)
KRSIE_RT(inode_create, KRSIE_HOOK_INODE_CREATE)
KRSIE_RT(inode_link, KRSIE_HOOK_INODE_LINK)
KRSIE_RT(inode_mkdir, KRSIE_HOOK_INODE_MKDIR)
KRSIE_RT(inode_rename, KRSIE_HOOK_INODE_RENAME)
KRSIE_RT(inode_rmdir, KRSIE_HOOK_INODE_RMDIR)
KRSIE_RT(inode_symlink, KRSIE_HOOK_INODE_SYMLINK)
KRSIE_RT(inode_unlink, KRSIE_HOOK_INODE_UNLINK)
KRSIE_RT(locked_down, KRSIE_HOOK_LOCKED_DOWN)
KRSIE_RT(sb_umount, KRSIE_HOOK_SB_UMOUNT)
KRSIE_RT(socket_post_create, KRSIE_HOOK_SOCKET_POST_CREATE)
KRSIE_RT(socket_recvmsg, KRSIE_HOOK_SOCKET_RECVMSG)
KRSIE_RT(task_alloc, KRSIE_HOOK_TASK_ALLOC)
KRSIE_RT_VOID(task_free, KRSIE_HOOK_TASK_FREE)

// The LSM hook catalogue: data only. Every prototype prefix below is checked against the BTF of
// the host kernel (6.18) and of the guest kernel (Debian 6.1) by tests/unit/hook_catalog_test.cpp,
// which also resolves every access chain in both and compares integer widths; docs/hooks.md is
// checked against this table by the same test. Change the three together.

#include "sema/hook_catalog.h"

#include <algorithm>
#include <array>
#include <utility>

namespace krsie::hooks {
namespace {

// Shorthands for the table.
constexpr Type u16(Unit u = Unit::none) { return {TypeKind::integer, u, 16, false}; }
constexpr Type u32(Unit u = Unit::none) { return {TypeKind::integer, u, 32, false}; }
constexpr Type u64(Unit u = Unit::none) { return {TypeKind::integer, u, 64, false}; }
constexpr Type s16(Unit u = Unit::none) { return {TypeKind::integer, u, 16, true}; }
constexpr Type s32(Unit u = Unit::none) { return {TypeKind::integer, u, 32, true}; }
constexpr Type s64(Unit u = Unit::none) { return {TypeKind::integer, u, 64, true}; }
constexpr Type boolean() { return {TypeKind::boolean, Unit::none, 1, false}; }
constexpr Type address() { return {TypeKind::address, Unit::none, 128, false}; }
constexpr Type string() { return {TypeKind::string, Unit::none, 0, false}; }
constexpr Type path() { return {TypeKind::path, Unit::none, 0, false}; }

Field arg(std::string_view name, Type t, std::string_view param, std::string_view doc) {
  return {name, t, FieldSource::arg, param, doc};
}
Field core(std::string_view name, Type t, std::string_view chain, std::string_view doc) {
  return {name, t, FieldSource::core_read, chain, doc};
}
Field sockaddr(std::string_view name, Type t, std::string_view access, std::string_view doc) {
  return {name, t, FieldSource::sockaddr, access, doc};
}
Field target(std::string_view name, Type t, std::string_view chain, std::string_view doc) {
  return {name, t, FieldSource::target_task, chain, doc};
}
Field path_of(std::string_view name, std::string_view access, std::string_view doc) {
  return {name, path(), FieldSource::path, access, doc};
}

// Fields every socket hook with a `struct socket *sock` has.
void add_socket_fields(std::vector<Field>& f) {
  f.push_back(core("family", u16(Unit::family), "sock->sk->__sk_common.skc_family",
                   "address family of the socket (AF_INET, AF_INET6, AF_UNIX, ...)"));
  f.push_back(core("type", s16(Unit::socket_type), "sock->type",
                   "socket type (SOCK_STREAM, SOCK_DGRAM, SOCK_RAW, ...)"));
  f.push_back(core("protocol", u16(Unit::protocol), "sock->sk->sk_protocol",
                   "protocol of the socket (IPPROTO_TCP, IPPROTO_UDP, ...; 0 for AF_UNIX)"));
  f.push_back(core("local_port", u16(Unit::port), "sock->sk->__sk_common.skc_num",
                   "local port in host byte order, 0 while the socket is unbound (inet sockets)"));
}

std::vector<Hook> build_hooks() {
  using enum Domain;
  std::vector<Hook> h;

  // ---- exec ----
  h.push_back({"bprm_check_security", exec, {{"struct linux_binprm *", "bprm"}},
               {path_of("path", "bprm->file", "path of the file being executed (the interpreter on the script's second pass)"),
                core("filename", string(), "bprm->filename", "file name as passed to execve (may be relative or /dev/fd/N)"),
                core("argc", s32(), "bprm->argc", "number of arguments of the new program")},
               "execve: the binary (or script interpreter) is opened and about to be loaded; called again for each interpreter level"});
  h.push_back({"bprm_creds_for_exec", exec, {{"struct linux_binprm *", "bprm"}},
               {path_of("path", "bprm->file", "path of the file passed to execve"),
                core("filename", string(), "bprm->filename", "file name as passed to execve (may be relative or /dev/fd/N)")},
               "execve: once per exec, while the new credentials are prepared, before the binary format is searched"});

  // ---- memory ----
  h.push_back({"file_mprotect", memory,
               {{"struct vm_area_struct *", "vma"}, {"unsigned long", "reqprot"}, {"unsigned long", "prot"}},
               {arg("reqprot", u64(Unit::prot), "reqprot", "protection requested by the application (PROT_READ, PROT_WRITE, PROT_EXEC bits)"),
                arg("prot", u64(Unit::prot), "prot", "protection the kernel will apply (may add PROT_EXEC for READ_IMPLIES_EXEC)"),
                path_of("path", "vma->vm_file", "path of the file mapped by the region; empty for anonymous memory")},
               "mprotect(2) is about to change the protection of a memory region"});
  h.push_back({"mmap_file", memory,
               {{"struct file *", "file"}, {"unsigned long", "reqprot"}, {"unsigned long", "prot"}, {"unsigned long", "flags"}},
               {path_of("path", "file", "path of the file being mapped; empty for anonymous memory"),
                arg("reqprot", u64(Unit::prot), "reqprot", "protection requested by the application (PROT_*)"),
                arg("prot", u64(Unit::prot), "prot", "protection the kernel will apply"),
                arg("flags", u64(), "flags", "mmap flags (MAP_SHARED 0x1, MAP_PRIVATE 0x2, MAP_FIXED 0x10, MAP_ANONYMOUS 0x20, ...)")},
               "mmap(2) (or an exec's loader) is about to map a file or anonymous memory"});
  h.push_back({"vm_enough_memory", memory, {{"struct mm_struct *", "mm"}, {"long", "pages"}},
               {arg("pages", s64(), "pages", "number of pages the new mapping or allocation would commit")},
               "the kernel checks a new virtual memory commitment (cannot deny: a result <= 0 only withholds the root memory reserve)"});

  // ---- file: open files ----
  h.push_back({"file_open", file, {{"struct file *", "file"}},
               {path_of("path", "file", "path of the file being opened"),
                core("flags", u32(), "file->f_flags", "open flags (O_WRONLY 0x1, O_RDWR 0x2, O_CREAT 0x40, O_TRUNC 0x200, O_APPEND 0x400, ...)"),
                core("fmode", u32(), "file->f_mode", "kernel file mode (FMODE_READ 0x1, FMODE_WRITE 0x2, FMODE_EXEC 0x20, ...)"),
                core("inode_mode", u16(Unit::mode), "file->f_inode->i_mode", "file type and permission bits of the opened inode (S_IFMT bits included)")},
               "a file is opened (open(2), openat2(2), the binary of an exec, ...), after the DAC checks"});
  h.push_back({"file_permission", file, {{"struct file *", "file"}, {"int", "mask"}},
               {path_of("path", "file", "path of the open file"),
                arg("mask", s32(), "mask", "access requested: MAY_EXEC 0x1, MAY_WRITE 0x2, MAY_READ 0x4, MAY_APPEND 0x8")},
               "before a read or write on an open file (read(2), write(2), splice, ...)"});
  h.push_back({"file_ioctl", file, {{"struct file *", "file"}, {"unsigned int", "cmd"}, {"unsigned long", "arg"}},
               {path_of("path", "file", "path of the file the ioctl is issued on"),
                arg("cmd", u32(), "cmd", "ioctl request number"),
                arg("arg", u64(), "arg", "ioctl argument (often a user pointer)")},
               "ioctl(2) on an open file"});

  // ---- file: inode hooks (paths are relative to the filesystem root: no mount prefix) ----
  h.push_back({"inode_create", file, {{"struct inode *", "dir"}, {"struct dentry *", "dentry"}, {"umode_t", "mode"}},
               {path_of("path", "dentry", "path of the new file within its filesystem"),
                arg("mode", u16(Unit::mode), "mode", "permission bits requested for the new file")},
               "a regular file is about to be created (open with O_CREAT, creat(2), mknod of a regular file)"});
  h.push_back({"inode_link", file, {{"struct dentry *", "old_dentry"}, {"struct inode *", "dir"}, {"struct dentry *", "new_dentry"}},
               {path_of("old_path", "old_dentry", "path of the existing file within its filesystem"),
                path_of("new_path", "new_dentry", "path of the new hard link within its filesystem")},
               "a hard link is about to be created (link(2), linkat(2))"});
  h.push_back({"inode_mkdir", file, {{"struct inode *", "dir"}, {"struct dentry *", "dentry"}, {"umode_t", "mode"}},
               {path_of("path", "dentry", "path of the new directory within its filesystem"),
                arg("mode", u16(Unit::mode), "mode", "permission bits requested for the new directory")},
               "a directory is about to be created (mkdir(2))"});
  h.push_back({"inode_rename", file,
               {{"struct inode *", "old_dir"}, {"struct dentry *", "old_dentry"}, {"struct inode *", "new_dir"}, {"struct dentry *", "new_dentry"}},
               {path_of("old_path", "old_dentry", "current path of the entry within its filesystem"),
                path_of("new_path", "new_dentry", "path it is renamed to within its filesystem")},
               "an entry is about to be renamed (rename(2), renameat2(2))"});
  h.push_back({"inode_rmdir", file, {{"struct inode *", "dir"}, {"struct dentry *", "dentry"}},
               {path_of("path", "dentry", "path of the directory being removed within its filesystem")},
               "a directory is about to be removed (rmdir(2))"});
  h.push_back({"inode_symlink", file, {{"struct inode *", "dir"}, {"struct dentry *", "dentry"}, {"const char *", "old_name"}},
               {path_of("path", "dentry", "path of the new symbolic link within its filesystem"),
                arg("target", string(), "old_name", "content of the link (the path it points to)")},
               "a symbolic link is about to be created (symlink(2))"});
  h.push_back({"inode_unlink", file, {{"struct inode *", "dir"}, {"struct dentry *", "dentry"}},
               {path_of("path", "dentry", "path of the entry being removed within its filesystem")},
               "a non-directory entry is about to be removed (unlink(2))"});

  // ---- file: path hooks (absolute paths, mount included) ----
  h.push_back({"path_chmod", file, {{"const struct path *", "path"}, {"umode_t", "mode"}},
               {path_of("path", "path", "path of the file whose mode changes"),
                arg("mode", u16(Unit::mode), "mode", "new mode (permission bits and S_IFMT of the file)")},
               "the mode of a file is about to change (chmod(2), fchmod(2), fchmodat(2))"});
  h.push_back({"path_chown", file, {{"const struct path *", "path"}, {"kuid_t", "uid"}, {"kgid_t", "gid"}},
               {path_of("path", "path", "path of the file whose owner changes"),
                core("owner_uid", u32(Unit::uid), "uid.val", "new owner (kernel uid; 0xffffffff when unchanged)"),
                core("owner_gid", u32(Unit::gid), "gid.val", "new group (kernel gid; 0xffffffff when unchanged)")},
               "the owner or group of a file is about to change (chown(2) family)"});
  h.push_back({"path_link", file, {{"struct dentry *", "old_dentry"}, {"const struct path *", "new_dir"}, {"struct dentry *", "new_dentry"}},
               {path_of("old_path", "new_dir/old_dentry", "path of the existing file"),
                path_of("new_path", "new_dir/new_dentry", "path of the new hard link")},
               "a hard link is about to be created (link(2), linkat(2))"});
  h.push_back({"path_mkdir", file, {{"const struct path *", "dir"}, {"struct dentry *", "dentry"}, {"umode_t", "mode"}},
               {path_of("path", "dir/dentry", "path of the new directory"),
                arg("mode", u16(Unit::mode), "mode", "permission bits requested for the new directory")},
               "a directory is about to be created (mkdir(2))"});
  h.push_back({"path_mknod", file, {{"const struct path *", "dir"}, {"struct dentry *", "dentry"}, {"umode_t", "mode"}, {"unsigned int", "dev"}},
               {path_of("path", "dir/dentry", "path of the new node"),
                arg("mode", u16(Unit::mode), "mode", "file type (S_IFCHR, S_IFBLK, S_IFIFO, S_IFSOCK, S_IFREG) and permission bits"),
                arg("dev", u32(), "dev", "device number in kernel encoding ((major << 20) + minor); 0 unless a device")},
               "a file system node is about to be created (mknod(2), also for regular files, FIFOs and sockets)"});
  h.push_back({"path_rename", file,
               {{"const struct path *", "old_dir"}, {"struct dentry *", "old_dentry"}, {"const struct path *", "new_dir"}, {"struct dentry *", "new_dentry"}, {"unsigned int", "flags"}},
               {path_of("old_path", "old_dir/old_dentry", "current path of the entry"),
                path_of("new_path", "new_dir/new_dentry", "path it is renamed to"),
                arg("flags", u32(), "flags", "renameat2 flags (RENAME_NOREPLACE 0x1, RENAME_EXCHANGE 0x2, RENAME_WHITEOUT 0x4)")},
               "an entry is about to be renamed (rename(2), renameat2(2))"});
  h.push_back({"path_rmdir", file, {{"const struct path *", "dir"}, {"struct dentry *", "dentry"}},
               {path_of("path", "dir/dentry", "path of the directory being removed")},
               "a directory is about to be removed (rmdir(2))"});
  h.push_back({"path_symlink", file, {{"const struct path *", "dir"}, {"struct dentry *", "dentry"}, {"const char *", "old_name"}},
               {path_of("path", "dir/dentry", "path of the new symbolic link"),
                arg("target", string(), "old_name", "content of the link (the path it points to)")},
               "a symbolic link is about to be created (symlink(2))"});
  h.push_back({"path_truncate", file, {{"const struct path *", "path"}},
               {path_of("path", "path", "path of the file being truncated")},
               "a file is about to be truncated (truncate(2), ftruncate(2), open with O_TRUNC)"});
  h.push_back({"path_unlink", file, {{"const struct path *", "dir"}, {"struct dentry *", "dentry"}},
               {path_of("path", "dir/dentry", "path of the entry being removed")},
               "a non-directory entry is about to be removed (unlink(2), unlinkat(2))"});

  // ---- lockdown ----
  h.push_back({"locked_down", lockdown, {{"enum lockdown_reason", "what"}},
               {arg("what", u32(Unit::lockdown_reason), "what", "the feature being used (LOCKDOWN_*, numbered as in 6.1 and 6.18)")},
               "a kernel feature that lockdown can restrict is about to be used (/dev/mem, kexec, bpf_probe_write_user, ...)"});

  // ---- capability ----
  h.push_back({"capable", capability,
               {{"const struct cred *", "cred"}, {"struct user_namespace *", "ns"}, {"int", "cap"}, {"unsigned int", "opts"}},
               {arg("cap", s32(Unit::capability), "cap", "capability being checked (CAP_*)"),
                arg("opts", u32(), "opts", "check options (CAP_OPT_NOAUDIT 0x2, CAP_OPT_INSETID 0x4)")},
               "the kernel checks whether credentials hold a capability (capable(), ns_capable(), ...); runs only if the capability LSM granted it"});

  // ---- identity ----
  h.push_back({"task_fix_setgid", identity,
               {{"struct cred *", "new"}, {"const struct cred *", "old"}, {"int", "flags"}},
               {core("new_gid", u32(Unit::gid), "new->gid.val", "real gid after the change"),
                core("new_egid", u32(Unit::gid), "new->egid.val", "effective gid after the change"),
                core("new_sgid", u32(Unit::gid), "new->sgid.val", "saved gid after the change"),
                core("old_gid", u32(Unit::gid), "old->gid.val", "real gid before the change"),
                core("old_egid", u32(Unit::gid), "old->egid.val", "effective gid before the change"),
                arg("flags", s32(), "flags", "which call: LSM_SETID_ID 1 (setgid), RE 2 (setregid), RES 4 (setresgid), FS 8 (setfsgid)"),
                core("old_sgid", u32(Unit::gid), "old->sgid.val", "saved gid before the change")},
               "setgid(2), setregid(2), setresgid(2) or setfsgid(2) is about to change the group ids"});
  h.push_back({"task_fix_setuid", identity,
               {{"struct cred *", "new"}, {"const struct cred *", "old"}, {"int", "flags"}},
               {core("new_uid", u32(Unit::uid), "new->uid.val", "real uid after the change"),
                core("new_euid", u32(Unit::uid), "new->euid.val", "effective uid after the change"),
                core("new_suid", u32(Unit::uid), "new->suid.val", "saved uid after the change"),
                core("old_uid", u32(Unit::uid), "old->uid.val", "real uid before the change"),
                core("old_euid", u32(Unit::uid), "old->euid.val", "effective uid before the change"),
                arg("flags", s32(), "flags", "which call: LSM_SETID_ID 1 (setuid), RE 2 (setreuid), RES 4 (setresuid), FS 8 (setfsuid)"),
                core("old_suid", u32(Unit::uid), "old->suid.val", "saved uid before the change")},
               "setuid(2), setreuid(2), setresuid(2) or setfsuid(2) is about to change the user ids"});

  // ---- ptrace ----
  h.push_back({"ptrace_access_check", ptrace, {{"struct task_struct *", "child"}, {"unsigned int", "mode"}},
               {target("target_pid", s32(Unit::pid), "child->tgid", "process id of the task to be accessed"),
                target("target_uid", u32(Unit::uid), "child->real_cred->uid.val", "real uid of the task to be accessed"),
                target("target_comm", string(), "child->comm", "command name of the task to be accessed"),
                arg("mode", u32(Unit::ptrace_mode), "mode", "requested access: PTRACE_MODE_READ or ATTACH, plus FSCREDS or REALCREDS, maybe NOAUDIT")},
               "the current task asks for ptrace-level access to another (PTRACE_ATTACH, /proc/PID/mem, process_vm_readv, pidfd_getfd, ...)"});
  h.push_back({"ptrace_traceme", ptrace, {{"struct task_struct *", "parent"}},
               {target("tracer_pid", s32(Unit::pid), "parent->tgid", "process id of the parent that will trace"),
                target("tracer_uid", u32(Unit::uid), "parent->real_cred->uid.val", "real uid of the parent that will trace"),
                target("tracer_comm", string(), "parent->comm", "command name of the parent that will trace")},
               "the current task asks to be traced by its parent (PTRACE_TRACEME)"});

  // ---- mount ----
  h.push_back({"move_mount", mount, {{"const struct path *", "from_path"}, {"const struct path *", "to_path"}},
               {path_of("from_path", "from_path", "the mount being moved"),
                path_of("to_path", "to_path", "where it is moved to")},
               "move_mount(2) is about to move a mount"});
  h.push_back({"sb_mount", mount,
               {{"const char *", "dev_name"}, {"const struct path *", "path"}, {"const char *", "type"}, {"unsigned long", "flags"}, {"void *", "data"}},
               {arg("dev_name", string(), "dev_name", "source: a device, a directory for bind mounts, or any string (may be empty)"),
                path_of("path", "path", "mount point"),
                arg("fs_type", string(), "type", "filesystem type (\"tmpfs\", \"proc\", ...); empty for bind, remount and move"),
                arg("flags", u64(), "flags", "mount flags (MS_RDONLY 0x1, MS_NOSUID 0x2, MS_REMOUNT 0x20, MS_BIND 0x1000, MS_MOVE 0x2000, ...)")},
               "mount(2): a new mount, remount, bind, move or propagation change"});
  h.push_back({"sb_umount", mount, {{"struct vfsmount *", "mnt"}, {"int", "flags"}},
               {path_of("path", "mnt", "mount point of the mount being removed"),
                arg("flags", s32(), "flags", "umount2 flags (MNT_FORCE 0x1, MNT_DETACH 0x2, MNT_EXPIRE 0x4, UMOUNT_NOFOLLOW 0x8)")},
               "umount2(2) is about to remove a mount"});

  // ---- module ----
  h.push_back({"kernel_load_data", module, {{"enum kernel_load_data_id", "id"}, {"bool", "contents"}},
               {arg("id", u32(), "id", "what is loaded: 1 firmware, 2 module (init_module), 3 kexec image, 4 kexec initramfs, 5 policy, 6 X.509 certificate"),
                arg("contents", boolean(), "contents", "true when kernel_post_load_data will see the contents")},
               "the kernel is about to load data from a buffer (init_module(2), kexec_load(2), firmware fallback)"});
  h.push_back({"kernel_module_request", module, {{"char *", "kmod_name"}},
               {arg("name", string(), "kmod_name", "name or alias of the module to load (e.g. \"net-pf-38\", \"fs-xfs\")")},
               "the kernel is about to auto-load a module (request_module), e.g. for an unknown socket family"});
  h.push_back({"kernel_read_file", module, {{"struct file *", "file"}, {"enum kernel_read_file_id", "id"}, {"bool", "contents"}},
               {path_of("path", "file", "path of the file the kernel reads"),
                arg("id", u32(), "id", "what is read: 1 firmware, 2 module (finit_module), 3 kexec image, 4 kexec initramfs, 5 policy, 6 X.509 certificate"),
                arg("contents", boolean(), "contents", "true when kernel_post_read_file will see the contents")},
               "the kernel is about to read a file for itself (finit_module(2), kexec_file_load(2), firmware, policies)"});

  // ---- bpf ----
  h.push_back({"bpf", bpf, {{"int", "cmd"}, {"union bpf_attr *", "attr"}, {"unsigned int", "size"}},
               {arg("cmd", s32(Unit::bpf_cmd), "cmd", "the bpf(2) command (BPF_PROG_LOAD, BPF_MAP_CREATE, ...)"),
                arg("size", u32(), "size", "size of the attribute block passed by the caller")},
               "bpf(2) is called, before the command runs (6.18 adds a 4th parameter `bool kernel` that 6.1 lacks)"});

  // ---- network ----
  {
    std::vector<Field> f;
    add_socket_fields(f);
    h.push_back({"socket_accept", network, {{"struct socket *", "sock"}, {"struct socket *", "newsock"}}, std::move(f),
                 "accept(2) on a listening socket, before a connection is taken (the fields describe the listening socket)"});
  }
  h.push_back({"socket_bind", network, {{"struct socket *", "sock"}, {"struct sockaddr *", "address"}, {"int", "addrlen"}},
               {sockaddr("family", u16(Unit::family), "address:family", "address family of the requested address (AF_INET, AF_INET6, AF_UNIX, ...)"),
                sockaddr("local_addr", address(), "address:addr", "IP address to bind to (AF_INET/AF_INET6 only)"),
                sockaddr("local_port", u16(Unit::port), "address:port", "port to bind to, host byte order (0: any)"),
                core("type", s16(Unit::socket_type), "sock->type", "socket type (SOCK_STREAM, SOCK_DGRAM, ...)"),
                core("protocol", u16(Unit::protocol), "sock->sk->sk_protocol", "protocol of the socket (IPPROTO_TCP, IPPROTO_UDP, ...)"),
                arg("addrlen", s32(), "addrlen", "length of the address passed by the caller")},
               "bind(2): a socket is about to be bound to a local address"});
  h.push_back({"socket_connect", network, {{"struct socket *", "sock"}, {"struct sockaddr *", "address"}, {"int", "addrlen"}},
               {sockaddr("family", u16(Unit::family), "address:family", "address family of the destination (AF_INET, AF_INET6, AF_UNIX, AF_UNSPEC to disconnect)"),
                sockaddr("remote_addr", address(), "address:addr", "destination IP address (AF_INET/AF_INET6 only)"),
                sockaddr("remote_port", u16(Unit::port), "address:port", "destination port, host byte order"),
                core("type", s16(Unit::socket_type), "sock->type", "socket type (SOCK_STREAM, SOCK_DGRAM, ...)"),
                core("protocol", u16(Unit::protocol), "sock->sk->sk_protocol", "protocol of the socket (IPPROTO_TCP, IPPROTO_UDP, ...)"),
                arg("addrlen", s32(), "addrlen", "length of the address passed by the caller")},
               "connect(2): a socket is about to connect to a remote address"});
  h.push_back({"socket_create", network, {{"int", "family"}, {"int", "type"}, {"int", "protocol"}, {"int", "kern"}},
               {arg("family", s32(Unit::family), "family", "requested address family (AF_*)"),
                arg("type", s32(Unit::socket_type), "type", "requested socket type (SOCK_*; SOCK_NONBLOCK/SOCK_CLOEXEC already removed)"),
                arg("protocol", s32(Unit::protocol), "protocol", "requested protocol (IPPROTO_*; 0: the family's default)"),
                arg("kern", boolean(), "kern", "true when the kernel creates the socket for itself")},
               "socket(2), socketpair(2) or a kernel-internal socket: before the socket is created"});
  {
    std::vector<Field> f;
    add_socket_fields(f);
    f.push_back(arg("backlog", s32(), "backlog", "requested backlog length"));
    h.push_back({"socket_listen", network, {{"struct socket *", "sock"}, {"int", "backlog"}}, std::move(f),
                 "listen(2): a socket is about to start listening"});
  }
  h.push_back({"socket_post_create", network,
               {{"struct socket *", "sock"}, {"int", "family"}, {"int", "type"}, {"int", "protocol"}, {"int", "kern"}},
               {arg("family", s32(Unit::family), "family", "address family of the new socket (AF_*)"),
                arg("type", s32(Unit::socket_type), "type", "socket type of the new socket (SOCK_*)"),
                arg("protocol", s32(Unit::protocol), "protocol", "protocol as requested (IPPROTO_*; 0: the family's default)"),
                arg("kern", boolean(), "kern", "true for a kernel-internal socket")},
               "socket(2), socketpair(2) or a kernel-internal socket: after the socket is created (an error closes it)"});
  {
    std::vector<Field> f;
    add_socket_fields(f);
    f.push_back(arg("size", s32(), "size", "size of the receive buffer"));
    f.push_back(arg("flags", s32(), "flags", "recv flags (MSG_PEEK 0x2, MSG_DONTWAIT 0x40, MSG_WAITALL 0x100, ...)"));
    h.push_back({"socket_recvmsg", network,
                 {{"struct socket *", "sock"}, {"struct msghdr *", "msg"}, {"int", "size"}, {"int", "flags"}}, std::move(f),
                 "recv(2), recvfrom(2), recvmsg(2), read(2) on a socket: before data is received"});
  }
  {
    std::vector<Field> f;
    add_socket_fields(f);
    f.push_back(arg("size", s32(), "size", "number of bytes to send"));
    f.push_back(sockaddr("remote_addr", address(), "msg->msg_name:addr",
                         "destination IP address given to sendto(2)/sendmsg(2) (msg_name); absent on connected sockets, which socket_connect decided"));
    f.push_back(sockaddr("remote_port", u16(Unit::port), "msg->msg_name:port",
                         "destination port given to sendto(2)/sendmsg(2) (msg_name), host byte order; absent on connected sockets"));
    h.push_back({"socket_sendmsg", network, {{"struct socket *", "sock"}, {"struct msghdr *", "msg"}, {"int", "size"}}, std::move(f),
                 "send(2), sendto(2), sendmsg(2), write(2) on a socket: before data is sent"});
  }

  // ---- signal ----
  h.push_back({"task_kill", signal,
               {{"struct task_struct *", "p"}, {"struct kernel_siginfo *", "info"}, {"int", "sig"}, {"const struct cred *", "cred"}},
               {arg("sig", s32(Unit::signal), "sig", "signal number (SIG*; 0 probes whether the target exists)"),
                target("target_pid", s32(Unit::pid), "p->tgid", "process id of the task receiving the signal"),
                target("target_uid", u32(Unit::uid), "p->real_cred->uid.val", "real uid of the task receiving the signal"),
                target("target_comm", string(), "p->comm", "command name of the task receiving the signal")},
               "a signal is about to be sent to a task (kill(2), tgkill(2), sigqueue(3), pidfd_send_signal(2), ...)"});

  // ---- task lifecycle ----
  h.push_back({"task_alloc", task, {{"struct task_struct *", "task"}}, {},
               "fork/clone: a new task is being set up (clone_flags is `unsigned long` in 6.1 and `u64` in 6.18, so only `task` is relied on)"});
  h.push_back({"task_free", task, {{"struct task_struct *", "task"}},
               {target("target_pid", s32(Unit::pid), "task->tgid", "process id of the task being freed"),
                target("target_comm", string(), "task->comm", "command name of the task being freed")},
               "a task structure is freed (cannot deny; may run in another task's context, so common fields are unreliable)"});

  std::sort(h.begin(), h.end(), [](const Hook& a, const Hook& b) { return a.name < b.name; });
  return h;
}

const std::vector<Hook>& hook_table() {
  static const std::vector<Hook> table = build_hooks();
  return table;
}

const std::array<Field, 8> kCommonFields = {{
    {"uid", u32(Unit::uid), FieldSource::task_context, "current->cred->uid.val", "real uid of the current task"},
    {"gid", u32(Unit::gid), FieldSource::task_context, "current->cred->gid.val", "real gid of the current task"},
    {"euid", u32(Unit::uid), FieldSource::task_context, "current->cred->euid.val", "effective uid of the current task"},
    {"egid", u32(Unit::gid), FieldSource::task_context, "current->cred->egid.val", "effective gid of the current task"},
    {"pid", s32(Unit::pid), FieldSource::task_context, "current->pid", "thread id of the current task (the kernel's pid; equals tgid in a single-threaded process)"},
    {"tgid", s32(Unit::pid), FieldSource::task_context, "current->tgid", "process id of the current task (what getpid() returns)"},
    {"comm", string(), FieldSource::task_context, "current->comm", "command name of the current task (up to 15 bytes)"},
    {"exe", path(), FieldSource::task_context, "current->mm->exe_file", "path of the current task's executable; empty for kernel threads"},
}};

// Constants, grouped by family (the order docs/hooks.md lists them in).
constexpr Constant kConstants[] = {
    // Address families (sys/socket.h).
    {"AF_UNSPEC", Unit::family, 0},
    {"AF_UNIX", Unit::family, 1},
    {"AF_LOCAL", Unit::family, 1},
    {"AF_INET", Unit::family, 2},
    {"AF_INET6", Unit::family, 10},
    {"AF_NETLINK", Unit::family, 16},
    {"AF_PACKET", Unit::family, 17},
    {"AF_CAN", Unit::family, 29},
    {"AF_BLUETOOTH", Unit::family, 31},
    {"AF_ALG", Unit::family, 38},
    {"AF_VSOCK", Unit::family, 40},
    {"AF_XDP", Unit::family, 44},
    // Socket types.
    {"SOCK_STREAM", Unit::socket_type, 1},
    {"SOCK_DGRAM", Unit::socket_type, 2},
    {"SOCK_RAW", Unit::socket_type, 3},
    {"SOCK_RDM", Unit::socket_type, 4},
    {"SOCK_SEQPACKET", Unit::socket_type, 5},
    // Protocols (netinet/in.h).
    {"IPPROTO_IP", Unit::protocol, 0},
    {"IPPROTO_ICMP", Unit::protocol, 1},
    {"IPPROTO_TCP", Unit::protocol, 6},
    {"IPPROTO_UDP", Unit::protocol, 17},
    {"IPPROTO_ICMPV6", Unit::protocol, 58},
    {"IPPROTO_SCTP", Unit::protocol, 132},
    {"IPPROTO_UDPLITE", Unit::protocol, 136},
    {"IPPROTO_RAW", Unit::protocol, 255},
    // Capabilities (linux/capability.h).
    {"CAP_CHOWN", Unit::capability, 0},
    {"CAP_DAC_OVERRIDE", Unit::capability, 1},
    {"CAP_DAC_READ_SEARCH", Unit::capability, 2},
    {"CAP_FOWNER", Unit::capability, 3},
    {"CAP_FSETID", Unit::capability, 4},
    {"CAP_KILL", Unit::capability, 5},
    {"CAP_SETGID", Unit::capability, 6},
    {"CAP_SETUID", Unit::capability, 7},
    {"CAP_SETPCAP", Unit::capability, 8},
    {"CAP_LINUX_IMMUTABLE", Unit::capability, 9},
    {"CAP_NET_BIND_SERVICE", Unit::capability, 10},
    {"CAP_NET_BROADCAST", Unit::capability, 11},
    {"CAP_NET_ADMIN", Unit::capability, 12},
    {"CAP_NET_RAW", Unit::capability, 13},
    {"CAP_IPC_LOCK", Unit::capability, 14},
    {"CAP_IPC_OWNER", Unit::capability, 15},
    {"CAP_SYS_MODULE", Unit::capability, 16},
    {"CAP_SYS_RAWIO", Unit::capability, 17},
    {"CAP_SYS_CHROOT", Unit::capability, 18},
    {"CAP_SYS_PTRACE", Unit::capability, 19},
    {"CAP_SYS_PACCT", Unit::capability, 20},
    {"CAP_SYS_ADMIN", Unit::capability, 21},
    {"CAP_SYS_BOOT", Unit::capability, 22},
    {"CAP_SYS_NICE", Unit::capability, 23},
    {"CAP_SYS_RESOURCE", Unit::capability, 24},
    {"CAP_SYS_TIME", Unit::capability, 25},
    {"CAP_SYS_TTY_CONFIG", Unit::capability, 26},
    {"CAP_MKNOD", Unit::capability, 27},
    {"CAP_LEASE", Unit::capability, 28},
    {"CAP_AUDIT_WRITE", Unit::capability, 29},
    {"CAP_AUDIT_CONTROL", Unit::capability, 30},
    {"CAP_SETFCAP", Unit::capability, 31},
    {"CAP_MAC_OVERRIDE", Unit::capability, 32},
    {"CAP_MAC_ADMIN", Unit::capability, 33},
    {"CAP_SYSLOG", Unit::capability, 34},
    {"CAP_WAKE_ALARM", Unit::capability, 35},
    {"CAP_BLOCK_SUSPEND", Unit::capability, 36},
    {"CAP_AUDIT_READ", Unit::capability, 37},
    {"CAP_PERFMON", Unit::capability, 38},
    {"CAP_BPF", Unit::capability, 39},
    {"CAP_CHECKPOINT_RESTORE", Unit::capability, 40},
    // Signals (x86-64 / asm-generic numbering).
    {"SIGHUP", Unit::signal, 1},
    {"SIGINT", Unit::signal, 2},
    {"SIGQUIT", Unit::signal, 3},
    {"SIGILL", Unit::signal, 4},
    {"SIGTRAP", Unit::signal, 5},
    {"SIGABRT", Unit::signal, 6},
    {"SIGBUS", Unit::signal, 7},
    {"SIGFPE", Unit::signal, 8},
    {"SIGKILL", Unit::signal, 9},
    {"SIGUSR1", Unit::signal, 10},
    {"SIGSEGV", Unit::signal, 11},
    {"SIGUSR2", Unit::signal, 12},
    {"SIGPIPE", Unit::signal, 13},
    {"SIGALRM", Unit::signal, 14},
    {"SIGTERM", Unit::signal, 15},
    {"SIGSTKFLT", Unit::signal, 16},
    {"SIGCHLD", Unit::signal, 17},
    {"SIGCONT", Unit::signal, 18},
    {"SIGSTOP", Unit::signal, 19},
    {"SIGTSTP", Unit::signal, 20},
    {"SIGTTIN", Unit::signal, 21},
    {"SIGTTOU", Unit::signal, 22},
    {"SIGURG", Unit::signal, 23},
    {"SIGXCPU", Unit::signal, 24},
    {"SIGXFSZ", Unit::signal, 25},
    {"SIGVTALRM", Unit::signal, 26},
    {"SIGPROF", Unit::signal, 27},
    {"SIGWINCH", Unit::signal, 28},
    {"SIGIO", Unit::signal, 29},
    {"SIGPWR", Unit::signal, 30},
    {"SIGSYS", Unit::signal, 31},
    // Memory protection (sys/mman.h).
    {"PROT_NONE", Unit::prot, 0},
    {"PROT_READ", Unit::prot, 1},
    {"PROT_WRITE", Unit::prot, 2},
    {"PROT_EXEC", Unit::prot, 4},
    // ptrace access modes (include/linux/ptrace.h in the kernel; not in the UAPI).
    {"PTRACE_MODE_READ", Unit::ptrace_mode, 0x01},
    {"PTRACE_MODE_ATTACH", Unit::ptrace_mode, 0x02},
    {"PTRACE_MODE_NOAUDIT", Unit::ptrace_mode, 0x04},
    {"PTRACE_MODE_FSCREDS", Unit::ptrace_mode, 0x08},
    {"PTRACE_MODE_REALCREDS", Unit::ptrace_mode, 0x10},
    // Lockdown reasons: enum lockdown_reason, identical in 6.1 (Debian 6.1.192) and 6.18.
    {"LOCKDOWN_NONE", Unit::lockdown_reason, 0},
    {"LOCKDOWN_MODULE_SIGNATURE", Unit::lockdown_reason, 1},
    {"LOCKDOWN_DEV_MEM", Unit::lockdown_reason, 2},
    {"LOCKDOWN_EFI_TEST", Unit::lockdown_reason, 3},
    {"LOCKDOWN_KEXEC", Unit::lockdown_reason, 4},
    {"LOCKDOWN_HIBERNATION", Unit::lockdown_reason, 5},
    {"LOCKDOWN_PCI_ACCESS", Unit::lockdown_reason, 6},
    {"LOCKDOWN_IOPORT", Unit::lockdown_reason, 7},
    {"LOCKDOWN_MSR", Unit::lockdown_reason, 8},
    {"LOCKDOWN_ACPI_TABLES", Unit::lockdown_reason, 9},
    {"LOCKDOWN_DEVICE_TREE", Unit::lockdown_reason, 10},
    {"LOCKDOWN_PCMCIA_CIS", Unit::lockdown_reason, 11},
    {"LOCKDOWN_TIOCSSERIAL", Unit::lockdown_reason, 12},
    {"LOCKDOWN_MODULE_PARAMETERS", Unit::lockdown_reason, 13},
    {"LOCKDOWN_MMIOTRACE", Unit::lockdown_reason, 14},
    {"LOCKDOWN_DEBUGFS", Unit::lockdown_reason, 15},
    {"LOCKDOWN_XMON_WR", Unit::lockdown_reason, 16},
    {"LOCKDOWN_BPF_WRITE_USER", Unit::lockdown_reason, 17},
    {"LOCKDOWN_DBG_WRITE_KERNEL", Unit::lockdown_reason, 18},
    {"LOCKDOWN_RTAS_ERROR_INJECTION", Unit::lockdown_reason, 19},
    {"LOCKDOWN_XEN_USER_ACTIONS", Unit::lockdown_reason, 20},
    {"LOCKDOWN_INTEGRITY_MAX", Unit::lockdown_reason, 21},
    {"LOCKDOWN_KCORE", Unit::lockdown_reason, 22},
    {"LOCKDOWN_KPROBES", Unit::lockdown_reason, 23},
    {"LOCKDOWN_BPF_READ_KERNEL", Unit::lockdown_reason, 24},
    {"LOCKDOWN_DBG_READ_KERNEL", Unit::lockdown_reason, 25},
    {"LOCKDOWN_PERF", Unit::lockdown_reason, 26},
    {"LOCKDOWN_TRACEFS", Unit::lockdown_reason, 27},
    {"LOCKDOWN_XMON_RW", Unit::lockdown_reason, 28},
    {"LOCKDOWN_XFRM_SECRET", Unit::lockdown_reason, 29},
    {"LOCKDOWN_CONFIDENTIALITY_MAX", Unit::lockdown_reason, 30},
    // bpf(2) commands (linux/bpf.h enum bpf_cmd, as far as 6.1 has them).
    {"BPF_MAP_CREATE", Unit::bpf_cmd, 0},
    {"BPF_MAP_LOOKUP_ELEM", Unit::bpf_cmd, 1},
    {"BPF_MAP_UPDATE_ELEM", Unit::bpf_cmd, 2},
    {"BPF_MAP_DELETE_ELEM", Unit::bpf_cmd, 3},
    {"BPF_MAP_GET_NEXT_KEY", Unit::bpf_cmd, 4},
    {"BPF_PROG_LOAD", Unit::bpf_cmd, 5},
    {"BPF_OBJ_PIN", Unit::bpf_cmd, 6},
    {"BPF_OBJ_GET", Unit::bpf_cmd, 7},
    {"BPF_PROG_ATTACH", Unit::bpf_cmd, 8},
    {"BPF_PROG_DETACH", Unit::bpf_cmd, 9},
    {"BPF_PROG_TEST_RUN", Unit::bpf_cmd, 10},
    {"BPF_PROG_RUN", Unit::bpf_cmd, 10},
    {"BPF_PROG_GET_NEXT_ID", Unit::bpf_cmd, 11},
    {"BPF_MAP_GET_NEXT_ID", Unit::bpf_cmd, 12},
    {"BPF_PROG_GET_FD_BY_ID", Unit::bpf_cmd, 13},
    {"BPF_MAP_GET_FD_BY_ID", Unit::bpf_cmd, 14},
    {"BPF_OBJ_GET_INFO_BY_FD", Unit::bpf_cmd, 15},
    {"BPF_PROG_QUERY", Unit::bpf_cmd, 16},
    {"BPF_RAW_TRACEPOINT_OPEN", Unit::bpf_cmd, 17},
    {"BPF_BTF_LOAD", Unit::bpf_cmd, 18},
    {"BPF_BTF_GET_FD_BY_ID", Unit::bpf_cmd, 19},
    {"BPF_TASK_FD_QUERY", Unit::bpf_cmd, 20},
    {"BPF_MAP_LOOKUP_AND_DELETE_ELEM", Unit::bpf_cmd, 21},
    {"BPF_MAP_FREEZE", Unit::bpf_cmd, 22},
    {"BPF_BTF_GET_NEXT_ID", Unit::bpf_cmd, 23},
    {"BPF_MAP_LOOKUP_BATCH", Unit::bpf_cmd, 24},
    {"BPF_MAP_LOOKUP_AND_DELETE_BATCH", Unit::bpf_cmd, 25},
    {"BPF_MAP_UPDATE_BATCH", Unit::bpf_cmd, 26},
    {"BPF_MAP_DELETE_BATCH", Unit::bpf_cmd, 27},
    {"BPF_LINK_CREATE", Unit::bpf_cmd, 28},
    {"BPF_LINK_UPDATE", Unit::bpf_cmd, 29},
    {"BPF_LINK_GET_FD_BY_ID", Unit::bpf_cmd, 30},
    {"BPF_LINK_GET_NEXT_ID", Unit::bpf_cmd, 31},
    {"BPF_ENABLE_STATS", Unit::bpf_cmd, 32},
    {"BPF_ITER_CREATE", Unit::bpf_cmd, 33},
    {"BPF_LINK_DETACH", Unit::bpf_cmd, 34},
    {"BPF_PROG_BIND_MAP", Unit::bpf_cmd, 35},
    // errno values for deny actions (asm-generic/errno-base.h, asm-generic/errno.h).
    {"EPERM", Unit::errno_value, 1},
    {"ENOENT", Unit::errno_value, 2},
    {"ESRCH", Unit::errno_value, 3},
    {"EINTR", Unit::errno_value, 4},
    {"EIO", Unit::errno_value, 5},
    {"ENXIO", Unit::errno_value, 6},
    {"E2BIG", Unit::errno_value, 7},
    {"ENOEXEC", Unit::errno_value, 8},
    {"EBADF", Unit::errno_value, 9},
    {"EAGAIN", Unit::errno_value, 11},
    {"ENOMEM", Unit::errno_value, 12},
    {"EACCES", Unit::errno_value, 13},
    {"EFAULT", Unit::errno_value, 14},
    {"EBUSY", Unit::errno_value, 16},
    {"EEXIST", Unit::errno_value, 17},
    {"EXDEV", Unit::errno_value, 18},
    {"ENODEV", Unit::errno_value, 19},
    {"ENOTDIR", Unit::errno_value, 20},
    {"EISDIR", Unit::errno_value, 21},
    {"EINVAL", Unit::errno_value, 22},
    {"EMFILE", Unit::errno_value, 24},
    {"ENOTTY", Unit::errno_value, 25},
    {"ETXTBSY", Unit::errno_value, 26},
    {"ENOSPC", Unit::errno_value, 28},
    {"EROFS", Unit::errno_value, 30},
    {"ENOSYS", Unit::errno_value, 38},
    {"EPROTONOSUPPORT", Unit::errno_value, 93},
    {"EOPNOTSUPP", Unit::errno_value, 95},
    {"EAFNOSUPPORT", Unit::errno_value, 97},
    {"EADDRINUSE", Unit::errno_value, 98},
    {"EADDRNOTAVAIL", Unit::errno_value, 99},
    {"ENETUNREACH", Unit::errno_value, 101},
    {"ECONNRESET", Unit::errno_value, 104},
    {"ETIMEDOUT", Unit::errno_value, 110},
    {"ECONNREFUSED", Unit::errno_value, 111},
    {"EHOSTUNREACH", Unit::errno_value, 113},
};

// Constants sorted by name, for find_constant.
const std::vector<const Constant*>& constants_by_name() {
  static const std::vector<const Constant*> index = [] {
    std::vector<const Constant*> v;
    v.reserve(std::size(kConstants));
    for (const Constant& c : kConstants) v.push_back(&c);
    std::sort(v.begin(), v.end(), [](const Constant* a, const Constant* b) { return a->name < b->name; });
    return v;
  }();
  return index;
}

}  // namespace

std::span<const Hook> all() { return hook_table(); }

const Hook* find(std::string_view name) {
  const std::vector<Hook>& t = hook_table();
  auto it = std::lower_bound(t.begin(), t.end(), name, [](const Hook& h, std::string_view n) { return h.name < n; });
  return it != t.end() && it->name == name ? &*it : nullptr;
}

std::span<const Field> common_fields() { return kCommonFields; }

const Field* find_field(const Hook& hook, std::string_view name) {
  for (const Field& f : hook.fields)
    if (f.name == name) return &f;
  for (const Field& f : kCommonFields)
    if (f.name == name) return &f;
  return nullptr;
}

std::span<const Constant> constants() { return kConstants; }

const Constant* find_constant(std::string_view name) {
  const std::vector<const Constant*>& v = constants_by_name();
  auto it = std::lower_bound(v.begin(), v.end(), name, [](const Constant* c, std::string_view n) { return c->name < n; });
  return it != v.end() && (*it)->name == name ? *it : nullptr;
}

}  // namespace krsie::hooks

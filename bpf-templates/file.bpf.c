// SPDX-License-Identifier: GPL-2.0
/* File domain template: decides file_open from maps.
 *
 * A process is confined when its cgroup v2, or one of its ancestors, is in krsie_targets. For a
 * confined process, the opened inode is looked up in krsie_inode_rules; a deny rule returns
 * -err (unless the object is in audit mode), and every deny/audit decision is reported in
 * krsie_events. A non-zero `ret` (an earlier LSM already denied) is passed through unchanged.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "krsie_abi.h"
#include "krsie_common.bpf.h"

char LICENSE[] SEC("license") = "GPL";

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, KRSIE_MAX_INODE_RULES);
  __type(key, struct krsie_inode_key);
  __type(value, struct krsie_rule);
} krsie_inode_rules SEC(".maps");

SEC("lsm/file_open")
int BPF_PROG(krsie_file_open, struct file *file, int ret)
{
  if (ret != 0)
    return ret;
  if (!krsie_current_is_target())
    return 0;

  struct krsie_inode_key key = {};
  key.dev = BPF_CORE_READ(file, f_inode, i_sb, s_dev);
  key.ino = BPF_CORE_READ(file, f_inode, i_ino);
  const struct krsie_rule *rule = bpf_map_lookup_elem(&krsie_inode_rules, &key);
  if (!rule)
    return 0;
  return krsie_decide(rule, KRSIE_HOOK_FILE_OPEN, &key);
}

/* Helpers shared by every BPF template: target scoping, configuration, events.
 * BPF C only; included after vmlinux.h and the libbpf headers. */
#ifndef KRSIE_COMMON_BPF_H
#define KRSIE_COMMON_BPF_H

#include "krsie_abi.h"

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, KRSIE_MAX_TARGETS);
  __type(key, __u64);
  __type(value, struct krsie_target);
} krsie_targets SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct krsie_config);
} krsie_config SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 256 * 1024);
} krsie_events SEC(".maps");

/* True when the current task's cgroup v2, or one of its ancestors, is a target.
 * Ancestor level 0 is the root; the walk stops at the task's own level (the helper then returns
 * the task's own id) or when the helper returns 0 (level deeper than the task's cgroup). */
static __always_inline bool krsie_current_is_target(void)
{
  __u64 self = bpf_get_current_cgroup_id();
  if (bpf_map_lookup_elem(&krsie_targets, &self))
    return true;
  for (int level = 1; level < KRSIE_MAX_CGROUP_DEPTH; level++) {
    __u64 id = bpf_get_current_ancestor_cgroup_id(level);
    if (id == 0 || id == self)
      return false;
    if (bpf_map_lookup_elem(&krsie_targets, &id))
      return true;
  }
  /* Deeper than the walk reaches: confine (fail closed) rather than silently allow. */
  return true;
}

static __always_inline bool krsie_enforcing(void)
{
  __u32 zero = 0;
  const struct krsie_config *cfg = bpf_map_lookup_elem(&krsie_config, &zero);
  return cfg && cfg->enforce;
}

static __always_inline void krsie_report(__u32 hook, __u32 rule_id, __u8 decision,
                                         const struct krsie_inode_key *inode)
{
  struct krsie_event *ev = bpf_ringbuf_reserve(&krsie_events, sizeof(*ev), 0);
  if (!ev)
    return; /* ring full: the decision stands, the event is dropped */
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  ev->time_ns = bpf_ktime_get_ns();
  ev->cgroup_id = bpf_get_current_cgroup_id();
  ev->pid = (__u32)pid_tgid;
  ev->tgid = pid_tgid >> 32;
  ev->uid = (__u32)bpf_get_current_uid_gid();
  ev->hook = hook;
  ev->rule_id = rule_id;
  ev->decision = decision;
  ev->pad[0] = ev->pad[1] = ev->pad[2] = 0;
  bpf_get_current_comm(ev->comm, sizeof(ev->comm));
  ev->inode = *inode;
  bpf_ringbuf_submit(ev, 0);
}

/* Applies a matched rule: returns 0 to allow or -err to deny, and reports deny/audit. */
static __always_inline int krsie_decide(const struct krsie_rule *rule, __u32 hook,
                                        const struct krsie_inode_key *inode)
{
  if (rule->decision == KRSIE_DECISION_ALLOW)
    return 0;
  if (rule->decision == KRSIE_DECISION_DENY && krsie_enforcing()) {
    krsie_report(hook, rule->rule_id, KRSIE_DECISION_DENY, inode);
    return -(rule->err > 0 ? rule->err : 1);
  }
  krsie_report(hook, rule->rule_id, KRSIE_DECISION_AUDIT, inode);
  return 0;
}

#endif /* KRSIE_COMMON_BPF_H */

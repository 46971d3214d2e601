/* Helpers shared by every BPF template: target scoping, configuration, events.
 * BPF C only; included after vmlinux.h and the libbpf headers. */
#ifndef KRSIE_COMMON_BPF_H
#define KRSIE_COMMON_BPF_H

#include "krsie_abi.h"

/* Not preallocated: krsie-load updates live entries in place (a replacement sets and clears
 * generation bits), and a preallocated hash map hands a replaced element to the very next update
 * while a program may still be reading it; here replaced elements are freed after an RCU grace
 * period, so a program always reads a whole, current or previous, value. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, KRSIE_MAX_TARGETS);
  __uint(map_flags, BPF_F_NO_PREALLOC);
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

/* Whether a targets map entry confines in generation `gen` (any_generation: every entry does,
 * for templates without generations). */
static __always_inline bool krsie_target_in(const struct krsie_target *t, __u32 gen, bool any_generation)
{
  return t && (any_generation || ((t->generations >> (gen & 1)) & 1));
}

static __always_inline const struct krsie_config *krsie_config_get(void)
{
  __u32 zero = 0;
  return bpf_map_lookup_elem(&krsie_config, &zero);
}

/* Whether `id` is a target in generation `gen`. With the loader's filter known
 * (krsie_config.target_filter, read once at entry as `filter`), the slots (target_ids) list every
 * key of krsie_targets and target_gens their generations: a few compares answer, no hash lookup.
 * A slot being rewritten can only hold an id that is no longer, or not yet, a target, with the
 * bits of a generation not in force (docs/loader.md), so a torn read never hides a target in
 * force. Without the filter: the hash lookup. */
static __always_inline bool krsie_id_is_target(const struct krsie_config *cfg, __u32 filter, __u64 id, __u32 gen,
                                               bool any_generation)
{
  if (cfg && (filter & KRSIE_FILTER_KNOWN)) {
    __u32 gens = 0;
    for (int i = 0; i < KRSIE_FILTER_IDS; i++)
      if (*(const volatile __u64 *)&cfg->target_ids[i] == id)
        gens |= *(const volatile __u8 *)&cfg->target_gens[i] | 0x100;  /* 0x100: a target */
    return (gens & 0x100) && (any_generation || ((gens >> (gen & 1)) & 1));
  }
  return krsie_target_in(bpf_map_lookup_elem(&krsie_targets, &id), gen, any_generation);
}

/* Levels unknown: the caller's own cgroup, then every ancestor from the root (level 0, a
 * node-wide policy's target) down; the walk stops at the task's own level (the helper then
 * returns the task's own id) or when the helper returns 0 (level deeper than the task's cgroup). */
static __always_inline bool krsie_walk_all_levels(const struct krsie_config *cfg, __u32 filter, __u32 gen,
                                                  bool any_generation)
{
  __u64 self = bpf_get_current_cgroup_id();
  if (krsie_id_is_target(cfg, filter, self, gen, any_generation))
    return true;
  for (int level = 0; level < KRSIE_MAX_CGROUP_DEPTH; level++) {
    __u64 id = bpf_get_current_ancestor_cgroup_id(level);
    if (id == 0 || id == self)
      return false;
    if (krsie_id_is_target(cfg, filter, id, gen, any_generation))
      return true;
  }
  /* Deeper than the walk reaches: confine (fail closed) rather than silently allow. */
  return true;
}

/* True when the current task's cgroup v2, or one of its ancestors, is a target.
 * With the target levels known (krsie_config.target_levels, written by the loader), only the
 * caller's ancestors at those levels can be targets: one helper call per level from the
 * shallowest to the deepest target (usually one), instead of the caller's own cgroup plus every
 * level from the root down. The helper returns the task's own id at its own level and 0 below it
 * (the task is shallower than every remaining target level: not confined). With the target ids
 * known (krsie_config.target_ids), an ancestor that is none of them costs no hash lookup: a
 * caller outside every target is told by a few compares. `cfg` NULL (never: the configuration
 * array always has its element): every level, no filter. */
static __always_inline bool krsie_current_is_target_cfg(const struct krsie_config *cfg, __u32 gen, bool any_generation)
{
  __u32 levels = cfg ? *(const volatile __u32 *)&cfg->target_levels : 0;
  __u32 filter = cfg ? *(const volatile __u32 *)&cfg->target_filter : 0;
  if (!(levels & KRSIE_LEVELS_KNOWN))
    return krsie_walk_all_levels(cfg, filter, gen, any_generation);
  __u32 lo = levels & 0xff, hi = (levels >> 8) & 0xff;
  for (int i = 0; i < KRSIE_MAX_CGROUP_DEPTH; i++) {
    __u32 level = lo + i;
    if (level > hi)
      return false;
    __u64 id = bpf_get_current_ancestor_cgroup_id(level);
    if (id == 0)
      return false;
    if (krsie_id_is_target(cfg, filter, id, gen, any_generation))
      return true;
  }
  /* Targets spread over more levels than the walk covers: confine (fail closed) a task deeper
   * than the levels looked at. */
  return bpf_get_current_ancestor_cgroup_id(lo + KRSIE_MAX_CGROUP_DEPTH) != 0;
}

static __always_inline bool krsie_current_is_target_gen(__u32 gen, bool any_generation)
{
  return krsie_current_is_target_cfg(krsie_config_get(), gen, any_generation);
}

static __always_inline bool krsie_current_is_target(void)
{
  return krsie_current_is_target_gen(0, true);
}

/* The rule generation in force in `cfg`, read once per program run (one aligned word). */
static __always_inline __u32 krsie_config_generation(const struct krsie_config *cfg)
{
  return cfg ? *(const volatile __u32 *)&cfg->generation & 1 : 0;
}

static __always_inline __u32 krsie_current_generation(void)
{
  return krsie_config_generation(krsie_config_get());
}

static __always_inline bool krsie_enforcing_gen(__u32 gen)
{
  __u32 zero = 0;
  const struct krsie_config *cfg = bpf_map_lookup_elem(&krsie_config, &zero);
  return cfg && ((cfg->enforce >> (gen & 1)) & 1);
}

static __always_inline bool krsie_enforcing(void)
{
  return krsie_enforcing_gen(0);
}

/* The caller's part of an event record: time, cgroup, ids, comm, hook, rule, decision. */
static __always_inline void krsie_event_task(struct krsie_event *ev, __u32 hook, __u32 rule_id, __u8 decision)
{
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
}

static __always_inline void krsie_report(__u32 hook, __u32 rule_id, __u8 decision,
                                         const struct krsie_inode_key *inode)
{
  struct krsie_event *ev = bpf_ringbuf_reserve(&krsie_events, sizeof(*ev), 0);
  if (!ev)
    return; /* ring full: the decision stands, the event is dropped */
  krsie_event_task(ev, hook, rule_id, decision);
  ev->inode = *inode;
  __builtin_memset(ev->fields, 0, sizeof(ev->fields));
  ev->name[0] = 0;
  ev->enforced = decision == KRSIE_DECISION_DENY;
  ev->generation = 0;
  ev->family = 0;
  ev->port = 0;
  ev->pad2 = 0;
  __builtin_memset(ev->addr, 0, sizeof(ev->addr));
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

/* KRSIE ABI: the only header shared between the BPF templates (BPF C) and C++ (compiler, runtime).
 *
 * It defines the layout of every map key/value and event record the templates use. Both sides
 * must agree byte for byte, so only fixed-width types and explicit padding appear here, and the
 * C++ side static_asserts the sizes (runtime/src/abi_check.cpp).
 */
#ifndef KRSIE_ABI_H
#define KRSIE_ABI_H

#if defined(__bpf__)
/* BPF side: fixed-width types come from vmlinux.h, included before this header. */
#else
#include <linux/types.h>
#endif

#define KRSIE_ABI_VERSION 1

/* Capacity limits, documented in docs/architecture.md. */
#define KRSIE_MAX_TARGETS 4096     /* target cgroups across all policies of one object */
#define KRSIE_MAX_CGROUP_DEPTH 16  /* ancestor levels checked for descendant-of-target */
#define KRSIE_MAX_INODE_RULES 65536

/* Decisions a rule can take. */
enum krsie_decision {
  KRSIE_DECISION_ALLOW = 0,
  KRSIE_DECISION_DENY = 1,
  KRSIE_DECISION_AUDIT = 2, /* allow and report */
};

/* Hooks, as reported in events. */
enum krsie_hook {
  KRSIE_HOOK_NONE = 0,
  KRSIE_HOOK_FILE_OPEN = 1,
};

/* Value of the targets map, keyed by cgroup v2 id (__u64). */
struct krsie_target {
  __u32 policy_slot; /* which policy of the object confines this cgroup */
  __u32 flags;       /* reserved, 0 */
};

/* Key of the inode rules map: kernel s_dev encoding (major << 20 | minor) and inode number. */
struct krsie_inode_key {
  __u64 dev;
  __u64 ino;
};

/* A compiled rule as the templates see it. */
struct krsie_rule {
  __u32 rule_id;  /* index into the policy's rule table (source provenance) */
  __u8 decision;  /* enum krsie_decision */
  __u8 pad[3];
  __s32 err;      /* errno returned on deny, positive (e.g. 1 for EPERM) */
};

/* Per-object configuration, array map with one element. */
struct krsie_config {
  __u32 enforce; /* 1: deny rules deny; 0: audit mode, deny rules only report */
  __u32 pad;
};

/* One record of the events ring buffer. */
struct krsie_event {
  __u64 time_ns;   /* bpf_ktime_get_ns() */
  __u64 cgroup_id;
  __u32 pid;       /* thread id */
  __u32 tgid;      /* process id */
  __u32 uid;
  __u32 hook;      /* enum krsie_hook */
  __u32 rule_id;
  __u8 decision;   /* enum krsie_decision actually applied */
  __u8 pad[3];
  char comm[16];
  struct krsie_inode_key inode; /* object of file hooks */
};

#endif /* KRSIE_ABI_H */

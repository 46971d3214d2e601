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

#define KRSIE_ABI_VERSION 6

/* The program that is no policy hook's: lsm/d_instantiate, which makes the programs' path memo
 * forget an inode when a new dentry appears for it (krsie_eval.bpf.h). Objects list it among
 * their programs when some program remembers path walks. */
#define KRSIE_FORGET_PROGRAM "krsie_d_instantiate"
/* The programs that remember path walks (krsie_path_memo slots KRSIE_MEMO_FILE_OPEN and
 * KRSIE_MEMO_EXEC): krsiec lists KRSIE_FORGET_PROGRAM with any of them, krsie-load refuses an
 * object that does not. */
#define KRSIE_MEMO_PROGRAMS {"krsie_file_open", "krsie_bprm_check_security"}

/* Capacity limits, documented in docs/architecture.md and docs/loader.md. */
#define KRSIE_MAX_TARGETS 4096     /* target cgroups across all policies of one object */
#define KRSIE_MAX_CGROUP_DEPTH 16  /* ancestor levels checked for descendant-of-target */
#define KRSIE_MAX_INODE_RULES 65536
#define KRSIE_FILTER_IDS 4         /* target ids in krsie_config (outside callers: no lookup) */

/* Decisions a rule can take. */
enum krsie_decision {
  KRSIE_DECISION_ALLOW = 0,
  KRSIE_DECISION_DENY = 1,
  KRSIE_DECISION_AUDIT = 2, /* allow and report */
  KRSIE_DECISION_KILL = 3,  /* deny and SIGKILL the caller */
};

/* Hooks with a generic template, as numbered in rule tables and events. The compiler maps the
 * catalogue's hook names to these ids (compiler/backend/generic.cpp). */
enum krsie_hook {
  KRSIE_HOOK_NONE = 0,
  KRSIE_HOOK_FILE_OPEN = 1,
  KRSIE_HOOK_BPRM_CHECK_SECURITY = 2,
  KRSIE_HOOK_PATH_MKNOD = 3,
  KRSIE_HOOK_PATH_UNLINK = 4,
  KRSIE_HOOK_PATH_RMDIR = 5,
  KRSIE_HOOK_PATH_MKDIR = 6,
  KRSIE_HOOK_PATH_RENAME = 7,
  KRSIE_HOOK_PATH_LINK = 8,
  KRSIE_HOOK_PATH_SYMLINK = 9,
  KRSIE_HOOK_PATH_CHMOD = 10,
  KRSIE_HOOK_PATH_CHOWN = 11,
  KRSIE_HOOK_PATH_TRUNCATE = 12,
  KRSIE_HOOK_SOCKET_CONNECT = 13,
  KRSIE_HOOK_SOCKET_BIND = 14,
  KRSIE_HOOK_SOCKET_LISTEN = 15,
  KRSIE_HOOK_SOCKET_ACCEPT = 16,
  KRSIE_HOOK_SOCKET_CREATE = 17,
  KRSIE_HOOK_SOCKET_SENDMSG = 18,
  KRSIE_HOOK_CAPABLE = 19,
  KRSIE_HOOK_TASK_FIX_SETUID = 20,
  KRSIE_HOOK_TASK_FIX_SETGID = 21,
  KRSIE_HOOK_PTRACE_ACCESS_CHECK = 22,
  KRSIE_HOOK_PTRACE_TRACEME = 23,
  KRSIE_HOOK_SB_MOUNT = 24,
  KRSIE_HOOK_MOVE_MOUNT = 25,
  KRSIE_HOOK_KERNEL_READ_FILE = 26,
  KRSIE_HOOK_KERNEL_LOAD_DATA = 27,
  KRSIE_HOOK_KERNEL_MODULE_REQUEST = 28,
  KRSIE_HOOK_BPF = 29,
  KRSIE_HOOK_TASK_KILL = 30,
  KRSIE_HOOK_GENERIC_END = 31, /* hooks below have a generic program */
  /* Hooks only the LLVM backend compiles (field extraction in krsie_eval.bpf.h, no generic program). */
  KRSIE_HOOK_BPRM_CREDS_FOR_EXEC = 31,
  KRSIE_HOOK_FILE_MPROTECT = 32,
  KRSIE_HOOK_MMAP_FILE = 33,
  KRSIE_HOOK_VM_ENOUGH_MEMORY = 34, /* kernels refuse BPF-LSM programs on it: never compiled */
  KRSIE_HOOK_FILE_PERMISSION = 35,
  KRSIE_HOOK_FILE_IOCTL = 36,
  KRSIE_HOOK_INODE_CREATE = 37,
  KRSIE_HOOK_INODE_LINK = 38,
  KRSIE_HOOK_INODE_MKDIR = 39,
  KRSIE_HOOK_INODE_RENAME = 40,
  KRSIE_HOOK_INODE_RMDIR = 41,
  KRSIE_HOOK_INODE_SYMLINK = 42,
  KRSIE_HOOK_INODE_UNLINK = 43,
  KRSIE_HOOK_LOCKED_DOWN = 44,
  KRSIE_HOOK_SB_UMOUNT = 45,
  KRSIE_HOOK_SOCKET_POST_CREATE = 46,
  KRSIE_HOOK_SOCKET_RECVMSG = 47,
  KRSIE_HOOK_TASK_ALLOC = 48,
  KRSIE_HOOK_TASK_FREE = 49,
  KRSIE_HOOK_MAX = 50,
};

/* ---- generations ---------------------------------------------------------------------------
 *
 * The generic templates hold two generations of rules side by side so that krsie-load can replace
 * a policy atomically (docs/loader.md). krsie_config.generation (0 or 1) says which one is in
 * force; every program reads it ONCE at entry and uses it for every lookup:
 *   - krsie_rule_key.generation,
 *   - the krsie_hooks index: generation * KRSIE_HOOK_MAX + hook,
 *   - `table` ids of LPM, string and inode-set keys: KRSIE_TABLE_GEN_BIT set for generation 1,
 *   - krsie_target.generations: bit g set when the cgroup is a target in generation g.
 * Path automaton state ids need no marking: the loader places generation g's states at
 * g * (max_entries of krsie_dfa_states / 2) and its transition slots at
 * g * (max_entries of krsie_dfa_trans / 2); start states, `other` links, rows (`base`) and slots
 * (`check`, `next`) point into that generation's halves only. The compiler emits generation-0
 * records; the loader rewrites them. */
#define KRSIE_GENERATIONS 2
#define KRSIE_TABLE_GEN_BIT 0x80000000u

/* ---- generic backend: rule tables -------------------------------------------------------
 *
 * Each hook program computes the hook's fields into `v[]` (hook-specific fields at the index of
 * their position in the hook catalogue, common fields at KRSIE_F_COMMON + n), then evaluates the
 * hook's rules in order (first match wins) and falls back to the hook's posture. Set-valued
 * constraints (paths, addresses, strings) are precomputed into bit masks: the field value is the
 * mask of the sets it belongs to and the constraint tests one bit. */
#define KRSIE_MAX_RULES_PER_HOOK 256
#define KRSIE_MAX_CONSTRAINTS 6
#define KRSIE_MAX_RANGES 4
#define KRSIE_MAX_FIELDS 24
#define KRSIE_F_COMMON 16        /* uid, gid, euid, egid, pid, tgid, comm, exe */
#define KRSIE_F_IS_OWNER 14      /* pseudo-field of file hooks */
#define KRSIE_F_TARGET_CONFINED 15 /* pseudo-field of task_kill / ptrace */
#define KRSIE_MAX_PATH_DEPTH 64  /* components walked before failing closed */
#define KRSIE_RULE_PATH_TOO_DEEP 0xfffffffe /* rule id of fail-closed decisions */

enum krsie_constraint_kind {
  KRSIE_C_RANGES = 1,    /* value in one of ranges[0..nranges) */
  KRSIE_C_FLAGS_ALL = 2, /* (value & mask) == mask */
  KRSIE_C_FLAGS_ANY = 3, /* (value & mask) != 0 */
  KRSIE_C_BOOL = 4,      /* value == mask (0 or 1) */
  KRSIE_C_BIT = 5,       /* value (a set-membership mask) has bit `arg` */
};

struct krsie_range {
  __u64 lo;
  __u64 hi; /* inclusive */
};

struct krsie_constraint {
  __u8 field;   /* index into the field vector */
  __u8 kind;    /* enum krsie_constraint_kind */
  __u8 negated;
  __u8 nranges;
  __u32 arg;    /* bit index for KRSIE_C_BIT */
  __u64 mask;
  struct krsie_range ranges[KRSIE_MAX_RANGES];
};

/* Key of the rules map: hook id, position and rule generation. */
struct krsie_rule_key {
  __u32 hook;
  __u32 index;
  __u32 generation; /* 0 or 1 (see "Generations" below); the compiler emits 0 */
};

struct krsie_rule_entry {
  __u32 rule_id;
  __u8 decision;     /* enum krsie_decision (+ KRSIE_DECISION_KILL) */
  __u8 nconstraints;
  __u8 has_subject;  /* 1: applies only when the running binary is in subject set `subject_bit` */
  __u8 subject_bit;
  __s32 err;         /* errno on deny/kill, positive */
  __u32 pad;
  struct krsie_constraint c[KRSIE_MAX_CONSTRAINTS];
};

/* Per hook: how many rules, the posture, and which path automata feed its fields. */
struct krsie_hook_conf {
  __u32 nrules;
  __u8 posture;      /* decision when no rule matches */
  __u8 used;         /* the policy uses this hook */
  __u8 needs_exe;    /* some rule has a subject or tests `exe` */
  __u8 pad;
  __u32 dfa[3];      /* start state of the automaton for path fields 0/1/2 of this hook (~0: none) */
  __u32 exe_dfa;     /* start state of the automaton for the subject/exe sets (~0: none) */
  __u8 common;       /* bit i: some rule tests common field KRSIE_F_COMMON + i; the others are not
                        computed (the LLVM backend's tables: 0xff, every one) */
  /* Prefilter: a condition on field guard_field that every rule entry of the hook implies; when
   * it fails no entry can match, and the posture decides without the rule loop. */
  __u8 guard_kind;   /* enum krsie_guard_kind */
  __u8 guard_field;
  __u8 pad2;
  __u32 sets;        /* bit f: some rule tests a string or address set of field f; the others'
                        set masks are 0 without a lookup (no entry of krsie_strings / krsie_lpm*
                        can carry their table id) */
  __u64 guard_lo;    /* BITS: the union of the bits; RANGE: the lowest bound */
  __u64 guard_hi;    /* RANGE: the highest bound */
};

enum krsie_guard_kind {
  KRSIE_GUARD_NONE = 0,  /* run the rule loop */
  KRSIE_GUARD_BITS = 1,  /* every entry needs one of the set bits guard_lo (a non-negated BIT
                            constraint, or its subject when guard_field is exe) */
  KRSIE_GUARD_RANGE = 2, /* every entry needs the value in one of its ranges, all within
                            [guard_lo, guard_hi] (a non-negated RANGES constraint) */
};

/* Path automata (reverse DFA over path bytes, leaf first), all DFAs share one state space.
 * Transitions are a row-displaced ("comb") table: state s's explicit edge on byte b sits at slot
 * base(s) + b of krsie_dfa_trans, a slot whose `check` is s + 1 (0: free slot); every other byte
 * follows `other`. A step is two array reads and a compare, whatever the number of rules. The
 * compiler packs the rows of all automata of a policy into one table (first fit); the loader
 * places generation g's slots at g * (max_entries of krsie_dfa_trans / 2) and zeroes a half
 * before reusing it. */
struct krsie_dfa_state {
  __u32 other;  /* next state for a byte without an explicit edge (~0: dead) */
  __u32 base;   /* slot of byte 0 of this state's row in krsie_dfa_trans */
  __u64 accept; /* bit i: a path ending here is in set i */
};
struct krsie_dfa_trans {
  __u32 check;  /* owning state + 1; 0: free */
  __u32 next;   /* next state (~0: dead) */
};
#define KRSIE_DFA_DEAD 0xffffffffu

/* Address sets: LPM trie keys (prefixlen counts the 32 bits of `table`), value = set mask. */
struct krsie_lpm4_key {
  __u32 prefixlen;
  __u32 table;  /* hook id << 8 | field */
  __u8 addr[4];
};
struct krsie_lpm6_key {
  __u32 prefixlen;
  __u32 table;
  __u8 addr[16];
};

/* Inode identities of exact paths (resolved by the loader): a file reached through another name
 * (a hard link made before the policy, a bind mount) still carries the path sets of its exact
 * rules. Value = set mask, ORed into the path field's mask. */
struct krsie_inode_set_key {
  __u64 dev;    /* kernel s_dev encoding */
  __u64 ino;
  __u32 table;  /* hook id << 8 | field */
  __u32 pad;
};

/* String sets (comm, fs_type, module names): exact match, value = set mask. */
#define KRSIE_MAX_STRING 64
struct krsie_string_key {
  __u32 table;  /* hook id << 8 | field */
  char s[KRSIE_MAX_STRING];
};

/* Value of the targets map, keyed by cgroup v2 id (__u64). */
struct krsie_target {
  __u32 policy_slot; /* which policy of the object confines this cgroup */
  __u32 generations; /* generic templates: bit g set = a target in generation g; the file
                        template ignores it (any entry is a target) */
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

/* Per-object configuration, array map with one element. Updates change one aligned word at a
 * time (krsie-load keeps the other words as they are), so a program never sees a torn value. */
struct krsie_config {
  __u32 enforce;        /* bit g: generation g enforces (deny rules deny); clear: audit mode,
                           deny rules only report. krsie-load keeps both bits equal outside a
                           replacement; 0 = audit, 3 = enforce */
  __u32 events_per_sec; /* per-CPU event budget; excess events are counted as dropped */
  __u32 generation;     /* 0 or 1: the rule generation in force */
  __u32 target_levels;  /* cgroup levels (root = 0) of every target in krsie_targets, any
                           generation: KRSIE_LEVELS_KNOWN | deepest << 8 | shallowest. The
                           target check then looks only at the caller's ancestors at those
                           levels. 0 (what the compiler writes, or a loader that cannot tell
                           levels): walk every ancestor level, as before */
  __u32 target_filter;  /* KRSIE_FILTER_KNOWN: every key of krsie_targets (any generation) is
                           one of target_ids, so an id that is none of them is no target and
                           needs no hash lookup. 0 (what the compiler writes, or more targets
                           than slots): look every candidate id up */
  __u32 table_epoch;    /* changed by krsie-load before it changes any generation's tables (the
                           purge and rewrite of a replacement): path masks remembered under
                           another epoch are stale (krsie_path_memo, krsie_eval.bpf.h). A Gray
                           code: one bit, so one byte, changes per replacement, and a read torn
                           by the update's byte copy sees the old or the new value */
  __u64 target_ids[KRSIE_FILTER_IDS]; /* 0: empty slot. The loader never rewrites the slot of
                           an id that stays a target (see docs/loader.md) */
  __u8 target_gens[KRSIE_FILTER_IDS]; /* krsie_target.generations of the id in the same slot
                           (ABI 6): with KRSIE_FILTER_KNOWN a confined caller's generations are
                           read here, without the hash lookup */
  __u32 pad;
};
#define KRSIE_LEVELS_KNOWN 0x80000000u
#define KRSIE_FILTER_KNOWN 1u

/* Per-CPU counters and the event rate limiter's state. */
struct krsie_stats {
  __u64 decisions[4];    /* by enum krsie_decision */
  __u64 events;
  __u64 events_dropped;  /* rate-limited or ring buffer full */
  __u64 window_start_ns;
  __u64 window_events;
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
  /* Object detail (generic templates): the values of the hook's first fields and, for file
   * hooks, the leaf name of the path. */
  __u64 fields[4];
  char name[64];
  __u8 enforced;  /* 1: the decision was applied; 0: audit mode reported it only */
  __u8 generation; /* rule generation that decided (selects the policy metadata of rule_id) */
  __u16 family;   /* socket hooks with an object address: AF_INET or AF_INET6, else 0 */
  __u16 port;     /* object port, host byte order */
  __u16 pad2;
  __u8 addr[16];  /* object address, network byte order (IPv4: the first 4 bytes) */
};

/* One remembered walk of struct krsie_path_memo. */
struct krsie_memo_entry {
  __u32 lock;      /* even: stable; odd: a writer fills the entry (taken with compare-and-swap) */
  __u32 seen;      /* krsie_path_memo.forgets read before the remembered walk */
  __u32 epoch;     /* krsie_config.table_epoch of the remembered walk */
  __u32 key;       /* generation << 31 | automaton start state */
  __u64 seqs;      /* rename_lock << 32 | mount_lock sequences of the remembered walk */
  __u64 dentry;    /* the walked (dentry, mount) */
  __u64 mnt;
  __u64 mask;      /* the walk's set mask */
  __u32 table;     /* krsie_inodes table whose sets `mask` includes (~0: none) */
  __u32 stamp;     /* bpf_ktime_get_ns() >> 30 when remembered: entries older than
                      KRSIE_MEMO_MAX_AGE units (~8.6 s) are not reused, so the 32-bit sequences
                      cannot wrap back to a remembered value in time */
  char leaf[64];   /* the leaf name the walk left for events */
};
#define KRSIE_MEMO_MAX_AGE 8
#define KRSIE_MEMO_FILE_OPEN 0 /* krsie_path_memo.slot[]: file_open's walk */
#define KRSIE_MEMO_EXEC 1      /* bprm_check_security's: an executed file is also opened, by
                                  another automaton; one slot each, or they would evict each other */

/* Value of krsie_path_memo (inode storage): the walks remembered for an inode (see
 * file_mask_memo in krsie_eval.bpf.h). Userspace reads it only in tests (key: an fd of the file). */
struct krsie_path_memo {
  __u32 forgets;   /* instantiations of a dentry for this inode (krsie_d_instantiate) */
  __u32 pad;
  struct krsie_memo_entry slot[2];
};

/* The per-CPU scratch of one program run (map krsie_scratch): the field vector and buffers too
 * large for the 512-byte stack. Written by the field extraction shared by both backends
 * (krsie_eval.bpf.h); the LLVM backend's generated rules read v[] and present. */
struct krsie_eval {
  __u64 v[KRSIE_MAX_FIELDS];
  __u32 present;       /* bit f: field f has a value (absent fields fail every constraint) */
  __u32 hook;
  __u32 gen;           /* rule generation read at entry: every lookup of this run uses it */
  __u32 table_gen;     /* KRSIE_TABLE_GEN_BIT when gen is 1 */
  __u8 path_too_deep;  /* a path walk gave up: decide fail-closed */
  __u8 walk_failed;    /* the last path walk could not read the kernel's dentries: not remembered */
  __u16 family;        /* object address of socket hooks (reported in events) */
  __u16 port;
  __u16 pad1;
  __u8 addr[16];
  struct krsie_inode_key inode;
  char leaf[64];
  char name[256];      /* component being fed to the automaton */
  struct krsie_string_key skey;
  /* rule evaluation state (bpf_loop callback context) */
  __u32 rule_id;
  __u8 decision;
  __u8 matched;
  __u16 pad2;
  __s32 err;
  __u32 sets;          /* krsie_hook_conf.sets of this run's hook */
  __u32 table_epoch;   /* krsie_config.table_epoch read at entry */
  __u32 memo_forgets;  /* path memo (krsie_eval.bpf.h): what a walk to remember began with, kept */
  __u64 memo_seqs;     /* here, not on the stack, so every path into the walk looks alike */
  __u64 run_seq;       /* incremented by every run that takes this scratch (eval_begin): a run
                          preempted by another on its CPU sees it change and remembers nothing */
};

#endif /* KRSIE_ABI_H */

/* SPDX-License-Identifier: GPL-2.0 */
/* The generic backend's evaluation machinery, shared by the precompiled templates
 * (generic.bpf.c) and the LLVM backend's runtime library (llvm_runtime.bpf.c), so that both
 * backends read every field the same way: the maps of the rule tables and set automata, the
 * per-CPU field vector (struct krsie_eval, krsie_abi.h), field extraction per hook
 * (krsie_fields_<hook>), the map-driven rule loop and the decision (events, counters, errno).
 * BPF C only; included after vmlinux.h and the libbpf headers. See docs/generic-backend.md. */
#ifndef KRSIE_EVAL_BPF_H
#define KRSIE_EVAL_BPF_H

#include "krsie_abi.h"
#include "krsie_common.bpf.h"

#define AF_INET 2
#define AF_INET6 10
#define SIGKILL 9

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1);  /* sized by the loader */
  __type(key, struct krsie_rule_key);
  __type(value, struct krsie_rule_entry);
} krsie_rules SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, KRSIE_GENERATIONS * KRSIE_HOOK_MAX);  /* generation * KRSIE_HOOK_MAX + hook */
  __type(key, __u32);
  __type(value, struct krsie_hook_conf);
} krsie_hooks SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);  /* sized by the loader */
  __uint(map_flags, BPF_F_MMAPABLE);  /* the loader writes a generation's half as memory */
  __type(key, __u32);
  __type(value, struct krsie_dfa_trans);
} krsie_dfa_trans SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);  /* sized by the loader */
  __uint(map_flags, BPF_F_MMAPABLE);  /* the loader writes a generation's half as memory */
  __type(key, __u32);
  __type(value, struct krsie_dfa_state);
} krsie_dfa_states SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LPM_TRIE);
  __uint(max_entries, 1);  /* sized by the loader */
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, struct krsie_lpm4_key);
  __type(value, __u64);
} krsie_lpm4 SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LPM_TRIE);
  __uint(max_entries, 1);  /* sized by the loader */
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, struct krsie_lpm6_key);
  __type(value, __u64);
} krsie_lpm6 SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1);  /* sized by the loader */
  __type(key, struct krsie_string_key);
  __type(value, __u64);
} krsie_strings SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1);  /* sized by the loader */
  __type(key, struct krsie_inode_set_key);
  __type(value, __u64);
} krsie_inodes SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct krsie_stats);
} krsie_stats SEC(".maps");


struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct krsie_eval);
} krsie_scratch SEC(".maps");

/* ---- helpers ------------------------------------------------------------------------------- */

static __always_inline struct krsie_eval *eval_begin(__u32 hook, __u32 gen)
{
  __u32 zero = 0;
  struct krsie_eval *e = bpf_map_lookup_elem(&krsie_scratch, &zero);
  if (!e)
    return 0;
  e->present = 0;
  e->hook = hook;
  e->gen = gen & 1;
  e->table_gen = (gen & 1) ? KRSIE_TABLE_GEN_BIT : 0;
  e->family = 0;
  e->port = 0;
  e->run_seq++;
  e->path_too_deep = 0;
  e->walk_failed = 0;
  e->inode.dev = 0;
  e->inode.ino = 0;
  e->leaf[0] = 0;
  e->matched = 0;
  return e;
}

static __always_inline void set_field(struct krsie_eval *e, __u32 f, __u64 value)
{
  if (f < KRSIE_MAX_FIELDS) {
    e->v[f] = value;
    e->present |= 1u << f;
  }
}

static __always_inline const struct krsie_hook_conf *hook_conf(__u32 gen, __u32 hook)
{
  __u32 index = (gen & 1) * KRSIE_HOOK_MAX + hook;
  return bpf_map_lookup_elem(&krsie_hooks, &index);
}

/* `table` id of (hook, field) in the LPM, string and inode-set maps, for this run's generation. */
static __always_inline __u32 table_id(const struct krsie_eval *e, __u32 f)
{
  return ((e->hook << 8) | f) | e->table_gen;
}

/* One automaton step (two array reads, both inlined by the verifier); KRSIE_DFA_DEAD stays
 * dead. A slot beyond the table or owned by another state means "no explicit edge". */
static __always_inline __u32 dfa_step(__u32 state, __u8 byte)
{
  if (state == KRSIE_DFA_DEAD)
    return state;
  struct krsie_dfa_state *st = bpf_map_lookup_elem(&krsie_dfa_states, &state);
  if (!st)
    return KRSIE_DFA_DEAD;
  __u32 slot = st->base + byte;
  struct krsie_dfa_trans *t = bpf_map_lookup_elem(&krsie_dfa_trans, &slot);
  if (t && t->check == state + 1)
    return t->next;
  return st->other;
}

struct walk_ctx {
  struct dentry *d;
  struct vfsmount *mnt;
  struct dentry *mnt_root;  /* mnt->mnt_root, read once per mount */
  __u32 state;
  __u32 fed;      /* components fed so far */
  __u8 done;
  __u8 leaf_set;
  struct krsie_eval *e;
};

/* d_parent and d_name are neighbours in struct dentry (in every kernel with BPF-LSM; CO-RE
 * checks it at load time): one read gives the parent and the name. */
struct krsie_dentry_head {
  struct dentry *parent;
  __u32 hash;
  __u32 len;
  const unsigned char *name;
};

static __always_inline int read_dentry_head(struct dentry *d, struct krsie_dentry_head *h)
{
  __u32 off_parent = bpf_core_field_offset(struct dentry, d_parent);
  if (bpf_core_field_offset(struct dentry, d_name) == off_parent + 8)
    return bpf_probe_read_kernel(h, sizeof(*h), (char *)d + off_parent);
  h->parent = BPF_CORE_READ(d, d_parent);
  struct qstr name = BPF_CORE_READ(d, d_name);
  h->len = name.len;
  h->name = name.name;
  return 0;
}

/* One step of the walk from a dentry to the root, crossing mount points upward like d_path():
 * feeds the component's bytes last to first, then '/'. Returns 1 to stop. */
static long walk_component(__u32 index, struct walk_ctx *w)
{
  struct dentry *d = w->d;
  struct vfsmount *mnt = w->mnt;
  if (!d || !w->e) {
    w->done = 1;
    return 1;
  }
  struct krsie_dentry_head h;
  if (read_dentry_head(d, &h) < 0) {
    w->state = KRSIE_DFA_DEAD;
    w->e->walk_failed = 1;
    return 1;
  }
  if (!mnt) {
    /* No mount (the inode_* hooks): the path within the dentry's filesystem, up to its root. */
    if (d == h.parent) {
      w->done = 1;
      return 1;
    }
  } else if (d == h.parent || d == w->mnt_root) {
    struct mount *m = container_of(mnt, struct mount, mnt);
    struct mount *up = BPF_CORE_READ(m, mnt_parent);
    if (d != w->mnt_root || up == m || !up) {
      w->done = 1;  /* the root of the mount tree (or a disconnected dentry) */
      return 1;
    }
    w->d = BPF_CORE_READ(m, mnt_mountpoint);
    w->mnt = &up->mnt;
    w->mnt_root = BPF_CORE_READ(up, mnt.mnt_root);
    return 0;
  }
  __u32 len = h.len;
  if (len > 255)
    len = 255;
  /* An opaque mask keeps the bound visible to the verifier (clang would drop a plain `& 255`). */
  asm volatile("%0 &= 255" : "+r"(len));
  char *buf = w->e->name;
  if (bpf_probe_read_kernel(buf, len, h.name) < 0) {
    w->state = KRSIE_DFA_DEAD;
    w->e->walk_failed = 1;
    return 1;
  }
  if (!w->leaf_set) {
    bpf_probe_read_kernel_str(w->e->leaf, sizeof(w->e->leaf), h.name);
    w->leaf_set = 1;
  }
  __u32 state = w->state;
  for (__u32 i = 0; i < 255; i++) {
    if (i >= len)
      break;
    state = dfa_step(state, buf[(len - 1 - i) & 255]);
    if (state == KRSIE_DFA_DEAD)
      break;
  }
  state = dfa_step(state, '/');
  w->state = state;
  w->fed++;
  if (state == KRSIE_DFA_DEAD)
    return 1;  /* no pattern can match any more: stop early */
  w->d = h.parent;
  return 0;
}

/* Set mask of the path (dentry, mnt) in the automaton starting at `start`. Marks the
 * evaluation fail-closed when the path is deeper than KRSIE_MAX_PATH_DEPTH components. */
static __always_inline __u64 path_mask(struct krsie_eval *e, struct dentry *d, struct vfsmount *mnt, __u32 start)
{
  if (start == KRSIE_DFA_DEAD)
    return 0;
  struct walk_ctx w = {.d = d, .mnt = mnt, .mnt_root = mnt ? BPF_CORE_READ(mnt, mnt_root) : 0, .state = start, .e = e};
  bpf_loop(KRSIE_MAX_PATH_DEPTH * 2, walk_component, &w, 0);
  if (w.state == KRSIE_DFA_DEAD)
    return 0;
  if (!w.done) {
    e->path_too_deep = 1;
    return 0;
  }
  if (w.fed == 0)
    w.state = dfa_step(w.state, '/');  /* the root directory itself: "/" */
  __u32 s = w.state;
  struct krsie_dfa_state *st = bpf_map_lookup_elem(&krsie_dfa_states, &s);
  return st ? st->accept : 0;
}

/* ---- path memo ------------------------------------------------------------------------------
 * A path mask depends only on the path's bytes and the generation's automaton. The path of
 * (dentry, mount) changes only when a dentry moves (d_move, under the kernel's rename_lock
 * seqlock), when the mount tree changes (under mount_lock), or when the dentry's memory is reused
 * for another name, which means a new dentry for the inode (security_d_instantiate, which
 * krsie_d_instantiate counts in the inode's memo). So the mask of a walk is remembered in the
 * walked inode's storage with everything it depends on, and a later walk of the same (dentry,
 * mount) reuses it while the two seqlocks, the inode's instantiation count, the policy's table
 * epoch (krsie_config.table_epoch, bumped before any generation's tables change) and the
 * automaton start are unchanged. A walk is remembered only if both seqlocks were even and
 * unchanged across it and it read every dentry. Kernels whose kallsyms do not list the two
 * seqlocks (no CONFIG_KALLSYMS_ALL) leave the weak ksyms at 0: nothing is remembered. See
 * docs/generic-backend.md, "Path memo". */
extern const void rename_lock __ksym __weak;
extern const void mount_lock __ksym __weak;

struct {
  __uint(type, BPF_MAP_TYPE_INODE_STORAGE);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, int);
  __type(value, struct krsie_path_memo);
} krsie_path_memo SEC(".maps");

/* Both namespace seqlocks' sequences, false while either is being written or when they are
 * unknown. */
static __always_inline bool namespace_seqs(__u64 *out)
{
  __u32 r = 1, m = 1;
  if (!&rename_lock || !&mount_lock)
    return false;
  if (bpf_probe_read_kernel(&r, sizeof(r), &rename_lock) < 0 || bpf_probe_read_kernel(&m, sizeof(m), &mount_lock) < 0)
    return false;
  if ((r | m) & 1)
    return false;
  *out = ((__u64)r << 32) | m;
  return true;
}

/* The exact-path inode sets of `table` for the inode (dev, ino): the same file under another name
 * (hard link, bind mount) keeps its exact rules' sets. */
static __always_inline __u64 inode_set_mask(__u64 dev, __u64 ino, __u32 table)
{
  struct krsie_inode_set_key k = {.dev = dev, .ino = ino, .table = table};
  __u64 *extra = bpf_map_lookup_elem(&krsie_inodes, &k);
  return extra ? *extra : 0;
}

/* inode_set_mask() of `inode`, a BTF pointer (direct loads; table ~0: none). */
static __always_inline __u64 inode_sets(struct inode *inode, __u32 table)
{
  if (!inode || table == 0xffffffff)
    return 0;
  return inode_set_mask(inode->i_sb->s_dev, inode->i_ino, table);
}

/* No rule tests the path of `d`: no walk, but events still name the object by its leaf (unless
 * an earlier path of the run named it). */
static __always_inline void unwalked_leaf(struct krsie_eval *e, struct dentry *d)
{
  if (!e->leaf[0]) {
    struct qstr name = BPF_CORE_READ(d, d_name);
    bpf_probe_read_kernel_str(e->leaf, sizeof(e->leaf), name.name);
  }
}

/* Admission to the memo: an inode's storage (two allocations, ~4,000 instructions) is made at its
 * second walk on a CPU, not its first, so a workload that opens each file once (untar, a build
 * writing its outputs) does not pay for memos it never reads. One slot per hash of the inode's
 * identity (device, number), shared by the CPUs (written on walks only, never on a hit): a slot
 * holding it means a walk of it came before (a collision or a race only admits early or late: a
 * memo more or fewer, never a wrong one). */
#define KRSIE_MEMO_DOOR_SLOTS 256
struct krsie_memo_door {
  __u64 seen[KRSIE_MEMO_DOOR_SLOTS];
};

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct krsie_memo_door);
} krsie_memo_door SEC(".maps");

static __always_inline bool memo_admit(struct inode *inode)
{
  __u32 zero = 0;
  struct krsie_memo_door *door = bpf_map_lookup_elem(&krsie_memo_door, &zero);
  if (!door)
    return false;
  __u64 id = (__u64)inode->i_ino ^ ((__u64)inode->i_sb->s_dev << 40);
  __u32 slot = (__u32)((id * 0x9E3779B97F4A7C15ull) >> 56) & (KRSIE_MEMO_DOOR_SLOTS - 1);
  if (door->seen[slot] == id)
    return true;
  door->seen[slot] = id;
  return false;
}

/* The walk of file_mask_memo, and remembering it when e->memo_seqs says what it began with (0:
 * nothing to remember). Only `file` and scalars come in: pointers are read again here. */
static __always_inline __u64 file_mask_walk(struct krsie_eval *e, struct file *file, __u32 start, __u32 table,
                                            __u32 key, __u32 slot, __u64 run)
{
  /* Fully ordered: the walk's reads come after the seqlocks (and `forgets`) were read. */
  __sync_fetch_and_add(&e->memo_forgets, 0);
  e->walk_failed = 0;
  __u64 mask = path_mask(e, BPF_CORE_READ(file, f_path.dentry), BPF_CORE_READ(file, f_path.mnt), start);
  struct dentry *d = file->f_path.dentry;
  struct vfsmount *mnt = file->f_path.mnt;
  struct inode *inode = d ? d->d_inode : 0;
  mask |= inode_sets(inode, table);
  __u64 seqs = e->memo_seqs, again = 0;
  if (!seqs || !inode || e->walk_failed || e->path_too_deep)
    return mask;
  __sync_fetch_and_add(&e->memo_forgets, 0);  /* the seqlocks are read again after the walk's reads */
  if (!namespace_seqs(&again) || again != seqs)
    return mask;  /* a rename or a mount change during the walk */
  struct krsie_path_memo *memo = bpf_inode_storage_get(&krsie_path_memo, inode, 0, 0);
  if (!memo && memo_admit(inode))
    memo = bpf_inode_storage_get(&krsie_path_memo, inode, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
  if (!memo || e->run_seq != run)
    return mask;  /* no storage, or another run took this CPU's scratch during the walk */
  struct krsie_memo_entry *m = &memo->slot[slot & 1];
  __u32 lock = *(volatile __u32 *)&m->lock;
  if ((lock & 1) || __sync_val_compare_and_swap(&m->lock, lock, lock + 1) != lock)
    return mask;  /* another CPU fills it */
  m->seen = e->memo_forgets;
  m->epoch = e->table_epoch;
  m->seqs = seqs;
  m->dentry = (__u64)d;
  m->mnt = (__u64)mnt;
  m->mask = mask;
  m->key = key;
  m->table = table;
  m->stamp = bpf_ktime_get_ns() >> 30;
  __builtin_memcpy(m->leaf, e->leaf, sizeof(m->leaf));
  __sync_fetch_and_add(&m->lock, 1);
  return mask;
}

/* The set mask of the path of `file` (a BTF pointer) in the automaton starting at `start`, with
 * the exact-path inode sets of `table` (~0: none) added: path_mask() | inode_sets(), remembered in
 * the storage of the path's inode. */
static __always_inline __u64 file_mask_memo(struct krsie_eval *e, struct file *file, __u32 start, __u32 table,
                                            __u32 slot)
{
  /* Direct loads through BTF pointers: compared with the memo; the walk reads its own copies. */
  struct dentry *d = file->f_path.dentry;
  struct vfsmount *mnt = file->f_path.mnt;
  struct inode *inode = d ? d->d_inode : 0;
  __u32 key = (e->gen << 31) | (start & 0x7fffffff);
  __u64 run = e->run_seq;
  /* What the walk began with is kept in the scratch vector: every path into the walk then looks
   * alike to the verifier, which checks the walk (a bpf_loop callback) and the rest of the
   * program once instead of once per path (3x the verification otherwise). */
  e->memo_seqs = 0;
  e->memo_forgets = 0;
  if (inode && start != KRSIE_DFA_DEAD && namespace_seqs(&e->memo_seqs)) {
    /* Found, not created: the storage of an inode is made after its second walk (below). */
    struct krsie_path_memo *memo = bpf_inode_storage_get(&krsie_path_memo, inode, 0, 0);
    if (memo) {
      struct krsie_memo_entry *m = &memo->slot[slot & 1];
      /* Fully ordered atomics (fetch-and-add of 0) around the reads of an entry: a seqlock
       * reader on any CPU architecture, without a read barrier instruction in BPF. */
      __u32 lock = __sync_fetch_and_add(&m->lock, 0);
      if (!(lock & 1) && m->seen == *(volatile __u32 *)&memo->forgets && m->seqs == e->memo_seqs &&
          m->epoch == e->table_epoch && m->key == key && m->table == table && m->dentry == (__u64)d &&
          m->mnt == (__u64)mnt && (__u32)(bpf_ktime_get_ns() >> 30) - m->stamp < KRSIE_MEMO_MAX_AGE &&
          e->run_seq == run) {
        __u64 mask = m->mask;
        __builtin_memcpy(e->leaf, m->leaf, sizeof(e->leaf));
        if (__sync_fetch_and_add(&m->lock, 0) == lock)  /* unchanged: no writer came in between */
          return mask;
        e->leaf[0] = 0;  /* torn by a writer: the walk below names the leaf */
      }
      e->memo_forgets = *(volatile __u32 *)&memo->forgets;
    }
  }
  return file_mask_walk(e, file, start, table, key, slot, run);
}

/* krsie_d_instantiate: a new dentry for `inode` (a new name, or a dentry's memory reused):
 * what its memo remembers no longer counts. */
static __always_inline void path_memo_forget(struct inode *inode)
{
  if (!inode)
    return;
  struct krsie_path_memo *m = bpf_inode_storage_get(&krsie_path_memo, inode, 0, 0);
  if (m)
    __sync_fetch_and_add(&m->forgets, 1);
}

static __always_inline void path_field(struct krsie_eval *e, __u32 f, __u32 which, struct dentry *d,
                                       struct vfsmount *mnt, const struct krsie_hook_conf *conf)
{
  if (!conf || which >= 3 || !d)
    return;
  if (conf->dfa[which & 3] == KRSIE_DFA_DEAD) {
    if (which == 0)
      unwalked_leaf(e, d);
    return;
  }
  __u64 mask = path_mask(e, d, mnt, conf->dfa[which & 3]);
  struct inode *inode = BPF_CORE_READ(d, d_inode);
  if (inode)
    mask |= inode_set_mask(BPF_CORE_READ(inode, i_sb, s_dev), BPF_CORE_READ(inode, i_ino), table_id(e, f));
  set_field(e, f, mask);
}

/* path_field() of the path of `file` (a BTF pointer) as the hook's path 0, remembered in its
 * inode (file_mask_memo). */
static __always_inline void file_path_field(struct krsie_eval *e, __u32 f, struct file *file,
                                            const struct krsie_hook_conf *conf, __u32 slot)
{
  struct dentry *d = file ? file->f_path.dentry : 0;
  if (!conf || !d)
    return;
  if (conf->dfa[0] == KRSIE_DFA_DEAD) {
    unwalked_leaf(e, d);
    return;
  }
  set_field(e, f, file_mask_memo(e, file, conf->dfa[0], table_id(e, f), slot));
}

/* Whether some rule tests a set of field f (else its set mask is 0: no lookup). */
static __always_inline bool set_tested(const struct krsie_eval *e, __u32 f)
{
  return f >= 32 || ((e->sets >> f) & 1);
}

static __always_inline void string_field(struct krsie_eval *e, __u32 f, const char *s)
{
  if (!set_tested(e, f)) {
    if (s)
      set_field(e, f, 0);
    return;
  }
  __builtin_memset(&e->skey, 0, sizeof(e->skey));
  e->skey.table = table_id(e, f);
  if (!s || bpf_probe_read_kernel_str(e->skey.s, sizeof(e->skey.s), s) < 0)
    return;
  __u64 *mask = bpf_map_lookup_elem(&krsie_strings, &e->skey);
  set_field(e, f, mask ? *mask : 0);
}

static __always_inline void addr4_field(struct krsie_eval *e, __u32 f, __u32 addr_be)
{
  if (!set_tested(e, f)) {
    set_field(e, f, 0);
    return;
  }
  struct krsie_lpm4_key k = {.prefixlen = 64, .table = table_id(e, f)};
  __builtin_memcpy(k.addr, &addr_be, 4);
  __u64 *mask = bpf_map_lookup_elem(&krsie_lpm4, &k);
  set_field(e, f, mask ? *mask : 0);
}

static __always_inline void addr6_field(struct krsie_eval *e, __u32 f, const __u8 *addr)
{
  if (!set_tested(e, f)) {
    set_field(e, f, 0);
    return;
  }
  struct krsie_lpm6_key k = {.prefixlen = 32 + 128, .table = table_id(e, f)};
  __builtin_memcpy(k.addr, addr, 16);
  __u64 *mask = bpf_map_lookup_elem(&krsie_lpm6, &k);
  set_field(e, f, mask ? *mask : 0);
}

/* family, address, port of a sockaddr into fields f_family, f_addr, f_port. */
static __always_inline void sockaddr_fields(struct krsie_eval *e, struct sockaddr *sa, __u32 f_family,
                                            __u32 f_addr, __u32 f_port)
{
  if (!sa)
    return;
  __u16 family = 0;
  bpf_probe_read_kernel(&family, sizeof(family), &sa->sa_family);
  if (f_family < KRSIE_MAX_FIELDS)
    set_field(e, f_family, family);
  if (family == AF_INET) {
    struct sockaddr_in in = {};
    bpf_probe_read_kernel(&in, sizeof(in), sa);
    set_field(e, f_port, bpf_ntohs(in.sin_port));
    addr4_field(e, f_addr, in.sin_addr.s_addr);
    e->family = AF_INET;
    e->port = bpf_ntohs(in.sin_port);
    __builtin_memset(e->addr, 0, sizeof(e->addr));
    __builtin_memcpy(e->addr, &in.sin_addr.s_addr, 4);
  } else if (family == AF_INET6) {
    struct sockaddr_in6 in6 = {};
    bpf_probe_read_kernel(&in6, sizeof(in6), sa);
    set_field(e, f_port, bpf_ntohs(in6.sin6_port));
    addr6_field(e, f_addr, (const __u8 *)&in6.sin6_addr);
    e->family = AF_INET6;
    e->port = bpf_ntohs(in6.sin6_port);
    __builtin_memcpy(e->addr, &in6.sin6_addr, 16);
  }
}

/* family, type, protocol, local port of a socket into fields 0..3 (catalogue order). */
static __always_inline void socket_fields(struct krsie_eval *e, struct socket *sock)
{
  struct sock *sk = BPF_CORE_READ(sock, sk);
  set_field(e, 0, BPF_CORE_READ(sk, __sk_common.skc_family));
  set_field(e, 1, (__u64)(__s64)BPF_CORE_READ(sock, type));
  set_field(e, 2, BPF_CORE_READ(sk, sk_protocol));
  set_field(e, 3, BPF_CORE_READ(sk, __sk_common.skc_num));
}

/* The common fields in `need` (bit i: field KRSIE_F_COMMON + i; the generic programs pass
 * conf->common, the fields some rule of the hook tests, the LLVM backend's glue 0xff). The exe
 * walk runs when a rule has a subject or tests `exe`. */
static __always_inline void common_fields(struct krsie_eval *e, const struct krsie_hook_conf *conf, __u32 need)
{
  if (need & 0x03) {
    __u64 ugid = bpf_get_current_uid_gid();
    set_field(e, KRSIE_F_COMMON + 0, (__u32)ugid);
    set_field(e, KRSIE_F_COMMON + 1, ugid >> 32);
  }
  if (need & 0x0c) {
    struct task_struct *task = (struct task_struct *)bpf_get_current_task();
    const struct cred *cred = BPF_CORE_READ(task, real_cred);
    set_field(e, KRSIE_F_COMMON + 2, BPF_CORE_READ(cred, euid.val));
    set_field(e, KRSIE_F_COMMON + 3, BPF_CORE_READ(cred, egid.val));
  }
  if (need & 0x30) {
    __u64 pid_tgid = bpf_get_current_pid_tgid();
    set_field(e, KRSIE_F_COMMON + 4, (__u32)pid_tgid);
    set_field(e, KRSIE_F_COMMON + 5, pid_tgid >> 32);
  }
  if (need & 0x40) {
    char comm[16];
    bpf_get_current_comm(comm, sizeof(comm));
    string_field(e, KRSIE_F_COMMON + 6, comm);
  }
  if (conf && conf->needs_exe && conf->exe_dfa != KRSIE_DFA_DEAD) {
    /* Not remembered: in every program, the memo's paths into the walks that follow would
     * double the verification of the whole program (3x for a hook with two path walks). */
    struct task_struct *task = (struct task_struct *)bpf_get_current_task();
    struct file *exe = BPF_CORE_READ(task, mm, exe_file);
    if (exe)
      set_field(e, KRSIE_F_COMMON + 7,
                path_mask(e, BPF_CORE_READ(exe, f_path.dentry), BPF_CORE_READ(exe, f_path.mnt), conf->exe_dfa));
    e->leaf[0] = 0;  /* the leaf name reported is the object's, not the binary's */
  }
}

/* Whether `task` is confined by this object's targets (its cgroup or an ancestor is a target).
 * The walk follows the cgroup's css parent chain (`self` is the first member of struct cgroup,
 * so the parent css is the parent cgroup), which is stable across kernel versions. */
static __always_inline bool task_confined(struct task_struct *task, __u32 gen)
{
  struct cgroup *cgrp = BPF_CORE_READ(task, cgroups, dfl_cgrp);
  for (int i = 0; i < KRSIE_MAX_CGROUP_DEPTH && cgrp; i++) {
    __u64 id = BPF_CORE_READ(cgrp, kn, id);
    if (krsie_target_in(bpf_map_lookup_elem(&krsie_targets, &id), gen, false))
      return true;
    cgrp = (struct cgroup *)BPF_CORE_READ(cgrp, self.parent);
  }
  return false;
}

static __always_inline void inode_info(struct krsie_eval *e, struct inode *inode, __u32 f_owner)
{
  if (!inode)
    return;
  e->inode.dev = BPF_CORE_READ(inode, i_sb, s_dev);
  e->inode.ino = BPF_CORE_READ(inode, i_ino);
  struct task_struct *task = (struct task_struct *)bpf_get_current_task();
  __u32 fsuid = BPF_CORE_READ(task, cred, fsuid.val);
  set_field(e, f_owner, BPF_CORE_READ(inode, i_uid.val) == fsuid);
}

/* ---- rule evaluation ---------------------------------------------------------------------- */

static __always_inline bool constraint_holds(const struct krsie_eval *e, const struct krsie_constraint *c)
{
  __u32 f = c->field;
  if (f >= KRSIE_MAX_FIELDS || !(e->present & (1u << f)))
    return false;  /* absent fields (no address on a unix socket, ...) satisfy nothing */
  __u64 v = e->v[f];  /* f < KRSIE_MAX_FIELDS was checked above */
  bool hit = false;
  switch (c->kind) {
  case KRSIE_C_RANGES:
    for (int i = 0; i < KRSIE_MAX_RANGES; i++) {
      if (i >= c->nranges)
        break;
      if (v >= c->ranges[i].lo && v <= c->ranges[i].hi)
        hit = true;
    }
    break;
  case KRSIE_C_FLAGS_ALL: hit = (v & c->mask) == c->mask; break;
  case KRSIE_C_FLAGS_ANY: hit = (v & c->mask) != 0; break;
  case KRSIE_C_BOOL: hit = (v != 0) == (c->mask != 0); break;
  case KRSIE_C_BIT: hit = c->arg < 64 && ((v >> (c->arg & 63)) & 1); break;
  default: return false;
  }
  return c->negated ? !hit : hit;
}

/* bpf_loop wants its context on the stack (kernel 6.1): a pointer to the scratch. */
struct eval_ctx {
  struct krsie_eval *e;
};

static long eval_rule(__u32 index, struct eval_ctx *ctx)
{
  struct krsie_eval *e = ctx->e;
  if (!e)
    return 1;
  struct krsie_rule_key k = {.hook = e->hook, .index = index, .generation = e->gen};
  const struct krsie_rule_entry *r = bpf_map_lookup_elem(&krsie_rules, &k);
  if (!r)
    return 1;
  if (r->has_subject) {
    __u32 exe = KRSIE_F_COMMON + 7;
    if (!(e->present & (1u << exe)) || !((e->v[exe] >> (r->subject_bit & 63)) & 1))
      return 0;
  }
  for (int i = 0; i < KRSIE_MAX_CONSTRAINTS; i++) {
    if (i >= r->nconstraints)
      break;
    if (!constraint_holds(e, &r->c[i]))
      return 0;
  }
  e->matched = 1;
  e->rule_id = r->rule_id;
  e->decision = r->decision;
  e->err = r->err;
  return 1;
}

static __always_inline void count(__u8 decision, bool event, bool dropped)
{
  __u32 zero = 0;
  struct krsie_stats *s = bpf_map_lookup_elem(&krsie_stats, &zero);
  if (!s)
    return;
  s->decisions[decision & 3]++;
  if (event)
    s->events++;
  if (dropped)
    s->events_dropped++;
}

/* Token-window rate limit: at most config.events_per_sec events per CPU per second. */
static __always_inline bool event_allowed(void)
{
  __u32 zero = 0;
  struct krsie_stats *s = bpf_map_lookup_elem(&krsie_stats, &zero);
  const struct krsie_config *cfg = bpf_map_lookup_elem(&krsie_config, &zero);
  if (!s || !cfg)
    return false;
  __u64 now = bpf_ktime_get_ns();
  if (now - s->window_start_ns > 1000000000ull) {
    s->window_start_ns = now;
    s->window_events = 0;
  }
  if (cfg->events_per_sec && s->window_events >= cfg->events_per_sec)
    return false;
  s->window_events++;
  return true;
}

static __always_inline void emit_event(const struct krsie_eval *e, __u8 decision, __u8 enforced)
{
  if (!event_allowed()) {
    count(decision, false, true);
    return;
  }
  struct krsie_event *ev = bpf_ringbuf_reserve(&krsie_events, sizeof(*ev), 0);
  if (!ev) {
    count(decision, false, true);
    return;
  }
  krsie_event_task(ev, e->hook, e->rule_id, decision);
  ev->inode = e->inode;
  for (int i = 0; i < 4; i++)
    ev->fields[i] = (e->present & (1u << i)) ? e->v[i] : 0;
  __builtin_memcpy(ev->name, e->leaf, sizeof(ev->name));
  ev->enforced = enforced;
  ev->generation = e->gen;
  ev->family = e->family;
  ev->port = e->port;
  ev->pad2 = 0;
  if (e->family)
    __builtin_memcpy(ev->addr, e->addr, sizeof(ev->addr));
  else
    __builtin_memset(ev->addr, 0, sizeof(ev->addr));
  bpf_ringbuf_submit(ev, 0);
  count(decision, true, false);
}

/* Applies `decision` (the matched rule's, or the posture; e->rule_id and e->err set): reports,
 * counts, and returns 0 or -errno. A path too deep to walk overrides it: fail closed. Shared by
 * the generic programs and the LLVM backend's programs (krsie_rt_finish). */
static __always_inline int apply_decision(struct krsie_eval *e, __u8 decision)
{
  if (e->path_too_deep) {
    /* Fail closed: a path deeper than the walk can follow is never silently allowed. */
    decision = KRSIE_DECISION_DENY;
    e->rule_id = KRSIE_RULE_PATH_TOO_DEEP;
    e->err = 1;
  }
  if (decision == KRSIE_DECISION_ALLOW) {
    count(decision, false, false);
    return 0;
  }
  if (decision == KRSIE_DECISION_AUDIT || !krsie_enforcing_gen(e->gen)) {
    emit_event(e, decision, 0);
    return 0;
  }
  emit_event(e, decision, 1);
  if (decision == KRSIE_DECISION_KILL)
    bpf_send_signal(SIGKILL);
  return -(e->err > 0 ? e->err : 1);
}

/* The hook's prefilter (krsie_hook_conf.guard_*): false when no rule entry can match, because
 * each needs a set bit of guard_lo in field guard_field and the field has none, or a value within
 * [guard_lo, guard_hi] and the field is outside (or the field is absent: a constraint on an
 * absent field is false). Exact, not a heuristic: the posture decides exactly as when the loop
 * finds no match. */
static __always_inline bool rules_may_match(const struct krsie_eval *e, const struct krsie_hook_conf *conf)
{
  __u32 kind = conf->guard_kind, f = conf->guard_field;
  if ((kind != KRSIE_GUARD_BITS && kind != KRSIE_GUARD_RANGE) || f >= KRSIE_MAX_FIELDS)
    return true;
  if (!(e->present & (1u << f)))
    return false;
  __u64 v = e->v[f];
  if (kind == KRSIE_GUARD_BITS)
    return (v & conf->guard_lo) != 0;
  return v >= conf->guard_lo && v <= conf->guard_hi;
}

/* Runs the hook's rules (map-driven, first match wins, else the posture) over the computed
 * fields and applies the decision. */
static __always_inline int decide(struct krsie_eval *e, const struct krsie_hook_conf *conf)
{
  if (!conf)
    return 0;
  __u8 decision = conf->posture;
  e->rule_id = 0xffffffff;  /* posture */
  e->err = 1;
  if (!e->path_too_deep && rules_may_match(e, conf)) {
    e->matched = 0;
    struct eval_ctx ctx = {.e = e};
    bpf_loop(conf->nrules < KRSIE_MAX_RULES_PER_HOOK ? conf->nrules : KRSIE_MAX_RULES_PER_HOOK, eval_rule, &ctx, 0);
    if (e->matched)
      decision = e->decision;
  }
  return apply_decision(e, decision);
}

/* Common prologue: skip unconfined callers first (the cheapest rejection: the configuration's
 * target filter, usually without a hash lookup), then hooks the generation does not use; the
 * scratch vector for this run, or NULL. */
static __always_inline struct krsie_eval *krsie_enter_cfg(__u32 hook_id, __u32 gen, const struct krsie_config *cfg)
{
  if (!krsie_current_is_target_cfg(cfg, gen, false))
    return 0;
  const struct krsie_hook_conf *conf = hook_conf(gen, hook_id);
  if (!conf || !conf->used)
    return 0;
  struct krsie_eval *e = eval_begin(hook_id, gen);
  if (e) {
    e->sets = conf->sets;
    e->table_epoch = cfg ? *(const volatile __u32 *)&cfg->table_epoch : 0;
  }
  return e;
}

static __always_inline struct krsie_eval *krsie_enter_gen(__u32 hook_id, __u32 gen)
{
  return krsie_enter_cfg(hook_id, gen, krsie_config_get());
}

/* Reads the generation in force once, from the same configuration element as the target check. */
static __always_inline struct krsie_eval *krsie_enter(__u32 hook_id)
{
  const struct krsie_config *cfg = krsie_config_get();
  return krsie_enter_cfg(hook_id, krsie_config_generation(cfg), cfg);
}

/* Field extraction of one hook: krsie_fields_<name>(e, conf, ctx) reads the hook's arguments
 * from the BPF-LSM context (ctx[i] = argument i; ctx[krsie_nargs_<name>] is the earlier LSMs'
 * verdict) and computes the hook's fields into e. Shared by the generic programs
 * (generic.bpf.c) and the LLVM backend's runtime library (llvm_runtime.bpf.c). */
#define KRSIE_FIELDS(name, args...)                                                                \
  enum { krsie_nargs_##name = ___bpf_narg(args) };                                                 \
  static __always_inline void ____krsie_fields_##name(struct krsie_eval *e,                        \
                                                      const struct krsie_hook_conf *conf,          \
                                                      unsigned long long *ctx, ##args);            \
  static __always_inline void krsie_fields_##name(struct krsie_eval *e,                            \
                                                  const struct krsie_hook_conf *conf,              \
                                                  unsigned long long *ctx)                         \
  {                                                                                                \
    _Pragma("GCC diagnostic push") _Pragma("GCC diagnostic ignored \"-Wint-conversion\"")          \
    ____krsie_fields_##name(e, conf, ___bpf_ctx_cast(args));                                      \
    _Pragma("GCC diagnostic pop")                                                                  \
  }                                                                                                \
  static __always_inline void ____krsie_fields_##name(struct krsie_eval *e,                        \
                                                      const struct krsie_hook_conf *conf,          \
                                                      unsigned long long *ctx, ##args)

/* ---- file ----------------------------------------------------------------------------------- */

/* file_open runs on every open of a confined task: its scalar fields and the inode identity
 * come from direct loads through the hook's BTF-typed argument (one BPF_PROBE_MEM load each, a
 * faulting load reads 0) instead of a bpf_probe_read_kernel call each. */
static __always_inline void inode_info_btf(struct krsie_eval *e, struct inode *inode, __u32 f_owner)
{
  if (!inode)
    return;
  e->inode.dev = inode->i_sb->s_dev;
  e->inode.ino = inode->i_ino;
  struct task_struct *task = bpf_get_current_task_btf();
  set_field(e, f_owner, inode->i_uid.val == task->cred->fsuid.val);
}

KRSIE_FIELDS(file_open, struct file *file)
{
  /* The memo lives in the opened path's d_inode (not f_inode: an overlayfs backing file's differs). */
  file_path_field(e, 0, file, conf, KRSIE_MEMO_FILE_OPEN);
  set_field(e, 1, file->f_flags);
  set_field(e, 2, file->f_mode);
  struct inode *inode = file->f_inode;
  set_field(e, 3, inode->i_mode);
  inode_info_btf(e, inode, KRSIE_F_IS_OWNER);
}

KRSIE_FIELDS(bprm_check_security, struct linux_binprm *bprm)
{
  struct file *file = BPF_CORE_READ(bprm, file);
  file_path_field(e, 0, bprm->file, conf, KRSIE_MEMO_EXEC);
  string_field(e, 1, BPF_CORE_READ(bprm, filename));
  set_field(e, 2, (__u64)(__s64)BPF_CORE_READ(bprm, argc));
  inode_info(e, BPF_CORE_READ(file, f_inode), KRSIE_F_IS_OWNER);
}

/* Hooks with (const struct path *dir, struct dentry *dentry, ...) : the new or removed entry. */
#define KRSIE_DIR_DENTRY_FIELDS(name, extra, ...)                                                  \
  KRSIE_FIELDS(name, const struct path *dir, struct dentry *dentry, ##__VA_ARGS__)                 \
  {                                                                                                \
    path_field(e, 0, 0, dentry, BPF_CORE_READ(dir, mnt), conf);                                    \
    inode_info(e, BPF_CORE_READ(dentry, d_inode), KRSIE_F_IS_OWNER);                               \
    extra;                                                                                         \
  }

KRSIE_DIR_DENTRY_FIELDS(path_mknod, (set_field(e, 1, mode), set_field(e, 2, dev)), umode_t mode, unsigned int dev)
KRSIE_DIR_DENTRY_FIELDS(path_mkdir, set_field(e, 1, mode), umode_t mode)
KRSIE_DIR_DENTRY_FIELDS(path_unlink, (void)0)
KRSIE_DIR_DENTRY_FIELDS(path_rmdir, (void)0)
KRSIE_DIR_DENTRY_FIELDS(path_symlink, string_field(e, 1, old_name), const char *old_name)

KRSIE_FIELDS(path_rename, const struct path *old_dir, struct dentry *old_dentry, const struct path *new_dir, struct dentry *new_dentry, unsigned int flags)
{
  path_field(e, 0, 0, old_dentry, BPF_CORE_READ(old_dir, mnt), conf);
  path_field(e, 1, 1, new_dentry, BPF_CORE_READ(new_dir, mnt), conf);
  set_field(e, 2, flags);
  inode_info(e, BPF_CORE_READ(old_dentry, d_inode), KRSIE_F_IS_OWNER);
}

KRSIE_FIELDS(path_link, struct dentry *old_dentry, const struct path *new_dir, struct dentry *new_dentry)
{
  /* A hard link stays on one mount: the old entry's path is walked through new_dir's mount. */
  path_field(e, 0, 0, old_dentry, BPF_CORE_READ(new_dir, mnt), conf);
  path_field(e, 1, 1, new_dentry, BPF_CORE_READ(new_dir, mnt), conf);
  inode_info(e, BPF_CORE_READ(old_dentry, d_inode), KRSIE_F_IS_OWNER);
}

KRSIE_FIELDS(path_chmod, const struct path *path, umode_t mode)
{
  struct dentry *d = BPF_CORE_READ(path, dentry);
  path_field(e, 0, 0, d, BPF_CORE_READ(path, mnt), conf);
  set_field(e, 1, mode);
  inode_info(e, BPF_CORE_READ(d, d_inode), KRSIE_F_IS_OWNER);
}

KRSIE_FIELDS(path_chown, const struct path *path, __u32 uid, __u32 gid)
{
  /* kuid_t/kgid_t are one-member structs passed as integers. */
  struct dentry *d = BPF_CORE_READ(path, dentry);
  path_field(e, 0, 0, d, BPF_CORE_READ(path, mnt), conf);
  set_field(e, 1, uid);
  set_field(e, 2, gid);
  inode_info(e, BPF_CORE_READ(d, d_inode), KRSIE_F_IS_OWNER);
}

KRSIE_FIELDS(path_truncate, const struct path *path)
{
  struct dentry *d = BPF_CORE_READ(path, dentry);
  path_field(e, 0, 0, d, BPF_CORE_READ(path, mnt), conf);
  inode_info(e, BPF_CORE_READ(d, d_inode), KRSIE_F_IS_OWNER);
}

/* ---- network -------------------------------------------------------------------------------- */

KRSIE_FIELDS(socket_connect, struct socket *sock, struct sockaddr *address, int addrlen)
{
  sockaddr_fields(e, address, 0, 1, 2);
  set_field(e, 3, (__u64)(__s64)BPF_CORE_READ(sock, type));
  set_field(e, 4, BPF_CORE_READ(sock, sk, sk_protocol));
  set_field(e, 5, (__u64)(__s64)addrlen);
}

KRSIE_FIELDS(socket_bind, struct socket *sock, struct sockaddr *address, int addrlen)
{
  sockaddr_fields(e, address, 0, 1, 2);
  set_field(e, 3, (__u64)(__s64)BPF_CORE_READ(sock, type));
  set_field(e, 4, BPF_CORE_READ(sock, sk, sk_protocol));
  set_field(e, 5, (__u64)(__s64)addrlen);
}

KRSIE_FIELDS(socket_listen, struct socket *sock, int backlog)
{
  socket_fields(e, sock);
  set_field(e, 4, (__u64)(__s64)backlog);
}

KRSIE_FIELDS(socket_accept, struct socket *sock, struct socket *newsock)
{
  socket_fields(e, sock);
}

KRSIE_FIELDS(socket_create, int family, int type, int protocol, int kern)
{
  set_field(e, 0, (__u64)(__s64)family);
  set_field(e, 1, (__u64)(__s64)type);
  set_field(e, 2, (__u64)(__s64)protocol);
  set_field(e, 3, kern != 0);
}

KRSIE_FIELDS(socket_sendmsg, struct socket *sock, struct msghdr *msg, int size)
{
  socket_fields(e, sock);
  set_field(e, 4, (__u64)(__s64)size);
  struct sockaddr *name = BPF_CORE_READ(msg, msg_name);
  sockaddr_fields(e, name, KRSIE_MAX_FIELDS, 5, 6);  /* the socket's own family stays field 0 */
}

/* ---- privileges ----------------------------------------------------------------------------- */

KRSIE_FIELDS(capable, const struct cred *cred, struct user_namespace *ns, int cap, unsigned int opts)
{
  set_field(e, 0, (__u64)(__s64)cap);
  set_field(e, 1, opts);
}

KRSIE_FIELDS(task_fix_setuid, struct cred *new, const struct cred *old, int flags)
{
  set_field(e, 0, BPF_CORE_READ(new, uid.val));
  set_field(e, 1, BPF_CORE_READ(new, euid.val));
  set_field(e, 2, BPF_CORE_READ(new, suid.val));
  set_field(e, 3, BPF_CORE_READ(old, uid.val));
  set_field(e, 4, BPF_CORE_READ(old, euid.val));
  set_field(e, 5, (__u64)(__s64)flags);
  set_field(e, 6, BPF_CORE_READ(old, suid.val));
}

KRSIE_FIELDS(task_fix_setgid, struct cred *new, const struct cred *old, int flags)
{
  set_field(e, 0, BPF_CORE_READ(new, gid.val));
  set_field(e, 1, BPF_CORE_READ(new, egid.val));
  set_field(e, 2, BPF_CORE_READ(new, sgid.val));
  set_field(e, 3, BPF_CORE_READ(old, gid.val));
  set_field(e, 4, BPF_CORE_READ(old, egid.val));
  set_field(e, 5, (__u64)(__s64)flags);
  set_field(e, 6, BPF_CORE_READ(old, sgid.val));
}

static __always_inline void task_fields(struct krsie_eval *e, struct task_struct *t)
{
  set_field(e, 0, (__u64)(__s64)BPF_CORE_READ(t, tgid));
  set_field(e, 1, BPF_CORE_READ(t, real_cred, uid.val));
  char comm[16];
  BPF_CORE_READ_STR_INTO(&comm, t, comm);
  string_field(e, 2, comm);
  set_field(e, KRSIE_F_TARGET_CONFINED, task_confined(t, e->gen));
}

KRSIE_FIELDS(ptrace_access_check, struct task_struct *child, unsigned int mode)
{
  task_fields(e, child);
  set_field(e, 3, mode);
}

KRSIE_FIELDS(ptrace_traceme, struct task_struct *parent)
{
  task_fields(e, parent);
}

KRSIE_FIELDS(task_kill, struct task_struct *p, struct kernel_siginfo *info, int sig, const struct cred *cred)
{
  set_field(e, 0, (__u64)(__s64)sig);
  set_field(e, 1, (__u64)(__s64)BPF_CORE_READ(p, tgid));
  set_field(e, 2, BPF_CORE_READ(p, real_cred, uid.val));
  char comm[16];
  BPF_CORE_READ_STR_INTO(&comm, p, comm);
  string_field(e, 3, comm);
  set_field(e, KRSIE_F_TARGET_CONFINED, task_confined(p, e->gen));
}

/* ---- mount, modules, bpf -------------------------------------------------------------------- */

KRSIE_FIELDS(sb_mount, const char *dev_name, const struct path *path, const char *type, unsigned long flags, void *data)
{
  string_field(e, 0, dev_name);
  path_field(e, 1, 0, BPF_CORE_READ(path, dentry), BPF_CORE_READ(path, mnt), conf);
  string_field(e, 2, type);
  set_field(e, 3, flags);
}

KRSIE_FIELDS(move_mount, const struct path *from_path, const struct path *to_path)
{
  path_field(e, 0, 0, BPF_CORE_READ(from_path, dentry), BPF_CORE_READ(from_path, mnt), conf);
  path_field(e, 1, 1, BPF_CORE_READ(to_path, dentry), BPF_CORE_READ(to_path, mnt), conf);
}

KRSIE_FIELDS(kernel_read_file, struct file *file, enum kernel_read_file_id id, bool contents)
{
  if (file)
    path_field(e, 0, 0, BPF_CORE_READ(file, f_path.dentry), BPF_CORE_READ(file, f_path.mnt), conf);
  set_field(e, 1, id);
  set_field(e, 2, contents);
}

KRSIE_FIELDS(kernel_load_data, enum kernel_load_data_id id, bool contents)
{
  set_field(e, 0, id);
  set_field(e, 1, contents);
}

KRSIE_FIELDS(kernel_module_request, char *kmod_name)
{
  string_field(e, 0, kmod_name);
}

KRSIE_FIELDS(bpf, int cmd, union bpf_attr *attr, unsigned int size)
{
  set_field(e, 0, (__u64)(__s64)cmd);
  set_field(e, 1, size);
}

/* ---- hooks only the LLVM backend compiles (no generic program; field order as in the hook
 * catalogue, compiler/sema/hook_catalog.cpp) -------------------------------------------------- */

KRSIE_FIELDS(bprm_creds_for_exec, struct linux_binprm *bprm)
{
  struct file *file = BPF_CORE_READ(bprm, file);
  if (file) {
    path_field(e, 0, 0, BPF_CORE_READ(file, f_path.dentry), BPF_CORE_READ(file, f_path.mnt), conf);
    inode_info(e, BPF_CORE_READ(file, f_inode), KRSIE_F_IS_OWNER);
  }
  string_field(e, 1, BPF_CORE_READ(bprm, filename));
}

KRSIE_FIELDS(file_mprotect, struct vm_area_struct *vma, unsigned long reqprot, unsigned long prot)
{
  set_field(e, 0, reqprot);
  set_field(e, 1, prot);
  struct file *file = BPF_CORE_READ(vma, vm_file);
  if (file) {
    path_field(e, 2, 0, BPF_CORE_READ(file, f_path.dentry), BPF_CORE_READ(file, f_path.mnt), conf);
    inode_info(e, BPF_CORE_READ(file, f_inode), KRSIE_F_IS_OWNER);
  }
}

KRSIE_FIELDS(mmap_file, struct file *file, unsigned long reqprot, unsigned long prot, unsigned long flags)
{
  if (file) {
    path_field(e, 0, 0, BPF_CORE_READ(file, f_path.dentry), BPF_CORE_READ(file, f_path.mnt), conf);
    inode_info(e, BPF_CORE_READ(file, f_inode), KRSIE_F_IS_OWNER);
  }
  set_field(e, 1, reqprot);
  set_field(e, 2, prot);
  set_field(e, 3, flags);
}

KRSIE_FIELDS(vm_enough_memory, struct mm_struct *mm, long pages)
{
  set_field(e, 0, (__u64)pages);
}

KRSIE_FIELDS(file_permission, struct file *file, int mask)
{
  path_field(e, 0, 0, BPF_CORE_READ(file, f_path.dentry), BPF_CORE_READ(file, f_path.mnt), conf);
  set_field(e, 1, (__u64)(__s64)mask);
  inode_info(e, BPF_CORE_READ(file, f_inode), KRSIE_F_IS_OWNER);
}

KRSIE_FIELDS(file_ioctl, struct file *file, unsigned int cmd, unsigned long arg)
{
  path_field(e, 0, 0, BPF_CORE_READ(file, f_path.dentry), BPF_CORE_READ(file, f_path.mnt), conf);
  set_field(e, 1, cmd);
  set_field(e, 2, arg);
  inode_info(e, BPF_CORE_READ(file, f_inode), KRSIE_F_IS_OWNER);
}

/* inode_* hooks: paths within the dentry's filesystem (no mount to cross). */
#define KRSIE_INODE_FIELDS(name, extra, ...)                                                       \
  KRSIE_FIELDS(name, struct inode *dir, struct dentry *dentry, ##__VA_ARGS__)                      \
  {                                                                                                \
    path_field(e, 0, 0, dentry, 0, conf);                                                          \
    inode_info(e, BPF_CORE_READ(dentry, d_inode), KRSIE_F_IS_OWNER);                               \
    extra;                                                                                         \
  }

KRSIE_INODE_FIELDS(inode_create, set_field(e, 1, mode), umode_t mode)
KRSIE_INODE_FIELDS(inode_mkdir, set_field(e, 1, mode), umode_t mode)
KRSIE_INODE_FIELDS(inode_rmdir, (void)0)
KRSIE_INODE_FIELDS(inode_unlink, (void)0)
KRSIE_INODE_FIELDS(inode_symlink, string_field(e, 1, old_name), const char *old_name)

KRSIE_FIELDS(inode_link, struct dentry *old_dentry, struct inode *dir, struct dentry *new_dentry)
{
  path_field(e, 0, 0, old_dentry, 0, conf);
  path_field(e, 1, 1, new_dentry, 0, conf);
  inode_info(e, BPF_CORE_READ(old_dentry, d_inode), KRSIE_F_IS_OWNER);
}

KRSIE_FIELDS(inode_rename, struct inode *old_dir, struct dentry *old_dentry, struct inode *new_dir,
             struct dentry *new_dentry)
{
  path_field(e, 0, 0, old_dentry, 0, conf);
  path_field(e, 1, 1, new_dentry, 0, conf);
  inode_info(e, BPF_CORE_READ(old_dentry, d_inode), KRSIE_F_IS_OWNER);
}

KRSIE_FIELDS(locked_down, enum lockdown_reason what)
{
  set_field(e, 0, what);
}

KRSIE_FIELDS(sb_umount, struct vfsmount *mnt, int flags)
{
  path_field(e, 0, 0, BPF_CORE_READ(mnt, mnt_root), mnt, conf);
  set_field(e, 1, (__u64)(__s64)flags);
}

KRSIE_FIELDS(socket_post_create, struct socket *sock, int family, int type, int protocol, int kern)
{
  set_field(e, 0, (__u64)(__s64)family);
  set_field(e, 1, (__u64)(__s64)type);
  set_field(e, 2, (__u64)(__s64)protocol);
  set_field(e, 3, kern != 0);
}

KRSIE_FIELDS(socket_recvmsg, struct socket *sock, struct msghdr *msg, int size, int flags)
{
  socket_fields(e, sock);
  set_field(e, 4, (__u64)(__s64)size);
  set_field(e, 5, (__u64)(__s64)flags);
}

KRSIE_FIELDS(task_alloc, struct task_struct *task, unsigned long clone_flags)
{
}

KRSIE_FIELDS(task_free, struct task_struct *task)
{
  set_field(e, 0, (__u64)(__s64)BPF_CORE_READ(task, tgid));
  char comm[16];
  BPF_CORE_READ_STR_INTO(&comm, task, comm);
  string_field(e, 1, comm);
}

#endif /* KRSIE_EVAL_BPF_H */

// Compile-time checks that the C++ view of the ABI matches the layout the BPF side was built
// with (the BPF objects' BTF is checked against the same numbers by tests/unit/templates_test.cpp).
#include <cstddef>

#include "krsie_abi.h"

static_assert(sizeof(krsie_target) == 8);
static_assert(sizeof(krsie_inode_key) == 16);
static_assert(sizeof(krsie_rule) == 12);
static_assert(sizeof(krsie_config) == 64);
static_assert(offsetof(krsie_config, target_gens) == 56);
static_assert(offsetof(krsie_config, target_filter) == 16);
static_assert(offsetof(krsie_config, target_ids) == 24);
static_assert(offsetof(krsie_config, target_levels) == 12);
static_assert(offsetof(krsie_config, generation) == 8);
static_assert(sizeof(krsie_event) == 192);
static_assert(offsetof(krsie_event, comm) == 40);
static_assert(offsetof(krsie_event, inode) == 56);
static_assert(offsetof(krsie_event, fields) == 72);
static_assert(offsetof(krsie_event, name) == 104);
static_assert(offsetof(krsie_event, enforced) == 168);
static_assert(offsetof(krsie_event, generation) == 169);
static_assert(offsetof(krsie_event, family) == 170);
static_assert(offsetof(krsie_event, port) == 172);
static_assert(offsetof(krsie_event, addr) == 176);
static_assert(sizeof(krsie_constraint) == 80);
static_assert(sizeof(krsie_rule_entry) == 16 + 6 * 80);
static_assert(sizeof(krsie_rule_key) == 12);
static_assert(sizeof(krsie_hook_conf) == 48);
static_assert(offsetof(krsie_hook_conf, common) == 24);
static_assert(offsetof(krsie_hook_conf, guard_lo) == 32);
static_assert(offsetof(krsie_hook_conf, guard_hi) == 40);
static_assert(sizeof(krsie_dfa_trans) == 8);
static_assert(sizeof(krsie_dfa_state) == 16);
static_assert(sizeof(krsie_lpm4_key) == 12);
static_assert(sizeof(krsie_lpm6_key) == 24);
static_assert(sizeof(krsie_string_key) == 68);
static_assert(sizeof(krsie_inode_set_key) == 24);
static_assert(sizeof(krsie_stats) == 64);
static_assert(sizeof(krsie_memo_entry) == 120);
static_assert(offsetof(krsie_memo_entry, leaf) == 56);
static_assert(sizeof(krsie_path_memo) == 248);

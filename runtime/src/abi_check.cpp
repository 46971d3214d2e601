// Compile-time checks that the C++ view of the ABI matches the layout the BPF side was built
// with (the BPF objects' BTF is checked against the same numbers by tests/unit/templates_test.cpp).
#include <cstddef>

#include "krsie_abi.h"

static_assert(sizeof(krsie_target) == 8);
static_assert(sizeof(krsie_inode_key) == 16);
static_assert(sizeof(krsie_rule) == 12);
static_assert(sizeof(krsie_config) == 8);
static_assert(sizeof(krsie_event) == 72);
static_assert(offsetof(krsie_event, comm) == 40);
static_assert(offsetof(krsie_event, inode) == 56);

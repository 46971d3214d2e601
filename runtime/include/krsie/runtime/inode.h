#pragma once
// Inode identity as the kernel sees it from BPF (super_block->s_dev, inode->i_ino).

#include <string>

#include "krsie_abi.h"

namespace krsie::runtime {

// The kernel's s_dev encoding of a userspace dev_t: major << 20 | minor (MKDEV).
__u64 kernel_dev(unsigned long long user_dev);

// Identity of the file at `path` (follows symlinks, like open()). Throws RuntimeError.
krsie_inode_key inode_key(const std::string& path);

}  // namespace krsie::runtime

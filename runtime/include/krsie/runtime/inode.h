#pragma once
// Inode identity as the kernel sees it from BPF (super_block->s_dev, inode->i_ino).

#include <sys/stat.h>

#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "krsie/runtime/maps.h"
#include "krsie_abi.h"

namespace krsie::runtime {

// The kernel's s_dev encoding of a userspace dev_t: major << 20 | minor (MKDEV).
__u64 kernel_dev(unsigned long long user_dev);

// Identity of the file at `path` (follows symlinks, like open()). Throws RuntimeError.
krsie_inode_key inode_key(const std::string& path);

// stat(2) of many absolute paths, as stat() would see them (symlinks followed), resolving each
// directory once: the parent directory is opened (O_PATH) and the leaf looked up in it with
// fstatat(), and a directory that cannot be resolved answers for all of its entries. A 10,000-rule
// policy names ~14,000 exact paths in ~100 directories: ~240 lookups instead of 14,000 full path
// walks (~120 M instructions in the guest). Paths in the same directory should come in a row
// (the compiler sorts them); the last directory stays open. A directory that cannot be resolved is
// followed up to the first ancestor that can: paths below a missing ancestor (a policy naming
// 7,000 files under a /data this node lacks) are then answered without a system call.
class PathStatter {
 public:
  std::optional<struct stat> stat_path(std::string_view path);

 private:
  std::string path_;              // the path asked for, NUL-terminated
  std::string dir_;               // the directory of the previous path
  bool have_dir_ = false;
  bool dir_missing_ = false;      // dir_ cannot be resolved
  Fd dir_fd_;                     // else: dir_, opened with O_PATH
  bool missing_below(std::string_view dir);
  void note_missing_ancestors(std::string_view dir);
  std::set<std::string, std::less<>> missing_;  // directories that could not be resolved
  std::set<std::string, std::less<>> present_;  // directories that could
  std::string last_missing_;                     // the highest missing directory found last
};

}  // namespace krsie::runtime

#include "krsie/runtime/inode.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cerrno>

#include "krsie/runtime/error.h"

namespace krsie::runtime {

__u64 kernel_dev(unsigned long long user_dev) {
  return (static_cast<__u64>(major(user_dev)) << 20) | minor(user_dev);
}

krsie_inode_key inode_key(const std::string& path) {
  struct stat st{};
  if (stat(path.c_str(), &st) != 0) throw RuntimeError(describe_errno(path, errno), errno);
  return krsie_inode_key{kernel_dev(st.st_dev), static_cast<__u64>(st.st_ino)};
}

}  // namespace krsie::runtime

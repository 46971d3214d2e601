#include "krsie/runtime/inode.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cerrno>
#include <cstring>
#include <string_view>

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

std::optional<struct stat> PathStatter::stat_path(std::string_view path_text) {
  path_.assign(path_text);  // NUL-terminated for the system calls (keeps its capacity)
  const std::string& path = path_;
  struct stat st{};
  auto plain = [&]() -> std::optional<struct stat> {
    if (::stat(path.c_str(), &st) != 0) return std::nullopt;
    return st;
  };
  std::size_t slash = path.rfind('/');
  if (path.empty() || path[0] != '/' || slash == std::string::npos || slash + 1 == path.size()) return plain();
  const char* leaf = path.c_str() + slash + 1;  // NUL-terminated: the end of `path`
  if (std::strcmp(leaf, ".") == 0 || std::strcmp(leaf, "..") == 0) return plain();
  std::string_view dir = slash == 0 ? std::string_view("/") : std::string_view(path).substr(0, slash);
  if (!have_dir_ || dir != dir_) {
    dir_.assign(dir);
    have_dir_ = true;
    dir_fd_ = Fd();
    dir_missing_ = missing_.count(dir_) != 0;
    if (!dir_missing_) {
      dir_fd_ = Fd(open(dir_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
      if (!dir_fd_) {
        // The path walk to any entry would fail the same way: the directory is missing, not a
        // directory, a symlink loop, or behind a directory we may not search.
        if (errno != ENOENT && errno != ENOTDIR && errno != ELOOP && errno != EACCES) {
          have_dir_ = false;
          return plain();  // out of file descriptors or memory: one full walk
        }
        dir_missing_ = true;
        missing_.insert(dir_);
      }
    }
  }
  if (dir_missing_) return std::nullopt;
  if (fstatat(dir_fd_.get(), leaf, &st, 0) != 0) return std::nullopt;
  return st;
}

}  // namespace krsie::runtime

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

namespace {

// The path walk to any entry would fail the same way: the directory is missing, not a directory,
// a symlink loop, or behind a directory we may not search.
bool unresolvable(int err) { return err == ENOENT || err == ENOTDIR || err == ELOOP || err == EACCES; }

}  // namespace

bool PathStatter::missing_below(std::string_view dir) {
  // `dir` itself, or an ancestor that could not be resolved: the walk stops there for every path
  // below it. Sorted paths come in runs below the same missing directory: the last one found is
  // compared first, without a set lookup.
  auto below = [&](std::string_view top) {
    return !top.empty() && dir.substr(0, top.size()) == top && (dir.size() == top.size() || dir[top.size()] == '/');
  };
  if (below(last_missing_)) return true;
  for (std::size_t end = dir.size(); end > 0; end = dir.rfind('/', end - 1)) {
    std::string_view prefix = dir.substr(0, end);
    if (missing_.count(prefix)) {
      last_missing_.assign(prefix);
      return true;
    }
    if (present_.count(prefix)) return false;  // resolved: nothing above it is missing
    if (end == 0) break;
  }
  return false;
}

void PathStatter::note_missing_ancestors(std::string_view dir) {
  // `dir` could not be resolved: find how far up that goes, so that its siblings (a policy's paths
  // under a directory this node lacks: /data/d1/f, /data/d2/f, ...) need no system call. One open
  // per directory not yet known.
  for (std::size_t cut = dir.rfind('/'); cut != std::string_view::npos && cut > 0; cut = dir.rfind('/', cut - 1)) {
    std::string parent(dir.substr(0, cut));
    if (present_.count(parent) || missing_.count(parent)) return;
    Fd fd(open(parent.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (fd) {
      present_.insert(std::move(parent));
      return;
    }
    if (!unresolvable(errno)) return;
    last_missing_ = parent;
    missing_.insert(std::move(parent));
  }
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
    dir_missing_ = missing_below(dir_);
    if (!dir_missing_) {
      dir_fd_ = Fd(open(dir_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
      if (!dir_fd_) {
        if (!unresolvable(errno)) {
          have_dir_ = false;
          return plain();  // out of file descriptors or memory: one full walk
        }
        dir_missing_ = true;
        missing_.insert(dir_);
        last_missing_ = dir_;
        note_missing_ancestors(dir_);
      } else {
        present_.insert(dir_);
      }
    }
  }
  if (dir_missing_) return std::nullopt;
  if (fstatat(dir_fd_.get(), leaf, &st, 0) != 0) return std::nullopt;
  return st;
}

}  // namespace krsie::runtime

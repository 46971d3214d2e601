#include "krsie/runtime/cgroup.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "krsie/runtime/error.h"

namespace krsie::runtime {

namespace {

struct Cgroup2Mount {
  std::string root;         // the directory of the hierarchy mounted there ("/": all of it)
  std::string mount_point;
};

std::optional<Cgroup2Mount> cgroup2_mount() {
  // mountinfo fields: id parent major:minor root mount-point options ... - fstype source ...
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::size_t dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream tail(line.substr(dash + 3));
    std::string fstype;
    tail >> fstype;
    if (fstype != "cgroup2") continue;
    std::istringstream head(line.substr(0, dash));
    std::string id, parent, devno, root, mount_point;
    head >> id >> parent >> devno >> root >> mount_point;
    return Cgroup2Mount{root, mount_point};
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> cgroup2_mount_point() {
  auto mount = cgroup2_mount();
  if (!mount) return std::nullopt;
  return mount->mount_point;
}

namespace {

// A cgroup2 directory's file handle: its payload is the 64-bit kernfs id.
struct KernfsHandle {
  file_handle handle;
  std::uint64_t id;
};

// The handle of `path` (its type is what open_by_handle_at wants for any cgroup2 directory).
bool kernfs_handle(const std::string& path, KernfsHandle& fh) {
  fh = {};
  fh.handle.handle_bytes = sizeof(std::uint64_t);
  int mount_id = 0;
  return name_to_handle_at(AT_FDCWD, path.c_str(), &fh.handle, &mount_id, 0) == 0;
}

}  // namespace

std::uint64_t cgroup_id(const std::string& path) {
  struct statfs fs{};
  if (statfs(path.c_str(), &fs) != 0)
    throw RuntimeError(describe_errno("cgroup " + path, errno), errno);
  if (fs.f_type != CGROUP2_SUPER_MAGIC)
    throw RuntimeError("cgroup " + path + " is not on a cgroup v2 filesystem", EINVAL);
  // The id bpf_get_current_cgroup_id() returns is the kernfs node id, which is what
  // name_to_handle_at() puts in the file handle of a cgroup2 directory.
  KernfsHandle fh;
  if (!kernfs_handle(path, fh))
    throw RuntimeError(describe_errno("resolving the id of cgroup " + path, errno), errno);
  std::uint64_t id;
  std::memcpy(&id, fh.handle.f_handle, sizeof id);
  return id;
}

std::optional<std::string> cgroup_path(std::uint64_t id) {
  auto root = cgroup2_mount_point();
  if (!root) return std::nullopt;
  // The handle type the kernel uses for cgroup2 directories (FILEID_KERNFS), taken from the root.
  KernfsHandle fh;
  if (!kernfs_handle(*root, fh)) return std::nullopt;
  std::memcpy(fh.handle.f_handle, &id, sizeof id);
  int mount_fd = open(root->c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (mount_fd < 0) return std::nullopt;
  int fd = open_by_handle_at(mount_fd, &fh.handle, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  close(mount_fd);
  if (fd < 0) return std::nullopt;
  char buf[4096];
  std::string link = "/proc/self/fd/" + std::to_string(fd);
  ssize_t n = readlink(link.c_str(), buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return std::nullopt;
  std::string path(buf, static_cast<std::size_t>(n));
  // readlink gives the path from the mount's root: kernfs has no other names for a directory.
  return path;
}

std::optional<unsigned> cgroup_level(std::uint64_t id) {
  // The initial cgroup namespace has a fixed inode number (PROC_CGROUP_INIT_INO); in any other
  // one, paths start below the hierarchy's root.
  constexpr ino_t k_init_cgroup_ns = 0xEFFFFFFBu;
  struct stat ns{};
  if (stat("/proc/self/ns/cgroup", &ns) != 0 || ns.st_ino != k_init_cgroup_ns) return std::nullopt;
  auto mount = cgroup2_mount();
  if (!mount || mount->root != "/") return std::nullopt;
  auto path = cgroup_path(id);
  if (!path) return std::nullopt;
  std::string base = mount->mount_point == "/" ? "" : mount->mount_point;
  if (path->compare(0, base.size(), base) != 0 || (path->size() > base.size() && (*path)[base.size()] != '/'))
    return std::nullopt;
  unsigned level = 0;
  bool in_name = false;
  for (std::size_t i = base.size(); i < path->size(); ++i) {
    bool slash = (*path)[i] == '/';
    if (!slash && !in_name) ++level;
    in_name = !slash;
  }
  return level;
}

void move_to_cgroup(const std::string& path, int pid) {
  std::string procs = path + "/cgroup.procs";
  int fd = open(procs.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) throw RuntimeError(describe_errno("opening " + procs, errno), errno);
  std::string text = std::to_string(pid == 0 ? getpid() : pid);
  ssize_t n = write(fd, text.data(), text.size());
  int err = errno;
  close(fd);
  if (n != static_cast<ssize_t>(text.size()))
    throw RuntimeError(describe_errno("moving pid " + text + " into " + path, err), err);
}

}  // namespace krsie::runtime

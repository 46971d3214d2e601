#include "krsie/runtime/state.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iterator>

#include <nlohmann/json.hpp>

#include "krsie/runtime/error.h"

namespace krsie::runtime {

namespace {

constexpr const char* k_state_format = "krsie-loader-state";
constexpr int k_state_version = 1;

std::string parent_of(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

bool valid_policy_name(const std::string& name) {
  // No '.': bpffs refuses names containing dots (reserved by the kernel).
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
  });
}

std::string PolicyState::to_json() const {
  nlohmann::ordered_json j;
  j["format"] = k_state_format;
  j["version"] = k_state_version;
  j["name"] = name;
  j["created"] = created;
  j["replaced"] = replaced;
  j["replacements"] = replacements;
  j["headroom"] = headroom;
  j["option_cgroups"] = option_cgroups;
  j["node_wide"] = node_wide;
  nlohmann::ordered_json t = nlohmann::ordered_json::array();
  for (const TargetRecord& r : targets) t.push_back({{"path", r.path}, {"id", r.id}, {"origin", r.origin}});
  j["targets"] = t;
  j["objects"] = {objects[0], objects[1]};
  j["sources"] = {sources[0], sources[1]};
  j["template_digest"] = template_digest;
  if (!backend.empty()) j["backend"] = backend;
  return j.dump(1) + "\n";
}

PolicyState PolicyState::from_json(const std::string& text, const std::string& where) {
  PolicyState s;
  try {
    auto j = nlohmann::json::parse(text);
    if (!j.is_object() || j.value("format", "") != k_state_format)
      throw RuntimeError(where + " is not a krsie-load state file", EINVAL);
    if (j.value("version", 0) != k_state_version)
      throw RuntimeError(where + " has state version " + std::to_string(j.value("version", 0)) +
                             ", this krsie-load reads version " + std::to_string(k_state_version),
                         EINVAL);
    s.name = j.at("name").get<std::string>();
    s.created = j.value("created", "");
    s.replaced = j.value("replaced", "");
    s.replacements = j.value("replacements", 0u);
    s.headroom = j.value("headroom", 0u);
    s.option_cgroups = j.value("option_cgroups", std::vector<std::string>{});
    s.node_wide = j.value("node_wide", false);
    for (const auto& t : j.at("targets"))
      s.targets.push_back({t.at("path").get<std::string>(), t.at("id").get<std::uint64_t>(), t.value("origin", "")});
    auto objects = j.at("objects").get<std::vector<std::string>>();
    auto sources = j.value("sources", std::vector<std::string>{});
    for (std::size_t g = 0; g < 2; ++g) {
      if (g < objects.size()) s.objects[g] = objects[g];
      if (g < sources.size()) s.sources[g] = sources[g];
    }
    s.template_digest = j.value("template_digest", "");
    s.backend = j.value("backend", "");
  } catch (const nlohmann::json::exception& e) {
    throw RuntimeError(where + " is corrupt: " + e.what(), EINVAL);
  }
  return s;
}

namespace {

// munmap at destruction.
class FileMapping {
 public:
  FileMapping(void* base, std::size_t size) : base_(base), size_(size) {}
  FileMapping(const FileMapping&) = delete;
  FileMapping& operator=(const FileMapping&) = delete;
  ~FileMapping() { munmap(base_, size_); }

 private:
  void* base_;
  std::size_t size_;
};

// Copies everything `in` has left to `out` (both at their file offsets).
void copy_fd(int in, int out, const std::string& source, const std::string& target) {
  auto failed = [&](int err) {
    return RuntimeError(describe_errno("cannot copy " + source + " to " + target, err), err);
  };
  enum class Way { copy_file_range, sendfile, read_write } way = Way::copy_file_range;
  std::vector<char> buffer;
  for (;;) {
    ssize_t n;
    if (way == Way::copy_file_range) {
      n = copy_file_range(in, nullptr, out, nullptr, std::size_t{1} << 30, 0);
    } else if (way == Way::sendfile) {
      n = sendfile(out, in, nullptr, std::size_t{1} << 30);
    } else {
      if (buffer.empty()) buffer.resize(std::size_t{1} << 20);
      n = read(in, buffer.data(), buffer.size());
      for (ssize_t done = 0; n > 0 && done < n;) {
        ssize_t w = write(out, buffer.data() + done, static_cast<std::size_t>(n - done));
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) throw failed(errno);
        done += w;
      }
    }
    if (n == 0) return;
    if (n > 0) continue;
    if (errno == EINTR) continue;
    // Across file systems, on old kernels, or from files these calls do not take: the next way.
    bool other_way = errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP || errno == EBADF;
    if (other_way && way == Way::copy_file_range) way = Way::sendfile;
    else if (other_way && way == Way::sendfile) way = Way::read_write;
    else throw failed(errno);
  }
}

}  // namespace

StagedCopy::StagedCopy(const std::string& source, const std::string& staging_path) : staging_(staging_path) {
  Fd in(open(source.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in) throw RuntimeError(ErrorKind::bad_object, describe_errno("cannot open " + source, errno), errno);
  // An existing file there (the spare commit() leaves, or a leftover of a killed krsie-load) is
  // overwritten in place and cut to the copy's size: its pages are reused, not freed and then
  // allocated again.
  Fd out(open(staging_.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!out) throw RuntimeError(describe_errno("cannot create " + staging_, errno), errno);
  try {
    struct stat st{};
    if (fstat(out.get(), &st) != 0 || !S_ISREG(st.st_mode))
      throw RuntimeError(staging_ + " is not a regular file", EINVAL);
    copy_fd(in.get(), out.get(), source, staging_);
    off_t copied = lseek(out.get(), 0, SEEK_CUR);
    if (copied < 0 || ftruncate(out.get(), copied) != 0)
      throw RuntimeError(describe_errno("cannot cut " + staging_ + " to size", errno), errno);
    if (fstat(out.get(), &st) != 0) throw RuntimeError(describe_errno("cannot stat " + staging_, errno), errno);
    if (st.st_size > 0) {
      const auto size = static_cast<std::size_t>(st.st_size);
      // Private and writable: libelf and libbpf take the buffer as non-const; should they ever
      // write, the write stays in this process (copy on write) and the file stays as copied.
      void* base = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, out.get(), 0);
      if (base == MAP_FAILED) throw RuntimeError(describe_errno("cannot map " + staging_, errno), errno);
      mapping_ = std::make_shared<const FileMapping>(base, size);
      bytes_ = std::span(static_cast<const std::uint8_t*>(base), size);
    }
  } catch (...) {
    unlink(staging_.c_str());
    throw;
  }
}

StagedCopy::~StagedCopy() {
  if (!committed_) unlink(staging_.c_str());
}

void StagedCopy::commit(const std::string& path) {
  // Exchanged with the file at `path` where the file system can: that file stays at the staging
  // path, a spare for the next copy to overwrite (its pages are not freed here, nor allocated
  // again there). Else (no file at `path`, or no RENAME_EXCHANGE) renamed over it.
  if (renameat2(AT_FDCWD, staging_.c_str(), AT_FDCWD, path.c_str(), RENAME_EXCHANGE) != 0) {
    if (errno != ENOENT && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
      throw RuntimeError(describe_errno("cannot exchange " + staging_ + " and " + path, errno), errno);
    if (rename(staging_.c_str(), path.c_str()) != 0)
      throw RuntimeError(describe_errno("cannot rename " + staging_ + " to " + path, errno), errno);
  }
  committed_ = true;
}

MappedFile::MappedFile(const std::string& path) {
  Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat st{};
  if (!fd || fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0) return;
  const auto size = static_cast<std::size_t>(st.st_size);
  void* base = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd.get(), 0);
  if (base == MAP_FAILED) return;
  mapping_ = std::make_shared<const FileMapping>(base, size);
  bytes_ = std::span(static_cast<const std::uint8_t*>(base), size);
}

namespace {

// Everything `fd` has left, read(2) in large chunks: an istreambuf_iterator costs ~15
// instructions per byte (50 M for a 10,000-rule policy object).
std::vector<std::uint8_t> read_fd(int fd, const std::string& path, const char* failure) {
  struct stat st{};
  std::vector<std::uint8_t> out;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) out.reserve(static_cast<std::size_t>(st.st_size) + 65536);
  std::size_t done = 0;
  for (;;) {
    if (out.size() - done < 65536) out.resize(std::max<std::size_t>(done + 65536, out.capacity()));
    ssize_t n = read(fd, out.data() + done, out.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw RuntimeError(describe_errno(failure + (" " + path), errno), errno);
    }
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  out.resize(done);
  return out;
}

}  // namespace

std::vector<std::uint8_t> read_whole_file(const std::string& path, const char* failure) {
  Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw RuntimeError(describe_errno(failure + (" " + path), errno), errno);
  return read_fd(fd.get(), path, failure);
}

std::vector<std::uint8_t> read_kept_object(const std::string& path) {
  auto same = [](const struct stat& a, const struct stat& b) {
    return a.st_ino == b.st_ino && a.st_dev == b.st_dev && a.st_size == b.st_size &&
           a.st_mtim.tv_sec == b.st_mtim.tv_sec && a.st_mtim.tv_nsec == b.st_mtim.tv_nsec &&
           a.st_ctim.tv_sec == b.st_ctim.tv_sec && a.st_ctim.tv_nsec == b.st_ctim.tv_nsec;
  };
  for (int attempt = 0; attempt < 5; ++attempt) {
    Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
    struct stat before{}, after{};
    if (!fd || fstat(fd.get(), &before) != 0) throw RuntimeError(describe_errno("cannot read " + path, errno), errno);
    std::vector<std::uint8_t> bytes = read_fd(fd.get(), path, "cannot read");
    struct stat now{};
    if (fstat(fd.get(), &after) == 0 && same(before, after) && stat(path.c_str(), &now) == 0 && same(before, now))
      return bytes;
  }
  throw RuntimeError(path + " kept changing while it was read (replacements in progress?)", EAGAIN);
}

void write_file_atomic(const std::string& path, std::span<const std::uint8_t> bytes) {
  std::string tmp = path + ".tmp-" + std::to_string(getpid());
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw RuntimeError(describe_errno("cannot create " + tmp, errno), errno);
  std::size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      close(fd);
      unlink(tmp.c_str());
      throw RuntimeError(describe_errno("cannot write " + tmp, err), err);
    }
    done += static_cast<std::size_t>(n);
  }
  if (fsync(fd) != 0 && errno != EINVAL) {
    int err = errno;
    close(fd);
    unlink(tmp.c_str());
    throw RuntimeError(describe_errno("cannot sync " + tmp, err), err);
  }
  close(fd);
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    unlink(tmp.c_str());
    throw RuntimeError(describe_errno("cannot rename " + tmp + " to " + path, err), err);
  }
}

PolicyState read_state(const std::string& state_dir) {
  std::string path = state_dir + "/state.json";
  auto bytes = read_whole_file(path);
  return PolicyState::from_json(std::string(bytes.begin(), bytes.end()), path);
}

void write_state(const std::string& state_dir, const PolicyState& state) {
  std::string text = state.to_json();
  write_file_atomic(state_dir + "/state.json", std::vector<std::uint8_t>(text.begin(), text.end()));
}

std::vector<std::string> list_dir(const std::string& dir, bool directories_only) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  if (!d) {
    if (errno == ENOENT || errno == ENOTDIR) return out;
    throw RuntimeError(describe_errno("cannot list " + dir, errno), errno);
  }
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    if (directories_only) {
      struct stat st{};
      if (lstat((dir + "/" + n).c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) continue;
    }
    out.push_back(n);
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

std::string remove_tree(const std::string& path) {
  struct stat st{};
  if (lstat(path.c_str(), &st) != 0) return errno == ENOENT ? "" : describe_errno("cannot stat " + path, errno);
  std::string first_error;
  if (S_ISDIR(st.st_mode)) {
    std::vector<std::string> children;
    try {
      children = list_dir(path, false);
    } catch (const RuntimeError& e) {
      return e.what();
    }
    for (const std::string& c : children) {
      std::string err = remove_tree(path + "/" + c);
      if (first_error.empty()) first_error = err;
    }
    if (rmdir(path.c_str()) != 0 && errno != ENOENT && first_error.empty())
      first_error = describe_errno("cannot remove " + path, errno);
  } else if (unlink(path.c_str()) != 0 && errno != ENOENT && first_error.empty()) {
    first_error = describe_errno("cannot remove " + path, errno);
  }
  return first_error;
}

std::vector<std::string> make_dirs(const std::string& path, unsigned mode) {
  std::vector<std::string> created;
  std::string cur;
  std::size_t pos = 0;
  while (pos <= path.size()) {
    std::size_t next = path.find('/', pos);
    if (next == std::string::npos) next = path.size();
    cur = path.substr(0, next);
    pos = next + 1;
    if (cur.empty()) continue;
    if (mkdir(cur.c_str(), mode) == 0) {
      created.push_back(cur);
    } else if (errno != EEXIST) {
      throw RuntimeError(describe_errno("cannot create directory " + cur, errno), errno);
    } else {
      struct stat st{};
      if (stat(cur.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
        throw RuntimeError(cur + " exists and is not a directory", ENOTDIR, ErrorKind::usage);
    }
  }
  return created;
}

DirLock::DirLock(const std::string& dir) {
  make_dirs(dir);
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw RuntimeError(describe_errno("cannot open " + dir, errno), errno);
  fd_ = Fd(fd);
  while (flock(fd, LOCK_EX) != 0) {
    if (errno == EINTR) continue;
    throw RuntimeError(describe_errno("cannot lock " + dir, errno), errno);
  }
}

void ensure_bpffs(const std::string& root) {
  // The nearest existing ancestor decides the filesystem the pins will be on.
  std::string probe = root;
  struct stat st{};
  while (stat(probe.c_str(), &st) != 0) {
    if (errno != ENOENT) throw RuntimeError(describe_errno("cannot stat " + probe, errno), errno);
    std::string parent = parent_of(probe);
    if (parent == probe) break;
    probe = parent;
  }
  auto on_bpffs = [](const std::string& p) {
    struct statfs fs{};
    return statfs(p.c_str(), &fs) == 0 && static_cast<unsigned long>(fs.f_type) == BPF_FS_MAGIC;
  };
  if (on_bpffs(probe)) return;
  // The standard place: mount bpffs there (as systemd does), never anywhere else.
  const std::string standard = "/sys/fs/bpf";
  if (root == standard || root.rfind(standard + "/", 0) == 0) {
    if (probe == standard || probe == "/sys/fs" || probe == "/sys") {
      make_dirs(standard, 0755);
      if (mount("bpf", standard.c_str(), "bpf", 0, "mode=0700") != 0)
        throw RuntimeError(describe_errno("cannot mount the bpf filesystem on " + standard, errno), errno);
      return;
    }
  }
  throw RuntimeError(ErrorKind::usage,
                     root + " is not on a bpf filesystem (" + probe +
                         " is not): pins need bpffs; mount one with `mount -t bpf bpf DIR` or choose --bpffs-dir",
                     EINVAL);
}

std::string now_rfc3339() {
  auto now = std::chrono::system_clock::now();
  auto secs = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

}  // namespace krsie::runtime

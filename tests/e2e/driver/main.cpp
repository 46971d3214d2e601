// krsie-e2e: the guest-side scenario driver. Runs inside the test guest (statically linked),
// executes every scenario under a directory and prints one machine-readable line per check:
//
//   KRSIE-RESULT <scenario> <check> PASS|FAIL <detail>
//   KRSIE-EVENT <scenario> <event text>
//
// The host runner (krsie_guest.py) parses these lines from the serial console. Every check a
// scenario declares gets exactly one result line, even when the scenario fails to set up.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "krsie/runtime/bpf.h"
#include "krsie/runtime/cgroup.h"
#include "krsie/runtime/error.h"
#include "krsie/runtime/events.h"
#include "krsie/runtime/inode.h"
#include "krsie/runtime/maps.h"
#include "krsie/runtime/policy.h"
#include "krsie/templates.h"
#include "krsie_abi.h"
#include "scenario.h"

namespace fs = std::filesystem;
using namespace krsie;
using namespace krsie::e2e;

namespace {

constexpr int k_action_timeout_ms = 150000;  // loading verifies programs: 36-57 s for all-hooks on a busy TCG host
// Setup commands may run many loads/replacements (each verifies programs: seconds under TCG).
constexpr int k_setup_timeout_ms = 300000;

// What a child process did: the syscall's errno (0 = it succeeded) and, when it exited,
// its status. `exec_succeeded` tells an exit status apart from a failed exec.
struct ActionResult {
  bool syscall_reported = false;
  int err = 0;
  bool exited = false;
  int status = 0;
  int signal = 0;
  bool timed_out = false;
  std::string output;

  std::string text() const {
    if (timed_out) return "timed out";
    if (syscall_reported && err != 0) return errno_name(err);
    if (signal) return "killed by signal " + std::to_string(signal);
    if (exited && !syscall_reported) return status == 0 ? "ok" : "exit=" + std::to_string(status);
    return "ok";
  }
};

std::string one_line(std::string s, std::size_t max = 300) {
  for (char& c : s)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  while (!s.empty() && s.back() == ' ') s.pop_back();
  if (s.size() > max) s = s.substr(0, max) + "...";
  return s;
}

// A socket address from "ADDR" and "PORT" (IPv4 or IPv6).
bool make_addr(const std::string& addr, const std::string& port, sockaddr_storage& ss, socklen_t& len) {
  std::memset(&ss, 0, sizeof ss);
  auto* in4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
  int p = std::atoi(port.c_str());
  if (inet_pton(AF_INET, addr.c_str(), &in4->sin_addr) == 1) {
    in4->sin_family = AF_INET;
    in4->sin_port = htons(static_cast<uint16_t>(p));
    len = sizeof(sockaddr_in);
    return true;
  }
  if (inet_pton(AF_INET6, addr.c_str(), &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(static_cast<uint16_t>(p));
    len = sizeof(sockaddr_in6);
    return true;
  }
  return false;
}

int pid_arg(const std::string& s) { return s == "parent" ? getppid() : std::atoi(s.c_str()); }

// Performs a built-in action in the child; returns the errno of the system call under test
// (0: it succeeded), or -1 when `verb` is not a syscall action (exec, sh).
int syscall_action(const std::vector<std::string>& a) {
  const std::string& verb = a[0];
  auto rc = [](long r) { return r < 0 ? errno : 0; };
  if (verb == "open-read" || verb == "open-write" || verb == "open-rdwr" || verb == "create") {
    int flags = verb == "open-read" ? O_RDONLY : verb == "open-write" ? (O_WRONLY | O_APPEND)
                : verb == "open-rdwr" ? O_RDWR : (O_WRONLY | O_CREAT | O_EXCL);
    int fd = open(a[1].c_str(), flags, 0644);
    return rc(fd);
  }
  if (verb == "connect" || verb == "connect-udp" || verb == "sendto-udp" || verb == "bind") {
    sockaddr_storage ss;
    socklen_t len;
    if (!make_addr(a[1], a[2], ss, len)) return EINVAL;
    int fd = socket(ss.ss_family, verb == "connect" ? SOCK_STREAM : (verb == "bind" ? SOCK_STREAM : SOCK_DGRAM), 0);
    if (fd < 0) return errno;
    if (verb == "bind") return rc(bind(fd, reinterpret_cast<sockaddr*>(&ss), len));
    if (verb == "sendto-udp") return rc(sendto(fd, "x", 1, 0, reinterpret_cast<sockaddr*>(&ss), len));
    return rc(connect(fd, reinterpret_cast<sockaddr*>(&ss), len));
  }
  if (verb == "listen") {
    sockaddr_storage ss;
    socklen_t len;
    make_addr("127.0.0.1", a[1], ss, len);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) < 0) return errno;
    return rc(listen(fd, 1));
  }
  if (verb == "socket") return rc(socket(std::atoi(a[1].c_str()), std::atoi(a[2].c_str()), std::atoi(a[3].c_str())));
  if (verb == "setuid") return rc(setuid(static_cast<uid_t>(std::atoi(a[1].c_str()))));
  if (verb == "setgid") return rc(setgid(static_cast<gid_t>(std::atoi(a[1].c_str()))));
  if (verb == "mkdir") return rc(mkdir(a[1].c_str(), 0755));
  if (verb == "rmdir") return rc(rmdir(a[1].c_str()));
  if (verb == "unlink") return rc(unlink(a[1].c_str()));
  if (verb == "truncate") return rc(truncate(a[1].c_str(), 0));
  if (verb == "rename") return rc(rename(a[1].c_str(), a[2].c_str()));
  if (verb == "link") return rc(link(a[1].c_str(), a[2].c_str()));
  if (verb == "symlink") return rc(symlink(a[1].c_str(), a[2].c_str()));
  if (verb == "chmod") return rc(chmod(a[1].c_str(), static_cast<mode_t>(std::strtol(a[2].c_str(), nullptr, 8))));
  if (verb == "exec-memfd") {
    // Copy a binary into an anonymous memfd and execute it from there (fileless execution).
    int src = open(a[1].c_str(), O_RDONLY);
    if (src < 0) return errno;
    int mfd = static_cast<int>(syscall(SYS_memfd_create, "krsie-memfd", 0));
    if (mfd < 0) return errno;
    char buf[65536];
    for (ssize_t n; (n = read(src, buf, sizeof buf)) > 0;)
      if (write(mfd, buf, static_cast<size_t>(n)) != n) return errno;
    close(src);
    char arg0[] = "true";
    char* argv[] = {arg0, nullptr};
    char* envp[] = {nullptr};
    syscall(SYS_execveat, mfd, "", argv, envp, 0x1000 /* AT_EMPTY_PATH */);
    return errno;  // only reached when exec failed
  }
  if (verb == "bpf-map-create") {
    // The smallest bpf(2) call that needs no privilege beyond what root has: an array map.
    union bpf_attr_min {
      struct {
        std::uint32_t map_type, key_size, value_size, max_entries;
      } create;
      char pad[128];
    } attr{};
    attr.create.map_type = 2;  // BPF_MAP_TYPE_ARRAY
    attr.create.key_size = 4;
    attr.create.value_size = 4;
    attr.create.max_entries = 1;
    return rc(syscall(321 /* __NR_bpf */, 0 /* BPF_MAP_CREATE */, &attr, sizeof attr));
  }
  if (verb == "ptrace-attach") {
    if (a[1] == "child") {
      // A child of ours (Yama allows tracing descendants), in the same cgroup.
      pid_t child = fork();
      if (child == 0) {
        pause();
        _exit(0);
      }
      long r = ptrace(PTRACE_ATTACH, child, nullptr, nullptr);
      int err = r < 0 ? errno : 0;
      kill(child, SIGKILL);
      waitpid(child, nullptr, 0);
      return err;
    }
    int pid = pid_arg(a[1]);
    long r = ptrace(PTRACE_ATTACH, pid, nullptr, nullptr);
    if (r == 0) ptrace(PTRACE_DETACH, pid, nullptr, nullptr);
    return rc(r);
  }
  if (verb == "kill") return rc(kill(pid_arg(a[1]), std::atoi(a[2].c_str())));
  return -1;
}

// Runs `argv` (or a built-in syscall action) in a new process inside `cgroup_dir`.
ActionResult run_action(const std::string& cgroup_dir, const std::vector<std::string>& action,
                        int timeout_ms = k_action_timeout_ms) {
  int report[2], output[2];
  if (pipe2(report, O_CLOEXEC) != 0 || pipe2(output, O_CLOEXEC) != 0)
    throw runtime::RuntimeError(runtime::describe_errno("pipe", errno), errno);
  pid_t pid = fork();
  if (pid < 0) throw runtime::RuntimeError(runtime::describe_errno("fork", errno), errno);
  if (pid == 0) {
    close(report[0]);
    close(output[0]);
    dup2(output[1], STDOUT_FILENO);
    dup2(output[1], STDERR_FILENO);
    auto report_err = [&](int err) {
      if (write(report[1], &err, sizeof err) < 0) _exit(125);
    };
    try {
      runtime::move_to_cgroup(cgroup_dir);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "cannot enter cgroup: %s\n", e.what());
      _exit(126);
    }
    const std::string& verb = action[0];
    if (int err = syscall_action(action); err >= 0) {
      report_err(err);
      _exit(0);
    }
    std::vector<std::string> args;
    if (verb == "sh") {
      args = {"/bin/sh", "-c", action[1]};
    } else if (verb == "match") {  // match REGEX PATH ARG...
      args.assign(action.begin() + 2, action.end());
    } else {  // exec PATH ARG...
      args.assign(action.begin() + 1, action.end());
    }
    std::vector<char*> cargv;
    for (auto& a : args) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    execvp(cargv[0], cargv.data());
    report_err(errno);  // only reached when exec failed
    _exit(127);
  }
  close(report[1]);
  close(output[1]);

  ActionResult r;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  pollfd fds[2] = {{report[0], POLLIN, 0}, {output[0], POLLIN, 0}};
  int open_fds = 2;
  while (open_fds > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) {
      r.timed_out = true;
      kill(pid, SIGKILL);
      break;
    }
    if (poll(fds, 2, static_cast<int>(left)) < 0 && errno != EINTR) break;
    for (pollfd& p : fds) {
      if (p.fd < 0 || !(p.revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[512];
      ssize_t n = read(p.fd, buf, sizeof buf);
      if (n <= 0) {
        close(p.fd);
        p.fd = -1;
        --open_fds;
      } else if (p.fd == report[0] && n >= static_cast<ssize_t>(sizeof(int))) {
        std::memcpy(&r.err, buf, sizeof(int));
        r.syscall_reported = true;
      } else if (p.fd == output[0] && r.output.size() < 65536) {
        r.output.append(buf, n);
      }
    }
  }
  for (pollfd& p : fds)
    if (p.fd >= 0) close(p.fd);
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFEXITED(status)) {
    r.exited = true;
    r.status = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    r.signal = WTERMSIG(status);
  }
  return r;
}

bool matches(const Outcome& want, const ActionResult& got) {
  if (got.timed_out) return false;
  if (got.signal && want.kind != Outcome::Kind::signal) return false;
  switch (want.kind) {
    case Outcome::Kind::ok: return got.err == 0 && got.exited && (got.syscall_reported || got.status == 0);
    case Outcome::Kind::error: return got.syscall_reported && got.err == want.value;
    case Outcome::Kind::exit_code: return !got.syscall_reported && got.exited && got.status == want.value;
    case Outcome::Kind::signal: return got.signal == want.value;
  }
  return false;
}

// Everything one scenario set up, torn down in reverse order by the destructor.
class ScenarioRun {
 public:
  ScenarioRun(const Scenario& sc, std::string cgroup_root, std::string dir)
      : sc_(sc), root_(std::move(cgroup_root)), dir_(std::move(dir)) {}
  ~ScenarioRun() {
    stop_background();
    for (const Step& step : teardown_) {
      try {
        ActionResult r = run_action(root_, exec_argv(step));
        if (!(r.exited && r.status == 0 && !r.syscall_reported))
          std::cout << "KRSIE-LOG " << sc_.name << " teardown at line " << step.line << " failed (" << r.text()
                    << "): " << one_line(r.output) << std::endl;
      } catch (const std::exception& e) {
        std::cout << "KRSIE-LOG " << sc_.name << " teardown at line " << step.line << ": " << one_line(e.what())
                  << std::endl;
      }
    }
    policies_.clear();
    loaded_.clear();  // detach programs before removing cgroups
    for (auto it = created_.rbegin(); it != created_.rend(); ++it) rmdir(it->c_str());
  }

  std::string cgroup_dir(const std::string& name) const {
    if (name == "root") return root_;
    for (const auto& c : sc_.cgroups)
      if (c.name == name) return root_ + c.path;
    throw runtime::RuntimeError("unknown cgroup " + name);
  }

  void create_cgroups() {
    for (const auto& c : sc_.cgroups) {
      fs::path rel = fs::path(c.path).relative_path();
      fs::path dir = root_;
      for (const auto& part : rel) {
        dir /= part;
        if (mkdir(dir.c_str(), 0755) == 0)
          created_.push_back(dir.string());
        else if (errno != EEXIST)
          throw runtime::RuntimeError(runtime::describe_errno("mkdir " + dir.string(), errno), errno);
      }
    }
  }

  static std::vector<std::string> exec_argv(const Step& step) {
    std::vector<std::string> a = {"exec"};
    a.insert(a.end(), step.args.begin(), step.args.end());
    return a;  // a command without '/' is searched in $PATH (/krsie/bin, /bin, ...)
  }

  void setup(const Step& step) {
    ActionResult r = run_action(root_, exec_argv(step), k_setup_timeout_ms);
    if (!(r.exited && r.status == 0 && !r.syscall_reported))
      throw runtime::RuntimeError("setup at line " + std::to_string(step.line) + " failed (" +
                                  r.text() + "): " + one_line(r.output));
  }

  // template NAME cgroup=X deny-inode=PATH mode=enforce|audit
  void load_template(const Step& step) {
    const templates::Template* t = templates::find(step.args[0]);
    if (!t) throw runtime::RuntimeError("no embedded template named " + step.args[0]);
    auto loaded = std::make_unique<Loaded>(Loaded{runtime::BpfObject::open_memory(t->name, t->elf), {}, {}, nullptr});
    loaded->object.load();
    krsie_config config{1, 0};
    std::uint32_t rule_id = 0;
    for (std::size_t i = 1; i < step.args.size(); ++i) {
      const std::string& kv = step.args[i];
      std::string key = kv.substr(0, kv.find('=')), value = kv.substr(kv.find('=') + 1);
      if (key == "cgroup") {
        std::uint64_t id = runtime::cgroup_id(cgroup_dir(value));
        loaded->object.map("krsie_targets").update(id, krsie_target{0, 1});  // generation 0
      } else if (key == "deny-inode") {
        krsie_inode_key k = runtime::inode_key(value);
        krsie_rule rule{rule_id++, KRSIE_DECISION_DENY, {0, 0, 0}, EPERM};
        loaded->object.map("krsie_inode_rules").update(k, rule);
        loaded->paths.push_back(value);
      } else if (key == "mode") {
        config.enforce = value == "enforce";
      } else {
        throw runtime::RuntimeError("unknown template option " + key);
      }
    }
    std::uint32_t zero = 0;
    loaded->object.map("krsie_config").update(zero, config);
    loaded->events = std::make_unique<runtime::RingBufferReader>(
        loaded->object.map("krsie_events"), [this, paths = loaded->paths](std::span<const std::byte> rec) {
          if (rec.size() < sizeof(krsie_event)) return;
          krsie_event ev;
          std::memcpy(&ev, rec.data(), sizeof ev);
          std::ostringstream line;
          line << "hook=" << ev.hook << " decision=" << (ev.decision == KRSIE_DECISION_DENY ? "deny" : "audit")
               << " rule=" << ev.rule_id << " pid=" << ev.tgid << " comm="
               << std::string(ev.comm, strnlen(ev.comm, sizeof ev.comm)) << " cgroup=" << ev.cgroup_id
               << " ino=" << ev.inode.ino;
          if (ev.rule_id < paths.size()) line << " path=" << paths[ev.rule_id];
          std::cout << "KRSIE-EVENT " << sc_.name << " " << line.str() << std::endl;
        });
    loaded->links = loaded->object.attach_all();
    loaded_.push_back(std::move(loaded));
  }

  // load POLICY.krs: the policy.o the host compiled next to it, on the policy's cgroup targets.
  void load_policy(const Step& step) {
    fs::path obj = fs::path(dir_) / step.args[0];
    obj.replace_extension(".o");
    runtime::PolicyObject object = runtime::PolicyObject::read_file(obj.string());
    auto policy = std::make_unique<Policy>(Policy{runtime::LoadedPolicy::load(object), nullptr});
    if (object.meta.cgroup_targets.empty()) throw runtime::RuntimeError("policy " + object.meta.name + " has no cgroup target");
    for (const std::string& target : object.meta.cgroup_targets) policy->loaded.add_target(runtime::cgroup_id(target));
    const runtime::PolicyMetadata& meta = policy->loaded.meta();
    policy->events = std::make_unique<runtime::RingBufferReader>(
        policy->loaded.object().map("krsie_events"), [this, &meta](std::span<const std::byte> rec) {
          // The same JSON lines `krsie-load events --json` prints (docs/loader.md).
          runtime::EventRecord e = runtime::decode_event(
              std::span(reinterpret_cast<const std::uint8_t*>(rec.data()), rec.size()), meta.name, &meta,
              cgroup_names_, realtime_offset_);
          std::string json = runtime::event_json(e);
          recent_events_.push_back(json);
          std::cout << "KRSIE-EVENT " << sc_.name << " " << json << std::endl;
        });
    policy->loaded.attach();
    policies_.push_back(std::move(policy));
  }

  void unload() {
    drain_events();
    policies_.clear();
  }

  // Events (JSON) reported since the last `expect`, for `expect-event`.
  void clear_recent_events() { recent_events_.clear(); }
  const std::vector<std::string>& recent_events() const { return recent_events_; }

  void add_teardown(const Step& step) { teardown_.push_back(step); }

  // background CGROUP SCRIPT: /bin/sh -c SCRIPT in its own process group inside CGROUP.
  void background(const Step& step) {
    std::string dir = cgroup_dir(step.cgroup);
    pid_t pid = fork();
    if (pid < 0) throw runtime::RuntimeError(runtime::describe_errno("fork", errno), errno);
    if (pid == 0) {
      setpgid(0, 0);
      int null = open("/dev/null", O_RDWR);
      if (null >= 0) {
        dup2(null, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
        dup2(null, STDERR_FILENO);
      }
      try {
        runtime::move_to_cgroup(dir);
      } catch (const std::exception&) {
        _exit(126);
      }
      execl("/bin/sh", "sh", "-c", step.args[0].c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    setpgid(pid, pid);
    background_.push_back(pid);
  }

  void stop_background() {
    for (pid_t pid : background_) {
      kill(-pid, SIGKILL);
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
    background_.clear();
  }

  void drain_events() {
    for (auto& l : loaded_) l->events->drain();
    for (auto& p : policies_) p->events->drain();
  }

 private:
  struct Loaded {
    runtime::BpfObject object;
    std::vector<runtime::BpfLink> links;
    std::vector<std::string> paths;
    std::unique_ptr<runtime::RingBufferReader> events;
  };
  struct Policy {
    runtime::LoadedPolicy loaded;
    std::unique_ptr<runtime::RingBufferReader> events;
  };
  const Scenario& sc_;
  std::string root_;
  std::string dir_;
  std::vector<std::unique_ptr<Policy>> policies_;
  std::vector<std::string> recent_events_;
  runtime::CgroupNames cgroup_names_;
  std::int64_t realtime_offset_ = runtime::realtime_offset_ns();
  std::vector<std::string> created_;
  std::vector<std::unique_ptr<Loaded>> loaded_;
  std::vector<Step> teardown_;
  std::vector<pid_t> background_;
};

void report(const Scenario& sc, const std::string& id, bool pass, const std::string& detail) {
  std::cout << "KRSIE-RESULT " << sc.name << " " << id << " " << (pass ? "PASS" : "FAIL") << " "
            << one_line(detail, 700) << std::endl;
}

// Runs one scenario; returns the number of failed checks.
// Each scenario run gets an empty /tmp (a tmpfs mounted over it, detached at the end), so setup
// scripts start from a clean slate, also when a scenario runs once per backend.
struct FreshTmp {
  bool mounted = ::mount("krsie-tmp", "/tmp", "tmpfs", 0, "mode=1777") == 0;
  ~FreshTmp() {
    if (mounted) ::umount2("/tmp", MNT_DETACH);
  }
};

int run_scenario(const Scenario& sc, const std::string& cgroup_root, const std::string& dir) {
  std::cout << "KRSIE-SCENARIO " << sc.name << " BEGIN" << std::endl;
  FreshTmp tmp;
  if (!tmp.mounted) std::cout << "KRSIE-LOG " << sc.name << " cannot mount a fresh /tmp: " << std::strerror(errno) << std::endl;
  int failures = 0;
  std::vector<std::string> pending = sc.expect_ids();
  try {
    ScenarioRun run(sc, cgroup_root, dir);
    run.create_cgroups();
    for (const Step& step : sc.steps) {
      switch (step.kind) {
        case Step::Kind::setup: run.setup(step); break;
        case Step::Kind::template_load: run.load_template(step); break;
        case Step::Kind::load_policy: run.load_policy(step); break;
        case Step::Kind::unload: run.unload(); break;
        case Step::Kind::background: run.background(step); break;
        case Step::Kind::teardown: run.add_teardown(step); break;
        case Step::Kind::expect_event: {
          run.drain_events();
          std::regex pattern(step.args[0]);
          bool pass = false;
          for (const std::string& ev : run.recent_events()) pass = pass || std::regex_search(ev, pattern);
          std::string seen;
          for (const std::string& ev : run.recent_events()) seen += (seen.empty() ? "" : " | ") + ev;
          report(sc, step.id, pass, "event /" + step.args[0] + "/ " + (pass ? "seen" : "NOT seen") +
                                        "; events of the previous check: " + (seen.empty() ? "none" : one_line(seen, 900)));
          failures += !pass;
          pending.erase(std::find(pending.begin(), pending.end(), step.id));
          break;
        }
        case Step::Kind::expect: {
          std::vector<std::string> action = step.args;
          run.drain_events();
          run.clear_recent_events();
          ActionResult r = run_action(run.cgroup_dir(step.cgroup), action);
          bool pass = matches(step.outcome, r);
          bool output_matches = true;
          if (action[0] == "match") {
            output_matches = std::regex_search(r.output, std::regex(action[1]));
            pass = pass && output_matches;
          }
          std::string detail = "in " + step.cgroup + ": " + one_line([&] {
            std::string s;
            for (const auto& a : action) s += (s.empty() ? "" : " ") + a;
            return s;
          }(), 120) + " -> " + r.text() + " (expected " + step.outcome.text() + ")";
          if (!output_matches) detail += "; output does not match /" + action[1] + "/";
          if (!r.output.empty()) detail += "; output: " + one_line(r.output, action[0] == "match" ? 500 : 200);
          report(sc, step.id, pass, detail);
          failures += !pass;
          pending.erase(std::find(pending.begin(), pending.end(), step.id));
          run.drain_events();
          break;
        }
      }
    }
    run.drain_events();
  } catch (const std::exception& e) {
    // The whole error (a verifier log, say) goes to the console for whoever debugs the failure.
    std::istringstream lines(e.what());
    for (std::string l; std::getline(lines, l);) std::cout << "KRSIE-LOG " << sc.name << " " << l << "\n";
    std::cout.flush();
    std::string why = std::string("scenario aborted: ") + e.what();
    for (const auto& id : pending) report(sc, id, false, why), ++failures;
  }
  std::cout << "KRSIE-SCENARIO " << sc.name << " END failures=" << failures << std::endl;
  return failures;
}

}  // namespace

// krsie-e2e --memo MAP_PIN PATH: prints what a policy's path memo (krsie_path_memo, inode
// storage) remembers for PATH's inode, for scenarios that check it is filled, reused and
// forgotten. The key is an fd of the file: O_PATH, which runs no file_open hook.
int print_memo(const std::string& pin, const std::string& path) {
  try {
    runtime::MapHandle map = runtime::MapHandle::open_pinned(pin, "krsie_path_memo");
    int fd = open(path.c_str(), O_PATH | O_CLOEXEC);
    if (fd < 0) throw runtime::RuntimeError(runtime::describe_errno("opening " + path, errno), errno);
    auto value = map.lookup(std::span(reinterpret_cast<const std::uint8_t*>(&fd), sizeof fd));
    close(fd);
    if (!value || value->size() < sizeof(krsie_path_memo)) {
      std::cout << "memo none\n";
      return 1;
    }
    krsie_path_memo memo;
    std::memcpy(&memo, value->data(), sizeof memo);
    // The exec slot first, file_open's last (its line ends the output).
    for (int slot : {KRSIE_MEMO_EXEC, KRSIE_MEMO_FILE_OPEN}) {
      const krsie_memo_entry& m = memo.slot[slot];
      std::printf("%s lock=%u forgets=%u seen=%u epoch=%u key=%#x mask=%#llx filled=%d leaf=%.*s\n",
                  slot == KRSIE_MEMO_EXEC ? "memo-exec" : "memo", m.lock, memo.forgets, m.seen, m.epoch, m.key,
                  static_cast<unsigned long long>(m.mask), m.dentry != 0, static_cast<int>(strnlen(m.leaf, sizeof m.leaf)),
                  m.leaf);
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "krsie-e2e --memo: " << e.what() << "\n";
    return 1;
  }
}

int main(int argc, char** argv) {
  if (argc == 4 && std::string(argv[1]) == "--memo") return print_memo(argv[2], argv[3]);
  if (argc != 2) {
    std::cerr << "usage: krsie-e2e SCENARIO_DIR | krsie-e2e --memo MAP_PIN PATH\n";
    return 2;
  }
  std::vector<fs::path> files;
  for (const auto& entry : fs::recursive_directory_iterator(argv[1]))
    if (entry.is_regular_file() && entry.path().extension() == ".scn") files.push_back(entry.path());
  std::sort(files.begin(), files.end());

  auto root = runtime::cgroup2_mount_point();
  if (!root) {
    std::cerr << "krsie-e2e: cgroup2 is not mounted\n";
    return 1;
  }
  int failures = 0;
  for (const fs::path& f : files) {
    std::ifstream in(f);
    std::stringstream text;
    text << in.rdbuf();
    Scenario sc;
    try {
      sc = parse_scenario(f.filename().string(), text.str());
    } catch (const std::exception& e) {
      std::cout << "KRSIE-ERROR " << one_line(e.what()) << std::endl;
      ++failures;
      continue;
    }
    for (const std::string& backend : sc.backends) {
      Scenario run = sc;
      if (backend == "llvm") {
        // The same checks against the policies compiled by the LLVM backend (differential run).
        run.name += ".llvm";
        static const std::regex object_path("/krsie/scenarios/([A-Za-z0-9_.-]+\\.o)");
        for (Step& step : run.steps) {
          if (step.kind == Step::Kind::load_policy) step.args[0] = "llvm/" + step.args[0];
          // Objects named by path in commands (krsie-load load/replace ...): the LLVM ones.
          for (std::string& arg : step.args) arg = std::regex_replace(arg, object_path, "/krsie/scenarios/llvm/$1");
        }
      }
      failures += run_scenario(run, *root, f.parent_path().string());
    }
  }
  std::cout << "KRSIE-SUMMARY scenarios=" << files.size() << " failed-checks=" << failures << std::endl;
  return failures == 0 ? 0 : 1;
}

// krsie-bench-guest: the guest side of bench/run (static; runs as the guest's /init payload).
//
//   krsie-bench-guest --open-bench PATH --true-bin PATH [--rounds R] [--iters N] [--warmup N]
//                     [--exec-iters N] [--connect-iters N] [--ops open,exec,connect]
//                     [--load-reps K] [--replace-reps K] [--profile] [--events POLICY.o] [--events-opens N]
//                     [--macro LABEL] [--macro-tar TAR] [--macro-spawns N] [--macro-rounds R]
//                     LABEL=POLICY.o ...            (LABEL: SIZE or SIZE:BACKEND)
//
// 1. Load latency: for every policy, K times: PolicyObject::read_file, LoadedPolicy::load,
//    add_target + attach (monotonic clock around each), then detach. The last instance stays
//    loaded (detached) for the later steps.
// 2. Micro benchmarks, interleaved rounds: each round runs every group in a rotated order; a
//    group is "none" (no program attached), "landlock" or one policy (attached for the group,
//    detached after). Each measurement is a fresh krsie-bench-open process; per op:
//      none-allow / none-deny      caller in the target cgroup, no program (baseline, case a)
//      out-allow                   policy attached, caller outside its targets (case b)
//      in-allow                    caller inside, allowed object (case c)
//      in-other                    (open) caller inside, allowed file whose last byte already
//                                  kills the path automaton (fixed cost of a confined call)
//      in-deny                     caller inside, denied object -> EPERM (case d); only when
//                                  the policy has a rule of that kind (10 rules: file rules only)
//      landlock-allow / -deny      (open) Landlock allows reading beneath /tmp/bench only
//    ops: open  open()+close()          allowed /tmp/bench/d0/file-0, denied /data/bench/d0/file-0
//         exec  vfork+execve+wait       allowed /tmp/bench/bin/ok-helper, denied
//                                       /opt/pkg-17/bin/x-helper (rule 17: deny exec "/opt/pkg-17/bin/*-helper")
//         connect socket+connect+close  allowed 127.0.0.1:9 (closed: ECONNREFUSED), denied
//                                       127.0.0.1:1024 (rule 19: deny network connect port 1024)
//    Every outcome is checked (a policy that does not deny makes the run fail).
// 3. Macro (--macro LABEL): a busybox sh loop launching krsie-bench-true N times, and busybox
//    tar -x of a tarball, in the target cgroup with no program / with the policy attached.
// 4. Events (--events): an audit-mode policy reporting every open of /tmp/bench/ev; a child
//    opens it N times while this process drains the ring buffer (libbpf ring_buffer__poll);
//    delivered vs krsie_stats counters, with the default rate limit and with it lifted.
// 5. Profile (--profile): with kernel.bpf_stats_enabled, every policy's program run counts and
//    run times (bpf_prog_info run_cnt / run_time_ns) around one measurement per op and case:
//    under icount, ns per run = instructions per run of the BPF program itself (the trampoline
//    and the LSM call around it excluded).
// 6. Replace latency (--replace-reps K): every policy is loaded with the loader API (pinned, as
//    krsie-load does) and replaced K times by the same object; ReplaceResult's phases.
//
// Output (serial console, parsed by bench/run):
//   KRSIE-BENCH load size=N backend=B rep=K read_ms=X load_ms=X attach_ms=X programs=P
//   KRSIE-BENCH op round=R op=OP cond=NAME size=N backend=B ns_per_op=X result=ok|EPERM|...
//   KRSIE-BENCH macro round=R work=W cond=none|in size=N backend=B ns=X
//   KRSIE-BENCH events limit=L opens=N delivered=D events=E dropped=X ns=T
//   KRSIE-BENCH progstat op=OP cond=NAME size=N backend=B prog=NAME runs=N ns=T
//   KRSIE-BENCH pinload size=N backend=B ms=X verify_ms=X fill_ms=X attach_ms=X
//   KRSIE-BENCH replace size=N backend=B rep=K total_ms=X prepare_ms=X publish_ms=X switch_ms=X
//               sync_ms=X cleanup_ms=X entries=E read_ms=X open_ms=X purge_ms=X rewrite_ms=X
//               programs_ms=X write_ms=X copy_ms=X
//   KRSIE-BENCH error TEXT
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "krsie/runtime/cgroup.h"
#include "krsie/runtime/error.h"
#include "krsie/runtime/loader.h"
#include "krsie/runtime/policy.h"

namespace fs = std::filesystem;
using namespace krsie;

namespace {

constexpr const char* kCgroupIn = "/sys/fs/cgroup/bench/in";   // bench/gen_policy.py's target
constexpr const char* kCgroupOut = "/sys/fs/cgroup/bench/out";
constexpr const char* kAllowed = "/tmp/bench/d0/file-0";        // matches no rule
constexpr const char* kDenied = "/data/bench/d0/file-0";        // the policy's first exact rule
constexpr const char* kLandlockDir = "/tmp/bench";
constexpr const char* kOther = "/tmp/bench/x";             // the path automaton dies on its first byte
constexpr const char* kExecAllowed = "/tmp/bench/bin/ok-helper";
constexpr const char* kExecDenied = "/opt/pkg-17/bin/x-helper";  // rule 17 of gen_policy.py
constexpr const char* kPortAllowed = "9";                         // closed: ECONNREFUSED
constexpr const char* kPortDenied = "1024";                       // rule 19 of gen_policy.py
constexpr const char* kEventFile = "/tmp/bench/ev";
constexpr const char* kBusybox = "/bin/busybox";

struct Options {
  std::string open_bench, true_bin;
  int rounds = 5;
  long iters = 2000, warmup = 300, exec_iters = 200, connect_iters = 1000;
  std::set<std::string> ops = {"open"};
  int load_reps = 3, replace_reps = 0;
  bool profile = false;
  std::string events_policy;
  long events_opens = 20000;
  std::string macro_label, macro_tar;
  long macro_spawns = 100;
  int macro_rounds = 3;
  std::vector<std::pair<std::string, std::string>> policies;  // label, path
};

struct Policy {
  long size = 0;
  std::string backend, path;
  std::optional<runtime::LoadedPolicy> loaded;
  bool has_exec = false, has_connect = false;
  std::string label() const { return "size=" + std::to_string(size) + " backend=" + backend; }
};

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

struct Failures {
  int count = 0;
  void error(const std::string& text) {
    std::cout << "KRSIE-BENCH error " << text << std::endl;
    ++count;
  }
};

void touch(const fs::path& path) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << "benchmark file\n";
}

void install_binary(const fs::path& from, const fs::path& to) {
  fs::create_directories(to.parent_path());
  fs::copy_file(from, to, fs::copy_options::overwrite_existing);
  fs::permissions(to, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec | fs::perms::others_read |
                          fs::perms::others_exec);
}

// Runs argv (optionally in a cgroup); returns (exit status, stdout).
std::pair<int, std::string> run_child(std::vector<std::string> args, const char* cgroup) {
  int pipefd[2];
  if (pipe(pipefd) != 0) return {-1, "pipe failed"};
  pid_t pid = fork();
  if (pid < 0) return {-1, "fork failed"};
  if (pid == 0) {
    dup2(pipefd[1], 1);
    close(pipefd[0]);
    close(pipefd[1]);
    if (cgroup) {
      try {
        runtime::move_to_cgroup(cgroup);
      } catch (const std::exception&) {
        _exit(126);
      }
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(pipefd[1]);
  std::string out;
  char buf[512];
  for (ssize_t n; (n = read(pipefd[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(n));
  close(pipefd[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return {status, out};
}

struct Bench {
  const Options& opt;
  Failures& fail;

  // One krsie-bench-open run; prints the op line and checks the outcome.
  void measure(int round, const std::string& op, const std::string& cond, const std::string& label,
               const std::string& expect, std::vector<std::string> extra, bool quiet = false) const {
    long iters = op == "exec" ? opt.exec_iters : op == "connect" ? opt.connect_iters : opt.iters;
    long warmup = op == "exec" ? std::min(opt.warmup, 20L) : op == "connect" ? std::min(opt.warmup, 200L) : opt.warmup;
    std::vector<std::string> args = {opt.open_bench, "--op",   op, "--iters", std::to_string(iters),
                                     "--warmup",     std::to_string(warmup)};
    args.insert(args.end(), extra.begin(), extra.end());
    auto [status, line] = run_child(args, nullptr);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      fail.error("krsie-bench-open failed (status " + std::to_string(status) + "): " + line);
      return;
    }
    std::string::size_type at = line.find("ns_per_op=");
    std::string ns = at == std::string::npos ? "?" : line.substr(at + 10, line.find(' ', at) - at - 10);
    std::string result = line.substr(line.find("result=") + 7);
    if (!quiet)
      std::cout << "KRSIE-BENCH op round=" << round << " op=" << op << " cond=" << cond << " " << label
                << " ns_per_op=" << ns << " result=" << result << std::endl;
    if (result != expect) fail.error(op + " " + cond + " " + label + ": expected " + expect + ", got " + result);
  }

  // The conditions of one op for a group (policy == nullptr: no program).
  void run_op(int round, const std::string& op, const Policy* p) const {
    bool open = op == "open", exec = op == "exec";
    const char* allowed = open ? kAllowed : exec ? kExecAllowed : kPortAllowed;
    const char* denied = open ? kDenied : exec ? kExecDenied : kPortDenied;
    std::string allowed_result = op == "connect" ? "ECONNREFUSED" : "ok";
    if (!p) {
      std::string label = "size=0 backend=none";
      measure(round, op, "none-allow", label, allowed_result, {"--cgroup", kCgroupIn, allowed});
      if (open) measure(round, op, "none-deny", label, "ok", {"--cgroup", kCgroupIn, denied});
      return;
    }
    measure(round, op, "out-allow", p->label(), allowed_result, {"--cgroup", kCgroupOut, allowed});
    measure(round, op, "in-allow", p->label(), allowed_result, {"--cgroup", kCgroupIn, allowed});
    if (open) measure(round, op, "in-other", p->label(), "ok", {"--cgroup", kCgroupIn, kOther});
    bool has_rule = open || (exec ? p->has_exec : p->has_connect);
    if (has_rule) measure(round, op, "in-deny", p->label(), "EPERM", {"--cgroup", kCgroupIn, denied});
  }

  void rounds(std::vector<Policy>& policies) const {
    const std::size_t groups = policies.size() + 2;
    for (int round = 0; round < opt.rounds; ++round) {
      for (std::size_t k = 0; k < groups; ++k) {
        std::size_t g = (k + static_cast<std::size_t>(round)) % groups;
        if (g == 0) {
          for (const std::string& op : opt.ops) run_op(round, op, nullptr);
        } else if (g == 1) {
          if (!opt.ops.count("open")) continue;
          std::string label = "size=0 backend=none";
          measure(round, "open", "landlock-allow", label, "ok", {"--cgroup", kCgroupIn, "--landlock", kLandlockDir, kAllowed});
          measure(round, "open", "landlock-deny", label, "EACCES",
                  {"--cgroup", kCgroupIn, "--landlock", kLandlockDir, kDenied});
        } else {
          Policy& p = policies[g - 2];
          try {
            p.loaded->attach();
          } catch (const std::exception& e) {
            fail.error("attaching the " + p.label() + " policy failed: " + e.what());
            continue;
          }
          for (const std::string& op : opt.ops) run_op(round, op, &p);
          p.loaded->detach();
        }
      }
    }
  }

  struct ProgStat {
    std::string name;
    unsigned long long runs = 0, ns = 0;
  };

  // Run counters of every loaded BPF program, by id.
  static std::map<std::uint32_t, ProgStat> prog_stats() {
    std::map<std::uint32_t, ProgStat> out;
    for (std::uint32_t id = 0; bpf_prog_get_next_id(id, &id) == 0;) {
      int fd = bpf_prog_get_fd_by_id(id);
      if (fd < 0) continue;
      bpf_prog_info info{};
      std::uint32_t len = sizeof info;
      if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) out[id] = {info.name, info.run_cnt, info.run_time_ns};
      close(fd);
    }
    return out;
  }

  static void bpf_stats(bool on) { std::ofstream("/proc/sys/kernel/bpf_stats_enabled") << (on ? "1\n" : "0\n"); }

  // One measurement per op and case with kernel.bpf_stats_enabled: the programs' own cost.
  void profile(std::vector<Policy>& policies) const {
    bpf_stats(true);
    for (Policy& p : policies) {
      p.loaded->attach();
      for (const std::string& op : opt.ops) {
        bool open = op == "open", exec = op == "exec";
        const char* allowed = open ? kAllowed : exec ? kExecAllowed : kPortAllowed;
        const char* denied = open ? kDenied : exec ? kExecDenied : kPortDenied;
        std::string allowed_result = op == "connect" ? "ECONNREFUSED" : "ok";
        bool has_rule = open || (exec ? p.has_exec : p.has_connect);
        struct Case {
          const char* cond;
          const char* cgroup;
          const char* target;
          std::string expect;
        };
        std::vector<Case> cases = {{"out-allow", kCgroupOut, allowed, allowed_result},
                                   {"in-allow", kCgroupIn, allowed, allowed_result}};
        if (has_rule) cases.push_back({"in-deny", kCgroupIn, denied, "EPERM"});
        for (const Case& c : cases) {
          auto before = prog_stats();
          measure(-1, op, c.cond, p.label(), c.expect, {"--cgroup", c.cgroup, c.target}, true);
          for (const auto& [id, after] : prog_stats()) {
            ProgStat b = before.count(id) ? before.at(id) : ProgStat{};
            if (after.runs == b.runs || after.name.rfind("krsie_", 0) != 0) continue;
            std::printf("KRSIE-BENCH progstat op=%s cond=%s %s prog=%s runs=%llu ns=%llu\n", op.c_str(), c.cond,
                        p.label().c_str(), after.name.c_str(), after.runs - b.runs, after.ns - b.ns);
          }
          std::fflush(stdout);
        }
      }
      p.loaded->detach();
    }
    bpf_stats(false);
  }

  // Runs a workload in the target cgroup; returns its duration in ns (-1 on failure).
  double timed_workload(const std::vector<std::string>& args) const {
    auto t0 = std::chrono::steady_clock::now();
    auto [status, out] = run_child(args, kCgroupIn);
    double ns = ms_since(t0) * 1e6;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      fail.error("workload " + args.back() + " failed (status " + std::to_string(status) + "): " + out);
      return -1;
    }
    return ns;
  }

  void macro(Policy& p) const {
    std::string loop = "i=0; while [ $i -lt " + std::to_string(opt.macro_spawns) + " ]; do " + kExecAllowed +
                       " || exit 1; i=$((i+1)); done";
    for (int round = 0; round < opt.macro_rounds; ++round) {
      for (int attached = 0; attached < 2; ++attached) {
        bool on = (attached + round) % 2 == 1;  // alternate which condition goes first
        std::string cond = on ? "in" : "none";
        if (on) p.loaded->attach();
        double spawn = timed_workload({kBusybox, "sh", "-c", loop});
        fs::remove_all("/tmp/untar");
        fs::create_directories("/tmp/untar");
        double untar = opt.macro_tar.empty() ? -1 : timed_workload({kBusybox, "tar", "-xf", opt.macro_tar, "-C", "/tmp/untar"});
        if (on) p.loaded->detach();
        fs::remove_all("/tmp/untar");
        std::string label = on ? p.label() : "size=0 backend=none";
        std::printf("KRSIE-BENCH macro round=%d work=spawn cond=%s %s ns=%.0f\n", round, cond.c_str(), label.c_str(), spawn);
        if (untar >= 0)
          std::printf("KRSIE-BENCH macro round=%d work=untar cond=%s %s ns=%.0f\n", round, cond.c_str(), label.c_str(),
                      untar);
        std::fflush(stdout);
      }
    }
  }

  static int count_event(void* ctx, void*, size_t) {
    ++*static_cast<long*>(ctx);
    return 0;
  }

  void events() const {
    runtime::PolicyObject object = runtime::PolicyObject::read_file(opt.events_policy);
    runtime::LoadedPolicy loaded = runtime::LoadedPolicy::load(object);
    loaded.add_target(runtime::cgroup_id(kCgroupIn));
    loaded.set_enforce(false);
    loaded.attach();
    const std::uint32_t default_limit = loaded.maps().config().events_per_sec;
    for (std::uint32_t limit : {default_limit, 0u}) {
      krsie_config c = loaded.maps().config();
      c.events_per_sec = limit;
      loaded.maps().write_config(c);
      long delivered = 0;
      ring_buffer* rb = ring_buffer__new(loaded.maps().at("krsie_events").fd(), count_event, &delivered, nullptr);
      if (!rb) {
        fail.error("ring_buffer__new failed");
        return;
      }
      runtime::PolicyCounters before = loaded.maps().counters();
      std::vector<std::string> args = {opt.open_bench, "--iters", std::to_string(opt.events_opens), "--warmup", "0",
                                       "--cgroup", kCgroupIn, kEventFile};
      auto t0 = std::chrono::steady_clock::now();
      pid_t pid = fork();
      if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 1);
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        execv(argv[0], argv.data());
        _exit(127);
      }
      int status = 0;
      while (waitpid(pid, &status, WNOHANG) == 0) ring_buffer__poll(rb, 10);
      double ns = ms_since(t0) * 1e6;
      ring_buffer__consume(rb);
      ring_buffer__free(rb);
      runtime::PolicyCounters after = loaded.maps().counters();
      std::printf("KRSIE-BENCH events limit=%u opens=%ld delivered=%ld events=%llu dropped=%llu ns=%.0f\n", limit,
                  opt.events_opens, delivered, static_cast<unsigned long long>(after.events - before.events),
                  static_cast<unsigned long long>(after.events_dropped - before.events_dropped), ns);
      std::fflush(stdout);
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) fail.error("the events producer failed");
    }
  }

  void replace(const Policy& p) const {
    runtime::LoaderPaths paths;
    runtime::LoadRequest load{p.path, {}, std::nullopt, 3};
    runtime::LoadResult l = runtime::load_policy(paths, load);
    std::printf("KRSIE-BENCH pinload %s ms=%.2f verify_ms=%.2f fill_ms=%.2f attach_ms=%.2f\n", p.label().c_str(),
                l.milliseconds, l.verify_ms, l.fill_ms, l.attach_ms);
    std::fflush(stdout);
    for (int rep = 0; rep < opt.replace_reps; ++rep) {
      runtime::ReplaceResult r = runtime::replace_policy(paths, {l.name, p.path, std::nullopt, std::nullopt});
      std::printf("KRSIE-BENCH replace %s rep=%d total_ms=%.2f prepare_ms=%.2f publish_ms=%.2f switch_ms=%.3f "
                  "sync_ms=%.2f cleanup_ms=%.2f entries=%zu read_ms=%.2f open_ms=%.2f purge_ms=%.2f rewrite_ms=%.2f "
                  "programs_ms=%.2f write_ms=%.2f copy_ms=%.2f\n",
                  p.label().c_str(), rep, r.total_ms, r.prepare_ms, r.publish_ms, r.switch_ms, r.sync_ms, r.cleanup_ms,
                  r.entries_written, r.steps.read_ms, r.steps.open_ms, r.steps.purge_ms, r.steps.rewrite_ms,
                  r.steps.programs_ms, r.steps.write_ms, r.steps.copy_ms);
      std::fflush(stdout);
      for (const std::string& w : r.warnings) fail.error("replace warning: " + w);
    }
    runtime::unload_policy(paths, l.name);
  }
};

std::set<std::string> split_commas(const std::string& text) {
  std::set<std::string> out;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');)
    if (!item.empty()) out.insert(item);
  return out;
}

Options parse(int argc, char** argv) {
  Options opt;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
      return argv[++i];
    };
    if (a == "--open-bench") opt.open_bench = next();
    else if (a == "--true-bin") opt.true_bin = next();
    else if (a == "--rounds") opt.rounds = std::stoi(next());
    else if (a == "--iters") opt.iters = std::stol(next());
    else if (a == "--warmup") opt.warmup = std::stol(next());
    else if (a == "--exec-iters") opt.exec_iters = std::stol(next());
    else if (a == "--connect-iters") opt.connect_iters = std::stol(next());
    else if (a == "--ops") opt.ops = split_commas(next());
    else if (a == "--load-reps") opt.load_reps = std::stoi(next());
    else if (a == "--replace-reps") opt.replace_reps = std::stoi(next());
    else if (a == "--profile") opt.profile = true;
    else if (a == "--events") opt.events_policy = next();
    else if (a == "--events-opens") opt.events_opens = std::stol(next());
    else if (a == "--macro") opt.macro_label = next();
    else if (a == "--macro-tar") opt.macro_tar = next();
    else if (a == "--macro-spawns") opt.macro_spawns = std::stol(next());
    else if (a == "--macro-rounds") opt.macro_rounds = std::stoi(next());
    else if (auto eq = a.find('='); eq != std::string::npos && a[0] != '-')
      opt.policies.emplace_back(a.substr(0, eq), a.substr(eq + 1));
    else throw std::runtime_error("unknown argument " + a);
  }
  if (opt.open_bench.empty()) throw std::runtime_error("--open-bench is required");
  if (opt.true_bin.empty() && (opt.ops.count("exec") || !opt.macro_label.empty()))
    throw std::runtime_error("--true-bin is required for exec and macro benchmarks");
  if (opt.load_reps < 1 || opt.rounds < 1) throw std::runtime_error("--load-reps and --rounds must be >= 1");
  return opt;
}

bool has_program(const runtime::PolicyObject& object, const std::string& hook) {
  for (const std::string& p : object.meta.programs)
    if (p.find(hook) != std::string::npos) return true;
  return false;
}

int run(const Options& opt) {
  Failures fail;
  Bench bench{opt, fail};
  fs::create_directories(kCgroupIn);
  fs::create_directories(kCgroupOut);
  for (const char* f : {kAllowed, kDenied, kOther, kEventFile}) touch(f);
  if (!opt.true_bin.empty()) {
    install_binary(opt.true_bin, kExecAllowed);
    install_binary(opt.true_bin, kExecDenied);
  }

  // 1. Load latency.
  std::vector<Policy> policies;
  for (const auto& [label, path] : opt.policies) {
    Policy p;
    auto colon = label.find(':');
    p.size = std::stol(label.substr(0, colon));
    p.backend = colon == std::string::npos ? "generic" : label.substr(colon + 1);
    p.path = path;
    try {
      for (int rep = 0; rep < opt.load_reps; ++rep) {
        p.loaded.reset();
        auto t0 = std::chrono::steady_clock::now();
        runtime::PolicyObject object = runtime::PolicyObject::read_file(path);
        double read_ms = ms_since(t0);
        t0 = std::chrono::steady_clock::now();
        p.loaded.emplace(runtime::LoadedPolicy::load(object));
        double load_ms = ms_since(t0);
        t0 = std::chrono::steady_clock::now();
        for (const std::string& target : object.meta.cgroup_targets) p.loaded->add_target(runtime::cgroup_id(target));
        p.loaded->attach();
        double attach_ms = ms_since(t0);
        p.loaded->detach();
        p.has_exec = has_program(object, "bprm_check_security");
        p.has_connect = has_program(object, "socket_connect");
        std::printf("KRSIE-BENCH load %s rep=%d read_ms=%.2f load_ms=%.2f attach_ms=%.2f programs=%zu\n",
                    p.label().c_str(), rep, read_ms, load_ms, attach_ms, object.meta.programs.size());
        std::fflush(stdout);
      }
      policies.push_back(std::move(p));
    } catch (const std::exception& e) {
      fail.error("loading the " + p.label() + " policy failed: " + e.what());
    }
  }

  // 2. Interleaved rounds of the micro benchmarks.
  bench.rounds(policies);

  if (opt.profile) bench.profile(policies);

  // 3. Macro benchmarks.
  if (!opt.macro_label.empty()) {
    bool found = false;
    for (Policy& p : policies) {
      if (opt.macro_label != std::to_string(p.size) + ":" + p.backend) continue;
      found = true;
      try {
        bench.macro(p);
      } catch (const std::exception& e) {
        fail.error("macro " + p.label() + ": " + e.what());
      }
    }
    if (!found) fail.error("--macro " + opt.macro_label + ": no such policy");
  }
  for (Policy& p : policies) p.loaded.reset();  // free kernel memory for the pinned loads

  // 4. Events throughput.
  if (!opt.events_policy.empty()) {
    try {
      bench.events();
    } catch (const std::exception& e) {
      fail.error(std::string("events: ") + e.what());
    }
  }

  // 5. Load (pinned) and replace latency.
  if (opt.replace_reps > 0) {
    for (const Policy& p : policies) {
      try {
        bench.replace(p);
      } catch (const std::exception& e) {
        fail.error("replace " + p.label() + ": " + e.what());
      }
    }
  }
  std::cout << "KRSIE-BENCH done failures=" << fail.count << std::endl;
  return fail.count == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse(argc, argv));
  } catch (const std::exception& e) {
    std::cout << "KRSIE-BENCH error " << e.what() << std::endl;
    return 1;
  }
}

// krsie-bench-guest: the guest side of bench/run (static; runs as the guest's /init payload).
//
//   krsie-bench-guest --open-bench PATH [--rounds R] [--iters N] [--warmup N] [--load-reps K]
//                     SIZE=POLICY.o ...
//
// 1. Load latency: for every policy, K times: PolicyObject::read_file, LoadedPolicy::load,
//    add_target + attach (monotonic clock around each), then detach. The last instance stays
//    loaded (detached) for step 2.
// 2. open()+close() cost, interleaved rounds: each round runs every group in a rotated order;
//    a group is "none" (no program attached), "landlock" (no KRSIE program, the benchmark
//    process restricts itself with Landlock) or one policy (attached for the group, detached
//    after). Each measurement is a fresh krsie-bench-open process:
//      none-allow / none-deny      caller in the target cgroup, no program (baseline, case a)
//      out-allow                   policy attached, caller outside its targets (case b)
//      in-allow                    caller inside, allowed file (case c): /tmp/bench/d0/file-0
//                                  shares every component but the first with a rule, so the
//                                  path automaton walks the whole path
//      in-other                    caller inside, allowed file /tmp/bench/x whose last byte
//                                  already kills the automaton (fixed cost of a confined call)
//      in-deny                     caller inside, denied file -> EPERM (case d)
//      landlock-allow / -deny      Landlock allows reading beneath /tmp/bench only
//    Every outcome is checked (a policy that does not deny makes the run fail).
//
// Output (serial console, parsed by bench/run):
//   KRSIE-BENCH load size=N rep=K read_ms=X load_ms=X attach_ms=X
//   KRSIE-BENCH op round=R cond=NAME size=N ns_per_op=X result=ok|EPERM|EACCES
//   KRSIE-BENCH error TEXT
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
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "krsie/runtime/cgroup.h"
#include "krsie/runtime/error.h"
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

struct Options {
  std::string open_bench;
  int rounds = 5;
  long iters = 2000;
  long warmup = 300;
  int load_reps = 3;
  std::vector<std::pair<long, std::string>> policies;  // size, path
};

struct Policy {
  long size;
  std::optional<runtime::LoadedPolicy> loaded;
};

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

int failures = 0;

void error(const std::string& text) {
  std::cout << "KRSIE-BENCH error " << text << std::endl;
  ++failures;
}

void touch(const fs::path& path) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << "benchmark file\n";
}

// Runs krsie-bench-open and returns its output line (empty on failure, reported).
std::string run_open_bench(const Options& opt, const std::vector<std::string>& extra) {
  std::vector<std::string> args = {opt.open_bench, "--iters", std::to_string(opt.iters), "--warmup",
                                   std::to_string(opt.warmup)};
  args.insert(args.end(), extra.begin(), extra.end());
  int pipefd[2];
  if (pipe(pipefd) != 0) return error("pipe failed"), "";
  pid_t pid = fork();
  if (pid < 0) return error("fork failed"), "";
  if (pid == 0) {
    dup2(pipefd[1], 1);
    close(pipefd[0]);
    close(pipefd[1]);
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
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    error("krsie-bench-open failed (status " + std::to_string(status) + "): " + out);
    return "";
  }
  return out;
}

void measure(const Options& opt, int round, const std::string& cond, long size, const std::string& expect,
             const std::vector<std::string>& extra) {
  std::string line = run_open_bench(opt, extra);
  if (line.empty()) return;
  std::string::size_type at = line.find("ns_per_op=");
  std::string ns = at == std::string::npos ? "?" : line.substr(at + 10, line.find(' ', at) - at - 10);
  std::string result = line.substr(line.find("result=") + 7);
  std::cout << "KRSIE-BENCH op round=" << round << " cond=" << cond << " size=" << size << " ns_per_op=" << ns
            << " result=" << result << std::endl;
  if (result != expect) error(cond + " size=" + std::to_string(size) + ": expected " + expect + ", got " + result);
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
    else if (a == "--rounds") opt.rounds = std::stoi(next());
    else if (a == "--iters") opt.iters = std::stol(next());
    else if (a == "--warmup") opt.warmup = std::stol(next());
    else if (a == "--load-reps") opt.load_reps = std::stoi(next());
    else if (auto eq = a.find('='); eq != std::string::npos && a[0] != '-')
      opt.policies.emplace_back(std::stol(a.substr(0, eq)), a.substr(eq + 1));
    else throw std::runtime_error("unknown argument " + a);
  }
  if (opt.open_bench.empty()) throw std::runtime_error("--open-bench is required");
  if (opt.load_reps < 1 || opt.rounds < 1) throw std::runtime_error("--load-reps and --rounds must be >= 1");
  return opt;
}

int run(const Options& opt) {
  fs::create_directories(kCgroupIn);
  fs::create_directories(kCgroupOut);
  touch(kAllowed);
  touch(kDenied);
  touch(kOther);

  // 1. Load latency.
  std::vector<Policy> policies;
  for (const auto& [size, path] : opt.policies) {
    Policy p{size, std::nullopt};
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
        std::printf("KRSIE-BENCH load size=%ld rep=%d read_ms=%.2f load_ms=%.2f attach_ms=%.2f programs=%zu\n", size,
                    rep, read_ms, load_ms, attach_ms, object.meta.programs.size());
        std::fflush(stdout);
      }
      policies.push_back(std::move(p));
    } catch (const std::exception& e) {
      error("loading the " + std::to_string(size) + "-rule policy failed: " + e.what());
    }
  }

  // 2. Interleaved rounds of open()+close().
  const std::size_t groups = policies.size() + 2;
  for (int round = 0; round < opt.rounds; ++round) {
    for (std::size_t k = 0; k < groups; ++k) {
      std::size_t g = (k + static_cast<std::size_t>(round)) % groups;
      if (g == 0) {
        measure(opt, round, "none-allow", 0, "ok", {"--cgroup", kCgroupIn, kAllowed});
        measure(opt, round, "none-deny", 0, "ok", {"--cgroup", kCgroupIn, kDenied});
      } else if (g == 1) {
        measure(opt, round, "landlock-allow", 0, "ok", {"--cgroup", kCgroupIn, "--landlock", kLandlockDir, kAllowed});
        measure(opt, round, "landlock-deny", 0, "EACCES", {"--cgroup", kCgroupIn, "--landlock", kLandlockDir, kDenied});
      } else {
        Policy& p = policies[g - 2];
        try {
          p.loaded->attach();
        } catch (const std::exception& e) {
          error("attaching the " + std::to_string(p.size) + "-rule policy failed: " + e.what());
          continue;
        }
        measure(opt, round, "out-allow", p.size, "ok", {"--cgroup", kCgroupOut, kAllowed});
        measure(opt, round, "in-allow", p.size, "ok", {"--cgroup", kCgroupIn, kAllowed});
        measure(opt, round, "in-other", p.size, "ok", {"--cgroup", kCgroupIn, kOther});
        measure(opt, round, "in-deny", p.size, "EPERM", {"--cgroup", kCgroupIn, kDenied});
        p.loaded->detach();
      }
    }
  }
  std::cout << "KRSIE-BENCH done failures=" << failures << std::endl;
  return failures == 0 ? 0 : 1;
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

#pragma once
// The end-to-end scenario format (docs/testing.md describes it for scenario authors).
//
// A scenario is one `.scn` file: line-oriented directives, `#` comments, shell-like quoting.
//
//   scenario NAME                          unique name; checks are reported as NAME/ID
//   cgroup NAME PATH                       a cgroup v2 created for the scenario (PATH is relative
//                                          to the cgroup2 root); the name `root` is predefined
//   setup ARG...                           a command run as root in the root cgroup; must exit 0
//   template NAME KEY=VALUE...             load + attach an embedded BPF template through the
//                                          runtime library (cgroup=, deny-inode=, mode=)
//   load POLICY.krs                        load + attach the policy.o that the host compiled from
//                                          POLICY.krs (next to the scenario) on its cgroup targets
//   unload                                 detach and unload every policy loaded so far
//   expect-event ID REGEX                  an event (JSON, as `krsie-load events --json` prints it)
//                                          reported during the previous `expect` matches REGEX
//   background CGROUP SCRIPT               start /bin/sh -c SCRIPT in a new process inside CGROUP
//                                          (output discarded); killed when the scenario ends
//   teardown ARG...                        a command run as root in the root cgroup when the
//                                          scenario ends, whatever happened (failures are logged)
//   expect ID in CGROUP OUTCOME ACTION ARG...
//                                          run ACTION in a fresh process inside CGROUP and compare
//                                          with OUTCOME: ok | <errno name, e.g. EPERM> | exit=N
//
// Actions (each reports the errno of its system call): open-read/open-write/open-rdwr/create
// PATH, exec PATH [ARG...] (PATH searched in $PATH when it has no '/'), sh SCRIPT,
// match REGEX PATH [ARG...] (exec, and the output must also contain a match of REGEX), connect/connect-udp/sendto-udp/bind ADDR PORT, listen PORT,
// setuid/setgid ID, mkdir/rmdir/unlink/truncate PATH, rename/link/symlink FROM TO, chmod PATH
// OCTAL, socket FAMILY TYPE PROTO (numbers), ptrace-attach PID|parent, kill PID|parent SIG.

#include <string>
#include <vector>

namespace krsie::e2e {

struct Outcome {
  enum class Kind { ok, error, exit_code, signal };
  Kind kind = Kind::ok;
  int value = 0;  // errno for error, status for exit_code, signal number for signal
  std::string text() const;
};

struct Step {
  enum class Kind { setup, template_load, load_policy, unload, expect, expect_event, background, teardown };
  Kind kind = Kind::setup;
  int line = 0;
  // setup/teardown: argv; template_load: template name then KEY=VALUE items; expect: action argv;
  // background: the script.
  std::vector<std::string> args;
  // expect only:
  std::string id;
  std::string cgroup;  // expect and background
  Outcome outcome;
};

struct CgroupDecl {
  std::string name;
  std::string path;  // relative to the cgroup2 root, starts with '/'
};

struct Scenario {
  std::string name;
  std::string file;
  // `backends generic llvm`: the scenario runs once per backend; the llvm run is named NAME.llvm
  // and loads the policies the host compiled with --backend=llvm (llvm/POLICY.o).
  std::vector<std::string> backends = {"generic"};
  std::vector<CgroupDecl> cgroups;
  std::vector<Step> steps;
  std::vector<std::string> expect_ids() const;
};

// Splits a line into words: blanks separate, '...' is literal, "..." allows \" and \\,
// an unquoted # starts a comment. Throws std::runtime_error on an unterminated quote.
std::vector<std::string> split_words(const std::string& line);

// errno name <-> number for the names scenarios use ("EPERM" -> 1); -1 / "" when unknown.
int errno_from_name(const std::string& name);
std::string errno_name(int err);

// Parses a scenario; throws std::runtime_error("file:line: message") on any error.
Scenario parse_scenario(const std::string& file, const std::string& text);

}  // namespace krsie::e2e

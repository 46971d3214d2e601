// krsie-load: the node-side CLI. Thin: every operation lives in the krsie_runtime library
// (loader.h, events.h); this file parses arguments, prints results and maps errors to exit codes.
// Commands, pins, state and exit codes: docs/loader.md.

#include <CLI/CLI.hpp>

#include <signal.h>

#include <chrono>
#include <cstdio>
#include <iostream>

#include "krsie/runtime/error.h"
#include "krsie/runtime/events.h"
#include "krsie/runtime/kernel.h"
#include "krsie/runtime/loader.h"
#include "krsie/version.h"

namespace {

namespace rt = krsie::runtime;

constexpr int k_exit_ok = 0;
constexpr int k_exit_error = 1;
constexpr int k_exit_usage = 2;
constexpr int k_exit_cannot_enforce = 3;
constexpr int k_exit_bad_object = 4;
constexpr int k_exit_not_loaded = 5;
constexpr int k_exit_already_loaded = 6;
constexpr int k_exit_replace_refused = 7;

const char* k_exit_codes =
    "Exit codes: 0 success, 1 error, 2 usage error, 3 the kernel cannot enforce BPF-LSM policies, "
    "4 invalid policy object, 5 no such policy loaded, 6 policy already loaded, 7 replacement refused "
    "(the old policy stays in force).";

int exit_code(rt::ErrorKind kind) {
  switch (kind) {
    case rt::ErrorKind::generic: return k_exit_error;
    case rt::ErrorKind::usage: return k_exit_usage;
    case rt::ErrorKind::kernel: return k_exit_cannot_enforce;
    case rt::ErrorKind::bad_object: return k_exit_bad_object;
    case rt::ErrorKind::not_loaded: return k_exit_not_loaded;
    case rt::ErrorKind::already_loaded: return k_exit_already_loaded;
    case rt::ErrorKind::replace_refused: return k_exit_replace_refused;
  }
  return k_exit_error;
}

void print_error(const std::string& message) {
  std::string line;
  for (char c : message) {
    if (c == '\n') {
      std::cerr << "krsie-load: error: " << line << "\n";
      line.clear();
    } else {
      line += c;
    }
  }
  if (!line.empty()) std::cerr << "krsie-load: error: " << line << "\n";
}

int run_probe(bool quiet) {
  rt::KernelSupport k = rt::probe_kernel();
  if (!quiet) {
    std::string lsms;
    for (const auto& l : k.active_lsms) lsms += (lsms.empty() ? "" : ",") + l;
    std::cout << "kernel:          " << k.release << "\n"
              << "active LSMs:     " << (k.lsm_list_readable ? lsms : "(unreadable)") << "\n"
              << "BPF LSM active:  " << (k.bpf_lsm_active ? "yes" : "no") << "\n"
              << "kernel BTF:      " << (k.btf_present ? "yes" : "no") << "\n"
              << "LSM prog type:   " << (k.lsm_prog_type ? "yes" : "no") << "\n"
              << "privileged:      " << (k.privileged ? "yes" : "no") << "\n";
  }
  if (k.can_enforce()) {
    if (!quiet) std::cout << "this kernel can enforce KRSIE policies\n";
    return k_exit_ok;
  }
  for (const auto& p : k.problems()) print_error(p);
  print_error("this kernel cannot enforce BPF-LSM policies");
  return k_exit_cannot_enforce;
}

volatile sig_atomic_t g_stop = 0;
void on_stop_signal(int) { g_stop = 1; }

int run_events(const rt::LoaderPaths& paths, const std::string& name, bool json, bool follow, double timeout_s) {
  std::optional<std::string> policy;
  if (!name.empty()) policy = name;
  rt::EventReader reader(paths, policy, [json](const rt::EventRecord& e) {
    std::cout << (json ? rt::event_json(e) : rt::event_text(e)) << "\n";
  });
  if (reader.sources() == 0) {
    if (!json) std::cerr << "krsie-load: no policies loaded, no events\n";
    return k_exit_ok;
  }
  reader.drain();
  std::cout.flush();
  if (!follow) return k_exit_ok;
  struct sigaction sa{};
  sa.sa_handler = on_stop_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (!g_stop) {
    int wait_ms = 250;
    if (timeout_s > 0) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
      if (left <= 0) break;
      wait_ms = static_cast<int>(std::min<long long>(left, 250));
    }
    if (reader.poll(wait_ms) > 0) std::cout.flush();
  }
  reader.drain();
  std::cout.flush();
  return k_exit_ok;
}

std::optional<bool> parse_mode(const std::string& mode) {
  if (mode.empty()) return std::nullopt;
  return mode == "enforce";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"krsie-load: load, attach and manage KRSIE policies (policy.o from krsiec)", "krsie-load"};
  app.set_version_flag("--version", std::string("krsie-load ") + krsie::k_version);
  app.footer(k_exit_codes);
  app.require_subcommand(1);

  rt::LoaderPaths paths;
  auto add_paths = [&](CLI::App* sub) {
    sub->add_option("--bpffs-dir", paths.bpffs_root, "pins live in DIR/<policy> (default /sys/fs/bpf/krsie)");
    sub->add_option("--state-dir", paths.state_root, "state lives in DIR/<policy> (default /run/krsie)");
  };
  auto add_targets = [](CLI::App* sub, rt::TargetRequest& t) {
    sub->add_option("--cgroup", t.cgroups,
                    "also confine this cgroup v2 (absolute, or relative to the cgroup2 mount); repeatable");
    sub->add_flag("--node-wide", t.node_wide, "confine the whole node (the root cgroup)");
  };
  const auto mode_check = CLI::IsMember({"audit", "enforce"});

  bool quiet = false;
  auto* probe = app.add_subcommand("probe", "check that this kernel can enforce BPF-LSM policies");
  probe->add_flag("-q,--quiet", quiet, "print only problems");

  rt::LoadRequest load_req;
  std::string load_mode;
  bool json = false;
  auto* load = app.add_subcommand("load", "load a policy.o, attach it to its target cgroups and pin it");
  load->add_option("policy", load_req.object_path, "policy object written by krsiec")->required();
  add_targets(load, load_req.targets);
  load->add_option("--mode", load_mode, "override the policy's mode")->check(mode_check);
  load->add_option("--headroom", load_req.headroom,
                   "size maps for replacements up to N-1 times the policy's size (default 3)")
      ->check(CLI::Range(1, 64));
  load->add_flag("--json", json, "print the result as JSON");
  add_paths(load);

  rt::ReplaceRequest replace_req;
  rt::TargetRequest replace_targets;
  std::string replace_mode;
  auto* replace = app.add_subcommand("replace", "atomically replace a loaded policy's rules with a new policy.o");
  replace->add_option("name", replace_req.name, "loaded policy")->required();
  replace->add_option("policy", replace_req.object_path, "new policy object (same policy name)")->required();
  add_targets(replace, replace_targets);
  replace->add_option("--mode", replace_mode, "override the new policy's mode")->check(mode_check);
  replace->add_flag("--json", json, "print the result (with timings) as JSON");
  add_paths(replace);

  std::string name;
  bool all = false;
  auto* unload = app.add_subcommand("unload", "detach a policy and remove its pins and state");
  unload->add_option("name", name, "loaded policy");
  unload->add_flag("--all", all, "unload every policy");
  add_paths(unload);

  std::string mode_value;
  auto* mode = app.add_subcommand("mode", "switch a loaded policy between audit and enforce (no reload)");
  mode->add_option("name", name, "loaded policy")->required();
  mode->add_option("mode", mode_value, "audit | enforce")->required()->check(mode_check);
  add_paths(mode);

  auto* list = app.add_subcommand("list", "list loaded policies: mode, targets, hooks, rules, counters");
  list->add_flag("--json", json, "print a JSON array");
  add_paths(list);

  auto* show = app.add_subcommand("show", "show one loaded policy in detail");
  show->add_option("name", name, "loaded policy")->required();
  show->add_flag("--json", json, "print a JSON object");
  add_paths(show);

  bool follow = false;
  double timeout_s = 0;
  auto* events = app.add_subcommand("events", "print the events of loaded policies (one line each)");
  events->add_option("name", name, "only this policy");
  events->add_flag("--json", json, "one JSON object per line");
  events->add_flag("-f,--follow", follow, "keep reading until interrupted (default: drain and exit)");
  events->add_option("--timeout", timeout_s, "with --follow: stop after this many seconds")->check(CLI::NonNegativeNumber);
  add_paths(events);

  try {
    app.parse(argc, argv);
    if (*unload && all == !name.empty()) throw CLI::ValidationError("unload", "give a policy NAME or --all (not both)");
    if (*replace && (!replace_targets.cgroups.empty() || replace_targets.node_wide)) replace_req.targets = replace_targets;
  } catch (const CLI::ParseError& e) {
    // --help/--version exit 0; every usage error exits 2 (CLI11's own codes vary by error).
    return app.exit(e) == 0 ? k_exit_ok : k_exit_usage;
  }

  try {
    if (*probe) return run_probe(quiet);
    if (*load) {
      load_req.enforce = parse_mode(load_mode);
      rt::LoadResult r = rt::load_policy(paths, load_req);
      std::cout << (json ? rt::load_result_json(r) : rt::load_result_text(r));
      return k_exit_ok;
    }
    if (*replace) {
      replace_req.enforce = parse_mode(replace_mode);
      rt::ReplaceResult r = rt::replace_policy(paths, replace_req);
      std::cout << (json ? rt::replace_result_json(r) : rt::replace_result_text(r));
      for (const std::string& w : r.warnings) std::cerr << "krsie-load: warning: " << w << "\n";
      return k_exit_ok;
    }
    if (*unload) {
      if (all) {
        auto names = rt::unload_all(paths);
        if (names.empty()) std::cout << "no policies loaded\n";
        for (const std::string& n : names) std::cout << "unloaded " << n << "\n";
      } else {
        rt::unload_policy(paths, name);
        std::cout << "unloaded " << name << "\n";
      }
      return k_exit_ok;
    }
    if (*mode) {
      bool enforce = mode_value == "enforce";
      bool was = rt::set_policy_mode(paths, name, enforce);
      std::cout << name << ": " << (was ? "enforce" : "audit") << " -> " << mode_value << "\n";
      return k_exit_ok;
    }
    if (*list) {
      auto policies = rt::list_policies(paths);
      std::cout << (json ? rt::status_json(policies, true) : rt::status_table(policies));
      return k_exit_ok;
    }
    if (*show) {
      rt::PolicyStatus s = rt::policy_status(paths, name);
      std::cout << (json ? rt::status_json({s}, false) : rt::status_details(s));
      return s.problems.empty() ? k_exit_ok : k_exit_error;
    }
    if (*events) return run_events(paths, name, json, follow, timeout_s);
  } catch (const rt::RuntimeError& e) {
    print_error(e.what());
    return exit_code(e.kind());
  } catch (const std::exception& e) {
    print_error(e.what());
    return k_exit_error;
  }
  return k_exit_error;
}

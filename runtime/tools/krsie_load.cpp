// krsie-load: the node-side CLI. Thin: every operation lives in the krsie_runtime library.
//
// Exit codes: 0 success, 1 error, 2 usage error, 3 the kernel cannot enforce BPF-LSM policies,
// 4 not implemented yet.

#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>

#include "krsie/runtime/error.h"
#include "krsie/runtime/kernel.h"
#include "krsie/version.h"

namespace {

constexpr int k_exit_error = 1;
constexpr int k_exit_cannot_enforce = 3;
constexpr int k_exit_not_implemented = 4;

int run_probe(bool quiet) {
  krsie::runtime::KernelSupport k = krsie::runtime::probe_kernel();
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
    return 0;
  }
  for (const auto& p : k.problems()) std::cerr << "krsie-load: error: " << p << "\n";
  std::cerr << "krsie-load: error: this kernel cannot enforce BPF-LSM policies\n";
  return k_exit_cannot_enforce;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"krsie-load: load, attach and manage KRSIE policies (policy.o from krsiec)",
               "krsie-load"};
  app.set_version_flag("--version", std::string("krsie-load ") + krsie::k_version);
  app.footer(
      "Exit codes: 0 success, 1 error, 2 usage error, 3 the kernel cannot enforce BPF-LSM "
      "policies, 4 not implemented yet.");
  app.require_subcommand(1);

  bool quiet = false;
  auto* probe = app.add_subcommand("probe", "check that this kernel can enforce BPF-LSM policies");
  probe->add_flag("-q,--quiet", quiet, "print only problems");

  std::string object;
  auto* load = app.add_subcommand("load", "load a policy.o and attach it to its target cgroups");
  load->add_option("policy", object, "policy object written by krsiec")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help/--version exit 0; every usage error exits 2 (CLI11's own codes vary by error).
    return app.exit(e) == 0 ? 0 : 2;
  }

  try {
    if (*probe) return run_probe(quiet);
    if (*load) {
      std::cerr << "krsie-load: error: 'load' is not implemented yet (policy.o loading arrives "
                   "with the generic backend); use 'krsie-load probe' to check this kernel\n";
      return k_exit_not_implemented;
    }
  } catch (const krsie::runtime::RuntimeError& e) {
    std::cerr << "krsie-load: error: " << e.what() << "\n";
    return k_exit_error;
  }
  return k_exit_error;
}

// krsiec: the KRS policy compiler driver. Thin: each stage is a library with its own output.
//
// Exit codes: 0 success, 1 the policy has errors (nothing written), 2 usage error.

#include <CLI/CLI.hpp>
#include <mimalloc.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include "ast/dump.h"
#include "backend/generic.h"
#include "backend/llvm/llvm_backend.h"
#include "backend/llvm_info.h"
#include "krsie/version.h"
#include "pir/print.h"
#include "sema/loader.h"
#include "sema/sema.h"
#include "support/diagnostics.h"

namespace {

constexpr int k_exit_errors = 1;

// The allocator krsiec runs with: mimalloc, in place of malloc for the whole process (LLVM and
// the ANTLR runtime included) when the link put it before libc.
std::string allocator_description() {
  int v = mi_version();
  void* probe = std::malloc(16);
  bool overridden = mi_is_in_heap_region(probe);
  std::free(probe);
  return "allocator: mimalloc " + std::to_string(v / 100) + "." + std::to_string(v / 10 % 10) + "." +
         std::to_string(v % 10) + (overridden ? " (malloc overridden)" : " (NOT overriding malloc: check the link order)");
}

std::string version_text() {
  return std::string("krsiec ") + krsie::k_version + "\n" + krsie::backend::llvm_description() + "\n" +
         allocator_description();
}

std::string default_stdlib() {
  if (const char* env = std::getenv("KRSIE_STDLIB")) return env;
  return KRSIE_STDLIB_DIR;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"krsiec: compile KRS policies into BPF-LSM objects", "krsiec"};
  app.set_version_flag("--version", version_text());
  app.footer("Exit codes: 0 success, 1 the policy has errors (no output written), 2 usage error.");

  std::string input;
  std::string output;
  std::string emit;
  std::string stdlib = default_stdlib();
  bool check_only = false;
  bool werror = false;
  bool locations = false;
  unsigned error_limit = 50;
  std::string backend = "generic";
  std::string policy_name;
  app.add_option("input", input, "policy source (.krs)")->required();
  app.add_option("-o,--output", output, "output BPF object (policy.o)");
  app.add_flag("--check", check_only, "check the policy and report diagnostics; write nothing");
  app.add_option("--emit", emit, "dump a stage instead of writing an object")
      ->check(CLI::IsMember({"ast", "pir", "maps", "llvm", "asm", "obj"}));
  app.add_flag("--locations", locations, "with --emit=pir: print the rule table with source locations");
  app.add_flag("--Werror,-W", werror, "treat warnings as errors");
  app.add_option("--backend", backend, "code generator: generic (precompiled templates + maps) or llvm")
      ->check(CLI::IsMember({"generic", "llvm"}))
      ->capture_default_str();
  app.add_option("--policy", policy_name, "the policy to compile when the file defines several");
  app.add_option("--stdlib", stdlib, "directory of the standard library (std/... imports)")->capture_default_str();
  app.add_option("--error-limit", error_limit, "stop after this many errors (0: no limit)")->capture_default_str();
  bool timings = false;
  std::string btf_path = "/sys/kernel/btf/vmlinux";
  app.add_option("--btf", btf_path,
                 "kernel BTF that typed hook argument chains (file.f_inode.i_size) are checked against")
      ->capture_default_str();
  app.add_flag("--timings", timings, "with --backend=llvm: print IR build, code generation and object analysis times to stderr");
  std::string stats;
  app.add_flag("--stats{text}", stats,
               "with --backend=llvm: print per-program statistics to stdout (BPF instructions, stack and combined "
               "stack, helper calls, maps, CO-RE relocations, instructions per rule line); --stats=json: the same "
               "as JSON with stable keys. The object is still written with -o")
      ->check(CLI::IsMember({"text", "json"}));
  std::uint64_t max_insns = krsie::backend::k_default_max_insns;
  app.add_option("--max-insns", max_insns,
                 "with --backend=llvm: refuse a program (with its subprograms) of more BPF instructions than this, "
                 "at the rule contributing most; the kernel's own limit is 1000000")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help/--version exit 0; every usage error exits 2 (CLI11's own codes vary by error).
    return app.exit(e) == 0 ? 0 : 2;
  }

  krsie::DiagnosticEngine diags;
  diags.set_warnings_as_errors(werror);
  diags.set_error_limit(error_limit);
  krsie::ast::AstContext ast_context;
  krsie::sema::LoaderOptions loader_options;
  loader_options.stdlib_dir = stdlib;
  bool color = isatty(STDERR_FILENO);

  auto fail = [&] {
    diags.render(std::cerr, color);
    std::cerr << diags.error_count() << (diags.error_count() == 1 ? " error" : " errors") << " generated.\n";
    return k_exit_errors;
  };

  krsie::sema::Program program = krsie::sema::load_program(input, ast_context, diags, loader_options);
  if (diags.has_errors()) return fail();
  if (emit == "ast") {
    diags.render(std::cerr, color);
    for (const krsie::ast::Module* m : program.modules) krsie::ast::dump(*m, std::cout);
    return 0;
  }
  krsie::sema::SemaOptions sema_options;
  sema_options.btf_path = btf_path;
  krsie::pir::PolicySet pir = krsie::sema::analyze(program, diags, sema_options);
  if (diags.has_errors()) return fail();
  diags.render(std::cerr, color);
  if (check_only) return 0;
  if (emit == "pir") {
    krsie::pir::print(pir, std::cout, {.locations = locations});
    return 0;
  }

  // The generic backend writes one policy per object.
  const krsie::pir::Policy* policy = nullptr;
  if (!policy_name.empty()) {
    for (const auto& p : pir.policies)
      if (p.name == policy_name) policy = &p;
    if (!policy) {
      std::cerr << "krsiec: error: no policy named '" << policy_name << "' in " << input << "\n";
      return k_exit_errors;
    }
  } else if (pir.policies.size() == 1) {
    policy = &pir.policies[0];
  } else {
    std::cerr << "krsiec: error: " << input << " defines " << pir.policies.size()
              << " policies; choose one with --policy NAME (one policy per object)\n";
    return k_exit_errors;
  }
  bool llvm_backend = emit == "llvm" || emit == "asm" || backend == "llvm";
  if (!stats.empty() && !llvm_backend) {
    std::cerr << "krsiec: error: --stats needs --backend=llvm\n";
    return 2;
  }
  if (llvm_backend) {
    // The specialized backend (first slice: network, capability and identity hooks).
    auto kind = emit == "llvm"  ? krsie::backend::LlvmEmit::ir
                : emit == "asm" ? krsie::backend::LlvmEmit::assembly
                                : krsie::backend::LlvmEmit::object;
    if (emit == "maps") kind = krsie::backend::LlvmEmit::ir;  // only the map contents are printed
    krsie::backend::LlvmOptions llvm_options;
    llvm_options.btf_path = btf_path;
    llvm_options.max_insns = max_insns;
    auto compiled = krsie::backend::compile_llvm(*policy, kind, diags, llvm_options);
    if (!compiled) return fail();
    if (emit == "maps") {
      krsie::backend::print_maps(compiled->maps, std::cout);
      return 0;
    }
    if (timings)
      std::cerr << "krsiec: llvm backend: IR build " << compiled->build_ms << " ms, optimization + codegen "
                << compiled->codegen_ms << " ms, object analysis " << compiled->stats_ms << " ms\n";
    auto print_stats = [&] {
      if (stats == "json") krsie::backend::print_stats_json(compiled->stats, max_insns, std::cout);
      else if (stats == "text") krsie::backend::print_stats_text(compiled->stats, max_insns, std::cout);
    };
    if (kind != krsie::backend::LlvmEmit::object) {
      std::cout << compiled->text;
      print_stats();
      return 0;
    }
    if (output.empty()) output = policy->name + ".o";
    std::string error = krsie::backend::write_policy_object(
        output, compiled->elf,
        krsie::backend::policy_sections(*policy, compiled->maps, std::string("krsiec ") + krsie::k_version, "llvm"));
    if (!error.empty()) {
      std::cerr << "krsiec: error: " << error << "\n";
      return k_exit_errors;
    }
    print_stats();
    return 0;
  }
  auto generic = krsie::backend::lower_generic(*policy, diags);
  if (!generic) return fail();
  if (emit == "maps") {
    krsie::backend::print_maps(*generic, std::cout);
    return 0;
  }
  if (output.empty()) output = policy->name + ".o";
  std::string error = krsie::backend::write_policy_object(
      output, krsie::backend::policy_sections(*policy, *generic, std::string("krsiec ") + krsie::k_version));
  if (!error.empty()) {
    std::cerr << "krsiec: error: " << error << "\n";
    return k_exit_errors;
  }
  return 0;
}

// krsiec: the KRS policy compiler driver. Thin: each stage is a library with its own output.
//
// Exit codes: 0 success, 1 the policy has errors (nothing written), 2 usage error,
// 4 not implemented yet.

#include <CLI/CLI.hpp>

#include <fstream>
#include <iostream>
#include <sstream>
#include <unistd.h>

#include "backend/llvm_info.h"
#include "ast/dump.h"
#include "parse/parser.h"
#include "support/diagnostics.h"
#include "support/source.h"
#include "krsie/version.h"

namespace {

constexpr int k_exit_errors = 1;
constexpr int k_exit_not_implemented = 4;

std::string version_text() {
  return std::string("krsiec ") + krsie::k_version + "\n" + krsie::backend::llvm_description();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"krsiec: compile KRS policies into BPF-LSM objects", "krsiec"};
  app.set_version_flag("--version", version_text());
  app.footer("Exit codes: 0 success, 1 the policy has errors (no output written), 2 usage error, "
             "4 not implemented yet.");

  std::string input;
  std::string output;
  std::string emit;
  bool check_only = false;
  bool werror = false;
  app.add_option("input", input, "policy source (.krs)")->required();
  app.add_option("-o,--output", output, "output BPF object (policy.o)");
  app.add_flag("--check", check_only, "check the policy and report diagnostics; write nothing");
  app.add_option("--emit", emit, "dump a stage instead of writing an object")
      ->check(CLI::IsMember({"ast", "pir", "maps", "llvm", "asm", "obj"}));
  app.add_flag("--Werror,-W", werror, "treat warnings as errors");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help/--version exit 0; every usage error exits 2 (CLI11's own codes vary by error).
    return app.exit(e) == 0 ? 0 : 2;
  }

  std::ifstream in(input, std::ios::binary);
  if (!in) {
    std::cerr << "krsiec: error: cannot open " << input << "\n";
    return k_exit_errors;
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  krsie::SourceFile file(input, buffer.str());
  krsie::DiagnosticEngine diags;
  diags.set_warnings_as_errors(werror);

  krsie::ast::AstContext ast_context;
  krsie::ast::Module* module = krsie::parse::parse_module(file, ast_context, diags);
  diags.render(std::cerr, isatty(STDERR_FILENO));
  if (diags.has_errors()) {
    std::cerr << diags.error_count() << (diags.error_count() == 1 ? " error" : " errors")
              << " generated.\n";
    return k_exit_errors;
  }
  if (check_only) return 0;
  if (emit == "ast") {
    krsie::ast::dump(*module, std::cout);
    return 0;
  }

  std::cerr << "krsiec: error: "
            << (emit.empty() ? std::string("writing policy objects")
                             : "--emit=" + emit)
            << " is not implemented yet; use --check\n";
  return k_exit_not_implemented;
}

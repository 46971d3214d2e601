// libFuzzer target for the whole front end: loader (imports), parser, semantic analysis, the
// diagnostics renderer, the AST dumper and the PIR printer.
//
// The input bytes are the text of the main policy file. Its path is a fixed fake one inside a
// directory that does not exist, so relative imports find nothing, while `std/...` imports
// resolve to the repository's real standard library (KRSIE_STDLIB_DIR, set by the build).
// Built by tests/fuzz/CMakeLists.txt with clang-19 -fsanitize=fuzzer,address,undefined.
//
// The stages run as krsiec runs them: analysis only after the program loaded without errors,
// printing only when analysis reported no errors. Output goes to string streams: the target
// keeps no state between inputs and never exits.

#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include "ast/dump.h"
#include "pir/print.h"
#include "sema/loader.h"
#include "sema/sema.h"
#include "support/diagnostics.h"

#ifndef KRSIE_STDLIB_DIR
#error "KRSIE_STDLIB_DIR must name the repository's stdlib directory"
#endif

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);

  krsie::DiagnosticEngine diags;
  krsie::ast::AstContext ast_context;
  krsie::sema::LoaderOptions loader_options;
  loader_options.stdlib_dir = KRSIE_STDLIB_DIR;

  std::ostringstream out;
  krsie::sema::Program program = krsie::sema::load_program(
      "/nonexistent/krsie-fuzz/input.krs", ast_context, diags, loader_options, &text);
  if (!diags.has_errors()) {
    for (const krsie::ast::Module* m : program.modules) krsie::ast::dump(*m, out);
    krsie::pir::PolicySet pir = krsie::sema::analyze(program, diags);
    if (!diags.has_errors()) {
      krsie::pir::print(pir, out);
      krsie::pir::print(pir, out, {.locations = true});
    }
  }
  diags.render(out, /*color=*/false);
  diags.render(out, /*color=*/true);
  return 0;
}

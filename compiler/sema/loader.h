#pragma once
// Loads a policy file and, transitively, its imports: `import "std/x.krs"` from the standard
// library directory, any other relative path from the importing file's directory. Detects cycles
// and missing files, refuses oversized inputs, and returns the modules in dependency order.

#include <memory>
#include <string>
#include <vector>

#include "ast/ast.h"
#include "support/diagnostics.h"
#include "support/source.h"

namespace krsie::sema {

struct LoaderOptions {
  std::string stdlib_dir;                       // where `std/...` imports are found
  std::size_t max_file_bytes = 16u << 20;       // larger sources are refused with a diagnostic
  unsigned max_modules = 1024;
};

struct Program {
  std::vector<std::unique_ptr<SourceFile>> files;  // owns every source text
  std::vector<ast::Module*> modules;               // imports before their importers
  ast::Module* main = nullptr;                     // null when the main file could not be read
};

// Reads `path` (and its imports) into `ctx`. `source_override`, when set, is used as the text of
// the main file instead of reading it (for tests and stdin).
Program load_program(const std::string& path, ast::AstContext& ctx, DiagnosticEngine& diags,
                     const LoaderOptions& options, const std::string* source_override = nullptr);

}  // namespace krsie::sema

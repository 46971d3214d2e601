#pragma once
// The parser stage: source text -> syntax check (and, from the front-end issue on, the AST).
// ANTLR types never appear in this header: the parse tree does not leave parser.cpp.

#include "support/diagnostics.h"
#include "support/source.h"

namespace krsie::parse {

struct SyntaxSummary {
  std::size_t policies = 0;
  std::size_t imports = 0;
};

// Parses `file`, reporting every syntax error into `diags`. Returns what was found.
SyntaxSummary check_syntax(const SourceFile& file, DiagnosticEngine& diags);

}  // namespace krsie::parse

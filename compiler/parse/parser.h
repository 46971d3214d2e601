#pragma once
// The parser stage: source text -> AST module. ANTLR types never appear in this header: the parse
// tree does not leave parser.cpp, where a transformer builds KRSIE's own AST from it.

#include "ast/ast.h"
#include "support/diagnostics.h"
#include "support/source.h"

namespace krsie::parse {

struct ParseOptions {
  // Brackets/braces/parentheses nested deeper than this are refused before parsing, so that
  // hostile input cannot exhaust the stack of the recursive-descent parser or of later passes.
  unsigned max_nesting = 256;
};

// Parses `file` into a module owned by `ctx`, reporting every syntax error into `diags`.
// Always returns a module; after errors it holds what could be recovered.
ast::Module* parse_module(const SourceFile& file, ast::AstContext& ctx, DiagnosticEngine& diags,
                          const ParseOptions& options = {});

}  // namespace krsie::parse

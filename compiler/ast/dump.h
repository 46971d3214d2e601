#pragma once
// --emit=ast: a stable, indented text form of the AST, one node per line with its line:col.

#include <ostream>

#include "ast/ast.h"

namespace krsie::ast {

void dump(const Module& module, std::ostream& out);

}  // namespace krsie::ast

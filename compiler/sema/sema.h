#pragma once

#include <string>
// Semantic analysis: names, imports, types and values, precedence and conflicts, and lowering of
// the AST to the typed policy IR. One entry point; the passes it runs are in lower.cpp (name
// resolution, value and type checks, lowering of each rule kind), conditions.cpp (hook rule
// conditions to disjunctive normal form) and analyze.cpp (canonical merging, precedence order,
// duplicate/conflict/shadowing diagnostics, rule ids).

#include "pir/pir.h"
#include "sema/loader.h"
#include "support/diagnostics.h"

namespace krsie::sema {

struct SemaOptions {
  unsigned max_alternatives = 256;  // disjuncts a hook condition may normalize to
  // Kernel BTF that typed hook argument chains (`file.f_inode.i_size`) are checked against; read
  // only when a rule uses one (krsiec --btf).
  std::string btf_path = "/sys/kernel/btf/vmlinux";
};

// Lowers every policy of `program` (those of imported modules included) into PIR. Errors and
// warnings go to `diags`; the result is meaningful only when no error was reported.
pir::PolicySet analyze(const Program& program, DiagnosticEngine& diags, const SemaOptions& options = {});

}  // namespace krsie::sema

#pragma once

#include "btf/kernel_types.h"
// Shared between the lowering passes of sema (not a public interface).

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "ast/ast.h"
#include "pir/pir.h"
#include "sema/hook_catalog.h"
#include "sema/sema.h"

namespace krsie::sema::detail {

// A rule on its way to PIR: one hook, one conjunction, with where it came from.
struct WorkRule {
  std::string hook;
  pir::Decision decision = pir::Decision::deny;
  int err = 1;
  std::optional<pir::Matcher> subject;
  std::vector<pir::Constraint> constraints;
  std::string message;
  std::string tag;
  std::vector<SourceRange> origins;
};

// Names visible to every module: `let` constants and rulesets.
class Symbols {
 public:
  Symbols(const Program& program, DiagnosticEngine& diags);
  const ast::Let* let(const std::string& name) const;
  const ast::Ruleset* ruleset(const std::string& name) const;
  std::vector<std::string> let_names() const;
  std::vector<std::string> ruleset_names() const;

 private:
  std::map<std::string, const ast::Let*> lets_;
  std::map<std::string, const ast::Ruleset*> rulesets_;
};

// Turns AST values into typed PIR matchers, reporting value errors at their source range.
class ValueChecker {
 public:
  ValueChecker(const Symbols& symbols, DiagnosticEngine& diags) : symbols_(symbols), diags_(diags) {}

  // Expands lists and `let` references into leaf values; false after an error (including a list
  // that expands to more than k_max_values values: nested lets can double at every level).
  bool flatten(const ast::Value* v, std::vector<const ast::Value*>& out);
  static constexpr std::size_t k_max_values = 1u << 20;

  // A set of values for a field of type `type` (int ranges, CIDRs, path patterns or strings).
  std::optional<pir::Matcher> set_for(const Type& type, const std::vector<const ast::Value*>& values,
                                      const std::string& what);
  // A single integer for `type` (e.g. a flags mask for `has`).
  std::optional<std::uint64_t> integer_for(const Type& type, const ast::Value* v, const std::string& what);
  std::optional<bool> boolean(const ast::Value* v);

  // Suggestion for an unknown name among `candidates`, or "".
  static std::string did_you_mean(const std::string& name, const std::vector<std::string>& candidates);

 private:
  std::optional<pir::IntRange> int_leaf(const Type& type, const ast::Value* v, const std::string& what);
  bool flatten_into(const ast::Value* v, std::vector<const ast::Value*>& out, const ast::Value* top);
  const Symbols& symbols_;
  DiagnosticEngine& diags_;
  std::vector<std::string> resolving_;  // `let` names being expanded (cycle detection)
};

// Lowers one hook rule condition to disjunctive normal form: each inner vector is one conjunction.
// nullopt after an error. An empty outer vector means "never true".
// Typed hook argument chains (`file.f_inode.i_size`) are resolved against `kernel` (BTF).
std::optional<std::vector<std::vector<pir::Constraint>>> lower_condition(
    const hooks::Hook& hook, const ast::Condition* condition, ValueChecker& values,
    DiagnosticEngine& diags, const SemaOptions& options, btf::LazyKernelTypes& kernel);

// Orders, merges and checks the rules of one policy and assigns rule ids.
void finish_policy(pir::Policy& policy, std::vector<WorkRule> rules,
                   const std::map<std::string, std::vector<std::string>>& domain_hooks,
                   DiagnosticEngine& diags);

// The posture domain a hook belongs to ("" when postures do not apply to it).
const std::map<std::string, std::vector<std::string>>& posture_domains();

}  // namespace krsie::sema::detail

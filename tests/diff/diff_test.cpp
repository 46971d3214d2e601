// The differential table (issue #7): seeded random policies x random events, each decided by
//   1. the reference: a userspace evaluator of the PIR (compiler/eval/pir_eval.h),
//   2. the generic backend's maps, run by a userspace mirror of the templates' evaluation
//      (compiler/eval/generic_eval.h),
//   3. the LLVM backend's rule chain (emit_rule_chain) compiled for the host and JIT-run on the
//      field vector the LLVM object's own set tables give (backend/llvm/host_rules.h),
// which must agree on (rule id, decision). KRSIE_DIFF_SEED=N explores another seed;
// KRSIE_DIFF_POLICIES / KRSIE_DIFF_EVENTS change the size of the table.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>

#include "backend/generic.h"
#include "backend/llvm/host_rules.h"
#include "backend/llvm/lowering.h"
#include "eval/generic_eval.h"
#include "eval/pir_eval.h"
#include "generators.h"
#include "pir/print.h"
#include "sema/loader.h"
#include "sema/sema.h"

namespace krsie::difftest {
namespace {

std::uint64_t env_number(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 0) : fallback;
}

struct Compiled {
  std::string error;  // first error of the front end or a backend; empty when compiled
  std::string stage;
  pir::PolicySet pir;
  std::optional<backend::GenericPolicy> generic;
  std::optional<backend::llvmbe::SetTables> tables;
  std::vector<backend::llvmbe::HookCode> hooks;
};

// parse -> sema -> PIR -> both backends' lowering, as compiler/driver/krsiec.cpp does.
Compiled compile(const std::string& text) {
  Compiled out;
  DiagnosticEngine diags;
  ast::AstContext ast_context;
  sema::LoaderOptions options;
  auto first_error = [&](const char* stage) {
    out.stage = stage;
    for (const Diagnostic& d : diags.diagnostics())
      if (d.severity == Severity::error) {
        out.error = d.message;
        break;
      }
    if (out.error.empty()) out.error = "error";
  };
  sema::Program program = sema::load_program("/nonexistent/diff.krs", ast_context, diags, options, &text);
  if (diags.has_errors()) return first_error("parse"), std::move(out);
  out.pir = sema::analyze(program, diags);
  if (diags.has_errors()) return first_error("sema"), std::move(out);
  out.generic = backend::lower_generic(out.pir.policies.at(0), diags);
  if (!out.generic) return first_error("generic"), std::move(out);
  out.tables = backend::llvmbe::set_tables(out.pir.policies.at(0), diags);
  if (!out.tables) return first_error("llvm"), std::move(out);
  btf::LazyKernelTypes kernel("/sys/kernel/btf/vmlinux");  // the generator writes no typed chains
  auto hooks = backend::llvmbe::hook_code(out.pir.policies.at(0), *out.tables, kernel, diags);
  if (!hooks) return first_error("llvm"), std::move(out);
  out.hooks = std::move(*hooks);
  return out;
}

struct Row {
  std::uint64_t events = 0, agree = 0, by_rule = 0, policies = 0;
};

std::string verdict_text(std::uint32_t rule, unsigned decision) {
  static const char* names[] = {"allow", "deny", "audit", "kill"};
  std::string id = rule == eval::Verdict::k_posture_rule ? "posture" : "rule " + std::to_string(rule);
  return id + " " + (decision < 4 ? names[decision] : "?");
}

const char* kind_name(pir::Matcher::Kind k) {
  switch (k) {
    case pir::Matcher::Kind::int_set: return "int_set";
    case pir::Matcher::Kind::addr_set: return "addr_set";
    case pir::Matcher::Kind::path_set: return "path_set";
    case pir::Matcher::Kind::string_set: return "string_set";
    case pir::Matcher::Kind::flags_all: return "flags_all";
    case pir::Matcher::Kind::flags_any: return "flags_any";
    case pir::Matcher::Kind::boolean: return "boolean";
  }
  return "?";
}

TEST(Differential, PoliciesTimesEventsAgree) {
  const std::uint64_t seed = env_number("KRSIE_DIFF_SEED", 7);
  const unsigned n_policies = static_cast<unsigned>(env_number("KRSIE_DIFF_POLICIES", 300));
  const unsigned n_events = static_cast<unsigned>(env_number("KRSIE_DIFF_EVENTS", 100));
  auto start = std::chrono::steady_clock::now();
  std::map<std::string, Row> table;
  std::map<std::string, unsigned> rejected;  // stage: first error -> count
  std::map<std::string, unsigned> kinds;     // matcher kinds compiled (constraints and subjects)
  unsigned compiled = 0, disagreements = 0, printed = 0;
  for (unsigned i = 0; i < n_policies; ++i) {
    Rng rng(seed * 1000003 + i);
    std::string text = generate_policy(rng, "p" + std::to_string(i));
    Compiled c = compile(text);
    if (!c.error.empty()) {
      ++rejected[c.stage + ": " + c.error.substr(0, 90)];
      continue;
    }
    ++compiled;
    const pir::Policy& policy = c.pir.policies.at(0);
    std::string jit_error;
    auto host = backend::HostRules::compile(c.hooks, &jit_error);
    ASSERT_TRUE(host) << jit_error;
    eval::GenericMaps generic(*c.generic);
    eval::GenericMaps llvm_sets(c.tables->maps);
    for (const pir::Hook& hook : policy.hooks) {
      Row& row = table[hook.name];
      ++row.policies;
      for (const pir::Rule& r : hook.rules) {
        if (r.subject) ++kinds["subject"];
        for (const pir::Constraint& k : r.constraints) ++kinds[std::string(kind_name(k.matcher.kind)) + (k.negated ? " (not)" : "")];
      }
      for (const eval::Event& e : generate_events(rng, hook, n_events)) {
        eval::Verdict ref = eval::evaluate(hook, e);
        std::uint8_t ref_decision = backend::decision_code(ref.decision);
        eval::MapVerdict g = generic.decide(hook.name, generic.fields(hook.name, e));
        eval::FieldVector lfv = llvm_sets.fields(hook.name, e);
        std::uint64_t l = host->decide(hook.name, lfv.v.data(), lfv.present).value_or(~0ull);
        std::uint32_t l_rule = static_cast<std::uint32_t>(l >> 8);
        unsigned l_decision = static_cast<unsigned>(l & 0xff);
        ++row.events;
        if (ref.rule_id != eval::Verdict::k_posture_rule) ++row.by_rule;
        bool agree = g.rule_id == ref.rule_id && g.decision == ref_decision && l_rule == ref.rule_id && l_decision == ref_decision;
        if (agree) {
          ++row.agree;
          continue;
        }
        ++disagreements;
        if (printed++ < 5) {
          std::ostringstream pir_text;
          pir::print(c.pir, pir_text);
          ADD_FAILURE() << "disagreement (seed " << seed << ", policy " << i << ") on hook " << hook.name << "\n"
                        << "policy:\n" << text << "PIR:\n" << pir_text.str() << "event:\n" << describe_event(e)
                        << "reference: " << verdict_text(ref.rule_id, ref_decision) << "\n"
                        << "generic:   " << verdict_text(g.rule_id, g.decision) << "\n"
                        << "llvm:      " << verdict_text(l_rule, l_decision) << "\n";
        }
      }
    }
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::ostringstream out;
  out << "differential table: seed " << seed << ", " << n_policies << " policies (" << compiled << " compiled), "
      << n_events << " events per hook, " << std::fixed << std::setprecision(2) << seconds << " s\n";
  out << std::left << std::setw(24) << "hook" << std::right << std::setw(10) << "policies" << std::setw(10) << "events"
      << std::setw(10) << "by rule" << std::setw(10) << "agree" << "\n";
  Row total;
  for (const auto& [hook, row] : table) {
    out << std::left << std::setw(24) << hook << std::right << std::setw(10) << row.policies << std::setw(10) << row.events
        << std::setw(10) << row.by_rule << std::setw(10) << row.agree << "\n";
    total.events += row.events;
    total.agree += row.agree;
    total.by_rule += row.by_rule;
  }
  out << std::left << std::setw(24) << "total" << std::right << std::setw(10) << "" << std::setw(10) << total.events
      << std::setw(10) << total.by_rule << std::setw(10) << total.agree << "\n";
  out << "constraints compiled by matcher kind:";
  for (const auto& [k, n] : kinds) out << " " << k << "=" << n;
  out << "\n";
  for (const auto& [why, n] : rejected) out << "rejected x" << n << " " << why << "\n";
  std::cout << out.str();
  EXPECT_EQ(disagreements, 0u);
  EXPECT_GT(compiled, n_policies / 2) << "the generator should produce mostly valid policies";
}

}  // namespace
}  // namespace krsie::difftest

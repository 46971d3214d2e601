// Semantic analysis end to end on in-memory sources: lowering tables, precedence, merging,
// diagnostics. The lit suite checks the same through the CLI; these pin the library API.
#include <gtest/gtest.h>

#include <sstream>

#include "pir/print.h"
#include "sema/sema.h"

namespace krsie::sema {
namespace {

struct Compiled {
  ast::AstContext ctx;
  DiagnosticEngine diags;
  Program program;
  pir::PolicySet pir;
  explicit Compiled(const std::string& text) {
    LoaderOptions options;
    options.stdlib_dir = KRSIE_TEST_STDLIB_DIR;
    program = load_program("/nonexistent/test.krs", ctx, diags, options, &text);
    if (!diags.has_errors()) pir = analyze(program, diags);
  }
  std::string messages() const {
    std::ostringstream out;
    diags.render(out);
    return out.str();
  }
  const pir::Hook* hook(const std::string& name) const {
    if (pir.policies.empty()) return nullptr;
    for (const pir::Hook& h : pir.policies[0].hooks)
      if (h.name == name) return &h;
    return nullptr;
  }
  std::string text() const {
    std::ostringstream out;
    pir::print(pir, out);
    return out.str();
  }
};

const char* k_head = "policy p {\n  target cgroup \"/sys/fs/cgroup/p\";\n";

TEST(Sema, FileReadWriteLowersToOneFileOpenRule) {
  Compiled c(std::string(k_head) + "  deny file read, write \"/etc/shadow\";\n}\n");
  ASSERT_FALSE(c.diags.has_errors()) << c.messages();
  const pir::Hook* h = c.hook("file_open");
  ASSERT_NE(h, nullptr);
  ASSERT_EQ(h->rules.size(), 1u);
  ASSERT_EQ(h->rules[0].constraints.size(), 2u);
  EXPECT_EQ(h->rules[0].constraints[0].field, "fmode");
  EXPECT_EQ(h->rules[0].constraints[0].matcher.mask, 3u);
  EXPECT_EQ(h->rules[0].constraints[1].field, "path");
}

TEST(Sema, SeparateRulesMergeIntoTheSameCanonicalForm) {
  Compiled one(std::string(k_head) + "  deny network connect port 9050, 9051;\n}\n");
  Compiled two(std::string(k_head) + "  deny network connect port 9051;\n  deny network connect port 9050;\n}\n");
  ASSERT_FALSE(one.diags.has_errors()) << one.messages();
  ASSERT_FALSE(two.diags.has_errors()) << two.messages();
  EXPECT_EQ(one.text(), two.text());
  EXPECT_EQ(two.pir.policies[0].rule_table[0].origins.size(), 2u);
}

TEST(Sema, PrecedenceFromBlockThenDenyOverAllow) {
  Compiled c(std::string(k_head) +
             "  default file deny;\n"
             "  allow file read \"/etc/**\";\n"
             "  deny file read \"/etc/shadow\";\n"
             "  from \"/usr/sbin/sshd\" { allow file read \"/etc/shadow\"; }\n}\n");
  ASSERT_FALSE(c.diags.has_errors()) << c.messages();
  const pir::Hook* h = c.hook("file_open");
  ASSERT_NE(h, nullptr);
  ASSERT_EQ(h->rules.size(), 3u);
  EXPECT_TRUE(h->rules[0].subject.has_value());
  EXPECT_EQ(h->rules[0].decision, pir::Decision::allow);
  EXPECT_EQ(h->rules[1].decision, pir::Decision::deny);
  EXPECT_EQ(h->rules[2].decision, pir::Decision::allow);
  EXPECT_EQ(h->posture, pir::Decision::deny);
}

TEST(Sema, AllowCoveredByDenyIsReportedWithTheWinner) {
  Compiled c(std::string(k_head) + "  default file deny;\n  deny file read \"/etc/**\";\n  allow file read \"/etc/passwd\";\n}\n");
  std::string m = c.messages();
  EXPECT_NE(m.find("5:3: warning: this allow rule never applies"), std::string::npos) << m;
  EXPECT_NE(m.find("4:3: note: this rule wins (deny takes precedence over allow)"), std::string::npos) << m;
}

TEST(Sema, AllowUnderDefaultAllowPostureWarns) {
  Compiled c(std::string(k_head) + "  allow exec \"/bin/sh\";\n}\n");
  EXPECT_NE(c.messages().find("allow rule has no effect: the exec posture is allow (the default)"), std::string::npos)
      << c.messages();
}

TEST(Sema, PostureHooksAppearWithoutRules) {
  Compiled c(std::string(k_head) + "  default capability deny;\n}\n");
  ASSERT_FALSE(c.diags.has_errors()) << c.messages();
  const pir::Hook* h = c.hook("capable");
  ASSERT_NE(h, nullptr);
  EXPECT_TRUE(h->rules.empty());
  EXPECT_EQ(h->posture, pir::Decision::deny);
}

TEST(Sema, HookConditionBecomesDisjunctiveNormalForm) {
  Compiled c(std::string(k_head) +
             "  on socket_connect when family == AF_INET and (remote_port == 9050 or not remote_port < 1024) deny;\n}\n");
  ASSERT_FALSE(c.diags.has_errors()) << c.messages();
  const pir::Hook* h = c.hook("socket_connect");
  ASSERT_NE(h, nullptr);
  ASSERT_EQ(h->rules.size(), 2u);
  std::string t = c.text();
  EXPECT_NE(t.find("remote_port not in {0..1023}"), std::string::npos) << t;
  EXPECT_NE(t.find("remote_port in {9050}"), std::string::npos) << t;
}

TEST(Sema, UnitMismatchIsAnError) {
  Compiled c(std::string(k_head) + "  on socket_connect when family == SOCK_STREAM deny;\n}\n");
  EXPECT_NE(c.messages().find("'SOCK_STREAM' is a socket_type constant, but field 'family' is a family"), std::string::npos)
      << c.messages();
}

TEST(Sema, UnknownNamesGetSuggestions) {
  Compiled c(std::string(k_head) + "  on socket_conect deny;\n  deny capability CAP_SYS_ADMN;\n}\n");
  std::string m = c.messages();
  EXPECT_NE(m.find("did you mean 'socket_connect'?"), std::string::npos) << m;
  EXPECT_NE(m.find("did you mean 'CAP_SYS_ADMIN'?"), std::string::npos) << m;
  EXPECT_EQ(c.diags.error_count(), 2u);
}

TEST(Sema, PolicyWithoutTargetIsRefused) {
  Compiled c("policy p { deny ptrace; }\n");
  EXPECT_NE(c.messages().find("has no target: it would confine every process on the node"), std::string::npos);
}

TEST(Sema, StdlibImportsResolve) {
  Compiled c("import \"std/tor\";\n" + std::string(k_head) + "  use no_tor;\n}\n");
  ASSERT_FALSE(c.diags.has_errors()) << c.messages();
  EXPECT_NE(c.hook("socket_connect"), nullptr);
  EXPECT_NE(c.hook("socket_listen"), nullptr);
}

TEST(Sema, LetCyclesAndRedefinitionsAreErrors) {
  Compiled c("let a = b;\nlet b = [a];\nlet a = 1;\n" + std::string(k_head) + "  deny setuid to a;\n}\n");
  std::string m = c.messages();
  EXPECT_NE(m.find("redefinition of 'a'"), std::string::npos) << m;
}

TEST(Sema, ReadonlyExpandsToEveryModifyingOperation) {
  Compiled c(std::string(k_head) + "  readonly \"/usr/**\";\n}\n");
  ASSERT_FALSE(c.diags.has_errors()) << c.messages();
  for (const char* h : {"file_open", "path_chmod", "path_chown", "path_link", "path_mkdir", "path_mknod", "path_rename",
                        "path_rmdir", "path_symlink", "path_truncate", "path_unlink"})
    EXPECT_NE(c.hook(h), nullptr) << h;
  EXPECT_EQ(c.hook("bprm_check_security"), nullptr);
}

}  // namespace
}  // namespace krsie::sema

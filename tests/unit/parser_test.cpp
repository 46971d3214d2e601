#include <gtest/gtest.h>

#include <sstream>

#include "ast/dump.h"
#include "parse/parser.h"

namespace krsie::parse {
namespace {

struct Parsed {
  SourceFile file;
  ast::AstContext ctx;
  DiagnosticEngine diags;
  ast::Module* module = nullptr;
  explicit Parsed(std::string text, ParseOptions options = {}) : file("t.krs", std::move(text)) {
    module = parse_module(file, ctx, diags, options);
  }
  std::string errors() const {
    std::ostringstream out;
    diags.render(out);
    return out.str();
  }
};

TEST(Parser, BuildsModuleDeclarations) {
  Parsed p("import \"std/a.krs\";\n# comment\nlet ports = [1, 2..5];\n"
           "ruleset r { deny ptrace; }\npolicy a { target cgroup \"/sys/fs/cgroup/a\"; }\n"
           "policy b { mode audit; default file deny; use r; }\n");
  ASSERT_FALSE(p.diags.has_errors()) << p.errors();
  EXPECT_EQ(p.module->imports.size(), 1u);
  EXPECT_EQ(p.module->imports[0]->path, "std/a.krs");
  ASSERT_EQ(p.module->lets.size(), 1u);
  EXPECT_EQ(p.module->lets[0]->value->kind, ast::Value::Kind::list);
  EXPECT_EQ(p.module->rulesets.size(), 1u);
  ASSERT_EQ(p.module->policies.size(), 2u);
  EXPECT_EQ(p.module->policies[0]->targets.size(), 1u);
  EXPECT_EQ(p.module->policies[1]->modes[0].text, "audit");
  EXPECT_EQ(p.module->policies[1]->defaults[0]->domain.text, "file");
}

TEST(Parser, NodesCarryByteRanges) {
  Parsed p("policy x {\n  deny exec \"/bin/sh\";\n}\n");
  ASSERT_FALSE(p.diags.has_errors()) << p.errors();
  const ast::RuleItem* item = p.module->policies[0]->items[0];
  auto lc = p.file.line_col(item->range.begin);
  EXPECT_EQ(lc.line, 2u);
  EXPECT_EQ(lc.column, 3u);
  EXPECT_EQ(p.file.text().substr(item->range.begin, item->range.end - item->range.begin), "deny exec \"/bin/sh\";");
}

TEST(Parser, RangesAreBytesEvenAfterMultibyteCharacters) {
  Parsed p("# héllo wörld\npolicy x { deny ptrace; }\n");
  ASSERT_FALSE(p.diags.has_errors()) << p.errors();
  const ast::Policy* pol = p.module->policies[0];
  EXPECT_EQ(p.file.text().substr(pol->name.range.begin, 1), "x");
}

TEST(Parser, KeywordsAreSoftWhereNamesAreExpected) {
  Parsed p("policy x { on bpf when cmd == 5 deny; on socket_create when family == AF_INET and type == SOCK_RAW deny; }");
  ASSERT_FALSE(p.diags.has_errors()) << p.errors();
  auto* rule = static_cast<const ast::HookRule*>(p.module->policies[0]->items[0]);
  EXPECT_EQ(rule->hook.text, "bpf");
}

TEST(Parser, ReportsEverySyntaxErrorWithItsRange) {
  Parsed p("policy { }\npolicy ok { }\npolicy 42 { }\n");
  ASSERT_GE(p.diags.error_count(), 2u);
  auto lc0 = p.file.line_col(p.diags.diagnostics()[0].range.begin);
  EXPECT_EQ(lc0.line, 1u);
  EXPECT_EQ(lc0.column, 8u);
  auto lc1 = p.file.line_col(p.diags.diagnostics().back().range.begin);
  EXPECT_EQ(lc1.line, 3u);
}

TEST(Parser, BinaryJunkGetsDiagnosticsNotACrash) {
  std::string junk;
  for (int i = 0; i < 4096; ++i) junk += static_cast<char>((i * 131) & 0xff);
  Parsed p(junk);
  EXPECT_TRUE(p.diags.has_errors());
  EXPECT_NE(p.errors().find("invalid UTF-8"), std::string::npos) << p.errors();
}

TEST(Parser, DeepNestingIsRefusedNotOverflowed) {
  std::string deep = "let x = " + std::string(10000, '[') + std::string(10000, ']') + ";";
  Parsed p(deep);
  EXPECT_NE(p.errors().find("nesting deeper than 256 levels"), std::string::npos) << p.errors();
  Parsed shallow("let x = [[[1]]];");
  EXPECT_FALSE(shallow.diags.has_errors()) << shallow.errors();
}

TEST(Parser, IntegerLiteralsInEveryBase) {
  Parsed p("let a = [0x1F, 0o755, 0b101, 1_000];");
  ASSERT_FALSE(p.diags.has_errors()) << p.errors();
  auto* list = static_cast<const ast::ListValue*>(p.module->lets[0]->value);
  std::vector<unsigned long long> got;
  for (auto* v : list->items) got.push_back(static_cast<const ast::IntegerValue*>(v)->value);
  EXPECT_EQ(got, (std::vector<unsigned long long>{31, 493, 5, 1000}));
  Parsed big("let a = 99999999999999999999999;");
  EXPECT_NE(big.errors().find("does not fit in 64 bits"), std::string::npos);
}

TEST(Parser, UnterminatedStringIsNamed) {
  Parsed p("policy x { deny exec \"/bin/sh; }\n");
  EXPECT_NE(p.errors().find("unterminated string"), std::string::npos) << p.errors();
}

}  // namespace
}  // namespace krsie::parse

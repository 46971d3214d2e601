#include <gtest/gtest.h>

#include <sstream>

#include "parse/parser.h"

namespace krsie::parse {
namespace {

TEST(Parser, CountsPoliciesAndImports) {
  SourceFile f("ok.krs", "import \"std/a.krs\";\n# comment\npolicy a { }\npolicy b { }\n");
  DiagnosticEngine d;
  SyntaxSummary s = check_syntax(f, d);
  EXPECT_FALSE(d.has_errors());
  EXPECT_EQ(s.policies, 2u);
  EXPECT_EQ(s.imports, 1u);
}

TEST(Parser, ReportsEverySyntaxErrorWithItsRange) {
  SourceFile f("bad.krs", "policy { }\npolicy ok { }\npolicy 42 { }\n");
  DiagnosticEngine d;
  check_syntax(f, d);
  ASSERT_GE(d.error_count(), 2u);
  auto lc0 = f.line_col(d.diagnostics()[0].range.begin);
  EXPECT_EQ(lc0.line, 1u);
  EXPECT_EQ(lc0.column, 8u);
  auto lc1 = f.line_col(d.diagnostics().back().range.begin);
  EXPECT_EQ(lc1.line, 3u);
}

TEST(Parser, BinaryJunkGetsDiagnosticsNotACrash) {
  std::string junk;
  for (int i = 0; i < 4096; ++i) junk += static_cast<char>((i * 131) & 0xff);
  SourceFile f("junk.krs", junk);
  DiagnosticEngine d;
  check_syntax(f, d);
  EXPECT_TRUE(d.has_errors());
}

}  // namespace
}  // namespace krsie::parse

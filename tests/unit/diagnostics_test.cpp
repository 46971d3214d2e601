#include <gtest/gtest.h>

#include <sstream>

#include "support/diagnostics.h"
#include "support/source.h"

namespace krsie {
namespace {

TEST(SourceFile, LineAndColumnOfOffsets) {
  SourceFile f("a.krs", "ab\ncd\n\nef");
  EXPECT_EQ(f.line_col(0).line, 1u);
  EXPECT_EQ(f.line_col(0).column, 1u);
  EXPECT_EQ(f.line_col(4).line, 2u);
  EXPECT_EQ(f.line_col(4).column, 2u);
  EXPECT_EQ(f.line_col(6).line, 3u);
  EXPECT_EQ(f.line_col(7).line, 4u);
  EXPECT_EQ(f.line_text(2), "cd");
  EXPECT_EQ(f.line_text(3), "");
  EXPECT_EQ(f.line_text(4), "ef");
  EXPECT_EQ(f.line_text(9), "");
  // Offsets past the end clamp to the last position.
  EXPECT_EQ(f.line_col(1000).line, 4u);
}

TEST(Diagnostics, RendersLocationLineCaretNotesAndHint) {
  SourceFile f("p.krs", "policy x {\n  on socket_conect deny\n}\n");
  DiagnosticEngine d;
  d.error({&f, 16, 29}, "unknown hook `socket_conect`")
      .note({&f, 0, 6}, "in this policy")
      .hint("did you mean `socket_connect`?");
  std::ostringstream out;
  d.render(out);
  EXPECT_EQ(out.str(),
            "p.krs:2:6: error: unknown hook `socket_conect`\n"
            "  on socket_conect deny\n"
            "     ^~~~~~~~~~~~~\n"
            "p.krs:1:1: note: in this policy\n"
            "policy x {\n"
            "^~~~~~\n"
            "hint: did you mean `socket_connect`?\n");
  EXPECT_EQ(d.error_count(), 1u);
}

TEST(Diagnostics, UnderlineNeverRunsPastTheLine) {
  SourceFile f("p.krs", "abc\ndef\n");
  DiagnosticEngine d;
  d.error({&f, 1, 7}, "spans lines");
  std::ostringstream out;
  d.render(out);
  EXPECT_NE(out.str().find("abc\n ^~\n"), std::string::npos) << out.str();
}

TEST(Diagnostics, ControlBytesInTheExcerptArePrintable) {
  SourceFile f("bin.krs", std::string("a\x01\x02z", 4));
  DiagnosticEngine d;
  d.error({&f, 1, 2}, "junk");
  std::ostringstream out;
  d.render(out);
  EXPECT_NE(out.str().find("a??z\n"), std::string::npos) << out.str();
}

TEST(Diagnostics, WerrorTurnsWarningsIntoErrors) {
  SourceFile f("p.krs", "x");
  DiagnosticEngine plain;
  plain.warning({&f, 0, 1}, "shadowed rule");
  EXPECT_FALSE(plain.has_errors());
  EXPECT_EQ(plain.warning_count(), 1u);

  DiagnosticEngine strict;
  strict.set_warnings_as_errors(true);
  strict.warning({&f, 0, 1}, "shadowed rule");
  EXPECT_TRUE(strict.has_errors());
  std::ostringstream out;
  strict.render(out);
  EXPECT_EQ(out.str().rfind("p.krs:1:1: error: shadowed rule", 0), 0u) << out.str();
}

TEST(Diagnostics, ErrorLimitStopsRecordingAndSaysSo) {
  SourceFile f("p.krs", "x");
  DiagnosticEngine d;
  d.set_error_limit(3);
  for (int i = 0; i < 10; ++i) d.error({&f, 0, 1}, "e" + std::to_string(i)).note({}, "n");
  EXPECT_EQ(d.diagnostics().size(), 3u);
  EXPECT_EQ(d.error_count(), 10u);
  std::ostringstream out;
  d.render(out);
  EXPECT_NE(out.str().find("too many errors emitted, stopping now"), std::string::npos);
  EXPECT_EQ(out.str().find("e3"), std::string::npos);
}

TEST(Diagnostics, LocationlessDiagnosticNamesTheTool) {
  DiagnosticEngine d;
  d.error({}, "no input");
  std::ostringstream out;
  d.render(out);
  EXPECT_EQ(out.str(), "krsiec: error: no input\n");
}

}  // namespace
}  // namespace krsie

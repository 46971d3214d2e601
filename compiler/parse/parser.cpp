#include "parse/parser.h"

#include <antlr4-runtime.h>

#include <cstdio>

#include "KrsLexer.h"
#include "KrsParser.h"

namespace krsie::parse {

namespace {

// Turns ANTLR's syntax errors into KRSIE diagnostics with a source range.
class DiagnosticListener final : public antlr4::BaseErrorListener {
 public:
  DiagnosticListener(const SourceFile& file, DiagnosticEngine& diags) : file_(file), diags_(diags) {}

  void syntaxError(antlr4::Recognizer*, antlr4::Token* offending, size_t line, size_t column,
                   const std::string& message, std::exception_ptr) override {
    SourceRange range{&file_, 0, 0};
    if (offending && offending->getStartIndex() != k_no_index) {
      range.begin = static_cast<std::uint32_t>(offending->getStartIndex());
      range.end = static_cast<std::uint32_t>(offending->getStopIndex() + 1);
    } else {
      range.begin = offset_of(line, column);
      range.end = range.begin + 1;
    }
    diags_.error(range, message);
  }

 private:
  std::uint32_t offset_of(size_t line, size_t column) const {
    std::uint32_t offset = 0;
    for (size_t l = 1; l < line && offset < file_.text().size(); ++offset)
      if (file_.text()[offset] == '\n') ++l;
    return offset + static_cast<std::uint32_t>(column);
  }
  static constexpr size_t k_no_index = static_cast<size_t>(-1);
  const SourceFile& file_;
  DiagnosticEngine& diags_;
};

// Offset of the first byte that is not part of valid UTF-8 (overlongs, surrogates and code
// points past U+10FFFF are invalid too), or npos.
std::size_t first_invalid_utf8(const std::string& s) {
  std::size_t i = 0;
  while (i < s.size()) {
    unsigned char c = s[i];
    std::size_t len;
    std::uint32_t cp;
    if (c < 0x80) { ++i; continue; }
    if ((c & 0xe0) == 0xc0) len = 2, cp = c & 0x1f;
    else if ((c & 0xf0) == 0xe0) len = 3, cp = c & 0x0f;
    else if ((c & 0xf8) == 0xf0) len = 4, cp = c & 0x07;
    else return i;
    if (i + len > s.size()) return i;
    for (std::size_t k = 1; k < len; ++k) {
      unsigned char cc = s[i + k];
      if ((cc & 0xc0) != 0x80) return i;
      cp = (cp << 6) | (cc & 0x3f);
    }
    static constexpr std::uint32_t min_for_len[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_for_len[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += len;
  }
  return std::string::npos;
}

}  // namespace

SyntaxSummary check_syntax(const SourceFile& file, DiagnosticEngine& diags) {
  if (std::size_t bad = first_invalid_utf8(file.text()); bad != std::string::npos) {
    char byte[8];
    std::snprintf(byte, sizeof byte, "0x%02x", static_cast<unsigned char>(file.text()[bad]));
    diags.error({&file, static_cast<std::uint32_t>(bad), static_cast<std::uint32_t>(bad + 1)},
                std::string("invalid UTF-8 (byte ") + byte + "): policy files must be UTF-8 text");
    return {};
  }
  antlr4::ANTLRInputStream input(file.text());
  grammar::KrsLexer lexer(&input);
  antlr4::CommonTokenStream tokens(&lexer);
  grammar::KrsParser parser(&tokens);
  DiagnosticListener listener(file, diags);
  lexer.removeErrorListeners();
  parser.removeErrorListeners();
  parser.addErrorListener(&listener);

  grammar::KrsParser::FileContext* tree = parser.file();
  SyntaxSummary summary;
  for (grammar::KrsParser::ItemContext* item : tree->item()) {
    if (item->policyDecl()) ++summary.policies;
    if (item->importDecl()) ++summary.imports;
  }
  return summary;
}

}  // namespace krsie::parse

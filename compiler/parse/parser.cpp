#include "parse/parser.h"

#include <antlr4-runtime.h>

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

}  // namespace

SyntaxSummary check_syntax(const SourceFile& file, DiagnosticEngine& diags) {
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

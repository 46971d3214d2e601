#include "support/diagnostics.h"

#include <algorithm>

namespace krsie {

namespace {

const char* severity_name(Severity s) {
  switch (s) {
    case Severity::note: return "note";
    case Severity::warning: return "warning";
    case Severity::error: return "error";
  }
  return "error";
}

const char* severity_color(Severity s) {
  switch (s) {
    case Severity::note: return "\033[1;36m";
    case Severity::warning: return "\033[1;35m";
    case Severity::error: return "\033[1;31m";
  }
  return "";
}

// "file:line:col: severity: message", then the line and a caret/underline under the range.
void render_one(std::ostream& out, Severity severity, const SourceRange& range,
                const std::string& message, bool color) {
  const char* bold = color ? "\033[1m" : "";
  const char* reset = color ? "\033[0m" : "";
  if (range.valid()) {
    auto lc = range.file->line_col(range.begin);
    out << bold << range.file->name() << ":" << lc.line << ":" << lc.column << ": " << reset;
  } else {
    out << bold << "krsiec: " << reset;
  }
  out << (color ? severity_color(severity) : "") << severity_name(severity) << ":" << reset
      << " " << bold << message << reset << "\n";
  if (!range.valid()) return;
  auto lc = range.file->line_col(range.begin);
  std::string_view line = range.file->line_text(lc.line);
  // Keep the excerpt printable: control bytes (binary input) become '?'.
  std::string shown(line.substr(0, 200));
  for (char& c : shown)
    if ((unsigned char)c < 0x20 && c != '\t') c = '?';
  out << shown << "\n";
  std::string marker;
  for (std::uint32_t i = 1; i < lc.column && i <= shown.size(); ++i)
    marker += shown[i - 1] == '\t' ? '\t' : ' ';
  // Underline the range, but never past the end of the shown line (ranges may span lines).
  std::uint32_t width = range.end > range.begin ? range.end - range.begin : 1;
  std::uint32_t room = lc.column <= shown.size() ? static_cast<std::uint32_t>(shown.size()) - lc.column + 1 : 1;
  width = std::max<std::uint32_t>(1, std::min(width, room));
  marker += '^';
  marker.append(width - 1, '~');
  out << (color ? "\033[1;32m" : "") << marker << reset << "\n";
}

}  // namespace

DiagnosticEngine::Builder DiagnosticEngine::add(Severity severity, SourceRange range,
                                                std::string message) {
  if (severity == Severity::warning && werror_) severity = Severity::error;
  if (severity == Severity::error) {
    if (error_limit_ && errors_ >= error_limit_) {
      ++errors_;
      overflow_ = {};
      return Builder(overflow_);
    }
    ++errors_;
  } else if (severity == Severity::warning) {
    ++warnings_;
  }
  diags_.push_back({severity, range, std::move(message), {}, {}});
  if (severity == Severity::error && error_limit_ && errors_ == error_limit_)
    diags_.back().notes.push_back({{}, "too many errors emitted, stopping now"});
  return Builder(diags_.back());
}

DiagnosticEngine::Builder DiagnosticEngine::error(SourceRange range, std::string message) {
  return add(Severity::error, range, std::move(message));
}

DiagnosticEngine::Builder DiagnosticEngine::warning(SourceRange range, std::string message) {
  return add(Severity::warning, range, std::move(message));
}

void DiagnosticEngine::render(std::ostream& out, bool color) const {
  for (const Diagnostic& d : diags_) {
    render_one(out, d.severity, d.range, d.message, color);
    for (const Note& n : d.notes) render_one(out, Severity::note, n.range, n.message, color);
    if (!d.hint.empty())
      out << (color ? "\033[1;36m" : "") << "hint:" << (color ? "\033[0m" : "") << " " << d.hint
          << "\n";
  }
}

}  // namespace krsie

#pragma once
// Diagnostics in the style of clang: "file:line:col: error: message", the source line, a caret
// and underline, then notes and a hint. Passes report into a DiagnosticEngine and keep going;
// the driver decides what the collected errors mean for the exit code.

#include <ostream>
#include <string>
#include <vector>

#include "support/source.h"

namespace krsie {

enum class Severity { note, warning, error };

struct Note {
  SourceRange range;  // may be invalid: a note without a location
  std::string message;
};

struct Diagnostic {
  Severity severity = Severity::error;
  SourceRange range;
  std::string message;
  std::vector<Note> notes;
  std::string hint;  // e.g. "did you mean `socket_connect`?"
};

class DiagnosticEngine {
 public:
  // Builder returned by error()/warning(), to attach notes and a hint fluently.
  class Builder {
   public:
    explicit Builder(Diagnostic& d) : d_(d) {}
    Builder& note(SourceRange range, std::string message) {
      d_.notes.push_back({range, std::move(message)});
      return *this;
    }
    Builder& hint(std::string text) {
      d_.hint = std::move(text);
      return *this;
    }

   private:
    Diagnostic& d_;
  };

  Builder error(SourceRange range, std::string message);
  Builder warning(SourceRange range, std::string message);

  // With warnings_as_errors, warnings are reported as errors (-Werror).
  void set_warnings_as_errors(bool on) { werror_ = on; }
  // Stop recording after this many errors (the last one says so); 0 means no limit.
  void set_error_limit(std::size_t limit) { error_limit_ = limit; }

  std::size_t error_count() const { return errors_; }
  std::size_t warning_count() const { return warnings_; }
  bool has_errors() const { return errors_ > 0; }
  const std::vector<Diagnostic>& diagnostics() const { return diags_; }

  // Renders every diagnostic, clang style; colors only when `color`.
  void render(std::ostream& out, bool color = false) const;

 private:
  Builder add(Severity severity, SourceRange range, std::string message);
  std::vector<Diagnostic> diags_;
  std::size_t errors_ = 0;
  std::size_t warnings_ = 0;
  std::size_t error_limit_ = 50;
  bool werror_ = false;
  Diagnostic overflow_;  // sink once the error limit is hit
};

}  // namespace krsie

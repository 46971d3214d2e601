#pragma once
// Text helpers shared by the stage dumpers (--emit=ast, --emit=pir).

#include <string>
#include <string_view>

namespace krsie {

// Appends `s` in double quotes with ", \, newline and tab escaped: one line, readable,
// FileCheck-able.
inline void append_quoted(std::string& out, std::string_view s) {
  out += '"';
  for (char c : s) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
  }
  out += '"';
}

inline std::string quote(std::string_view s) {
  std::string out;
  append_quoted(out, s);
  return out;
}

}  // namespace krsie

#pragma once
// Text helpers shared by the stage dumpers (--emit=ast, --emit=pir).

#include <string>
#include <string_view>

namespace krsie {

// `s` in double quotes with ", \, newline and tab escaped: one line, readable, FileCheck-able.
inline std::string quote(std::string_view s) {
  std::string out = "\"";
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
  return out + "\"";
}

}  // namespace krsie

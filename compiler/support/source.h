#pragma once
// Source text and locations. Every AST node and diagnostic points into a SourceFile by byte
// offsets; line and column are computed on demand.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace krsie {

class SourceFile {
 public:
  SourceFile(std::string name, std::string text);
  const std::string& name() const { return name_; }
  const std::string& text() const { return text_; }

  // 1-based line and column (column counts bytes) of a byte offset.
  struct LineCol {
    std::uint32_t line;
    std::uint32_t column;
  };
  LineCol line_col(std::uint32_t offset) const;
  // The text of a 1-based line, without its newline.
  std::string_view line_text(std::uint32_t line) const;

 private:
  std::string name_;
  std::string text_;
  std::vector<std::uint32_t> line_starts_;
};

// A half-open byte range [begin, end) in one source file.
struct SourceRange {
  const SourceFile* file = nullptr;
  std::uint32_t begin = 0;
  std::uint32_t end = 0;
  bool valid() const { return file != nullptr; }
};

}  // namespace krsie

#include "sema/loader.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>

#include "parse/parser.h"

namespace fs = std::filesystem;

namespace krsie::sema {

namespace {

class Loader {
 public:
  Loader(ast::AstContext& ctx, DiagnosticEngine& diags, const LoaderOptions& options)
      : ctx_(ctx), diags_(diags), options_(options) {}

  Program run(const std::string& path, const std::string* override_text) {
    std::string text;
    if (override_text) {
      text = *override_text;
    } else if (!read(path, text, {})) {
      return std::move(program_);
    }
    program_.main = load(path, canonical(path), std::move(text));
    return std::move(program_);
  }

 private:
  static std::string canonical(const std::string& path) {
    std::error_code ec;
    fs::path p = fs::weakly_canonical(fs::absolute(path, ec), ec);
    return ec ? path : p.string();
  }

  // Reads a file, reporting failures at `at` (the import that asked for it) or without location.
  bool read(const std::string& path, std::string& out, SourceRange at) {
    std::error_code ec;
    if (fs::is_directory(path, ec)) {
      diags_.error(at, "cannot read " + path + ": it is a directory");
      return false;
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      diags_.error(at, "cannot open " + path);
      return false;
    }
    auto size = fs::file_size(path, ec);
    if (!ec && size > options_.max_file_bytes) {
      diags_.error(at, "policy file " + path + " is too large (" + std::to_string(size) +
                           " bytes; the limit is " + std::to_string(options_.max_file_bytes) + ")");
      return false;
    }
    // Size unknown in advance (a pipe, a device such as /dev/zero): stop reading past the limit.
    // (The buffer is on the heap: read() may be inlined into the recursion over imports.)
    out.clear();
    std::string buf(1 << 16, '\0');
    while (in.read(buf.data(), static_cast<std::streamsize>(buf.size())), in.gcount() > 0) {
      out.append(buf.data(), static_cast<std::size_t>(in.gcount()));
      if (out.size() > options_.max_file_bytes) {
        diags_.error(at, "policy file " + path + " is too large (limit " + std::to_string(options_.max_file_bytes) + " bytes)");
        return false;
      }
    }
    return true;
  }

  ast::Module* load(const std::string& display, const std::string& key, std::string text) {
    auto file = std::make_unique<SourceFile>(display, std::move(text));
    const SourceFile* f = file.get();
    program_.files.push_back(std::move(file));
    ast::Module* module = parse::parse_module(*f, ctx_, diags_);
    state_[key] = State::loading;
    stack_.push_back(key);
    for (ast::Import* imp : module->imports) resolve_import(*imp, display);
    stack_.pop_back();
    state_[key] = State::done;
    program_.modules.push_back(module);
    return module;
  }

  void resolve_import(const ast::Import& imp, const std::string& importer) {
    std::string target;
    std::vector<std::string> tried;
    if (imp.path.empty()) {
      diags_.error(imp.range, "empty import path");
      return;
    }
    std::string rel = imp.path;
    if (rel.size() < 4 || rel.compare(rel.size() - 4, 4, ".krs") != 0) rel += ".krs";
    if (rel.rfind("std/", 0) == 0) {
      target = (fs::path(options_.stdlib_dir) / rel.substr(4)).string();
    } else if (!rel.empty() && rel[0] == '/') {
      target = rel;
    } else {
      target = (fs::path(importer).parent_path() / rel).lexically_normal().string();
    }
    tried.push_back(target);
    std::error_code ec;
    if (!fs::exists(target, ec)) {
      auto d = diags_.error(imp.range, "cannot find imported module '" + imp.path + "'");
      d.note({}, "looked for " + target);
      if (rel.rfind("std/", 0) == 0) {
        std::vector<std::string> modules;
        for (const auto& e : fs::directory_iterator(options_.stdlib_dir, ec))
          if (e.path().extension() == ".krs") modules.push_back("std/" + e.path().stem().string());
        std::sort(modules.begin(), modules.end());
        std::string available;
        for (const auto& m : modules) available += (available.empty() ? "" : ", ") + m;
        if (!available.empty()) d.hint("the standard library has: " + available);
      }
      return;
    }
    std::string key = canonical(target);
    auto it = state_.find(key);
    if (it != state_.end() && it->second == State::loading) {
      std::string chain;
      bool in_cycle = false;
      for (const std::string& s : stack_) {
        if (s == key) in_cycle = true;
        if (in_cycle) chain += fs::path(s).filename().string() + " -> ";
      }
      chain += fs::path(key).filename().string();
      diags_.error(imp.range, "import cycle: " + chain);
      return;
    }
    if (it != state_.end()) return;  // already loaded (diamond): once is enough
    if (program_.files.size() >= options_.max_modules) {
      diags_.error(imp.range, "too many modules (limit " + std::to_string(options_.max_modules) + ")");
      return;
    }
    std::string text;
    if (!read(target, text, imp.range)) return;
    load(target, key, std::move(text));
  }

  enum class State { loading, done };
  ast::AstContext& ctx_;
  DiagnosticEngine& diags_;
  const LoaderOptions& options_;
  Program program_;
  std::map<std::string, State> state_;
  std::vector<std::string> stack_;
};

}  // namespace

Program load_program(const std::string& path, ast::AstContext& ctx, DiagnosticEngine& diags,
                     const LoaderOptions& options, const std::string* source_override) {
  return Loader(ctx, diags, options).run(path, source_override);
}

}  // namespace krsie::sema

#pragma once
// Kernel types from BTF, for hook rules on typed hook arguments (`file.f_inode.i_size`): resolves
// PARAM.member.member... against the hook's parameters and the kernel's BTF (default
// /sys/kernel/btf/vmlinux, `krsiec --btf FILE` overrides), so a misspelled member or a
// non-integer is an error at compile time. The LLVM backend reads the chain with CO-RE (its
// relocations make the same object work on other kernels that have the members). No libbpf
// header here.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sema/hook_catalog.h"

namespace krsie::btf {

// One access chain from a hook parameter to an integer member.
struct KernelField {
  std::string text;          // as written: "file.f_inode.i_size"
  unsigned param = 0;        // index of the hook parameter (BPF-LSM ctx slot)
  std::string param_struct;  // the parameter points to this struct
  struct Step {
    std::string in_struct;   // struct (or union) the member belongs to (kernel name)
    std::string member;      // member name (members of anonymous structs/unions as if direct)
    enum class Kind { pointer, embedded, integer } kind = Kind::integer;
    std::string target;      // pointer/embedded: the struct reached
    bool target_is_union = false;
    bool in_union = false;   // in_struct is a union
  };
  std::vector<Step> steps;   // at least one; the last is an integer
  unsigned bits = 64;        // the integer's width (8, 16, 32, 64)
  bool is_signed = false;
};

class KernelTypes {
 public:
  ~KernelTypes();
  KernelTypes(KernelTypes&&) noexcept;
  KernelTypes& operator=(KernelTypes&&) noexcept;

  // Parses the BTF of `path` (a raw BTF file such as /sys/kernel/btf/vmlinux, or an ELF with .BTF).
  static std::unique_ptr<KernelTypes> open(const std::string& path, std::string& error);

  const std::string& path() const { return path_; }

  // Resolves `text` (PARAM.member[.member...]) for `hook`. nullopt with `error` set (one sentence,
  // may name the members that exist) when it does not name an integer member.
  std::optional<KernelField> resolve(const hooks::Hook& hook, const std::string& text, std::string& error) const;

 private:
  struct Impl;
  explicit KernelTypes(std::unique_ptr<Impl> impl, std::string path);
  std::unique_ptr<Impl> impl_;
  std::string path_;
};

// Opens the BTF on first use and remembers the outcome (one parse per compilation).
class LazyKernelTypes {
 public:
  explicit LazyKernelTypes(std::string path) : path_(std::move(path)) {}
  // The types, or nullptr with `error` set.
  const KernelTypes* get(std::string& error) {
    if (!tried_) {
      tried_ = true;
      types_ = KernelTypes::open(path_, error_);
    }
    error = error_;
    return types_.get();
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  bool tried_ = false;
  std::unique_ptr<KernelTypes> types_;
  std::string error_;
};

// True when a condition operand names a typed hook argument chain (has a '.').
inline bool is_kernel_field(const std::string& name) { return name.find('.') != std::string::npos; }

}  // namespace krsie::btf

#pragma once
// Errors raised by the runtime library. Library code never exits the process: it throws
// RuntimeError with a message meant for an operator and a kind, and the CLI maps the kind to an
// exit code (docs/loader.md).

#include <stdexcept>
#include <string>

namespace krsie::runtime {

// What went wrong, as far as a caller (the CLI's exit code) cares.
enum class ErrorKind {
  generic,          // anything else (a failed system call, the verifier, ...)
  usage,            // the request itself is wrong (no targets, bad name, bad path)
  kernel,           // the kernel cannot enforce BPF-LSM policies (see KernelSupport)
  bad_object,       // the policy.o is not a valid policy object (corrupt, truncated, wrong ABI)
  not_loaded,       // no loaded policy of that name
  already_loaded,   // a policy of that name is loaded already
  replace_refused,  // a replacement failed before it took effect: the old policy is in force
};

class RuntimeError : public std::runtime_error {
 public:
  explicit RuntimeError(const std::string& message, int err = 0, ErrorKind kind = ErrorKind::generic)
      : std::runtime_error(message), errno_(err), kind_(kind) {}
  RuntimeError(ErrorKind kind, const std::string& message, int err = 0)
      : std::runtime_error(message), errno_(err), kind_(kind) {}
  // The errno behind the failure, or 0.
  int error_number() const { return errno_; }
  ErrorKind kind() const { return kind_; }

 private:
  int errno_;
  ErrorKind kind_;
};

// "what: strerror(err)" for a failed system or libbpf call (err positive).
std::string describe_errno(const std::string& what, int err);

}  // namespace krsie::runtime

#pragma once
// Errors raised by the runtime library. Library code never exits the process: it throws
// RuntimeError with a message meant for an operator, and the CLI decides the exit code.

#include <stdexcept>
#include <string>

namespace krsie::runtime {

class RuntimeError : public std::runtime_error {
 public:
  explicit RuntimeError(const std::string& message, int err = 0)
      : std::runtime_error(message), errno_(err) {}
  // The errno behind the failure, or 0.
  int error_number() const { return errno_; }

 private:
  int errno_;
};

// "what: strerror(err)" for a failed system or libbpf call (err positive).
std::string describe_errno(const std::string& what, int err);

}  // namespace krsie::runtime

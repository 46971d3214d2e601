#include "krsie/runtime/error.h"

#include <cstring>

namespace krsie::runtime {

std::string describe_errno(const std::string& what, int err) {
  return what + ": " + std::strerror(err < 0 ? -err : err);
}

}  // namespace krsie::runtime

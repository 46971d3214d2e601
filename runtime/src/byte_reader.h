#pragma once
// Reader of the little-endian binary sections krsiec writes (.krsie.maps, .krsie.load): u32
// numbers and byte runs, every read bounds-checked. Internal to the runtime library.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>

#include "krsie/runtime/error.h"

namespace krsie::runtime {

class ByteReader {
 public:
  // `truncated(what)`: the error thrown when a read of `what` needs more bytes than are left.
  using Truncated = std::function<RuntimeError(const char* what)>;
  ByteReader(std::span<const std::uint8_t> bytes, Truncated truncated)
      : bytes_(bytes), truncated_(std::move(truncated)) {}

  std::size_t left() const { return bytes_.size() - pos_; }
  void need(std::size_t n, const char* what) const {
    if (left() < n) throw truncated_(what);
  }
  std::uint32_t u32(const char* what) {
    need(4, what);
    const std::uint8_t* p = bytes_.data() + pos_;
    pos_ += 4;
    return p[0] | (p[1] << 8) | (p[2] << 16) | (std::uint32_t(p[3]) << 24);
  }
  // The next `n` bytes, as a view into the section.
  std::span<const std::uint8_t> bytes(std::size_t n, const char* what) {
    need(n, what);
    auto out = bytes_.subspan(pos_, n);
    pos_ += n;
    return out;
  }

 private:
  std::span<const std::uint8_t> bytes_;
  std::size_t pos_ = 0;
  Truncated truncated_;
};

}  // namespace krsie::runtime

#include "backend/dfa_pack.h"

namespace krsie::backend {

bool CombPacker::fits(std::uint32_t base, const std::vector<std::uint8_t>& bytes) const {
  for (std::uint8_t b : bytes) {
    std::uint32_t slot = base + b;
    if (slot < used_.size() && used_[slot]) return false;
  }
  return true;
}

std::uint32_t CombPacker::place(const std::vector<std::uint8_t>& bytes) {
  if (bytes.empty()) return 0;
  // The first byte must land on a free slot: start where that is first possible.
  std::uint32_t base = first_free_ > bytes.front() ? first_free_ - bytes.front() : 0;
  while (!fits(base, bytes)) ++base;
  std::uint32_t end = base + bytes.back() + 1;
  if (used_.size() < end) used_.resize(end, false);
  for (std::uint8_t b : bytes) used_[base + b] = true;
  taken_ += static_cast<std::uint32_t>(bytes.size());
  while (first_free_ < used_.size() && used_[first_free_]) ++first_free_;
  return base;
}

}  // namespace krsie::backend

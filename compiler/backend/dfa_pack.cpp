#include "backend/dfa_pack.h"

namespace krsie::backend {

bool CombPacker::fits(std::uint32_t base, const std::vector<std::uint8_t>& bytes) const {
  for (std::uint8_t b : bytes) {
    std::uint32_t slot = base + b;
    if (slot < used_.size() && used_[slot]) return false;
  }
  return true;
}

std::uint32_t CombPacker::free_from(std::uint32_t slot) {
  while (slot < used_.size() && used_[slot]) {
    std::uint32_t next = next_free_[slot];
    if (next < used_.size()) next_free_[slot] = next_free_[next];  // path halving
    slot = next;
  }
  return slot;
}

std::uint32_t CombPacker::place(const std::vector<std::uint8_t>& bytes) {
  if (bytes.empty()) return 0;
  // First fit: the lowest base whose slots are all free. A base is only worth checking where its
  // first byte lands on a free slot, so candidates go from free slot to free slot.
  const std::uint32_t front = bytes.front();
  std::uint32_t base = free_from(front) - front;
  while (!fits(base, bytes)) base = free_from(base + front + 1) - front;
  std::uint32_t end = base + bytes.back() + 1;
  if (used_.size() < end) {
    std::uint32_t old = static_cast<std::uint32_t>(used_.size());
    used_.resize(end, false);
    next_free_.resize(end);
    for (std::uint32_t s = old; s < end; ++s) next_free_[s] = s;
  }
  for (std::uint8_t b : bytes) {
    used_[base + b] = true;
    next_free_[base + b] = base + b + 1;
  }
  taken_ += static_cast<std::uint32_t>(bytes.size());
  return base;
}

}  // namespace krsie::backend

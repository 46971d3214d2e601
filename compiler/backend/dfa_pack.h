#pragma once
// Row displacement ("comb") packing of automaton transition rows into one table: row r's entry
// for byte b sits at slot base[r] + b. Rows overlap wherever their bytes do not collide, so the
// table is about as long as the number of explicit edges, and a lookup is one indexed read plus
// a check of the slot's owner (krsie_dfa_trans in krsie_abi.h).

#include <cstdint>
#include <vector>

namespace krsie::backend {

// Places rows into a shared table, first fit, in the order given. Keeps the slots already taken
// by earlier calls, so the automata of one policy fill each other's holes. Deterministic.
class CombPacker {
 public:
  // `bytes`: the row's explicit bytes, strictly increasing. Returns the row's base; an empty row
  // gets base 0 (it owns no slot: every lookup falls through to the state's default).
  std::uint32_t place(const std::vector<std::uint8_t>& bytes);
  // Slots up to the last taken one.
  std::uint32_t length() const { return static_cast<std::uint32_t>(used_.size()); }
  std::uint32_t taken() const { return taken_; }

 private:
  bool fits(std::uint32_t base, const std::vector<std::uint8_t>& bytes) const;
  // The first free slot at or after `slot` (slots past the end are free).
  std::uint32_t free_from(std::uint32_t slot);
  std::vector<bool> used_;
  // Per slot, a slot at or before the first free one at or after it (union-find with path
  // halving): first fit skips runs of taken slots instead of trying each base in them.
  std::vector<std::uint32_t> next_free_;
  std::uint32_t taken_ = 0;
};

}  // namespace krsie::backend

#pragma once
// Path automata for the kernel side. A file rule names path patterns; in the kernel the BPF
// program walks dentries from the opened file up to the root (d_parent, crossing mounts), so it
// sees the path leaf-first. For "/etc/shadow" it feeds the bytes
//
//   'w' 'o' 'd' 'a' 'h' 's' '/' 'c' 't' 'e' '/'
//
// (each component's bytes last to first, then a '/', ..., ending with the '/' of the root; the
// root path "/" itself is the single byte '/'), i.e. exactly the reversed path string. This
// module compiles sets of patterns into one minimized DFA over that reversed byte stream, held
// in BPF maps: after the walk, the state's accept mask says which sets matched (bit i: set i).
// The walk may stop as soon as it reaches the dead state.
//
// Semantics are those of pir::path_matches on the (normalized) patterns, for every normalized
// absolute path. Output is canonical: the same sets (in any pattern order, with duplicates)
// always yield the same DFA, byte for byte.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pir/pir.h"

namespace krsie::backend {

// One set of patterns; set i of a compile gets bit i of the accept mask (at most 64 sets).
struct PathSet {
  std::vector<pir::PathPattern> patterns;
};

struct DfaLimits {
  // States of the final (minimized) DFA: what has to fit in the BPF maps.
  std::size_t max_states = 262144;
  // States of the subset construction before minimization: guards time and memory against the
  // exponential blow-up some globs cause when read leaf-first ("/*/*/*/*/*/*/*/x/**" must
  // remember which of the last 8 components were "x": 2^8 states; 20 stars exhaust this limit
  // in about 1 s and 200 MB). Lists of exact paths and subtrees arrive already minimal, so this
  // is typically close to the final size.
  std::size_t max_subset_states = std::size_t{1} << 20;
  // Sum of the sizes of those states (pattern positions, 4 bytes each): guards the other
  // blow-up, where few states each hold most of the patterns (hundreds of globs fixing the start
  // of a component, "/srv/x/[a-m]y*": read leaf-first, every pattern stays possible). Without it
  // 750 such globs took 5 minutes to reach max_subset_states; with it they fail in seconds.
  std::size_t max_subset_entries = std::size_t{1} << 25;
};

struct Dfa {
  static constexpr std::uint32_t k_dead = 0xffffffff;
  struct State {
    std::vector<std::pair<std::uint8_t, std::uint32_t>> edges;  // explicit byte -> next (may be k_dead), sorted by byte
    std::uint32_t other = k_dead;  // next state for every byte NOT listed in edges
    std::uint64_t accept = 0;      // bit i: a path ending here matches set i
  };
  // states[0] is the start state; no dead state is materialized. States are numbered in BFS
  // order from the start, following bytes in increasing order. `other` is the target reached by
  // the most bytes (ties: k_dead, then the lowest state number); `edges` lists every other byte.
  std::vector<State> states;

  std::size_t transition_count() const;  // explicit edges + non-dead `other`s
  // One step; k_dead from k_dead.
  std::uint32_t next(std::uint32_t state, std::uint8_t byte) const;
};

// Compiles the sets. nullopt (and `*error` set) when a limit is exceeded, there are more than 64
// sets, or a pattern is not normalized (absolute, no empty component, no trailing '/' except
// "/" itself: what pir::parse_path_pattern produces).
std::optional<Dfa> compile_reverse_dfa(const std::vector<PathSet>& sets, std::string* error,
                                       const DfaLimits& limits = {});

// Feeds `path` (normalized absolute) exactly as the BPF walk will; returns the accept mask
// (0 when the walk reached the dead state).
std::uint64_t simulate(const Dfa& dfa, std::string_view path);

// Same, from the component list leaf-first (what the kernel walk sees): each component's bytes
// reversed followed by '/'; an empty list is the root, fed as a single '/'.
std::uint64_t simulate_components(const Dfa& dfa, const std::vector<std::string_view>& leaf_first);

}  // namespace krsie::backend

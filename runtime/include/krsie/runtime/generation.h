#pragma once
// Rule generations of the generic template (krsie_abi.h, "generations"; docs/loader.md): which
// maps hold per-generation entries, how a compiled (generation-0) record is rewritten for
// generation 1, which generation a key in the kernel belongs to, and how maps are sized so that
// two generations fit. Pure functions: no kernel involved (unit-tested).

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "krsie/runtime/policy.h"

namespace krsie::runtime {

// The maps of the generic template.
enum class MapKind : std::uint8_t {
  rules, hooks, dfa_trans, dfa_states, lpm4, lpm6, strings, inodes, config, targets, stats, events, scratch, path_memo, memo_door
};
// Number of MapKind values (arrays indexed by kind).
inline constexpr std::size_t k_map_kinds = static_cast<std::size_t>(MapKind::memo_door) + 1;

// What the loader knows about one map of the generic template.
struct MapAbi {
  MapKind kind;
  std::string_view name;
  std::uint32_t key_size;
  std::uint32_t value_size;
  bool per_generation;  // entries belong to one rule generation
  bool from_compiler;   // the compiler emits records for it
  bool sized_by_loader; // max_entries chosen by the loader (else fixed by the template)
};

// The map called `name`, or nullptr when the loader does not know it.
const MapAbi* map_abi(std::string_view name);
const std::vector<MapAbi>& generic_maps();

// The records of a .krsie.maps section, as views into `section`: each names a map the compiler
// may fill and has the ABI's key and value sizes. Throws RuntimeError(bad_object) for a bad magic,
// truncation, trailing bytes, an unknown map or a wrong size, naming the record.
std::vector<RecordView> parse_records(std::span<const std::uint8_t> section);

// Checks the contents of the records: hook ids, rule keys of generation 0, table ids without a
// generation bit, transition slots with an owner, path automaton state ids that are dense.
// Throws RuntimeError(bad_object).
void validate_records(std::span<const RecordView> records);

// Rewrites one compiled record (generation 0) of `abi`'s map, in place, for generation `gen` (0
// or 1), moving automaton states and transition slots into that generation's halves (DfaHalves,
// policy_maps.h). `key` and `value` have the ABI's sizes. Throws RuntimeError(bad_object) for a
// record that does not fit.
void rewrite_for_generation(const MapAbi& abi, std::span<std::uint8_t> key, std::span<std::uint8_t> value, unsigned gen,
                            DfaHalves halves);
// The same on a copy of an owned record.
MapRecord record_for_generation(const MapRecord& record, unsigned gen, DfaHalves halves);

// The generation a key of `map` belongs to; nullopt for maps without generations.
std::optional<unsigned> key_generation(const MapAbi& map, std::span<const std::uint8_t> key, DfaHalves halves);
std::optional<unsigned> key_generation(std::string_view map, std::span<const std::uint8_t> key, DfaHalves halves);

// Entries a policy needs per map: its records, automaton states (highest id + 1), and one
// krsie_inodes entry per exact rule path.
std::map<std::string, std::uint32_t> entry_counts(const PolicyObject& policy);

// max_entries for every map the loader sizes. `headroom` (>= 1): each map holds headroom times
// the policy's entries (at least a minimum), so a replacement of up to (headroom - 1) times the
// size fits beside the policy in force; the automaton state array is split in two halves of
// headroom * states / 2 each (at least the minimum). headroom 0 means one generation only, sized
// exactly (the guest test driver's in-process loads, which are never replaced).
std::map<std::string, std::uint32_t> plan_map_sizes(const std::map<std::string, std::uint32_t>& counts,
                                                    unsigned headroom);

// Why `incoming` entries do not fit beside `in_force` entries in maps of these max_entries
// (empty: they fit). One line per map, saying how much is needed and how much there is.
std::vector<std::string> check_fit(const std::map<std::string, std::uint32_t>& in_force,
                                   const std::map<std::string, std::uint32_t>& incoming,
                                   const std::map<std::string, std::uint32_t>& max_entries);

// krsie_config with only the enforce bits changed for `gen` (and, when `both`, the other
// generation's too).
std::uint32_t enforce_bits(std::uint32_t current, unsigned gen, bool enforce, bool both);

}  // namespace krsie::runtime

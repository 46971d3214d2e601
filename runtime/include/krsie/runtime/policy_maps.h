#pragma once
// The kernel maps of one loaded generic-template object, by name, and what the loader does with
// them: write one rule generation, purge one, switch the generation in force, set targets and
// modes, read counters. Used both on an object loaded in this process and on maps reopened from
// their bpffs pins.

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "krsie/runtime/maps.h"
#include "krsie_abi.h"

namespace krsie::runtime {

struct PolicyObject;
struct MapAbi;

// The slots of krsie_config.target_ids for the target ids `ids`: slots holding an id of `ids`
// keep it, the others are emptied (0), and the ids not yet in a slot fill empty slots in order.
// nullopt: more distinct ids than slots (the filter cannot be known).
using FilterSlots = std::array<std::uint64_t, KRSIE_FILTER_IDS>;
std::optional<FilterSlots> next_filter_slots(const FilterSlots& current, const std::vector<std::uint64_t>& ids);

// How the path automaton arrays are split between the two generations: generation g's states
// start at g * states in krsie_dfa_states, its transition slots at g * trans in krsie_dfa_trans.
struct DfaHalves {
  std::uint32_t states = 0;
  std::uint32_t trans = 0;
};

// Decision and event counters summed over CPUs (krsie_stats).
struct PolicyCounters {
  std::uint64_t allow = 0, deny = 0, audit = 0, kill = 0;
  std::uint64_t events = 0, events_dropped = 0;
};

class PolicyMaps {
 public:
  PolicyMaps() = default;
  // `halves`: automaton states and transition slots per generation (default: half of
  // krsie_dfa_states' and krsie_dfa_trans' max_entries).
  explicit PolicyMaps(DfaHalves halves) : halves_(halves) {}

  void add(const std::string& name, MapHandle handle);
  bool has(const std::string& name) const { return maps_.count(name) != 0; }
  MapHandle& at(const std::string& name);
  const MapHandle& at(const std::string& name) const;
  const std::map<std::string, MapHandle>& all() const { return maps_; }

  DfaHalves dfa_halves() const;

  krsie_config config() const;
  void write_config(const krsie_config& config);
  unsigned generation() const { return config().generation & 1; }
  bool enforcing(unsigned gen) const { return (config().enforce >> (gen & 1)) & 1; }

  // Generation `gen` of `policy`, ready to be written: its records rewritten for `gen` (not its
  // config) and the inodes of its exact rule paths as they exist now. Preparing reads the policy
  // and the file system and touches no map entry (it may map the automaton arrays), so that a
  // replacement prepares `next` while the grace period that guards `next` still runs.
  struct PreparedGeneration {
    // Keys and values of one map, concatenated as BPF_MAP_UPDATE_BATCH takes them.
    struct Batch {
      Bytes keys, values;
      std::size_t count = 0;
      void add(const MapAbi& abi, std::span<const std::uint8_t> key, std::span<const std::uint8_t> value, unsigned g,
               DfaHalves h);
    };
    std::vector<Batch> by_kind;  // by MapKind
    // Elements of a mapped automaton array (when `to` is set): values.size() / size of them.
    struct Direct {
      const MappedValues* to = nullptr;
      std::size_t size = 0;
      std::vector<std::uint32_t> index;
      Bytes values;
    };
    Direct trans, states;
  };
  PreparedGeneration prepare_generation(const PolicyObject& policy, unsigned gen);
  // Writes a prepared generation. Entries of other generations are untouched.
  void write_generation(const PreparedGeneration& prepared);
  void write_generation(const PolicyObject& policy, unsigned gen) { write_generation(prepare_generation(policy, gen)); }
  // The keys of every per-generation hash and LPM map, by generation: one listing serves a
  // replacement's fit check (`cur`'s counts) and its purge of `next` (nothing changes either
  // generation meanwhile: only the krsie-load holding the lock writes them).
  struct GenerationKeys {
    std::map<std::string, std::array<std::vector<Bytes>, 2>> keys;
    // Entries of generation `gen` per map the loader sizes (not the automaton arrays).
    std::map<std::string, std::uint32_t> counts(unsigned gen) const;
  };
  GenerationKeys list_generation_keys() const;
  // Removes every entry of generation `gen` (hook configurations and transition slots are zeroed;
  // automaton states are left: nothing of another generation reaches them).
  void purge_generation(unsigned gen) { purge_generation(gen, list_generation_keys()); }
  // The same with the keys listed before (the listing must still be current for `gen`).
  void purge_generation(unsigned gen, const GenerationKeys& listed);
  // Entries of generation `gen` per map the loader sizes (not the automaton arrays).
  std::map<std::string, std::uint32_t> count_generation(unsigned gen) const { return list_generation_keys().counts(gen); }

  // Marks the cgroups as targets in generation `gen` (adds entries as needed), then, when an
  // entry was added, refresh_target_levels() (levels and filter depend only on the keys). True
  // when an entry was added.
  bool add_targets(const std::vector<std::uint64_t>& cgroup_ids, unsigned gen);
  // Clears generation `gen` from every target; entries left without a generation are deleted;
  // then, when one was, refresh_target_levels(). True when an entry was deleted.
  bool drop_target_generation(unsigned gen);
  // Writes krsie_config.target_levels (one word) from the cgroup levels of every entry of
  // krsie_targets, any generation: the programs' target check then looks only at the caller's
  // ancestors at those levels. 0 (walk every level) when a target's level cannot be told.
  // Then refresh_target_filter().
  void refresh_target_levels();
  // Writes the target filter of krsie_config (target_ids, target_filter) from the keys of
  // krsie_targets: every id when there are at most KRSIE_FILTER_IDS (a caller whose ancestors
  // are none of them is rejected without a lookup), else "unknown" (every id looked up).
  void refresh_target_filter();
  // cgroup id -> generations bit mask.
  std::map<std::uint64_t, std::uint32_t> targets() const;

  // Hook configurations of generation `gen`, by hook id (only used hooks).
  std::map<std::uint32_t, krsie_hook_conf> hooks(unsigned gen) const;
  PolicyCounters counters() const;

 private:
  // Moves krsie_config.target_levels to `word` one byte per update (see policy_maps.cpp).
  void set_target_levels(std::uint32_t word);

  std::map<std::string, MapHandle> maps_;
  std::optional<DfaHalves> halves_;
};

}  // namespace krsie::runtime

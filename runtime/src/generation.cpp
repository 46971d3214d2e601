#include "krsie/runtime/generation.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include "krsie/runtime/error.h"
#include "krsie_abi.h"

namespace krsie::runtime {

namespace {

// Minimum max_entries per map at headroom >= 1 (two generations), so that small policies can be
// replaced by somewhat larger ones. Hash maps are preallocated: the minimums cost ~1.5 MB.
const std::map<std::string_view, std::uint32_t> k_minimum = {
    {"krsie_rules", 512},  {"krsie_dfa_trans", 4096}, {"krsie_dfa_states", 4096},
    {"krsie_lpm4", 1024},  {"krsie_lpm6", 1024},      {"krsie_strings", 512},
    {"krsie_inodes", 1024},
};

template <typename T>
T read_as(std::span<const std::uint8_t> bytes) {
  T v;
  std::memcpy(&v, bytes.data(), sizeof v);
  return v;
}

template <typename T>
void write_as(std::vector<std::uint8_t>& bytes, const T& v) {
  std::memcpy(bytes.data(), &v, sizeof v);
}

// Set-table keys (LPM, strings, inode sets): the generation is a bit of their `table` id.
template <typename Key>
void mark_table(MapRecord& record, std::uint32_t table_bit) {
  auto k = read_as<Key>(record.key);
  k.table |= table_bit;
  write_as(record.key, k);
}

// An automaton state id or transition slot of generation 0 moved into generation g's half
// (`offset` = g * half); beyond the half is a corrupt object.
std::uint32_t shift_into_half(std::uint32_t index, std::uint32_t offset, std::uint32_t half, const char* what,
                              const char* noun, const char* plural) {
  if (index >= half)
    throw RuntimeError(ErrorKind::bad_object, std::string("policy object ") + what + " refers to " + noun + " " +
                                                  std::to_string(index) + ", beyond the " + std::to_string(half) + " " +
                                                  plural + " a generation holds",
                       EINVAL);
  return index + offset;
}

std::uint32_t shift_slot(std::uint32_t slot, std::uint32_t offset, std::uint32_t trans_half, const char* what) {
  if (trans_half == 0 && slot == 0) return slot;  // a policy without explicit transitions
  return shift_into_half(slot, offset, trans_half, what, "transition slot", "slots");
}

std::uint32_t shift_state(std::uint32_t state, std::uint32_t offset, std::uint32_t dfa_half, const char* what) {
  if (state == KRSIE_DFA_DEAD) return state;
  return shift_into_half(state, offset, dfa_half, what, "automaton state", "states");
}

}  // namespace

const std::vector<MapAbi>& generic_maps() {
  static const std::vector<MapAbi> maps = {
      {"krsie_rules", sizeof(krsie_rule_key), sizeof(krsie_rule_entry), true, true, true},
      {"krsie_hooks", 4, sizeof(krsie_hook_conf), true, true, false},
      {"krsie_dfa_trans", 4, sizeof(krsie_dfa_trans), true, true, true},
      {"krsie_dfa_states", 4, sizeof(krsie_dfa_state), true, true, true},
      {"krsie_lpm4", sizeof(krsie_lpm4_key), 8, true, true, true},
      {"krsie_lpm6", sizeof(krsie_lpm6_key), 8, true, true, true},
      {"krsie_strings", sizeof(krsie_string_key), 8, true, true, true},
      {"krsie_inodes", sizeof(krsie_inode_set_key), 8, true, false, true},
      {"krsie_config", 4, sizeof(krsie_config), false, true, false},
      {"krsie_targets", 8, sizeof(krsie_target), false, false, false},
      {"krsie_stats", 4, sizeof(krsie_stats), false, false, false},
      {"krsie_events", 0, 0, false, false, false},
      {"krsie_scratch", 4, 0, false, false, false},
  };
  return maps;
}

const MapAbi* map_abi(std::string_view name) {
  for (const MapAbi& m : generic_maps())
    if (m.name == name) return &m;
  return nullptr;
}

void validate_records(const std::vector<MapRecord>& records) {
  std::set<std::uint32_t> states, owners;
  for (std::size_t i = 0; i < records.size(); ++i) {
    const MapRecord& r = records[i];
    const MapAbi* abi = map_abi(r.map);
    std::string where = "policy object map record " + std::to_string(i) + " (" + r.map + ")";
    if (!abi || !abi->from_compiler)
      throw RuntimeError(ErrorKind::bad_object, where + ": this krsie-load does not fill a map named '" + r.map + "'",
                         EINVAL);
    if (r.key.size() != abi->key_size || r.value.size() != abi->value_size)
      throw RuntimeError(ErrorKind::bad_object,
                         where + ": key/value of " + std::to_string(r.key.size()) + "/" + std::to_string(r.value.size()) +
                             " bytes, the ABI says " + std::to_string(abi->key_size) + "/" +
                             std::to_string(abi->value_size),
                         EINVAL);
    if (r.map == "krsie_hooks") {
      auto hook = read_as<std::uint32_t>(r.key);
      if (hook == KRSIE_HOOK_NONE || hook >= KRSIE_HOOK_MAX)
        throw RuntimeError(ErrorKind::bad_object, where + ": unknown hook id " + std::to_string(hook), EINVAL);
    } else if (r.map == "krsie_rules") {
      auto k = read_as<krsie_rule_key>(r.key);
      if (k.generation != 0 || k.hook >= KRSIE_HOOK_MAX || k.index >= KRSIE_MAX_RULES_PER_HOOK)
        throw RuntimeError(ErrorKind::bad_object, where + ": bad rule key", EINVAL);
    } else if (r.map == "krsie_dfa_states") {
      states.insert(read_as<std::uint32_t>(r.key));
    } else if (r.map == "krsie_dfa_trans") {
      auto t = read_as<krsie_dfa_trans>(r.value);
      if (t.check == 0) throw RuntimeError(ErrorKind::bad_object, where + ": transition slot without an owner", EINVAL);
      owners.insert(t.check - 1);
    } else if (r.map == "krsie_lpm4" || r.map == "krsie_lpm6" || r.map == "krsie_strings") {
      std::uint32_t table = read_as<std::uint32_t>(std::span(r.key).subspan(r.map == "krsie_strings" ? 0 : 4));
      if (table & KRSIE_TABLE_GEN_BIT)
        throw RuntimeError(ErrorKind::bad_object, where + ": table id carries a generation", EINVAL);
    }
  }
  // States are numbered 0..n-1: a hole or a huge id is a corrupt object.
  if (!states.empty() && *states.rbegin() != states.size() - 1)
    throw RuntimeError(ErrorKind::bad_object,
                       "policy object automaton states are not numbered 0.." + std::to_string(states.size() - 1), EINVAL);
  if (!owners.empty() && (states.empty() || *owners.rbegin() >= states.size()))
    throw RuntimeError(ErrorKind::bad_object,
                       "policy object transition slot owned by automaton state " + std::to_string(*owners.rbegin()) +
                           ", which it does not define",
                       EINVAL);
}

MapRecord record_for_generation(const MapRecord& record, unsigned gen, DfaHalves halves) {
  const std::uint32_t dfa_half = halves.states;
  const MapAbi* abi = map_abi(record.map);
  if (!abi || !abi->per_generation || record.key.size() != abi->key_size || record.value.size() != abi->value_size)
    throw RuntimeError(ErrorKind::bad_object, "policy object record of map " + record.map + " has no generation form",
                       EINVAL);
  gen &= 1;
  MapRecord out = record;
  const std::uint32_t offset = gen * dfa_half;
  const std::uint32_t slot_offset = gen * halves.trans;
  const std::uint32_t table_bit = gen ? KRSIE_TABLE_GEN_BIT : 0;
  const std::string& m = record.map;
  if (m == "krsie_rules") {
    auto k = read_as<krsie_rule_key>(record.key);
    k.generation = gen;
    write_as(out.key, k);
  } else if (m == "krsie_hooks") {
    auto hook = read_as<std::uint32_t>(record.key);
    write_as(out.key, static_cast<std::uint32_t>(gen * KRSIE_HOOK_MAX + hook));
    auto conf = read_as<krsie_hook_conf>(record.value);
    for (auto& d : conf.dfa) d = shift_state(d, offset, dfa_half, "hook configuration");
    conf.exe_dfa = shift_state(conf.exe_dfa, offset, dfa_half, "hook configuration");
    write_as(out.value, conf);
  } else if (m == "krsie_dfa_states") {
    auto state = read_as<std::uint32_t>(record.key);
    write_as(out.key, shift_state(state, offset, dfa_half, "automaton state"));
    auto v = read_as<krsie_dfa_state>(record.value);
    v.other = shift_state(v.other, offset, dfa_half, "automaton state");
    v.base = shift_slot(v.base, slot_offset, halves.trans, "automaton state");
    write_as(out.value, v);
  } else if (m == "krsie_dfa_trans") {
    write_as(out.key, shift_slot(read_as<std::uint32_t>(record.key), slot_offset, halves.trans, "automaton transition"));
    auto t = read_as<krsie_dfa_trans>(record.value);
    if (t.check == 0) throw RuntimeError(ErrorKind::bad_object, "policy object transition slot without an owner", EINVAL);
    t.check = shift_state(t.check - 1, offset, dfa_half, "automaton transition") + 1;
    t.next = shift_state(t.next, offset, dfa_half, "automaton transition");
    write_as(out.value, t);
  } else if (m == "krsie_lpm4") {
    mark_table<krsie_lpm4_key>(out, table_bit);
  } else if (m == "krsie_lpm6") {
    mark_table<krsie_lpm6_key>(out, table_bit);
  } else if (m == "krsie_strings") {
    mark_table<krsie_string_key>(out, table_bit);
  } else if (m == "krsie_inodes") {
    mark_table<krsie_inode_set_key>(out, table_bit);
  }
  return out;
}

std::optional<unsigned> key_generation(std::string_view map, std::span<const std::uint8_t> key, DfaHalves halves) {
  const std::uint32_t dfa_half = halves.states;
  const MapAbi* abi = map_abi(map);
  if (!abi || !abi->per_generation || key.size() != abi->key_size) return std::nullopt;
  auto table_gen = [](std::uint32_t table) { return (table & KRSIE_TABLE_GEN_BIT) ? 1u : 0u; };
  if (map == "krsie_rules") return read_as<krsie_rule_key>(key).generation & 1;
  if (map == "krsie_hooks") return read_as<std::uint32_t>(key) >= KRSIE_HOOK_MAX ? 1u : 0u;
  if (map == "krsie_dfa_states") return dfa_half && read_as<std::uint32_t>(key) >= dfa_half ? 1u : 0u;
  if (map == "krsie_dfa_trans") return halves.trans && read_as<std::uint32_t>(key) >= halves.trans ? 1u : 0u;
  if (map == "krsie_lpm4") return table_gen(read_as<krsie_lpm4_key>(key).table);
  if (map == "krsie_lpm6") return table_gen(read_as<krsie_lpm6_key>(key).table);
  if (map == "krsie_strings") return table_gen(read_as<krsie_string_key>(key).table);
  if (map == "krsie_inodes") return table_gen(read_as<krsie_inode_set_key>(key).table);
  return std::nullopt;
}

std::map<std::string, std::uint32_t> entry_counts(const PolicyObject& policy) {
  std::map<std::string, std::uint32_t> counts;
  for (const MapAbi& m : generic_maps())
    if (m.sized_by_loader) counts[std::string(m.name)] = 0;
  std::uint32_t states = 0, slots = 0;
  for (const MapRecord& r : policy.records) {
    if (r.map == "krsie_dfa_states" && r.key.size() == 4) {
      states = std::max(states, read_as<std::uint32_t>(r.key) + 1);
      continue;
    }
    if (r.map == "krsie_dfa_trans" && r.key.size() == 4) {
      slots = std::max(slots, read_as<std::uint32_t>(r.key) + 1);
      continue;
    }
    auto it = counts.find(r.map);
    if (it != counts.end()) ++it->second;
  }
  counts["krsie_dfa_states"] = states;
  counts["krsie_dfa_trans"] = slots;
  counts["krsie_inodes"] = static_cast<std::uint32_t>(policy.meta.inode_paths.size());
  return counts;
}

std::map<std::string, std::uint32_t> plan_map_sizes(const std::map<std::string, std::uint32_t>& counts,
                                                    unsigned headroom) {
  std::map<std::string, std::uint32_t> sizes;
  for (const MapAbi& m : generic_maps()) {
    if (!m.sized_by_loader) continue;
    auto it = counts.find(std::string(m.name));
    std::uint64_t n = it == counts.end() ? 0 : it->second;
    std::uint64_t size;
    if (headroom == 0) {
      size = std::max<std::uint64_t>(1, n);  // the kernel refuses max_entries 0
    } else {
      std::uint64_t minimum = k_minimum.at(m.name);
      size = std::max(minimum, n * headroom);
      if (m.name == "krsie_dfa_states" || m.name == "krsie_dfa_trans") {
        // Two halves, each holding one generation's states or slots (at least the policy's own).
        std::uint64_t half = std::max<std::uint64_t>(std::max<std::uint64_t>(minimum / 2, (n * headroom + 1) / 2), n);
        size = 2 * half;
      }
    }
    if (size > 0x7fffffffu)
      throw RuntimeError(ErrorKind::usage, "map " + std::string(m.name) + " would need " + std::to_string(size) +
                                               " entries: lower --headroom",
                         E2BIG);
    sizes[std::string(m.name)] = static_cast<std::uint32_t>(size);
  }
  return sizes;
}

std::vector<std::string> check_fit(const std::map<std::string, std::uint32_t>& in_force,
                                   const std::map<std::string, std::uint32_t>& incoming,
                                   const std::map<std::string, std::uint32_t>& max_entries) {
  std::vector<std::string> problems;
  auto get = [](const std::map<std::string, std::uint32_t>& m, const std::string& k) -> std::uint64_t {
    auto it = m.find(k);
    return it == m.end() ? 0 : it->second;
  };
  for (const auto& [map, need] : incoming) {
    if (need == 0) continue;
    auto cap_it = max_entries.find(map);
    if (cap_it == max_entries.end()) continue;  // fixed-size maps (hooks) always fit
    std::uint64_t cap = cap_it->second;
    if (map == "krsie_dfa_states" || map == "krsie_dfa_trans") {
      const char* what = map == "krsie_dfa_states" ? " automaton states" : " automaton transition slots";
      if (need > cap / 2)
        problems.push_back(map + ": the new policy has " + std::to_string(need) + what + ", a generation holds " +
                           std::to_string(cap / 2));
      continue;
    }
    std::uint64_t used = get(in_force, map);
    if (used + need > cap)
      problems.push_back(map + ": the new policy needs " + std::to_string(need) + " entries beside the " +
                         std::to_string(used) + " in force, the map holds " + std::to_string(cap));
  }
  return problems;
}

std::uint32_t enforce_bits(std::uint32_t current, unsigned gen, bool enforce, bool both) {
  std::uint32_t mask = both ? 3u : (1u << (gen & 1));
  return enforce ? (current | mask) & 3u : (current & ~mask) & 3u;
}

}  // namespace krsie::runtime

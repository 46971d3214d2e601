#include "krsie/runtime/generation.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include "byte_reader.h"
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
void write_as(std::span<std::uint8_t> bytes, const T& v) {
  std::memcpy(bytes.data(), &v, sizeof v);
}

// Set-table keys (LPM, strings, inode sets): the generation is a bit of their `table` id.
template <typename Key>
void mark_table(std::span<std::uint8_t> key, std::uint32_t table_bit) {
  auto k = read_as<Key>(key);
  k.table |= table_bit;
  write_as(key, k);
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
  using K = MapKind;
  static const std::vector<MapAbi> maps = {
      {K::rules, "krsie_rules", sizeof(krsie_rule_key), sizeof(krsie_rule_entry), true, true, true},
      {K::hooks, "krsie_hooks", 4, sizeof(krsie_hook_conf), true, true, false},
      {K::dfa_trans, "krsie_dfa_trans", 4, sizeof(krsie_dfa_trans), true, true, true},
      {K::dfa_states, "krsie_dfa_states", 4, sizeof(krsie_dfa_state), true, true, true},
      {K::lpm4, "krsie_lpm4", sizeof(krsie_lpm4_key), 8, true, true, true},
      {K::lpm6, "krsie_lpm6", sizeof(krsie_lpm6_key), 8, true, true, true},
      {K::strings, "krsie_strings", sizeof(krsie_string_key), 8, true, true, true},
      {K::inodes, "krsie_inodes", sizeof(krsie_inode_set_key), 8, true, false, true},
      {K::config, "krsie_config", 4, sizeof(krsie_config), false, true, false},
      {K::targets, "krsie_targets", 8, sizeof(krsie_target), false, false, false},
      {K::stats, "krsie_stats", 4, sizeof(krsie_stats), false, false, false},
      {K::events, "krsie_events", 0, 0, false, false, false},
      {K::scratch, "krsie_scratch", 4, 0, false, false, false},
      // Inode storage: the programs' path memo (krsie_eval.bpf.h); the loader only pins it.
      {K::path_memo, "krsie_path_memo", 4, sizeof(krsie_path_memo), false, false, false},
      {K::memo_door, "krsie_memo_door", 4, 0, false, false, false},  // admission to it
  };
  return maps;
}

const MapAbi* map_abi(std::string_view name) {
  for (const MapAbi& m : generic_maps())
    if (m.name == name) return &m;
  return nullptr;
}

std::vector<RecordView> parse_records(std::span<const std::uint8_t> b) {
  auto bad = [](const std::string& why) { return RuntimeError(ErrorKind::bad_object, why, EINVAL); };
  ByteReader in(b, [&](const char*) { return bad("policy object map section is truncated"); });
  auto magic = in.bytes(8, "magic");
  if (std::memcmp(magic.data(), "KRSMAPS1", 8) != 0) throw bad("policy object map section has a bad magic");
  std::uint32_t count = in.u32("record count");
  std::vector<RecordView> out;
  out.reserve(std::min<std::size_t>(count, b.size() / 12));
  const MapAbi* last = nullptr;  // records come grouped by map: one comparison each
  for (std::uint32_t i = 0; i < count; ++i) {
    auto name_bytes = in.bytes(in.u32("record"), "record");
    std::string_view name(reinterpret_cast<const char*>(name_bytes.data()), name_bytes.size());
    const MapAbi* abi = last && last->name == name ? last : map_abi(name);
    auto key = in.bytes(in.u32("record"), "record");
    auto value = in.bytes(in.u32("record"), "record");
    if (!abi || !abi->from_compiler)
      throw bad("policy object map record " + std::to_string(i) + " (" + std::string(name) +
                "): this krsie-load does not fill a map named '" + std::string(name) + "'");
    if (key.size() != abi->key_size || value.size() != abi->value_size)
      throw bad("policy object map record " + std::to_string(i) + " (" + std::string(name) + "): key/value of " +
                std::to_string(key.size()) + "/" + std::to_string(value.size()) + " bytes, the ABI says " +
                std::to_string(abi->key_size) + "/" + std::to_string(abi->value_size));
    out.push_back({abi, key, value});
    last = abi;
  }
  if (in.left() != 0) throw bad("policy object map section has trailing bytes");
  return out;
}

void validate_records(std::span<const RecordView> records) {
  // Automaton state ids: a bitmap over the ids below the number of state records (a valid object
  // numbers its states 0..n-1), and the few ids beyond it that only a corrupt object has.
  std::size_t state_records = 0;
  for (const RecordView& r : records)
    if (r.abi->kind == MapKind::dfa_states) ++state_records;
  std::vector<bool> states(state_records, false);
  std::vector<std::uint32_t> beyond;
  std::uint32_t highest_owner = 0;
  bool any_owner = false;
  for (std::size_t i = 0; i < records.size(); ++i) {
    const RecordView& r = records[i];
    auto fail = [&](const std::string& why) {
      return RuntimeError(ErrorKind::bad_object,
                          "policy object map record " + std::to_string(i) + " (" + std::string(r.abi->name) + "): " + why,
                          EINVAL);
    };
    switch (r.abi->kind) {
      case MapKind::hooks: {
        auto hook = read_as<std::uint32_t>(r.key);
        if (hook == KRSIE_HOOK_NONE || hook >= KRSIE_HOOK_MAX) throw fail("unknown hook id " + std::to_string(hook));
        break;
      }
      case MapKind::rules: {
        auto k = read_as<krsie_rule_key>(r.key);
        if (k.generation != 0 || k.hook >= KRSIE_HOOK_MAX || k.index >= KRSIE_MAX_RULES_PER_HOOK)
          throw fail("bad rule key");
        break;
      }
      case MapKind::dfa_states: {
        auto id = read_as<std::uint32_t>(r.key);
        if (id < state_records) states[id] = true;
        else beyond.push_back(id);
        break;
      }
      case MapKind::dfa_trans: {
        auto t = read_as<krsie_dfa_trans>(r.value);
        if (t.check == 0) throw fail("transition slot without an owner");
        highest_owner = any_owner ? std::max(highest_owner, t.check - 1) : t.check - 1;
        any_owner = true;
        break;
      }
      case MapKind::lpm4:
      case MapKind::lpm6:
      case MapKind::strings: {
        std::uint32_t table = read_as<std::uint32_t>(r.key.subspan(r.abi->kind == MapKind::strings ? 0 : 4));
        if (table & KRSIE_TABLE_GEN_BIT) throw fail("table id carries a generation");
        break;
      }
      default:
        break;
    }
  }
  // States are numbered 0..n-1 (n distinct ids): a hole or a huge id is a corrupt object.
  std::sort(beyond.begin(), beyond.end());
  beyond.erase(std::unique(beyond.begin(), beyond.end()), beyond.end());
  std::size_t distinct = static_cast<std::size_t>(std::count(states.begin(), states.end(), true)) + beyond.size();
  bool dense = beyond.empty() && std::find(states.begin() + static_cast<std::ptrdiff_t>(distinct), states.end(), true) == states.end();
  if (!dense)
    throw RuntimeError(ErrorKind::bad_object,
                       "policy object automaton states are not numbered 0.." + std::to_string(distinct - 1), EINVAL);
  if (any_owner && highest_owner >= distinct)
    throw RuntimeError(ErrorKind::bad_object,
                       "policy object transition slot owned by automaton state " + std::to_string(highest_owner) +
                           ", which it does not define",
                       EINVAL);
}

void rewrite_for_generation(const MapAbi& abi, std::span<std::uint8_t> key, std::span<std::uint8_t> value, unsigned gen,
                            DfaHalves halves) {
  const std::uint32_t dfa_half = halves.states;
  if (!abi.per_generation || key.size() != abi.key_size || value.size() != abi.value_size)
    throw RuntimeError(ErrorKind::bad_object,
                       "policy object record of map " + std::string(abi.name) + " has no generation form", EINVAL);
  gen &= 1;
  const std::uint32_t offset = gen * dfa_half;
  const std::uint32_t slot_offset = gen * halves.trans;
  const std::uint32_t table_bit = gen ? KRSIE_TABLE_GEN_BIT : 0;
  switch (abi.kind) {
    case MapKind::rules: {
      auto k = read_as<krsie_rule_key>(key);
      k.generation = gen;
      write_as(key, k);
      break;
    }
    case MapKind::hooks: {
      auto hook = read_as<std::uint32_t>(key);
      write_as(key, static_cast<std::uint32_t>(gen * KRSIE_HOOK_MAX + hook));
      auto conf = read_as<krsie_hook_conf>(value);
      for (auto& d : conf.dfa) d = shift_state(d, offset, dfa_half, "hook configuration");
      conf.exe_dfa = shift_state(conf.exe_dfa, offset, dfa_half, "hook configuration");
      write_as(value, conf);
      break;
    }
    case MapKind::dfa_states: {
      auto state = read_as<std::uint32_t>(key);
      write_as(key, shift_state(state, offset, dfa_half, "automaton state"));
      auto v = read_as<krsie_dfa_state>(value);
      v.other = shift_state(v.other, offset, dfa_half, "automaton state");
      v.base = shift_slot(v.base, slot_offset, halves.trans, "automaton state");
      write_as(value, v);
      break;
    }
    case MapKind::dfa_trans: {
      write_as(key, shift_slot(read_as<std::uint32_t>(key), slot_offset, halves.trans, "automaton transition"));
      auto t = read_as<krsie_dfa_trans>(value);
      if (t.check == 0) throw RuntimeError(ErrorKind::bad_object, "policy object transition slot without an owner", EINVAL);
      t.check = shift_state(t.check - 1, offset, dfa_half, "automaton transition") + 1;
      t.next = shift_state(t.next, offset, dfa_half, "automaton transition");
      write_as(value, t);
      break;
    }
    case MapKind::lpm4: mark_table<krsie_lpm4_key>(key, table_bit); break;
    case MapKind::lpm6: mark_table<krsie_lpm6_key>(key, table_bit); break;
    case MapKind::strings: mark_table<krsie_string_key>(key, table_bit); break;
    case MapKind::inodes: mark_table<krsie_inode_set_key>(key, table_bit); break;
    default: break;
  }
}

MapRecord record_for_generation(const MapRecord& record, unsigned gen, DfaHalves halves) {
  const MapAbi* abi = map_abi(record.map);
  if (!abi)
    throw RuntimeError(ErrorKind::bad_object, "policy object record of map " + record.map + " has no generation form",
                       EINVAL);
  MapRecord out = record;
  rewrite_for_generation(*abi, out.key, out.value, gen, halves);
  return out;
}

std::optional<unsigned> key_generation(const MapAbi& map, std::span<const std::uint8_t> key, DfaHalves halves) {
  const std::uint32_t dfa_half = halves.states;
  if (!map.per_generation || key.size() != map.key_size) return std::nullopt;
  auto table_gen = [](std::uint32_t table) { return (table & KRSIE_TABLE_GEN_BIT) ? 1u : 0u; };
  switch (map.kind) {
    case MapKind::rules: return read_as<krsie_rule_key>(key).generation & 1;
    case MapKind::hooks: return read_as<std::uint32_t>(key) >= KRSIE_HOOK_MAX ? 1u : 0u;
    case MapKind::dfa_states: return dfa_half && read_as<std::uint32_t>(key) >= dfa_half ? 1u : 0u;
    case MapKind::dfa_trans: return halves.trans && read_as<std::uint32_t>(key) >= halves.trans ? 1u : 0u;
    case MapKind::lpm4: return table_gen(read_as<krsie_lpm4_key>(key).table);
    case MapKind::lpm6: return table_gen(read_as<krsie_lpm6_key>(key).table);
    case MapKind::strings: return table_gen(read_as<krsie_string_key>(key).table);
    case MapKind::inodes: return table_gen(read_as<krsie_inode_set_key>(key).table);
    default: return std::nullopt;
  }
}

std::optional<unsigned> key_generation(std::string_view map, std::span<const std::uint8_t> key, DfaHalves halves) {
  const MapAbi* abi = map_abi(map);
  if (!abi) return std::nullopt;
  return key_generation(*abi, key, halves);
}

std::map<std::string, std::uint32_t> entry_counts(const PolicyObject& policy) {
  std::map<std::string, std::uint32_t> counts;
  std::uint32_t states = 0, slots = 0;
  std::array<std::uint32_t, k_map_kinds> by_kind{};
  for (const RecordView& r : policy.records) {
    if (r.abi->kind == MapKind::dfa_states) {
      states = std::max(states, read_as<std::uint32_t>(r.key) + 1);
    } else if (r.abi->kind == MapKind::dfa_trans) {
      slots = std::max(slots, read_as<std::uint32_t>(r.key) + 1);
    } else {
      ++by_kind[std::size_t(r.abi->kind)];
    }
  }
  for (const MapAbi& m : generic_maps())
    if (m.sized_by_loader) counts[std::string(m.name)] = by_kind[std::size_t(m.kind)];
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

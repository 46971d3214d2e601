#include "krsie/runtime/policy_maps.h"

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <tuple>

#include "krsie/runtime/cgroup.h"
#include "krsie/runtime/error.h"
#include "krsie/runtime/generation.h"
#include "krsie/runtime/inode.h"
#include "krsie/runtime/policy.h"

namespace krsie::runtime {

namespace {

template <typename T>
Bytes bytes_of(const T& v) {
  Bytes b(sizeof v);
  std::memcpy(b.data(), &v, sizeof v);
  return b;
}

template <typename T>
std::span<const std::uint8_t> as_bytes(const T& v) {
  return std::span(reinterpret_cast<const std::uint8_t*>(&v), sizeof v);
}

template <typename T>
T value_as(const Bytes& b) {
  T v{};
  std::memcpy(&v, b.data(), std::min(sizeof v, b.size()));
  return v;
}

}  // namespace

void PolicyMaps::add(const std::string& name, MapHandle handle) { maps_.insert_or_assign(name, std::move(handle)); }

MapHandle& PolicyMaps::at(const std::string& name) {
  auto it = maps_.find(name);
  if (it == maps_.end()) throw RuntimeError("the loaded policy has no map " + name, ENOENT);
  return it->second;
}

const MapHandle& PolicyMaps::at(const std::string& name) const {
  auto it = maps_.find(name);
  if (it == maps_.end()) throw RuntimeError("the loaded policy has no map " + name, ENOENT);
  return it->second;
}

DfaHalves PolicyMaps::dfa_halves() const {
  if (halves_) return *halves_;
  auto half = [&](const char* map) { return has(map) ? at(map).info().max_entries / 2 : 0; };
  return {half("krsie_dfa_states"), half("krsie_dfa_trans")};
}

krsie_config PolicyMaps::config() const {
  std::uint32_t zero = 0;
  krsie_config c{};
  if (!at("krsie_config").get(zero, c)) throw RuntimeError("cannot read the policy's krsie_config map", EIO);
  return c;
}

void PolicyMaps::write_config(const krsie_config& config) {
  std::uint32_t zero = 0;
  at("krsie_config").put(zero, config);
}

void PolicyMaps::PreparedGeneration::Batch::add(const MapAbi& abi, std::span<const std::uint8_t> key,
                                                std::span<const std::uint8_t> value, unsigned g, DfaHalves h) {
  const std::size_t k = keys.size(), v = values.size();
  keys.insert(keys.end(), key.begin(), key.end());
  values.insert(values.end(), value.begin(), value.end());
  rewrite_for_generation(abi, std::span(keys).subspan(k), std::span(values).subspan(v), g, h);
  ++count;
}

PolicyMaps::PreparedGeneration PolicyMaps::prepare_generation(const PolicyObject& policy, unsigned gen) {
  DfaHalves half = dfa_halves();
  PreparedGeneration out;
  out.by_kind.resize(k_map_kinds);
  // Keys and values per map, concatenated as BPF_MAP_UPDATE_BATCH takes them, each record
  // rewritten for `gen` where it lands in the buffers.
  auto& by_kind = out.by_kind;
  std::array<std::size_t, k_map_kinds> records_of{};
  for (const RecordView& r : policy.records) ++records_of[static_cast<std::size_t>(r.abi->kind)];
  for (const MapAbi& m : generic_maps()) {
    PreparedGeneration::Batch& b = by_kind[static_cast<std::size_t>(m.kind)];
    b.keys.reserve(records_of[static_cast<std::size_t>(m.kind)] * m.key_size);
    b.values.reserve(records_of[static_cast<std::size_t>(m.kind)] * m.value_size);
  }
  // The automaton arrays, when the kernel lets them be mapped (BPF_F_MMAPABLE), are written as
  // memory: ~700 instructions per element through BPF_MAP_UPDATE_BATCH, a copy here.
  auto mapped = [&](MapKind kind, PreparedGeneration::Direct& d) {
    const char* name = kind == MapKind::dfa_trans ? "krsie_dfa_trans" : "krsie_dfa_states";
    d.to = has(name) ? at(name).values_mapped() : nullptr;
    d.size = map_abi(name)->value_size;
    if (d.to && d.size <= d.to->stride()) {
      d.index.reserve(records_of[static_cast<std::size_t>(kind)]);
      d.values.reserve(records_of[static_cast<std::size_t>(kind)] * d.size);
    } else {
      d.to = nullptr;
    }
  };
  mapped(MapKind::dfa_trans, out.trans);
  mapped(MapKind::dfa_states, out.states);
  std::array<std::uint8_t, 64> key_buf;
  for (const RecordView& r : policy.records) {
    if (r.abi->kind == MapKind::config) continue;  // the loader owns the configuration
    PreparedGeneration::Direct* direct =
        r.abi->kind == MapKind::dfa_trans ? &out.trans : r.abi->kind == MapKind::dfa_states ? &out.states : nullptr;
    if (!direct || !direct->to || r.key.size() > key_buf.size() || r.value.size() != direct->size) {
      by_kind[static_cast<std::size_t>(r.abi->kind)].add(*r.abi, r.key, r.value, gen, half);
      continue;
    }
    std::span<std::uint8_t> key(key_buf.data(), r.key.size());
    std::copy(r.key.begin(), r.key.end(), key.begin());
    const std::size_t v = direct->values.size();
    direct->values.insert(direct->values.end(), r.value.begin(), r.value.end());
    rewrite_for_generation(*r.abi, key, std::span(direct->values).subspan(v), gen, half);
    std::uint32_t index;
    std::memcpy(&index, key.data(), sizeof index);
    if (index >= direct->to->count())
      throw RuntimeError(ErrorKind::bad_object,
                         "policy object record of map " + std::string(r.abi->name) + " has index " + std::to_string(index) +
                             ", beyond the map's " + std::to_string(direct->to->count()) + " entries",
                         EINVAL);
    direct->index.push_back(index);
  }
  // Inodes of exact rule paths, as they exist now (missing files are matched by path alone).
  std::map<std::tuple<std::uint64_t, std::uint64_t, std::uint32_t>, std::uint64_t> inode_masks;
  PathStatter statter;
  std::string_view previous;  // the same path in several tables comes in a row (krsiec sorts by path)
  std::optional<struct stat> st;
  for (const auto& ip : policy.meta.inode_paths) {
    if (ip.bit >= 64) continue;
    if (previous.data() == nullptr || ip.path != previous) st = statter.stat_path(ip.path);
    previous = ip.path;
    if (!st) continue;
    inode_masks[{kernel_dev(st->st_dev), st->st_ino, ip.table}] |= 1ull << ip.bit;
  }
  const MapAbi& inodes = *map_abi("krsie_inodes");
  for (const auto& [k, mask] : inode_masks) {
    krsie_inode_set_key key{std::get<0>(k), std::get<1>(k), std::get<2>(k), 0};
    by_kind[static_cast<std::size_t>(MapKind::inodes)].add(inodes, as_bytes(key), as_bytes(mask), gen, half);
  }
  return out;
}

void PolicyMaps::write_generation(const PreparedGeneration& prepared) {
  if (prepared.by_kind.size() != k_map_kinds) throw RuntimeError("internal error: a generation written without being prepared", EINVAL);
  for (const PreparedGeneration::Direct* d : {&prepared.trans, &prepared.states})
    for (std::size_t i = 0; i < d->index.size(); ++i)
      std::memcpy(d->to->at(d->index[i]).data(), d->values.data() + i * d->size, d->size);
  // Hook configurations last: a hook becomes used in this generation only once its rules,
  // automata and sets are all in place (matters for the in-process loader, which has no switch).
  for (const MapAbi& m : generic_maps()) {
    const PreparedGeneration::Batch& b = prepared.by_kind[static_cast<std::size_t>(m.kind)];
    if (m.kind != MapKind::hooks && b.count) at(std::string(m.name)).update_batch(b.keys, b.values, b.count);
  }
  const PreparedGeneration::Batch& hooks = prepared.by_kind[static_cast<std::size_t>(MapKind::hooks)];
  if (hooks.count) at("krsie_hooks").update_batch(hooks.keys, hooks.values, hooks.count);
}

PolicyMaps::GenerationKeys PolicyMaps::list_generation_keys() const {
  GenerationKeys listed;
  DfaHalves half = dfa_halves();
  for (const auto& [name, map] : maps_) {
    const MapAbi* abi = map_abi(name);
    // Arrays (hook configurations, automaton states and transition slots) are not listed: their
    // generations are index ranges.
    if (!abi || !abi->per_generation || name == "krsie_hooks" || name == "krsie_dfa_states" ||
        name == "krsie_dfa_trans")
      continue;
    auto& by_gen = listed.keys[name];
    for (Bytes& key : map.keys())
      if (std::optional<unsigned> g = key_generation(*abi, key, half)) by_gen[*g & 1].push_back(std::move(key));
  }
  return listed;
}

std::map<std::string, std::uint32_t> PolicyMaps::GenerationKeys::counts(unsigned gen) const {
  std::map<std::string, std::uint32_t> out;
  for (const auto& [name, by_gen] : keys) {
    const MapAbi* abi = map_abi(name);
    if (abi && abi->sized_by_loader) out[name] = static_cast<std::uint32_t>(by_gen[gen & 1].size());
  }
  return out;
}

void PolicyMaps::purge_generation(unsigned gen, const GenerationKeys& listed) {
  gen &= 1;
  DfaHalves half = dfa_halves();
  for (auto& [name, map] : maps_) {
    const MapAbi* abi = map_abi(name);
    if (!abi || !abi->per_generation) continue;
    // Arrays are zeroed where it matters: hook configurations (`used`), and transition slots (a
    // slot left behind could otherwise pass the owner check of a state of the next policy
    // written into this half, at base + byte for a byte its row does not have). Automaton
    // states are not: a generation's states are only reached from its own start states and
    // links, all below the count it writes.
    if (name == "krsie_dfa_states") continue;
    if (name == "krsie_hooks" || name == "krsie_dfa_trans") {
      std::uint32_t per_gen = name == "krsie_hooks" ? std::uint32_t{KRSIE_HOOK_MAX} : half.trans;
      std::uint32_t first = gen * per_gen;
      std::uint32_t count = std::min(per_gen, map.info().max_entries > first ? map.info().max_entries - first : 0);
      if (const MappedValues* values = name == "krsie_dfa_trans" ? map.values_mapped() : nullptr) {
        values->zero(first, count);  // memory: no system call per slot
        continue;
      }
      // Indexes and zero values, concatenated as BPF_MAP_UPDATE_BATCH takes them.
      Bytes keys, values(std::size_t{count} * map.info().value_size, 0);
      keys.reserve(std::size_t{count} * sizeof(std::uint32_t));
      for (std::uint32_t i = 0; i < count; ++i) {
        const std::uint32_t index = first + i;
        const auto* p = reinterpret_cast<const std::uint8_t*>(&index);
        keys.insert(keys.end(), p, p + sizeof index);
      }
      map.update_batch(keys, values, count);
      continue;
    }
    auto it = listed.keys.find(name);
    if (it != listed.keys.end()) map.erase_many(it->second[gen]);
  }
}

bool PolicyMaps::add_targets(const std::vector<std::uint64_t>& cgroup_ids, unsigned gen) {
  MapHandle& t = at("krsie_targets");
  bool added = false, changed = false;
  for (std::uint64_t id : cgroup_ids) {
    krsie_target v{0, 0};
    if (!t.get(id, v)) added = true;
    const std::uint32_t generations = v.generations | 1u << (gen & 1);
    if (generations == v.generations) continue;  // already a target of `gen`
    v.generations = generations;
    t.put(id, v);
    changed = true;
  }
  // The levels depend only on which ids are keys (a cgroup's level never changes); the filter
  // also carries every target's generations.
  if (added)
    refresh_target_levels();
  else if (changed)
    refresh_target_filter();
  return added;
}

void PolicyMaps::refresh_target_levels() {
  // No target: an empty range (shallowest 1 > deepest 0) that confines nobody without a lookup.
  unsigned lo = 1, hi = 0;
  bool first = true, known = true;
  for (const auto& [id, generations] : targets()) {
    std::optional<unsigned> level = cgroup_level(id);
    if (!level || *level > 0xff) {
      known = false;
      break;
    }
    lo = first ? *level : std::min(lo, *level);
    hi = first ? *level : std::max(hi, *level);
    first = false;
  }
  set_target_levels(known ? KRSIE_LEVELS_KNOWN | hi << 8 | lo : 0u);
  refresh_target_filter();
}

std::optional<FilterSlots> next_filter_slots(const FilterSlots& current, const std::vector<std::uint64_t>& ids) {
  std::vector<std::uint64_t> wanted;
  for (std::uint64_t id : ids)
    if (id != 0 && std::find(wanted.begin(), wanted.end(), id) == wanted.end()) wanted.push_back(id);
  if (wanted.size() > KRSIE_FILTER_IDS) return std::nullopt;
  FilterSlots slots = current;
  for (std::uint64_t& slot : slots)  // ids no longer targets leave their slot
    if (std::find(wanted.begin(), wanted.end(), slot) == wanted.end()) slot = 0;
  for (std::uint64_t id : wanted)    // new targets take empty slots; kept ones stay where they are
    if (std::find(slots.begin(), slots.end(), id) == slots.end())
      *std::find(slots.begin(), slots.end(), std::uint64_t{0}) = id;  // wanted.size() <= slots
  return slots;
}

// The target filter (krsie_config.target_ids, KRSIE_FILTER_KNOWN in target_filter) lists every
// key of krsie_targets when there are at most KRSIE_FILTER_IDS; a program then rejects an
// ancestor id that is none of them without a hash lookup. A program reads the slots one by one
// while an update may store them byte by byte, so the slot of an id that stays a target is never
// rewritten: only the slots of ids no longer in the map (callers drop them from the map first)
// and empty slots change, and a torn read of those can hide only an id that is not yet, or no
// longer, a target. Clearing KRSIE_FILTER_KNOWN (every id looked up) is one byte; setting it is
// a separate update after the slots are written.
void PolicyMaps::refresh_target_filter() {
  std::vector<std::uint64_t> ids;
  const std::map<std::uint64_t, std::uint32_t> all = targets();
  for (const auto& [id, generations] : all) ids.push_back(id);
  krsie_config c = config();
  const bool known = c.target_filter & KRSIE_FILTER_KNOWN;
  FilterSlots current{};
  std::copy(std::begin(c.target_ids), std::end(c.target_ids), current.begin());
  std::optional<FilterSlots> slots = next_filter_slots(current, ids);
  if (!slots) {  // more targets than slots
    if (known) {
      c.target_filter &= ~KRSIE_FILTER_KNOWN;
      write_config(c);
    }
    return;
  }
  // Each slot's generation bits in the same update as the slots (a slot whose id changes held an
  // id no longer a target, whose bits were those of the generation being dropped).
  std::array<std::uint8_t, KRSIE_FILTER_IDS> gens{};
  for (std::size_t i = 0; i < gens.size(); ++i)
    if (auto it = all.find((*slots)[i]); (*slots)[i] != 0 && it != all.end()) gens[i] = static_cast<std::uint8_t>(it->second & 3);
  if (*slots != current || !std::equal(gens.begin(), gens.end(), std::begin(c.target_gens))) {
    std::copy(slots->begin(), slots->end(), std::begin(c.target_ids));
    std::copy(gens.begin(), gens.end(), std::begin(c.target_gens));
    write_config(c);
  }
  if (!known) {
    c.target_filter |= KRSIE_FILTER_KNOWN;
    write_config(c);
  }
}

// The array map update copies the value with memcpy, which may store byte by byte: a program
// could read a word whose bytes come from two updates. So every update here changes one byte of
// target_levels (the shallowest level, the deepest level, or the top byte holding
// KRSIE_LEVELS_KNOWN), in an order where every intermediate word confines at least what both the
// old and the new word confine: widen to the union of the two ranges first, then narrow; set the
// levels before KRSIE_LEVELS_KNOWN, clear KRSIE_LEVELS_KNOWN (walk every level) before changing
// them.
void PolicyMaps::set_target_levels(std::uint32_t word) {
  krsie_config c = config();
  auto put_byte = [&](unsigned shift, std::uint32_t value) {
    std::uint32_t next = (c.target_levels & ~(0xffu << shift)) | (value & 0xffu) << shift;
    if (next == c.target_levels) return;
    c.target_levels = next;  // the only byte of the only word that changes
    write_config(c);
  };
  auto byte = [](std::uint32_t w, unsigned shift) { return (w >> shift) & 0xffu; };
  const bool was_known = c.target_levels & KRSIE_LEVELS_KNOWN, known = word & KRSIE_LEVELS_KNOWN;
  if (was_known && known) {
    put_byte(0, std::min(byte(c.target_levels, 0), byte(word, 0)));
    put_byte(8, std::max(byte(c.target_levels, 8), byte(word, 8)));
  } else if (was_known) {
    put_byte(24, byte(word, 24));  // unknown first: every level is walked from here on
  }
  put_byte(0, byte(word, 0));
  put_byte(8, byte(word, 8));
  put_byte(16, byte(word, 16));
  put_byte(24, byte(word, 24));
}

bool PolicyMaps::drop_target_generation(unsigned gen) {
  MapHandle& t = at("krsie_targets");
  bool removed = false, changed = false;
  for (const Bytes& key : t.keys()) {
    auto v = t.lookup(key);
    if (!v) continue;
    auto target = value_as<krsie_target>(*v);
    if (!(target.generations & (1u << (gen & 1)))) continue;
    target.generations &= ~(1u << (gen & 1));
    if (target.generations == 0) {
      t.erase(key);
      removed = true;
    } else {
      t.update(key, bytes_of(target));
      changed = true;
    }
  }
  if (removed)
    refresh_target_levels();  // as in add_targets
  else if (changed)
    refresh_target_filter();
  return removed;
}

std::map<std::uint64_t, std::uint32_t> PolicyMaps::targets() const {
  std::map<std::uint64_t, std::uint32_t> out;
  const MapHandle& t = at("krsie_targets");
  for (const Bytes& key : t.keys())
    if (auto v = t.lookup(key)) out[value_as<std::uint64_t>(key)] = value_as<krsie_target>(*v).generations;
  return out;
}

std::map<std::uint32_t, krsie_hook_conf> PolicyMaps::hooks(unsigned gen) const {
  std::map<std::uint32_t, krsie_hook_conf> out;
  const MapHandle& h = at("krsie_hooks");
  for (std::uint32_t hook = 1; hook < KRSIE_HOOK_MAX; ++hook) {
    std::uint32_t index = (gen & 1) * KRSIE_HOOK_MAX + hook;
    krsie_hook_conf conf{};
    if (h.get(index, conf) && conf.used) out[hook] = conf;
  }
  return out;
}

PolicyCounters PolicyMaps::counters() const {
  PolicyCounters c;
  std::uint32_t zero = 0;
  auto v = at("krsie_stats").lookup(std::span(reinterpret_cast<const std::uint8_t*>(&zero), 4));
  if (!v) return c;
  std::size_t stride = (sizeof(krsie_stats) + 7) / 8 * 8;
  for (std::size_t off = 0; off + sizeof(krsie_stats) <= v->size(); off += stride) {
    krsie_stats s;
    std::memcpy(&s, v->data() + off, sizeof s);
    c.allow += s.decisions[KRSIE_DECISION_ALLOW];
    c.deny += s.decisions[KRSIE_DECISION_DENY];
    c.audit += s.decisions[KRSIE_DECISION_AUDIT];
    c.kill += s.decisions[KRSIE_DECISION_KILL];
    c.events += s.events;
    c.events_dropped += s.events_dropped;
  }
  return c;
}

}  // namespace krsie::runtime

#include "eval/generic_eval.h"

#include "pir/matchers.h"

#include <cstring>

#include "krsie_abi.h"
#include "sema/hook_catalog.h"

namespace krsie::eval {

struct GenericMaps::Tables {
  std::map<std::uint32_t, krsie_hook_conf> hooks;                               // by hook id
  std::map<std::pair<std::uint32_t, std::uint32_t>, krsie_rule_entry> rules;   // (hook, index)
  std::map<std::uint32_t, krsie_dfa_trans> trans;                              // by slot
  std::map<std::uint32_t, krsie_dfa_state> states;
  struct Prefix {
    std::uint32_t table;
    std::uint32_t bits;  // prefix length of the address (key prefixlen - 32)
    std::array<std::uint8_t, 16> addr;
    std::uint64_t mask;
  };
  std::vector<Prefix> lpm4, lpm6;
  std::map<std::pair<std::uint32_t, std::string>, std::uint64_t> strings;  // (table, text)
};

namespace {

template <typename T>
T read_as(const std::vector<std::uint8_t>& bytes) {
  T v{};
  std::memcpy(&v, bytes.data(), std::min(sizeof v, bytes.size()));
  return v;
}

bool prefix_match(const std::array<std::uint8_t, 16>& net, std::uint32_t bits, const std::uint8_t* addr) {
  for (std::uint32_t bit = 0; bit < bits; ++bit) {
    int byte = static_cast<int>(bit / 8), shift = 7 - static_cast<int>(bit % 8);
    if (((net[byte] >> shift) & 1) != ((addr[byte] >> shift) & 1)) return false;
  }
  return true;
}


}  // namespace

GenericMaps::GenericMaps(const backend::GenericPolicy& g) : t_(std::make_unique<Tables>()) {
  for (const backend::MapEntry& e : g.entries) {
    if (e.map == "krsie_hooks") {
      t_->hooks[read_as<std::uint32_t>(e.key)] = read_as<krsie_hook_conf>(e.value);
    } else if (e.map == "krsie_rules") {
      auto k = read_as<krsie_rule_key>(e.key);
      t_->rules[{k.hook, k.index}] = read_as<krsie_rule_entry>(e.value);
    } else if (e.map == "krsie_dfa_trans") {
      t_->trans[read_as<std::uint32_t>(e.key)] = read_as<krsie_dfa_trans>(e.value);
    } else if (e.map == "krsie_dfa_states") {
      t_->states[read_as<std::uint32_t>(e.key)] = read_as<krsie_dfa_state>(e.value);
    } else if (e.map == "krsie_lpm4") {
      auto k = read_as<krsie_lpm4_key>(e.key);
      Tables::Prefix p{k.table, k.prefixlen - 32, {}, read_as<std::uint64_t>(e.value)};
      std::memcpy(p.addr.data(), k.addr, 4);
      t_->lpm4.push_back(p);
    } else if (e.map == "krsie_lpm6") {
      auto k = read_as<krsie_lpm6_key>(e.key);
      Tables::Prefix p{k.table, k.prefixlen - 32, {}, read_as<std::uint64_t>(e.value)};
      std::memcpy(p.addr.data(), k.addr, 16);
      t_->lpm6.push_back(p);
    } else if (e.map == "krsie_strings") {
      auto k = read_as<krsie_string_key>(e.key);
      t_->strings[{k.table, std::string(k.s, strnlen(k.s, sizeof k.s))}] = read_as<std::uint64_t>(e.value);
    }
  }
}

GenericMaps::~GenericMaps() = default;

bool GenericMaps::uses(const std::string& hook) const {
  auto id = backend::hook_abi_id(hook);
  if (!id) return false;
  auto it = t_->hooks.find(*id);
  return it != t_->hooks.end() && it->second.used;
}

namespace {

struct Walker {
  const std::map<std::uint32_t, krsie_dfa_trans>& trans;
  const std::map<std::uint32_t, krsie_dfa_state>& states;

  // dfa_step: the state's row slot for `byte` if the slot is the state's, else its default.
  std::uint32_t step(std::uint32_t state, std::uint8_t byte) const {
    if (state == KRSIE_DFA_DEAD) return state;
    auto st = states.find(state);
    if (st == states.end()) return KRSIE_DFA_DEAD;
    if (auto t = trans.find(st->second.base + byte); t != trans.end() && t->second.check == state + 1)
      return t->second.next;
    return st->second.other;
  }

  // path_mask: walk_component per component from the leaf up (bytes last to first, then '/'),
  // stopping at a dead state; the root itself is fed as one '/'.
  std::uint64_t mask(const std::string& path, std::uint32_t start, bool* too_deep) const {
    if (start == KRSIE_DFA_DEAD) return 0;
    std::vector<std::string_view> parts = pir::components(path);
    std::uint32_t state = start;
    std::uint32_t fed = 0, iterations = 0;
    bool done = false;
    for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
      if (iterations++ >= KRSIE_MAX_PATH_DEPTH * 2) break;
      std::string_view name = it->substr(0, 255);
      for (std::size_t i = 0; i < name.size(); ++i) {
        state = step(state, static_cast<std::uint8_t>(name[name.size() - 1 - i]));
        if (state == KRSIE_DFA_DEAD) break;
      }
      state = step(state, '/');
      ++fed;
      if (state == KRSIE_DFA_DEAD) return 0;
    }
    if (iterations < KRSIE_MAX_PATH_DEPTH * 2) done = true;  // the iteration that finds the root
    if (!done) {
      *too_deep = true;
      return 0;
    }
    if (fed == 0) state = step(state, '/');
    auto st = states.find(state);
    return st != states.end() ? st->second.accept : 0;
  }
};

std::uint64_t sign_extend(std::uint64_t v, unsigned bits) {
  if (bits >= 64) return v;
  v &= (1ull << bits) - 1;
  if (v >> (bits - 1)) v |= ~((1ull << bits) - 1);
  return v;
}

}  // namespace

FieldVector GenericMaps::fields(const std::string& hook_name, const Event& e) const {
  FieldVector fv;
  const hooks::Hook* hook = hooks::find(hook_name);
  auto id = backend::hook_abi_id(hook_name);
  if (!hook || !id) return fv;
  auto conf_it = t_->hooks.find(*id);
  if (conf_it == t_->hooks.end()) return fv;
  const krsie_hook_conf& conf = conf_it->second;
  Walker walker{t_->trans, t_->states};
  auto table = [&](std::uint32_t f) { return (*id << 8) | f; };
  // set_tested: a field no rule tests a set of is 0 without a lookup.
  auto tested = [&](std::uint32_t f) { return f >= 32 || ((conf.sets >> f) & 1); };
  auto lookup_string = [&](std::uint32_t f, const std::string& s) -> std::uint64_t {
    if (!tested(f)) return 0;
    auto it = t_->strings.find({table(f), s.substr(0, KRSIE_MAX_STRING - 1)});
    return it != t_->strings.end() ? it->second : 0;
  };
  auto lookup_addr = [&](std::uint32_t f, const Address& a) -> std::uint64_t {
    if (!tested(f)) return 0;
    const auto& lpm = a.v6 ? t_->lpm6 : t_->lpm4;
    std::uint64_t mask = 0;
    int best = -1;
    for (const auto& p : lpm)
      if (p.table == table(f) && static_cast<int>(p.bits) > best && prefix_match(p.addr, p.bits, a.bytes.data())) {
        best = static_cast<int>(p.bits);
        mask = p.mask;
      }
    return mask;
  };
  // Hook fields in catalogue order; path fields take the automaton of their rank among the
  // hook's path fields (path_field's `which` argument in krsie_eval.bpf.h).
  std::uint32_t path_rank = 0;
  for (std::uint32_t i = 0; i < hook->fields.size(); ++i) {
    const hooks::Field& f = hook->fields[i];
    std::uint32_t which = f.type.kind == TypeKind::path ? path_rank++ : 0;
    auto it = e.fields.find(std::string(f.name));
    if (it == e.fields.end()) continue;
    const Value& v = it->second;
    switch (f.type.kind) {
      case TypeKind::integer:
        fv.set(i, f.type.is_signed ? sign_extend(v.number, f.type.bits) : v.number);
        break;
      case TypeKind::boolean: fv.set(i, v.number != 0); break;
      case TypeKind::string: fv.set(i, lookup_string(i, v.text)); break;
      case TypeKind::address: fv.set(i, lookup_addr(i, v.addr)); break;
      case TypeKind::path:
        if (which < 3 && conf.dfa[which] != KRSIE_DFA_DEAD) fv.set(i, walker.mask(v.text, conf.dfa[which], &fv.path_too_deep));
        break;
    }
  }
  for (auto [name, slot] : {std::pair<const char*, std::uint32_t>{"is_owner", KRSIE_F_IS_OWNER}, {"target_confined", KRSIE_F_TARGET_CONFINED}})
    if (auto it = e.fields.find(name); it != e.fields.end()) fv.set(slot, it->second.number != 0);
  // common_fields: only those some rule tests (conf.common), ids zero-extended, comm looked
  // up, exe walked when a rule needs it.
  auto common = hooks::common_fields();
  for (std::uint32_t i = 0; i < common.size(); ++i) {
    auto it = e.fields.find(std::string(common[i].name));
    if (it == e.fields.end()) continue;
    if (common[i].name != "exe" && !((conf.common >> i) & 1)) continue;
    std::uint32_t slot = KRSIE_F_COMMON + i;
    if (common[i].name == "comm") {
      fv.set(slot, lookup_string(slot, it->second.text));
    } else if (common[i].name == "exe") {
      if (conf.needs_exe && conf.exe_dfa != KRSIE_DFA_DEAD) fv.set(slot, walker.mask(it->second.text, conf.exe_dfa, &fv.path_too_deep));
    } else {
      fv.set(slot, it->second.number & 0xffffffffu);
    }
  }
  return fv;
}

namespace {

// constraint_holds of krsie_eval.bpf.h
bool holds(const FieldVector& fv, const krsie_constraint& c) {
  std::uint32_t f = c.field;
  if (f >= KRSIE_MAX_FIELDS || !(fv.present & (1u << f))) return false;
  std::uint64_t v = fv.v[f];
  bool hit = false;
  switch (c.kind) {
    case KRSIE_C_RANGES:
      for (int i = 0; i < KRSIE_MAX_RANGES && i < c.nranges; ++i)
        if (v >= c.ranges[i].lo && v <= c.ranges[i].hi) hit = true;
      break;
    case KRSIE_C_FLAGS_ALL: hit = (v & c.mask) == c.mask; break;
    case KRSIE_C_FLAGS_ANY: hit = (v & c.mask) != 0; break;
    case KRSIE_C_BOOL: hit = (v != 0) == (c.mask != 0); break;
    case KRSIE_C_BIT: hit = c.arg < 64 && ((v >> (c.arg & 63)) & 1); break;
    default: return false;
  }
  return c.negated ? !hit : hit;
}

}  // namespace

MapVerdict GenericMaps::decide(const std::string& hook, const FieldVector& fv) const {
  MapVerdict out;
  auto id = backend::hook_abi_id(hook);
  if (!id) return out;
  auto conf_it = t_->hooks.find(*id);
  if (conf_it == t_->hooks.end()) return out;  // no entry: the program allows
  const krsie_hook_conf& conf = conf_it->second;
  out.decision = conf.posture;
  if (fv.path_too_deep) return {KRSIE_RULE_PATH_TOO_DEEP, KRSIE_DECISION_DENY, 1};
  // rules_may_match: the prefilter decides the posture when no entry can match.
  if ((conf.guard_kind == KRSIE_GUARD_BITS || conf.guard_kind == KRSIE_GUARD_RANGE) && conf.guard_field < KRSIE_MAX_FIELDS) {
    std::uint32_t f = conf.guard_field;
    if (!(fv.present & (1u << f))) return out;
    std::uint64_t v = fv.v[f];
    if (conf.guard_kind == KRSIE_GUARD_BITS ? !(v & conf.guard_lo) : (v < conf.guard_lo || v > conf.guard_hi)) return out;
  }
  std::uint32_t n = std::min<std::uint32_t>(conf.nrules, KRSIE_MAX_RULES_PER_HOOK);
  for (std::uint32_t index = 0; index < n; ++index) {
    auto it = t_->rules.find({*id, index});
    if (it == t_->rules.end()) break;
    const krsie_rule_entry& r = it->second;
    if (r.has_subject) {
      std::uint32_t exe = KRSIE_F_COMMON + 7;
      if (!(fv.present & (1u << exe)) || !((fv.v[exe] >> (r.subject_bit & 63)) & 1)) continue;
    }
    bool all = true;
    for (int i = 0; i < KRSIE_MAX_CONSTRAINTS && i < r.nconstraints && all; ++i) all = holds(fv, r.c[i]);
    if (all) return {r.rule_id, r.decision, r.err};
  }
  return out;
}

}  // namespace krsie::eval
